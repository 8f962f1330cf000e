"""The shared training and evaluation engine (distributed, AMP, checkpoints)."""
