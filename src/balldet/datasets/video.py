"""Recordings as video files: is a path a video, what it holds, and its frames one by one.

A recording's id is the video file's stem (name videos by the team's recording ids), and a frame's
number is its 0-based decode index: the n-th picture OpenCV's ``VideoCapture`` decodes, from the
start of the file, is frame n -- the number ``cv2.CAP_PROP_POS_FRAMES`` says before that picture is
read. A frame from a video is named ``<recording>_<frame:06d>`` (:func:`frame_name`), so predictions
of video frames and frames exported as images identify alike (see the default frame patterns).

Frames are decoded sequentially, never by seeking: seeking lands on the nearest key frame or
somewhere near it for many codecs, so the numbers would not be decode indices. Skipped frames are
only ``grab()``-ed (demuxed and decoded, not converted to BGR), the kept ones ``retrieve()``-d.
:func:`iter_frames` holds one frame at a time (:func:`read_ahead` as many as it is told): a
recording of any length streams. (``--every N`` keeps frames 0, N, 2N, ...; ultralytics'
``vid_stride=N`` keeps N-1, 2N-1, ... and numbers them 1, 2, ...)

A video that stops decoding before the frame count its container declares is *truncated*
(:class:`TruncatedVideo`, raised after the last frame that decoded). The count is what OpenCV
reports: the stored count (mp4, mov, avi), else an estimate from duration x fps (mkv, webm, mpg),
which may come out low (MPEG program streams) -- decoding past it is never an error.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from balldet.errors import DatasetError

if TYPE_CHECKING:
    import numpy as np

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".webm")
_REPAIR = ("copy the whole file again, or re-mux it (e.g. `ffmpeg -i <file> -c copy <new file>`) so that its "
           "container describes the frames it holds")


def is_video(path: Path | str) -> bool:
    """Whether ``path`` names a video file by its suffix (upper case too); the file need not exist."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def frame_name(recording: str, frame: int) -> str:
    """The stem of a video frame's files: ``<recording>_<frame:06d>`` (more digits past 999 999)."""
    return f"{recording}_{frame:06d}"


@dataclass(frozen=True)
class RecordingInfo:
    """What a video holds, read from its container and its first frame."""

    path: Path
    recording: str  # the file's stem
    frames: int  # the frame count the container declares (0: it declares none)
    width: int  # of the decoded frames (as OpenCV hands them: rotation metadata applied)
    height: int
    fps: float  # 0.0 when the container does not say

    def kept(self, every: int = 1, start: int = 0) -> int:
        """How many frames :func:`iter_frames` yields with ``every`` and ``start``, by the declared count."""
        return max(0, math.ceil((self.frames - start) / every))


class VideoError(DatasetError):
    """A video that cannot be opened, or whose frames do not decode."""

    def __init__(self, path: Path, problem: str, *, fix: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}", fix=fix)


class TruncatedVideo(VideoError):
    """Decoding stopped at ``frame`` (the first frame that did not decode) before the ``declared`` count."""

    def __init__(self, path: Path, frame: int, declared: int) -> None:
        self.frame = frame
        self.declared = declared
        super().__init__(
            path, f"the video is cut short: decoding stopped at frame {frame} of the {declared} its container "
            f"declares (frames 0-{frame - 1} decode)" if frame else
            f"the video is cut short: no frame of the {declared} its container declares decodes",
            fix=_REPAIR,
        )


def open_recording(path: Path | str) -> RecordingInfo:
    """A video's :class:`RecordingInfo`, after checking that it opens and that its first frame decodes
    (a cheap check: one frame); :class:`VideoError` naming the file and what to do otherwise."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(path, "no such video file", fix="give the path of a video file (.mp4, .avi, .mkv, ...)")
    capture = _capture(path)
    try:
        declared = _declared_frames(capture)
        fps = float(capture.get(_cv2().CAP_PROP_FPS) or 0.0)
        ok, image = capture.read()
    finally:
        capture.release()
    if not ok or image is None:
        if declared:
            raise TruncatedVideo(path, 0, declared)
        raise VideoError(path, "the file opens as a video but holds no frame that decodes", fix=_REPAIR)
    height, width = image.shape[:2]
    return RecordingInfo(path=path, recording=path.stem, frames=declared, width=int(width), height=int(height),
                         fps=fps if math.isfinite(fps) and fps > 0 else 0.0)


def iter_frames(path: Path | str, every: int = 1, start: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """``(frame number, BGR uint8 (H, W, 3) image)`` of frames ``start``, ``start + every``, ... in
    decode order, to the end of the video; :class:`TruncatedVideo` after the last frame that decodes
    when decoding stops before the container's frame count. Frames before ``start`` are decoded and
    dropped (see the module doc: no seeking)."""
    if every < 1 or start < 0:
        raise ValueError(f"every must be >= 1 and start >= 0, not every={every}, start={start}")
    path = Path(path)
    capture = _capture(path)
    try:
        declared = _declared_frames(capture)
        number = 0
        while True:
            if not capture.grab():
                break
            if number >= start and (number - start) % every == 0:
                ok, image = capture.retrieve()
                if not ok or image is None:
                    break
                yield number, image
            number += 1
    finally:
        capture.release()
    if number < declared:
        raise TruncatedVideo(path, number, declared)


T = TypeVar("T")
_END = object()


def read_ahead(items: Iterator[T], size: int) -> Iterator[T]:
    """``items`` as they come, produced by a thread of their own up to ``size`` ahead of the consumer:
    decoding the next frames while the model predicts the last ones (OpenCV decodes without holding
    Python's lock). What ``items`` raises is raised here, in order; leaving the loop early stops the
    thread and closes ``items`` (so a video is released)."""
    ahead: queue.Queue = queue.Queue(maxsize=max(1, size))
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    break
            else:
                put((_END, None))
        except BaseException as exc:  # noqa: BLE001  (handed to the consumer, raised there)
            put((_END, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="read_ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ahead.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _cv2():
    import cv2

    return cv2


def _capture(path: Path):
    cv2 = _cv2()
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise VideoError(
            path, "OpenCV cannot open it as a video (not a video, an unknown codec, or a file cut short before "
            "its index, as an .mp4 whose download stopped)",
            fix=f"check that it plays in a video player; {_REPAIR}",
        )
    return capture


def _declared_frames(capture) -> int:
    count = capture.get(_cv2().CAP_PROP_FRAME_COUNT)
    return int(count) if math.isfinite(count) and count > 0 else 0
