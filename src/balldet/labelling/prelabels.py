"""A batch frame's pre-annotations, as the exporters hand them to a labelling tool: the model's boxes from
``predictions/<stem>.txt`` (with their scores), else ``labels/<stem>.txt`` (without), else none."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from balldet.boxes import YOLO_PREDICTION_LAYOUT, yolo_to_xyxy
from balldet.datasets.yolo import read_labels, read_rows
from balldet.errors import DatasetError
from balldet.labelling.batch import Batch, BatchFrame


@dataclass(frozen=True)
class Prelabels:
    """``classes`` (N,) int, ``corners`` (N, 4) xyxy in frame pixels, ``scores`` (N,) or None when unscored."""

    classes: np.ndarray
    corners: np.ndarray
    scores: np.ndarray | None

    def __len__(self) -> int:
        return len(self.classes)


def prelabels(folder: Path, batch: Batch, frame: BatchFrame) -> Prelabels:
    """The boxes ``label pick`` put beside ``frame``; a class id outside the batch's names is a DatasetError."""
    folder = Path(folder)
    predictions = folder / "predictions" / f"{frame.stem}.txt"
    if predictions.is_file():
        rows = read_rows(predictions, 6, layout=YOLO_PREDICTION_LAYOUT,
                         fix="pick the batch again (`balldet label pick`)")
        scores: np.ndarray | None = rows[:, 5]
    else:
        rows = read_labels(folder / "labels" / f"{frame.stem}.txt")
        scores = None
    classes = rows[:, 0].astype(np.int64)
    bad = sorted({int(c) for c in classes if not 0 <= c < len(batch.names)})
    if bad:
        raise DatasetError(f"{folder}: the boxes of {frame.stem} use class id(s) {bad}, the batch names "
                           f"{len(batch.names)} class(es) ({', '.join(batch.names)})",
                           fix="pick the batch again (`balldet label pick`)")
    return Prelabels(classes, yolo_to_xyxy(rows[:, 1:5], frame.width, frame.height), scores)
