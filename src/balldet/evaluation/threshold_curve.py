"""Precision, recall and F1 against the score threshold, all classes pooled: the whole curve where
``CocoResult.best_f1`` gives its best point, for plots.

The matching is COCO's (:func:`~balldet.evaluation.coco.evaluate_coco`); a dataset already scored
hands its :class:`~balldet.evaluation.coco.CocoResult` on and takes
:meth:`~balldet.evaluation.coco.CocoResult.threshold_curve` from it instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from balldet.evaluation.coco import evaluate_coco
from balldet.evaluation.coco_accumulate import ThresholdCurve
from balldet.evaluation.inputs import ImageDets, ImageGT

__all__ = ["ThresholdCurve", "threshold_curve"]


def threshold_curve(gts: Sequence[ImageGT], dets: Sequence[ImageDets], iou: float = 0.5) -> ThresholdCurve:
    """Raw P/R/F1 at every score threshold, COCO matching at ``iou`` (one of COCO's IoU thresholds).

    Counts as ``CocoResult.best_f1`` does (area "all", at most 100 detections per image and class,
    crowd matches ignored), so ``threshold_curve(gts, dets).best()`` is that point.
    """
    return evaluate_coco(gts, dets).threshold_curve(iou)
