"""Writing a picked batch: the whole folder or nothing.

The batch (layout in :mod:`balldet.labelling.batch`) is written into a hidden folder beside ``--out``
(``.<name>.<random>.partial``), ``batch.json`` last, and renamed to ``--out`` only when complete: an
error or an interruption leaves no batch behind (a process killed outright leaves the hidden folder,
which nothing reads), and a folder that holds ``batch.json`` always holds everything it lists.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from balldet.boxes import Detections, xyxy_to_yolo, yolo_rows
from balldet.labelling.batch import Batch, BatchFrame, write_batch
from balldet.labelling.pick import PARTS

REPORT_FILE = "report.csv"
REPORT_COLUMNS = ("rank", "stem", "recording", "frame", "source", "score", *PARTS, "why", "boxes")


@dataclass
class PickedFrame:
    """A frame of the batch: its entry, the image file's bytes, its pre-annotations (the model's boxes
    at the pre-annotation threshold, pixels) and the main reason it was picked."""

    entry: BatchFrame
    image: bytes
    boxes: Detections
    why: str


def out_problem(out: Path) -> str | None:
    """Why ``out`` cannot receive a batch, or None."""
    if out.exists() and not out.is_dir():
        return f"{out} is a file; give a new folder for the batch"
    if out.is_dir() and any(out.iterdir()):
        return f"{out} exists and is not empty; give a new folder (a batch is never written over another)"
    if not out.parent.resolve().exists():
        return f"the folder {out.parent} does not exist; create it, or give --out inside an existing folder"
    return None


def write_pick(out: Path, batch: Batch, frames: Sequence[PickedFrame]) -> None:
    """The batch folder at ``out`` (see the module doc); ``batch.frames`` are ``frames``' entries."""
    out = Path(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        for folder in ("images", "labels", "predictions"):
            (staging / folder).mkdir()
        for frame in frames:
            entry = frame.entry
            (staging / entry.file).write_bytes(frame.image)
            yolo = xyxy_to_yolo(frame.boxes.boxes, entry.width, entry.height)
            labels = yolo_rows(frame.boxes.classes, yolo)
            predictions = yolo_rows(frame.boxes.classes, yolo, frame.boxes.scores)
            (staging / "labels" / f"{entry.stem}.txt").write_text("".join(f"{row}\n" for row in labels))
            (staging / "predictions" / f"{entry.stem}.txt").write_text("".join(f"{row}\n" for row in predictions))
        (staging / REPORT_FILE).write_text(report_csv(frames))
        write_batch(staging, batch)
        if out.is_dir():
            out.rmdir()  # empty (checked before the work began); a file put there since fails the rename
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def report_csv(frames: Sequence[PickedFrame]) -> str:
    """One row per frame in pick order: the score and each part (empty: not computed for the frame)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(REPORT_COLUMNS)
    for rank, frame in enumerate(frames, 1):
        e = frame.entry
        parts = [f"{e.reasons[p]:.6f}" if p in e.reasons else "" for p in PARTS]
        writer.writerow([rank, e.stem, e.recording, e.frame, e.source, f"{e.score:.6f}", *parts, frame.why,
                         len(frame.boxes.scores)])
    return buffer.getvalue()
