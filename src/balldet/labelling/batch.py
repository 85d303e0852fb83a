"""A labelling batch: the folder ``balldet label pick`` writes and the labelling tools' exporters and
importers read.

Layout::

    <batch>/batch.json           what the batch holds (:class:`Batch`), written last
    <batch>/images/<stem>.<ext>  the frames (video frames as PNG; frames from folders copied as they are)
    <batch>/labels/<stem>.txt    pre-annotations: the model's boxes as YOLO rows ``class cx cy w h``
    <batch>/predictions/<stem>.txt  the same boxes with their scores (``class cx cy w h conf``)
    <batch>/report.csv           why each frame was picked (one row per frame, the scores in :class:`BatchFrame`)

A frame's stem is ``<recording>_<frame:06d>``, so frame identity works on a batch and on the dataset
it becomes as everywhere else.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from balldet.errors import UsageError
from balldet.files import write_text_atomic

BATCH_FILE = "batch.json"
BATCH_FORMAT = "balldet-label-batch/1"


class BatchFrame(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stem: str
    file: str = Field(description="the image, relative to the batch folder (images/<stem>.<ext>)")
    recording: str
    frame: int
    source: str = Field(description="the video or frames folder it was taken from")
    width: int
    height: int
    score: float = Field(description="how much a label would teach the model (higher: picked first)")
    reasons: dict[str, float] = Field(default_factory=dict, description="the parts of the score")


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = BATCH_FORMAT
    names: list[str] = Field(min_length=1, description="class names, index = class id")
    weights: str = Field(description="the run id or .pt whose boxes are the pre-annotations")
    model_type: str
    frames: list[BatchFrame]

    def frame(self, stem: str) -> BatchFrame | None:
        return next((f for f in self.frames if f.stem == stem), None)


def write_batch(folder: Path, batch: Batch) -> None:
    write_text_atomic(Path(folder) / BATCH_FILE, json.dumps(batch.model_dump(), indent=2) + "\n")


def read_batch(folder: Path, option: str = "--batch") -> Batch:
    """The batch in ``folder``; a usage error naming the problem when it is not one."""
    path = Path(folder) / BATCH_FILE
    if not path.is_file():
        raise UsageError([(option, f"{folder} is not a labelling batch (no {BATCH_FILE}); give the folder "
                           "`balldet label pick --out` wrote")])
    try:
        batch = Batch.model_validate_json(path.read_text())
    except (ValidationError, ValueError) as exc:
        raise UsageError([(option, f"{path} is not a valid batch file ({str(exc).splitlines()[0]}); pick the "
                           "batch again")]) from None
    if batch.format != BATCH_FORMAT:
        raise UsageError([(option, f"{path} has format {batch.format!r}, this balldet reads {BATCH_FORMAT!r}")])
    return batch
