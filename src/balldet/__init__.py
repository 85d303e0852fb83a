"""balldet: ball and player detector training and evaluation pipeline on ClearML."""

__version__ = "0.1.0"
