"""Training data: the synthetic generator, scene sampling, TFDS builders and the grain loader."""
