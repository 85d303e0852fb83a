"""Sliced (SAHI-style) training and prediction for tiny balls on wide frames.

Public API::

    from balldet.slicing import tile_grid, clip_to_tile, tile_name, parse_tile_name
    from balldet.slicing import MergeRule, merge_detections, predict_sliced

:mod:`~balldet.slicing.tiles` cuts a frame into tiles and its boxes into the tiles' boxes;
:mod:`~balldet.slicing.merge` merges the tiles' detections back in frame pixels;
:mod:`~balldet.slicing.predict` predicts a frame tile by tile through a backend. The grid and the
merge rules are sahi's, tested against sahi, but written here (see each module for why).
"""

from .merge import MergeRule, merge_detections, shift
from .predict import predict_frame, predict_sliced, read_frame
from .tiles import TileBoxes, TileRect, check_tiling, clip_to_tile, parse_tile_name, tile_grid, tile_name

__all__ = [
    "MergeRule", "TileBoxes", "TileRect", "check_tiling", "clip_to_tile", "merge_detections", "parse_tile_name",
    "predict_frame", "predict_sliced", "read_frame", "shift", "tile_grid", "tile_name",
]
