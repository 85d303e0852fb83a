"""Cutting a frame into tiles: the grid, the boxes a tile holds, and how a tile image is named.

The grid is sahi's (``sahi.slicing.get_slice_bboxes``, tested equal to it): square tiles of side
``tile``, a step of ``tile - int(overlap * tile)`` pixels, and the last tile of a row or column
moved back inside the frame so that it is full size too (it overlaps its neighbour by more). A
frame narrower (or lower) than a tile gets one tile spanning the frame in that dimension, so all
tiles of a frame have one shape and can be predicted in one batch.

Written here rather than imported from sahi: the rule is a few lines of numpy, and importing
``sahi.slicing`` costs far more than the grid (75-110 ms and 219 modules: shapely, PIL, tqdm,
sahi's COCO and annotation modules; ``balldet.slicing`` 11 ms), in every process that cuts a
training layout or predicts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from balldet.boxes import box_array, clip_xyxy, xyxy_to_xywh
from balldet.errors import BalldetError

#: A tile in frame pixels: ``x0 y0 x1 y1``, x1 and y1 exclusive (the numpy slice ``[y0:y1, x0:x1]``).
TileRect = tuple[int, int, int, int]

# "<stem>__x<x0>_y<y0>": the greedy stem takes the last such suffix, so a stem may hold "__x" itself.
_TILE_NAME = re.compile(r"^(?P<stem>.+)__x(?P<x>\d+)_y(?P<y>\d+)(?:\.[^./]+)?$")


def check_tiling(tile: Any, overlap: Any) -> None:
    """Refuse a tile side or an overlap that cannot make a grid (a step of zero pixels would never end)."""
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 1:
        raise BalldetError(f"the tile size must be a whole number of pixels >= 1, not {tile!r}",
                           fix="give a tile side such as 640")
    if isinstance(overlap, bool) or not isinstance(overlap, (int, float, np.floating)) or not 0 <= overlap < 1:
        raise BalldetError(f"the tile overlap must be a fraction of the tile in [0, 1), not {overlap!r}",
                           fix="give an overlap such as 0.2 (a fifth of the tile shared with each neighbour)")


def axis_starts(size: int, tile: int, overlap: float) -> np.ndarray:
    """Where tiles start along one axis of ``size`` pixels (sahi's rule, see the module doc)."""
    # int(), not round(): sahi truncates the overlap in pixels, and the grid must be its grid.
    step = tile - int(overlap * tile)
    # every regular start whose tile ends before the frame does, then the last tile flush with the edge
    regular = np.arange(0, max(size - tile, 0), step, dtype=np.int64)
    return np.append(regular, max(size - tile, 0))


def tile_grid(width: int, height: int, tile: int, overlap: float) -> list[TileRect]:
    """The tiles of a ``width`` × ``height`` frame, row by row (sahi's order), as ``(x0, y0, x1, y1)``."""
    check_tiling(tile, overlap)
    if width < 1 or height < 1:
        raise BalldetError(f"a frame of {width}x{height} pixels cannot be cut into tiles",
                           fix="check that the image file is a readable picture")
    xs, ys = axis_starts(width, tile, overlap), axis_starts(height, tile, overlap)
    w, h = min(tile, width), min(tile, height)
    return [(int(x), int(y), int(x) + w, int(y) + h) for y in ys for x in xs]


class TileBoxes(NamedTuple):
    """The boxes a tile keeps: xyxy in tile pixels, their classes, and their rows in the frame's boxes."""

    boxes: np.ndarray
    classes: np.ndarray
    indices: np.ndarray


def clip_to_tile(
    boxes_xyxy: Any, classes: Sequence[int] | np.ndarray, tile_rect: TileRect, min_inside: float = 0.5
) -> TileBoxes:
    """The frame's boxes as the tile ``tile_rect`` holds them, in tile pixels.

    A box wholly inside is kept as it is (shifted). A box cut by the tile's edge is kept, clipped to
    the tile, only when more than ``min_inside`` of its area lies inside: a sliver of a ball at the
    edge would teach the model to find balls in a few pixels of leather. So a box cut exactly in
    half by two tiles without overlap is in neither (sahi's ``min_area_ratio`` keeps it at ``>=``);
    an overlap wider than the largest ball puts every ball whole into some tile. A box of no area
    (a point or a line) counts as inside when it lies within the closed tile.
    """
    boxes = box_array(boxes_xyxy, "boxes_xyxy")
    labels = np.asarray(classes, dtype=np.int64).reshape(-1)
    if labels.shape[0] != boxes.shape[0]:
        raise ValueError(f"one class per box: {boxes.shape[0]} boxes, {labels.shape[0]} classes")
    x0, y0, x1, y1 = tile_rect
    offset = np.array([x0, y0, x0, y0], dtype=np.float64)
    local = boxes - offset
    clipped = clip_xyxy(local, x1 - x0, y1 - y0)
    area = xyxy_to_xywh(local)[:, 2:].prod(axis=1)
    inside_area = xyxy_to_xywh(clipped)[:, 2:].prod(axis=1)
    contained = np.all(clipped == local, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(area > 0, inside_area / np.where(area > 0, area, 1.0), contained.astype(np.float64))
    keep = contained | (share > min_inside)
    return TileBoxes(boxes=clipped[keep], classes=labels[keep], indices=np.flatnonzero(keep))


def tile_name(stem: str, rect: TileRect) -> str:
    """The file stem of a tile image: the frame's stem and the tile's top-left corner in the frame."""
    return f"{stem}__x{int(rect[0])}_y{int(rect[1])}"


def parse_tile_name(name: str) -> tuple[str, int, int] | None:
    """``(frame stem, x0, y0)`` of a :func:`tile_name` (an extension is ignored); None for any other name."""
    match = _TILE_NAME.match(name)
    if match is None:
        return None
    return match["stem"], int(match["x"]), int(match["y"])
