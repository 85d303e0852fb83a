"""`balldet export`: trained weights to ONNX or TorchScript with the backend's own exporter, each
file checked against its weights before it is kept.

Both frameworks' exporters write ``<weights stem><suffix>`` beside the weights they are given. Here
they are given a link to the weights, named as the exported file will be, in a temporary folder
beside the target: the exported file is checked there and only then renamed to its target (the same
file system, so the rename is atomic). A failed export or check leaves nothing under the target's
name and no temporary folder; a target that existed before stays as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from balldet.backends.export_check import (
    BOX_TOLERANCE,
    SCORE_TOLERANCE,
    ExportCheck,
    compare,
    letterbox,
    predictions,
)
from balldet.backends.exporters import exporter_of
from balldet.boxes import Detections

# Said by torch on every TorchScript export and load, and when yolov5 loads an exported model: nothing
# to act on here.
QUIET_WARNINGS = (r"`torch\.jit\.\w+` is deprecated", r"The \.grad attribute of a Tensor that is not a leaf")


@dataclass
class ExportOutcome:
    """One format's export: its target, whether it was written there (not when its check failed), the
    input size it takes and its check."""

    fmt: str
    target: Path
    written: bool
    imgsz: int
    check: ExportCheck | None  # None: not checked (--no-check)


def export_model(
    weights: Path, model_type: str, targets: dict[str, Path], *, imgsz: int | None,
    frames: Sequence[tuple[str, np.ndarray]] | None, cache_dir: Path, allow_downloads: bool = False,
    box_tolerance: float | None = None, score_tolerance: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[ExportOutcome]:
    """Export ``weights`` to each format of ``targets`` (format -> file), check each export on
    ``frames`` (name, BGR image; None: no check) and keep the ones that pass. The tolerances are
    :mod:`balldet.backends.export_check`'s unless given (``box_tolerance`` in px of the input)."""
    score_tolerance = SCORE_TOLERANCE if score_tolerance is None else score_tolerance
    export_weights = exporter_of(model_type)
    references: dict[int, list[Detections]] = {}  # the weights' detections, by input size
    outcomes = []
    with warnings.catch_warnings():
        for pattern in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)
        for fmt, target in targets.items():
            outcomes.append(_export_one(
                weights, model_type, fmt, Path(target), export_weights, references, imgsz=imgsz, frames=frames,
                cache_dir=cache_dir, allow_downloads=allow_downloads, box_tolerance=box_tolerance,
                score_tolerance=score_tolerance, progress=progress,
            ))
    return outcomes


def _export_one(weights, model_type, fmt, target, export_weights, references, *, imgsz, frames, cache_dir,
                allow_downloads, box_tolerance, score_tolerance, progress) -> ExportOutcome:
    """One format: exported in a temporary folder beside ``target``, checked, renamed into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        if progress:
            progress(f"exporting {fmt} with the {model_type} exporter ...")
        exported = export_weights(_link(weights, work / f"{target.stem}.pt"), fmt, imgsz=imgsz, cache_dir=cache_dir,
                                  allow_downloads=allow_downloads)
        check = None
        if frames is not None:
            if progress:
                progress(f"checking the {fmt} export against the weights on {len(frames)} frames ...")
            inputs = [letterbox(image, exported.imgsz) for _, image in frames]
            if exported.imgsz not in references:
                references[exported.imgsz] = predictions(model_type, weights, inputs, imgsz=exported.imgsz,
                                                         cache_dir=cache_dir)
            theirs = predictions(model_type, exported.path, inputs, imgsz=exported.imgsz, cache_dir=cache_dir)
            box_px = BOX_TOLERANCE * exported.imgsz if box_tolerance is None else box_tolerance
            check = ExportCheck(
                target, exported.imgsz,
                [compare(ours, their, name, box_tolerance=box_px, score_tolerance=score_tolerance)
                 for (name, _), ours, their in zip(frames, references[exported.imgsz], theirs)],
                box_tolerance=box_px, score_tolerance=score_tolerance,
            )
        passed = check is None or check.passed
        if passed:
            os.replace(exported.path, target)
        return ExportOutcome(fmt, target, passed, exported.imgsz, check)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _link(weights: Path, link: Path) -> Path:
    """``link`` to the weights (a copy where links cannot be made)."""
    try:
        link.symlink_to(Path(weights).resolve())
    except OSError:
        shutil.copyfile(weights, link)
    return link
