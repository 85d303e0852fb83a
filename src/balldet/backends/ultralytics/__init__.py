"""The ultralytics backend (YOLOv8 / YOLO11)."""
