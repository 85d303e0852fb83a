"""The work of ``balldet predict`` (not one of the pipeline's stages): frames in, one
``<image stem>.txt`` per frame out, in ultralytics' save_txt + save_conf format (``class cx cy w h
conf``, normalised), which ``balldet evaluate`` scores as it is.

Frames are predicted whole, or tile by tile and merged (:mod:`balldet.slicing.predict`). Every
frame gets a file, an empty one when nothing was found, so a missing file always means a frame that
was not predicted (yet). Each file is written whole (temp name, then rename).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from balldet.backends.registry import get_model_wrapper
from balldet.config import SlicingSection
from balldet.boxes import Detections
from balldet.datasets.dataset import IMAGE_SUFFIXES
from balldet.datasets.yolo import image_size
from balldet.errors import UsageError
from balldet.evaluation.predictions import write_prediction_file
from balldet.slicing.predict import predict_sliced

Progress = Callable[[int, int], None]


def frames_in(folder: Path) -> list[Path]:
    """The frames of a folder: its own image files, or those of its ``images/`` (a YOLO dataset
    folder), sorted by name; upper-case extensions count."""
    folder = Path(folder)
    images = folder / "images"
    where = images if images.is_dir() else folder
    return sorted(p for p in where.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def check_stems(frames: Sequence[Path]) -> None:
    """Frames whose outputs would share a name (``a.jpg`` and ``a.png``): all named at once."""
    seen: dict[str, list[str]] = {}
    for frame in frames:
        seen.setdefault(frame.stem, []).append(frame.name)
    clashes = [names for names in seen.values() if len(names) > 1]
    if clashes:
        listed = "; ".join(", ".join(names) for names in clashes[:5])
        raise UsageError([("--source", f"{len(clashes)} frame name(s) differ only in their extension ({listed}), "
                           "and each frame's predictions go to <image stem>.txt; rename or move one of each")])


def predict_frames(
    frames: Sequence[Path], out_dir: Path, *, weights: Path, model_type: str, cache_dir: Path, device: str,
    slicing: SlicingSection | None, imgsz: int | None, conf: float, batch_size: int,
    progress: Progress | None = None,
) -> int:
    """Predict ``frames`` and write ``<stem>.txt`` for each into ``out_dir``; the number of boxes written."""
    wrapper = get_model_wrapper(model_type)(cache_dir, allow_downloads=False)
    wrapper.load(weights, device=device)
    if slicing is None:
        found = wrapper.predict(frames, batch_size=batch_size, image_size=imgsz)
    else:
        found = predict_sliced(wrapper, frames, tile=slicing.tile, overlap=slicing.overlap,
                               full_frame=slicing.full_frame, image_size=imgsz, batch_size=batch_size)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    boxes = 0
    for done, (frame, detections) in enumerate(zip(frames, found), 1):
        boxes += write_frame(out_dir / f"{frame.stem}.txt", frame, detections, conf)
        if progress is not None:
            progress(done, len(frames))
    return boxes


def write_frame(path: Path, frame: Path, detections: Detections, conf: float) -> int:
    """The frame's detections scoring at least ``conf``, written to ``path``; how many."""
    keep = detections.scores >= conf
    kept = Detections(boxes=detections.boxes[keep], scores=detections.scores[keep], classes=detections.classes[keep])
    write_prediction_file(path, kept, *image_size(frame))
    return len(kept.scores)
