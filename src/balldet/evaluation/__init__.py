"""Evaluation of detections: a numpy re-implementation of COCO bbox evaluation.

Public API::

    from balldet.evaluation import ImageGT, ImageDets, evaluate_coco, CocoResult

See :mod:`balldet.evaluation.coco` for the exact semantics.
"""

from .coco import (
    AREA_LABELS,
    AREA_RANGES,
    IOU_THRESHOLDS,
    MAX_DETS,
    RECALL_THRESHOLDS,
    SUMMARY_KEYS,
    CocoResult,
    ImageDets,
    ImageGT,
    evaluate_coco,
    xyxy_to_xywh,
    yolo_to_xywh,
)

__all__ = [
    "AREA_LABELS",
    "AREA_RANGES",
    "IOU_THRESHOLDS",
    "MAX_DETS",
    "RECALL_THRESHOLDS",
    "SUMMARY_KEYS",
    "CocoResult",
    "ImageDets",
    "ImageGT",
    "evaluate_coco",
    "xyxy_to_xywh",
    "yolo_to_xywh",
]
