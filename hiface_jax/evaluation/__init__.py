"""Evaluation: REALY-style region errors on the ICT topology, a synthetic benchmark split,
detail metrics, and the methods they compare (``docs/ARCHITECTURE.md``)."""
