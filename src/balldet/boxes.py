"""Box formats, the conversions between them, and :class:`Detections`: the one place that knows how
a box is written down.

Every box array is ``(N, 4)`` float64, one box per row, in one of these formats:

* **xyxy**: ``x1 y1 x2 y2`` in pixels, the top-left and bottom-right corners. Backends return
  boxes this way and :class:`Detections` hold them so.
* **xywh**: ``x y w h`` in pixels, the top-left corner and the size: COCO's ``bbox``, what the
  evaluator matches on.
* **cxcywh**: ``cx cy w h`` in pixels, the centre and the size: the step between YOLO and the
  others.
* **yolo**: ``cx cy w h`` normalised by the frame's width and height (0..1). A YOLO *row* puts the
  class in front (``class cx cy w h``, label files) and may add the score (``class cx cy w h conf``,
  the prediction files of ultralytics' ``save_txt`` + ``save_conf``).

Pixels are original-image pixels, the frame as displayed (EXIF orientation applied).

Why the order of operations is part of the contract: the evaluator reproduces pycocotools to 1e-12
on xywh boxes in float64, and floating-point arithmetic is not associative, so ``(x1 + x2) / 2``
and ``x1 + (x2 - x1) / 2`` can differ in the last bit, as can a box converted xyxy -> xywh -> xyxy.
Each conversion here therefore keeps one fixed sequence of operations; rewriting one "equivalently"
moves scores and the bytes of written label files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The columns of a YOLO label row and of a YOLO prediction row, as error messages name them.
YOLO_LABEL_LAYOUT = "class cx cy w h"
YOLO_PREDICTION_LAYOUT = "class cx cy w h conf"


def box_array(boxes: Any, name: str = "boxes") -> np.ndarray:
    """``boxes`` as an ``(N, 4)`` float64 array; one box may be given flat, no boxes as any empty input.

    Raises ``ValueError`` naming ``name`` for any other shape. Values are not checked: whether a
    non-finite coordinate is an error depends on who reads the boxes.
    """
    b = np.asarray(boxes, dtype=np.float64)
    if b.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if b.ndim == 1 and b.shape[0] == 4:
        b = b[None, :]
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {b.shape}")
    return b


def _frame_scale(width: float, height: float) -> np.ndarray:
    return np.array([width, height, width, height], dtype=np.float64)


# --------------------------------------------------------------------------- pixel formats


def xyxy_to_xywh(boxes: Any) -> np.ndarray:
    """Corners to top-left and size: ``w = x2 - x1``, ``h = y2 - y1``."""
    b = box_array(boxes)
    out = b.copy()
    out[:, 2] = b[:, 2] - b[:, 0]
    out[:, 3] = b[:, 3] - b[:, 1]
    return out


def xywh_to_xyxy(boxes: Any) -> np.ndarray:
    """Top-left and size to corners: ``x2 = x + w``, ``y2 = y + h``."""
    b = box_array(boxes)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def xyxy_to_cxcywh(boxes: Any) -> np.ndarray:
    """Corners to centre and size: ``cx = (x1 + x2) / 2``, ``w = x2 - x1``."""
    b = box_array(boxes)
    return np.concatenate([(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]], axis=1)


def cxcywh_to_xyxy(boxes: Any) -> np.ndarray:
    """Centre and size to corners: ``x1 = cx - w / 2``, ``x2 = cx + w / 2``."""
    b = box_array(boxes)
    half = b[:, 2:] / 2
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)


def cxcywh_to_xywh(boxes: Any) -> np.ndarray:
    """Centre and size to top-left and size: ``x = cx - w / 2``."""
    b = box_array(boxes)
    return np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, 2:]], axis=1)


def xywh_centres(boxes: Any) -> np.ndarray:
    """``(N, 2)`` box centres of xywh boxes: ``x + w / 2``, ``y + h / 2``."""
    b = box_array(boxes)
    return b[:, :2] + b[:, 2:] / 2


def clip_xyxy(boxes: Any, width: float, height: float) -> np.ndarray:
    """xyxy boxes cut to the frame ``0..width`` × ``0..height``."""
    return np.minimum(np.maximum(box_array(boxes), 0.0), _frame_scale(width, height))


# --------------------------------------------------------------------------- YOLO (normalised)


def yolo_to_xywh(boxes: Any, width: float, height: float) -> np.ndarray:
    """YOLO ``cx cy w h`` (normalised) to pixel xywh in a ``width`` × ``height`` frame."""
    return cxcywh_to_xywh(box_array(boxes) * _frame_scale(width, height))


def yolo_to_xyxy(boxes: Any, width: float, height: float) -> np.ndarray:
    """YOLO ``cx cy w h`` (normalised) to pixel xyxy in a ``width`` × ``height`` frame."""
    return cxcywh_to_xyxy(box_array(boxes) * _frame_scale(width, height))


def xyxy_to_yolo(boxes: Any, width: float, height: float) -> np.ndarray:
    """Pixel xyxy to YOLO ``cx cy w h``, normalised by the ``width`` × ``height`` frame."""
    return xyxy_to_cxcywh(boxes) / _frame_scale(width, height)


def yolo_rows(classes: Iterable[Any], boxes: Any, scores: Iterable[Any] | None = None) -> list[str]:
    """One text row per box: ``class cx cy w h`` or, with ``scores``, ``class cx cy w h conf``.

    Coordinates with 6 decimals, as YOLO label files carry them; scores with 6 significant digits
    (``%g``), as ultralytics writes them, so that low scores keep their digits too.
    """
    coordinates = box_array(boxes).tolist()
    rows = [f"{int(c)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}" for c, (cx, cy, w, h) in zip(classes, coordinates)]
    if scores is None:
        return rows
    return [f"{row} {float(score):.6g}" for row, score in zip(rows, scores)]


# --------------------------------------------------------------------------- detections


@dataclass(frozen=True)
class Detections:
    """Detections of one image: ``boxes`` xyxy in original-image pixels, with a score and class each.

    The arrays are normalised on construction: ``boxes`` ``(N, 4)`` float64, ``scores`` ``(N,)``
    float64, ``classes`` ``(N,)`` int64 (a float class id is cut to its integer, as the trainers'
    own outputs are read).
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __post_init__(self) -> None:
        boxes = box_array(self.boxes, "Detections.boxes")
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        classes = np.asarray(self.classes).reshape(-1).astype(np.int64)
        if not boxes.shape[0] == scores.shape[0] == classes.shape[0]:
            raise ValueError(
                f"Detections need one score and one class per box: {boxes.shape[0]} boxes, "
                f"{scores.shape[0]} scores, {classes.shape[0]} classes"
            )
        # frozen: the normalised arrays replace the given ones once, here
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "classes", classes)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64))

    @classmethod
    def from_rows(cls, rows: Any) -> Detections:
        """From ``(N, 6)`` rows ``x1 y1 x2 y2 score class`` (what yolov5's ``results.xyxy`` holds)."""
        table = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
        return cls(boxes=table[:, :4], scores=table[:, 4], classes=table[:, 5])
