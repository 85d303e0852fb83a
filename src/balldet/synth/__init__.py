"""Synthetic football frames: the datasets tests and the demo run on."""
