"""What a labelling tool's export says about a batch: the boxes of each frame it labelled, matched to the
batch's frames by image name, and the batch frames it leaves unlabelled.

Both readers (:mod:`~balldet.labelling.cvat`, :mod:`~balldet.labelling.label_studio`) fill a
:class:`Collector` and get a :class:`Labelled`, so the rules are the same for every tool:

* **Every image of the export names a frame of the batch** -- its file name (``images/<stem>.<ext>``), the
  name with Label Studio's upload prefix (``1a2b3c4d-<file>``) taken off, or the bare stem -- and has the
  frame's size. Anything else is a problem; all of them are reported at once and nothing is registered.
* **A labelled frame** is one the tool holds a finished annotation for: every image of a CVAT export (the
  tool exports the whole task; an image without boxes is a frame without a ball), a Label Studio task's
  latest annotation that was submitted, not skipped (an annotation without boxes: a frame without a ball).
* **A frame the export does not label** (a task nobody annotated, a skipped task, a frame missing from the
  export) is left out of the new dataset, with a warning naming how many; a batch may be labelled in parts.

Boxes are kept as YOLO rows (class, ``cx cy w h`` normalised to the frame). A box reaching outside its frame
is cut to it; a turned box (both tools can turn one) becomes the upright box around it; each with a warning.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np

from balldet.boxes import xyxy_to_yolo
from balldet.labelling.batch import Batch, BatchFrame

# Label Studio names an uploaded file `<8 hex digits>-<original name>`.
_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")
SHOWN = 5  # names shown in a message before "and N more"


@dataclass(frozen=True)
class LabelledFrame:
    """One frame's labels: ``classes`` (N,) int and ``boxes`` (N, 4) YOLO ``cx cy w h``, normalised."""

    stem: str
    classes: np.ndarray
    boxes: np.ndarray


@dataclass(frozen=True)
class Labelled:
    """An export read against its batch: the labelled frames (batch order), the batch frames it does not label."""

    tool: str
    frames: list[LabelledFrame]
    not_labelled: list[str]
    warnings: list[str]


def shown(names: list[str]) -> str:
    """A few names and how many more: messages stay one line however large the batch."""
    head = ", ".join(names[:SHOWN])
    return head + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


class FrameNames:
    """The batch's frames by the names an export may give them."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self._by_file = {PurePosixPath(f.file).name: f for f in batch.frames}
        self._by_stem = {f.stem: f for f in batch.frames}

    def find(self, name: str) -> BatchFrame | None:
        """The frame an export's image name stands for (a path or URL path: its last part counts)."""
        base = PurePosixPath(name.replace("\\", "/")).name
        for candidate in (base, *(_UPLOAD_PREFIX.findall(base))):
            frame = self._by_file.get(candidate) or self._by_stem.get(PurePosixPath(candidate).stem)
            if frame is not None:
                return frame
        return self._by_stem.get(base)


@dataclass
class _Box:
    label: str
    corners: tuple[float, float, float, float]  # x1 y1 x2 y2 in pixels


@dataclass
class Collector:
    """Gathers an export's frames, boxes and problems; :meth:`result` checks the rules of the module."""

    tool: str
    batch: Batch
    where: str  # the export, as messages name it
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _frames: dict[str, list[_Box]] = field(default_factory=dict)
    _names: FrameNames | None = None
    _turned: int = 0
    _clipped: int = 0
    _ignored: dict[str, int] = field(default_factory=dict)

    def known(self, name: str, what: str) -> bool:
        """Whether an export image that labels nothing (an unannotated task) names a frame of the batch."""
        if self._names is None:
            self._names = FrameNames(self.batch)
        if self._names.find(name) is None:
            self.problems.append(f"{what}: image {name!r} is not a frame of the batch; export the task made from "
                                 "this batch, or give the batch it was made from with --batch")
            return False
        return True

    def frame(self, name: str, size: tuple[int, int] | None, what: str) -> BatchFrame | None:
        """The batch frame of an export image ``name`` of ``size`` (width, height; None: not given), now
        labelled; None (and a problem) when there is no such frame, its size differs or it came before."""
        if not self.known(name, what):
            return None
        frame = self._names.find(name) if self._names is not None else None
        if frame is None:
            return None
        if size is not None and size != (frame.width, frame.height):
            self.problems.append(f"{what}: image {name!r} is {size[0]}x{size[1]}, the batch's frame {frame.file} is "
                                 f"{frame.width}x{frame.height}; the labels would not fit the frame")
            return None
        if frame.stem in self._frames:
            self.problems.append(f"{what}: frame {frame.stem} is labelled a second time in the export; keep one "
                                 "task per frame")
            return None
        self._frames[frame.stem] = []
        return frame

    def box(self, frame: BatchFrame, label: str, corners: tuple[float, float, float, float], rotation: float = 0.0,
            pivot: tuple[float, float] | None = None) -> None:
        """A box of ``frame``, corners in pixels, turned by ``rotation`` degrees clockwise about ``pivot``
        (default: its centre)."""
        x1, y1, x2, y2 = corners
        if rotation and not math.isclose(rotation % 360.0, 0.0, abs_tol=1e-9) and \
                not math.isclose(rotation % 360.0, 360.0, abs_tol=1e-9):
            self._turned += 1
            x1, y1, x2, y2 = _upright_around(corners, rotation, pivot)
        cut = (max(x1, 0.0), max(y1, 0.0), min(x2, float(frame.width)), min(y2, float(frame.height)))
        if cut != (x1, y1, x2, y2):
            self._clipped += 1
        self._frames[frame.stem].append(_Box(label, cut))

    def ignore(self, kind: str) -> None:
        """An annotation that is not a box (a polygon, a point, a tag): counted, warned about, not imported."""
        self._ignored[kind] = self._ignored.get(kind, 0) + 1

    def result(self) -> Labelled:
        """The labelled frames; a problem for every box whose label is not a class of the batch, or that is
        empty; the problems (if any) are the caller's to raise."""
        class_of = {name: k for k, name in enumerate(self.batch.names)}
        frames = []
        for frame in self.batch.frames:
            boxes = self._frames.get(frame.stem)
            if boxes is None:
                continue
            classes, corners = [], []
            for box in boxes:
                if box.label not in class_of:
                    self.problems.append(f"{frame.stem}: label {box.label!r} is not a class of the batch "
                                         f"({', '.join(self.batch.names)}); rename it in the tool")
                    continue
                x1, y1, x2, y2 = box.corners
                if not (x2 > x1 and y2 > y1):
                    self.problems.append(f"{frame.stem}: a {box.label} box of no area ({x1:.2f},{y1:.2f} to "
                                         f"{x2:.2f},{y2:.2f} px, after cutting it to the frame); redraw it")
                    continue
                classes.append(class_of[box.label])
                corners.append(box.corners)
            yolo = xyxy_to_yolo(np.asarray(corners, dtype=np.float64).reshape(-1, 4), frame.width, frame.height)
            frames.append(LabelledFrame(frame.stem, np.asarray(classes, dtype=np.int64), yolo))
        missing = [f.stem for f in self.batch.frames if f.stem not in self._frames]
        warnings = list(self.warnings)
        if missing:
            warnings.append(f"{len(missing)} of the batch's {len(self.batch.frames)} frames are not labelled in "
                            f"{self.where} and are left out: {shown(missing)}")
        if self._turned:
            warnings.append(f"{self._turned} turned box(es): each became the upright box around it")
        if self._clipped:
            warnings.append(f"{self._clipped} box(es) reached outside the frame and were cut to it")
        for kind, count in sorted(self._ignored.items()):
            warnings.append(f"{count} {kind} annotation(s) are not boxes and were not imported")
        if not frames and not self.problems:
            self.problems.append(f"{self.where} labels none of the batch's frames; label some, export again")
        return Labelled(tool=self.tool, frames=frames, not_labelled=missing, warnings=warnings)


def _upright_around(corners: tuple[float, float, float, float], rotation: float,
                    pivot: tuple[float, float] | None) -> tuple[float, float, float, float]:
    """The upright box around ``corners`` turned ``rotation`` degrees clockwise (y down) about ``pivot``."""
    x1, y1, x2, y2 = corners
    px, py = pivot if pivot is not None else ((x1 + x2) / 2, (y1 + y2) / 2)
    a = math.radians(rotation)
    cos, sin = math.cos(a), math.sin(a)
    xs, ys = [], []
    for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2)):
        xs.append(px + (x - px) * cos - (y - py) * sin)
        ys.append(py + (x - px) * sin + (y - py) * cos)
    return min(xs), min(ys), max(xs), max(ys)
