"""From YOLO labels and backend detections to balldet's metrics for one dataset."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from balldet.backends.base_model import Detections
from balldet.data.yolo import yolo_to_xywh
from balldet.evaluation.coco import ImageDets, ImageGT, evaluate_coco


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
    boxes = np.asarray(dets.boxes, dtype=np.float64).reshape(-1, 4)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    return ImageDets(boxes=xywh, scores=dets.scores, classes=dets.classes)


def score_frames(
    truth: Sequence[FrameTruth], detections: Sequence[Detections], *, num_classes: int
) -> dict[str, float]:
    """COCO AP (pycocotools semantics) plus P/R/F1 at the F1-best score threshold, IoU 0.5."""
    result = evaluate_coco(
        [t.to_image_gt() for t in truth],
        [detections_to_image_dets(d) for d in detections],
        class_ids=list(range(num_classes)),
    )
    summary = result.summary()
    best = result.best_f1(iou=0.5)
    return {
        "mAP@0.5": float(summary["mAP@0.5"]),
        "mAP@0.5:0.95": float(summary["mAP@0.5:0.95"]),
        "mAP@0.75": float(summary["mAP@0.75"]),
        "AR@100": float(summary["AR@100"]),
        "P": float(best["P"]),
        "R": float(best["R"]),
        "F1": float(best["F1"]),
        "conf@bestF1": float(best["threshold"]),
    }
