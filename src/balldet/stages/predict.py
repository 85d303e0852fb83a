"""The work of ``balldet predict`` (not one of the pipeline's stages): frames in, one
``<image stem>.txt`` per frame out, in ultralytics' save_txt + save_conf format (``class cx cy w h
conf``, normalised), which ``balldet evaluate`` scores as it is.

Frames are predicted whole, or tile by tile and merged (:mod:`balldet.slicing.predict`). Every
frame gets a file, an empty one when nothing was found, so a missing file always means a frame that
was not predicted (yet). Each file is written whole (temp name, then rename).

A video (:func:`predict_video`) is decoded frame by frame and never held whole; its frames' files
are named ``<recording>_<frame:06d>.txt`` (:mod:`balldet.datasets.video`). They are written into a
hidden folder inside the output folder and moved out only when the whole video has been predicted:
a video cut short (or an interrupted run) leaves no file of it, and files of an earlier run are
replaced only by a run that finished.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from balldet.backends.base_model import PREDICT_CONF
from balldet.backends.registry import get_model_wrapper
from balldet.config import SlicingSection
from balldet.boxes import Detections
from balldet.datasets.dataset import IMAGE_SUFFIXES
from balldet.datasets.video import frame_name, iter_frames, open_recording, read_ahead
from balldet.datasets.yolo import image_size
from balldet.errors import UsageError
from balldet.evaluation.predictions import write_prediction_file
from balldet.slicing.predict import predict_sliced

if TYPE_CHECKING:
    import numpy as np

    from balldet.backends.base_model import ModelWrapper

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
    wrapper = load_model(weights, model_type=model_type, cache_dir=cache_dir, device=device)
    if progress is not None:
        progress(0, len(frames))
    if slicing is None:
        found = wrapper.predict(frames, batch_size=batch_size, image_size=imgsz, conf=framework_conf(conf))
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


def framework_conf(conf: float) -> float:
    """The score threshold handed to the framework for whole frames: ``conf`` itself (as `yolo predict
    conf=...` runs: its NMS sees only those candidates, the same boxes above ``conf`` come out, and
    NMS over every candidate down to 0.001 can cost more than the network), never below the 0.001
    the frameworks' validation uses. Tiles keep every candidate: their merge needs them."""
    return max(conf, PREDICT_CONF)


def load_model(weights: Path, *, model_type: str, cache_dir: Path, device: str) -> ModelWrapper:
    """The backend's wrapper with ``weights`` loaded on ``device``, nothing downloaded."""
    wrapper = get_model_wrapper(model_type)(cache_dir, allow_downloads=False)
    wrapper.load(weights, device=device)
    return wrapper


def predict_video(
    video: Path, out_dir: Path, *, weights: Path, model_type: str, cache_dir: Path, device: str,
    slicing: SlicingSection | None, imgsz: int | None, conf: float, batch_size: int, every: int = 1,
    progress: Progress | None = None,
) -> tuple[int, int]:
    """Predict frames 0, ``every``, 2 x ``every``, ... of ``video`` and write
    ``<recording>_<frame:06d>.txt`` for each into ``out_dir``, all at the end (see the module doc);
    (frames, boxes) written. A video cut short raises :class:`~balldet.datasets.video.TruncatedVideo`
    and writes nothing."""
    info = open_recording(video)
    wrapper = load_model(weights, model_type=model_type, cache_dir=cache_dir, device=device)
    total = info.kept(every)
    if progress is not None:
        progress(0, total)
    frames = boxes = 0
    with _Staging(Path(out_dir), info.recording) as staging:
        found = video_detections(wrapper, video, every=every, slicing=slicing, imgsz=imgsz, conf=conf,
                                 batch_size=batch_size)
        for number, image, detections in found:
            height, width = image.shape[:2]
            boxes += write_detections(staging.path(frame_name(info.recording, number)), detections, width, height,
                                      conf)
            frames += 1
            if progress is not None:
                progress(frames, max(total, frames))
    return frames, boxes


def video_detections(
    wrapper: ModelWrapper, video: Path, *, every: int, slicing: SlicingSection | None, imgsz: int | None,
    conf: float, batch_size: int,
) -> Iterator[tuple[int, np.ndarray, Detections]]:
    """``(frame number, BGR image, detections)`` of frames 0, ``every``, ... of ``video``, in order:
    whole frames ``batch_size`` to a forward pass, or each frame's tiles merged (``slicing``). The
    frames are decoded ahead, one batch, while the model predicts (:func:`read_ahead`); detections
    score at least ``conf`` for whole frames, a sliced frame's keep every merged candidate."""
    per_batch = 1 if slicing else batch_size  # a sliced frame's tiles fill the batches themselves
    decoded = read_ahead(iter_frames(video, every=every), per_batch)
    for numbers, images in frame_batches(decoded, per_batch):
        if slicing is None:
            found = wrapper.predict_batch(images, image_size=imgsz, conf=framework_conf(conf))
        else:
            found = list(predict_sliced(wrapper, images, tile=slicing.tile, overlap=slicing.overlap,
                                        full_frame=slicing.full_frame, image_size=imgsz, batch_size=batch_size))
        yield from zip(numbers, images, found)


def frame_batches(
    frames: Iterator[tuple[int, np.ndarray]], batch_size: int
) -> Iterator[tuple[list[int], list[np.ndarray]]]:
    """Consecutive frames in batches of at most ``batch_size`` frames of one shape (a stream may change
    size midway; the backends letterbox a batch to one shape, see ``batches_of_one_size``)."""
    numbers: list[int] = []
    images: list[np.ndarray] = []
    for number, image in frames:
        if images and (len(images) >= batch_size or image.shape != images[0].shape):
            yield numbers, images
            numbers, images = [], []
        numbers.append(number)
        images.append(image)
    if images:
        yield numbers, images


class _Staging:
    """A hidden folder in ``out_dir`` that collects one recording's files; on leaving without an
    error they are moved into ``out_dir`` (renames in one file system) and the folder removed, on an
    error (or an interruption) the folder is removed with everything in it, and ``out_dir`` too when
    this run made it. (A process killed outright leaves the hidden folder: ``.<recording>.*.partial``,
    never read as predictions -- they are the ``*.txt`` files of ``out_dir`` itself.)"""

    def __init__(self, out_dir: Path, recording: str) -> None:
        self.out_dir = out_dir
        self.recording = recording
        self.folder: Path | None = None
        self.names: list[str] = []
        self.made_out_dir = False

    def __enter__(self) -> _Staging:
        self.made_out_dir = not self.out_dir.exists()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=f".{self.recording}.", suffix=".partial", dir=self.out_dir))
        return self

    def path(self, stem: str) -> Path:
        if self.folder is None:
            raise RuntimeError("_Staging.path() outside its with block")
        self.names.append(f"{stem}.txt")
        return self.folder / f"{stem}.txt"

    def __exit__(self, kind, error, traceback) -> None:
        if self.folder is None:
            return
        try:
            if kind is None:
                for name in self.names:
                    os.replace(self.folder / name, self.out_dir / name)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            if kind is not None and self.made_out_dir:
                with contextlib.suppress(OSError):  # only when empty: the folder this run made for nothing
                    self.out_dir.rmdir()


def write_frame(path: Path, frame: Path, detections: Detections, conf: float) -> int:
    """The frame's detections scoring at least ``conf``, written to ``path``; how many."""
    return write_detections(path, detections, *image_size(frame), conf)


def write_detections(path: Path, detections: Detections, width: int, height: int, conf: float) -> int:
    """Detections in a ``width`` x ``height`` frame scoring at least ``conf``, written to ``path``; how many."""
    keep = detections.scores >= conf
    kept = Detections(boxes=detections.boxes[keep], scores=detections.scores[keep], classes=detections.classes[keep])
    write_prediction_file(path, kept, width, height)
    return len(kept.scores)
