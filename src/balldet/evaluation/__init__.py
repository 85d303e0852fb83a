"""Evaluation of detections: a numpy re-implementation of COCO bbox evaluation, and ball measures.

Public API::

    from balldet.evaluation import ImageGT, ImageDets, evaluate_coco, CocoResult
    from balldet.evaluation import evaluate_distance_ap, frame_top_one, evaluate_tiny_ap

See :mod:`balldet.evaluation.coco` for the exact COCO semantics and
:mod:`balldet.evaluation.ball` for the ball measures (all in original-image pixels). Box formats
and their conversions are :mod:`balldet.boxes`.
"""

from .ball import (
    AITOD_AREA_RANGES,
    COCO_AND_AITOD_AREA_RANGES,
    DIST_RADII_PX,
    DIST_SIZE_FACTORS,
    TOP1_RADIUS_PX,
    DistanceAP,
    FrameTopOne,
    Localisation,
    TauSearch,
    TopOneCounts,
    evaluate_distance_ap,
    evaluate_tiny_ap,
    frame_top_one,
    tiny_object_ap,
)
from .coco import (
    AREA_LABELS,
    AREA_RANGES,
    IOU_THRESHOLDS,
    MAX_DETS,
    RECALL_THRESHOLDS,
    SUMMARY_KEYS,
    CocoResult,
    evaluate_coco,
)
from .coco_accumulate import ThresholdCurve
from .inputs import ImageDets, ImageGT

__all__ = [
    "AITOD_AREA_RANGES",
    "AREA_LABELS",
    "AREA_RANGES",
    "COCO_AND_AITOD_AREA_RANGES",
    "DIST_RADII_PX",
    "DIST_SIZE_FACTORS",
    "IOU_THRESHOLDS",
    "MAX_DETS",
    "RECALL_THRESHOLDS",
    "SUMMARY_KEYS",
    "TOP1_RADIUS_PX",
    "CocoResult",
    "DistanceAP",
    "FrameTopOne",
    "ImageDets",
    "ImageGT",
    "Localisation",
    "TauSearch",
    "ThresholdCurve",
    "TopOneCounts",
    "evaluate_coco",
    "evaluate_distance_ap",
    "evaluate_tiny_ap",
    "frame_top_one",
    "tiny_object_ap",
]
