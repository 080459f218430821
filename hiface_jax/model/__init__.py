"""The HiFace regressor (encoder, heads, detail variants), its objective and its batches."""
