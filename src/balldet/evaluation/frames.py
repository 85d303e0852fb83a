"""From YOLO labels and backend detections to balldet's metrics for one dataset.

All distances and areas are in original-image pixels: YOLO labels are scaled by each frame's
own width and height, and backends return boxes in original-image pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from balldet.boxes import Detections, xyxy_to_xywh, yolo_to_xywh
from balldet.evaluation.ball import (
    COCO_AND_AITOD_AREA_RANGES,
    evaluate_distance_ap,
    frame_top_one,
    tiny_object_ap,
)
from balldet.evaluation.ball_top1 import DEFAULT_TAU
from balldet.evaluation.coco import CocoResult, evaluate_coco
from balldet.evaluation.inputs import ImageDets, ImageGT


@dataclass(frozen=True)
class FrameTruth:
    """Ground truth of one frame: YOLO rows ``class cx cy w h`` and the image size in pixels."""

    rows: np.ndarray
    width: int
    height: int

    def to_image_gt(self) -> ImageGT:
        boxes = yolo_to_xywh(self.rows[:, 1:5], self.width, self.height)
        return ImageGT(boxes=boxes, classes=self.rows[:, 0].astype(np.int64))


def detections_to_image_dets(dets: Detections) -> ImageDets:
    return ImageDets(boxes=xyxy_to_xywh(dets.boxes), scores=dets.scores, classes=dets.classes)


@dataclass(frozen=True)
class FrameScores:
    """:func:`score_frames`' metrics and the COCO evaluation they start from (its curves are what the
    dataset's plots draw)."""

    metrics: dict[str, float]
    coco_result: CocoResult

    @property
    def coco(self) -> dict[str, float]:
        """The 12 COCO stats by name, as pycocotools' ``stats``."""
        return self.coco_result.summary()


def score_frames(
    truth: Sequence[FrameTruth],
    detections: Sequence[Detections],
    *,
    num_classes: int,
    tau: float | None = None,
    ball_class: int | None = None,
) -> dict[str, float]:
    """Every metric of one dataset by name, in original-image pixels (see :func:`evaluate_frames`)."""
    return evaluate_frames(truth, detections, num_classes=num_classes, tau=tau, ball_class=ball_class).metrics


def evaluate_frames(
    truth: Sequence[FrameTruth],
    detections: Sequence[Detections],
    *,
    num_classes: int,
    tau: float | None = None,
    ball_class: int | None = None,
) -> FrameScores:
    """Every metric of one dataset by name, in original-image pixels, and the COCO evaluation.

    COCO (pycocotools semantics): ``mAP@0.5``, ``mAP@0.5:0.95``, ``mAP@0.75``, ``AR@100``, and
    ``P``/``R``/``F1`` at the F1-best score threshold ``conf@bestF1`` (IoU 0.5, classes pooled).

    Ball measures (see :mod:`balldet.evaluation.ball`):

    * ``AP_dist@2px``, ``@4px``, ``@8px``, ``@mean`` (of the three), ``@0.5s``, ``@1s``
      (radius k·max(w, h) of the GT): COCO AP with a centre-distance match.
    * ``top1@0.5/P``, ``/R``, ``/F1``, ``/accuracy``, ``/TP_per_visible``: per-frame top-1
      (TrackNet/WASB) at score ≥ 0.5 and a 4 px radius; with ``tau`` (the τ* found on
      validation frames by :func:`best_tau`) also ``top1@tau/P``, ``/R``, ``/F1``,
      ``/accuracy``, ``/TP_per_visible`` and ``top1@tau/tau``.
    * ``loc/RMSE_px``, ``loc/median_px``: centre error of the top-1 TPs at 0.5 (-1 without TP).
    * ``AP_verytiny``, ``AP_tiny``, ``AP_small_aitod`` (AP@[.5:.95] on the AI-TOD bins 0–8²,
      8²–16², 16²–32² px²) and ``AP50_verytiny``, ``AP50_tiny``, ``AP50_small_aitod``; -1 for a
      bin without GT.
    * ``FP_rate_ballfree@0.5``: share of ball-free frames with a detection scoring ≥ 0.5 (-1
      without ball-free frames), ``ballfree_frames`` (how many frames have no ball) and
      ``ballfree_frames_with_FP@0.5`` (how many of them have such a detection).
    * ``frame_width_px``, ``frame_height_px``: median frame size, the frame the pixel measures
      are in (0 without frames).

    ``ball_class=None`` treats every class as the ball in the per-frame measures (one-class
    datasets); give the ball's class id for datasets with several classes. AP and AP_dist are
    per class and averaged, like COCO.
    """
    gts = [t.to_image_gt() for t in truth]
    dets = [detections_to_image_dets(d) for d in detections]
    classes = list(range(num_classes))
    result = evaluate_coco(gts, dets, class_ids=classes, area_ranges=COCO_AND_AITOD_AREA_RANGES)
    summary = result.summary()
    best = result.best_f1(iou=0.5)
    metrics = {
        "mAP@0.5": float(summary["mAP@0.5"]),
        "mAP@0.5:0.95": float(summary["mAP@0.5:0.95"]),
        "mAP@0.75": float(summary["mAP@0.75"]),
        "AR@100": float(summary["AR@100"]),
        "P": float(best["P"]),
        "R": float(best["R"]),
        "F1": float(best["F1"]),
        # -1, like the other "not defined" measures: there is no threshold without detections.
        "conf@bestF1": float(best["threshold"]) if np.isfinite(best["threshold"]) else -1.0,
    }
    metrics.update(evaluate_distance_ap(gts, dets, class_ids=classes).summary())

    top = frame_top_one(gts, dets, ball_class=ball_class)
    at_default = top.counts(DEFAULT_TAU)
    metrics.update({f"top1@{DEFAULT_TAU:g}/{k}": v for k, v in at_default.rates().items()})
    if tau is not None:
        metrics.update({f"top1@tau/{k}": v for k, v in top.counts(tau).rates().items()})
        metrics["top1@tau/tau"] = float(tau)
    loc = top.localisation(DEFAULT_TAU)
    metrics["loc/RMSE_px"] = loc.rmse_px
    metrics["loc/median_px"] = loc.median_px

    metrics.update(tiny_object_ap(result))
    metrics[f"FP_rate_ballfree@{DEFAULT_TAU:g}"] = at_default.ballfree_fp_rate
    metrics["ballfree_frames"] = float(at_default.ballfree_frames)
    metrics[f"ballfree_frames_with_FP@{DEFAULT_TAU:g}"] = float(at_default.fp2)
    metrics["frame_width_px"] = float(np.median([t.width for t in truth])) if truth else 0.0
    metrics["frame_height_px"] = float(np.median([t.height for t in truth])) if truth else 0.0
    return FrameScores(metrics=metrics, coco_result=result)


def best_tau(
    truth: Sequence[FrameTruth], detections: Sequence[Detections], *, ball_class: int | None = None
) -> float:
    """τ*: the score threshold that maximises the per-frame top-1 F1 (4 px) on these frames.

    Meant for validation frames; pass the result as ``score_frames(..., tau=...)`` on test
    frames. Ties go to the highest threshold; without any detection it is 0.5.
    """
    gts = [t.to_image_gt() for t in truth]
    dets = [detections_to_image_dets(d) for d in detections]
    return frame_top_one(gts, dets, ball_class=ball_class).best_tau().tau
