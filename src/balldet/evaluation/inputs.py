"""What the evaluator takes: the ground truth and the detections of one image, validated.

Both the COCO evaluation (:mod:`balldet.evaluation.coco`) and the matching it shares with the ball
measures (:mod:`balldet.evaluation.coco_match`) read these; they live apart from both so that
neither has to import the other for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from balldet.boxes import box_array


def _finite_boxes(boxes: Any, name: str) -> np.ndarray:
    b = box_array(boxes, name)
    if not np.all(np.isfinite(b)):
        raise ValueError(f"{name} must be finite")
    return b


def _as_vector(values: Any, n: int, name: str, dtype: type) -> np.ndarray:
    """``values`` as an ``(n,)`` array of ``dtype``; integers must be whole, floats finite."""
    v = np.asarray(values)
    if v.size == 0 and n == 0:
        return np.zeros(0, dtype=dtype)
    v = v.reshape(-1) if v.ndim == 0 else v
    if v.ndim != 1 or v.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {v.shape}")
    if dtype is np.int64:
        if v.dtype.kind == "f" and not np.all(v == np.round(v)):
            raise ValueError(f"{name} must hold integers")
        return v.astype(np.int64)
    if dtype is bool:
        return v.astype(bool)
    out = v.astype(np.float64)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} must be finite")
    return out


@dataclass
class ImageGT:
    """Ground truth of one image.

    Attributes:
        boxes: ``(N, 4)`` boxes ``x, y, w, h`` in pixels (converted to float64).
        classes: ``(N,)`` integer class ids.
        areas: ``(N,)`` areas used for the small/medium/large ranges; ``None`` means ``w * h``.
        iscrowd: ``(N,)`` crowd flags; ``None`` means no crowd boxes. A crowd box is never
            counted as an object to find; detections on it are ignored.
    """

    boxes: np.ndarray
    classes: np.ndarray
    areas: np.ndarray | None = None
    iscrowd: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.boxes = _finite_boxes(self.boxes, "ImageGT.boxes")
        n = self.boxes.shape[0]
        self.classes = _as_vector(self.classes, n, "ImageGT.classes", np.int64)
        if self.areas is None:
            self.areas = self.boxes[:, 2] * self.boxes[:, 3]
        else:
            self.areas = _as_vector(self.areas, n, "ImageGT.areas", np.float64)
        if self.iscrowd is None:
            self.iscrowd = np.zeros(n, dtype=bool)
        else:
            self.iscrowd = _as_vector(self.iscrowd, n, "ImageGT.iscrowd", bool)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


@dataclass
class ImageDets:
    """Detections of one image.

    Attributes:
        boxes: ``(M, 4)`` boxes ``x, y, w, h`` in pixels (converted to float64).
        scores: ``(M,)`` confidences (float64); higher is more confident.
        classes: ``(M,)`` integer class ids.
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __post_init__(self) -> None:
        self.boxes = _finite_boxes(self.boxes, "ImageDets.boxes")
        n = self.boxes.shape[0]
        self.scores = _as_vector(self.scores, n, "ImageDets.scores", np.float64)
        self.classes = _as_vector(self.classes, n, "ImageDets.classes", np.int64)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])
