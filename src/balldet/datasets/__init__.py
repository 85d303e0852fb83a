"""Datasets: what balldet knows of one, where it lives (catalog, ClearML), frame identity, splits, YOLO files."""
