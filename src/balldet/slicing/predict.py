"""Sliced prediction: each frame predicted tile by tile at full resolution (and whole, when asked),
the detections moved to frame pixels and merged, as sahi's ``get_sliced_prediction`` does.

Frames come as image files or as BGR arrays already decoded (a video's frames).

Differences from sahi, on purpose: a frame is read once, its tiles are views into it, and all
tiles of a frame go through the model in one batch (``batch_size`` at most): tiles of one frame
have one shape (see :func:`~balldet.slicing.tiles.tile_grid`), so the backends letterbox them alike
and each tile gets the detections it gets alone. Tiles are predicted at ``image_size or tile``
pixels (a square tile at its own size keeps the ball's every pixel); the whole frame at
``image_size`` (the backend's own size when None).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from balldet.boxes import Detections
from balldet.errors import BackendError, DatasetError
from balldet.slicing.merge import MergeRule, Part
from balldet.slicing.tiles import TileRect, check_tiling, tile_grid

if TYPE_CHECKING:  # types only: backends are a sibling domain package, not a dependency
    from balldet.backends.base_model import ModelWrapper


def read_frame(path: Path) -> np.ndarray:
    """A frame's pixels as the trainers read them: BGR uint8 ``(H, W, 3)``, EXIF orientation
    applied, a grayscale frame as three equal channels (``cv2.IMREAD_COLOR``)."""
    import cv2

    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None:
        raise DatasetError(f"cannot read image {path}", fix="check that the file exists and is a picture (jpg, png)")
    return frame


def predict_sliced(
    wrapper: ModelWrapper,
    images: Iterable[Path | np.ndarray],
    *,
    tile: int,
    overlap: float,
    full_frame: bool = False,
    image_size: int | None = None,
    batch_size: int = 32,
    merge: MergeRule | None = None,
) -> Iterator[Detections]:
    """Detections of each frame of ``images`` (files, or BGR uint8 ``(H, W, 3)`` arrays as
    :func:`read_frame` gives them), in order, in frame pixels (see the module doc). Lazy: a frame is
    read when its detections are asked for.

    ``merge`` says how the tiles' overlapping detections become one (NMS at IoU 0.5 per class by
    default: sahi's choice at low confidence thresholds)."""
    check_tiling(tile, overlap)
    if not wrapper.loaded:
        raise BackendError("predict_sliced() before load()")
    rule = merge if merge is not None else MergeRule()
    for image in images:
        frame = image if isinstance(image, np.ndarray) else read_frame(image)
        yield predict_frame(
            wrapper, frame, tile=tile, overlap=overlap, full_frame=full_frame, image_size=image_size,
            batch_size=batch_size, merge=rule,
        )


def predict_frame(
    wrapper: ModelWrapper,
    frame: np.ndarray,
    *,
    tile: int,
    overlap: float,
    full_frame: bool = False,
    image_size: int | None = None,
    batch_size: int = 32,
    merge: MergeRule | None = None,
) -> Detections:
    """The merged detections of one frame (BGR ``(H, W, 3)``, as :func:`read_frame` gives it)."""
    rule = merge if merge is not None else MergeRule()
    height, width = frame.shape[:2]
    rects = tile_grid(width, height, tile, overlap)
    parts = tile_parts(wrapper, frame, rects, image_size=image_size or tile, batch_size=batch_size)
    # One tile is the whole frame already (sahi skips the whole-frame pass then too).
    if full_frame and len(rects) > 1:
        whole = wrapper.predict_batch([frame], image_size=image_size)[0]
        parts.append((with_area(whole), (0, 0)))
    return rule(parts)


def tile_parts(
    wrapper: ModelWrapper, frame: np.ndarray, rects: Sequence[TileRect], *, image_size: int, batch_size: int
) -> list[Part]:
    """Each tile's detections (in tile pixels) with the tile's offset, predicted in batches."""
    crops = [frame[y0:y1, x0:x1] for x0, y0, x1, y1 in rects]  # views: nothing copied until the backend
    step = max(1, int(batch_size))
    parts: list[Part] = []
    for start in range(0, len(crops), step):
        found = wrapper.predict_batch(crops[start : start + step], image_size=image_size)
        parts += [(with_area(d), (r[0], r[1])) for d, r in zip(found, rects[start : start + step])]
    return parts


def with_area(detections: Detections) -> Detections:
    """``detections`` without boxes of no width or height: the backends clip boxes to the tile, and
    one clipped to nothing says nothing about where the ball is (sahi drops them alike)."""
    boxes = detections.boxes
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    if keep.all():
        return detections
    return Detections(boxes=boxes[keep], scores=detections.scores[keep], classes=detections.classes[keep])
