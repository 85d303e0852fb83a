"""The yolov5 backend (the yolov5 package, YOLOv5 7.0)."""
