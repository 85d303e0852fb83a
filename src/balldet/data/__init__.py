"""Datasets: the YOLO-format reader, the local catalog, ClearML Datasets and synthetic frames."""
