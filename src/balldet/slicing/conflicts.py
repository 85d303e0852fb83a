"""Backend options that would undo what slicing is for, found before any data is fetched.

Slicing keeps a ball's pixels by cutting tiles at full resolution. A trainer option that shrinks
those tiles again shrinks the ball with them:

* an image size (``imgsz``) smaller than the tile: every tile is scaled down to it;
* ``multi_scale``: the trainers draw each batch's size below the image size (yolov5's flag: down to
  half of it; ultralytics' fraction ``f``: down to ``1 - f`` of it), which shrinks the tiles unless
  the image size is raised to make up for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from balldet.config import MAX_STRIDE

Problems = list[tuple[str, str]]
YOLOV5_MULTI_SCALE = 0.5  # yolov5 --multi-scale: sizes from 0.5 to 1.5 times imgsz


def slicing_conflicts(slicing: Any, train_config: Any, *, image_size_option: str) -> Problems:
    """Problems of a config's raw ``slicing`` section with its raw ``train_config``; none when either
    is missing or malformed (those are reported by the config's own validation)."""
    if not isinstance(slicing, Mapping) or not isinstance(train_config, Mapping):
        return []
    tile = slicing.get("tile")
    if not isinstance(tile, int) or isinstance(tile, bool) or tile < MAX_STRIDE or tile % MAX_STRIDE:
        return []  # a tile the section's own validation refuses: nothing to compare with
    if slicing.get("train", True) is False:
        return []  # whole frames are trained on; their image size is the user's choice
    problems: Problems = []
    size = train_config.get(image_size_option)
    sides = size if isinstance(size, list) else [size]
    numbers = [s for s in sides if isinstance(s, int) and not isinstance(s, bool)]
    if numbers and min(numbers) < tile:
        problems.append((
            f"train_config.{image_size_option}",
            f"{size} is smaller than slicing.tile {tile}: the trainer would shrink every tile, and the ball "
            f"with it; set {image_size_option}: {tile} (or leave it out: balldet then trains at the tile size)",
        ))
    multi_scale = train_config.get("multi_scale")
    fraction = YOLOV5_MULTI_SCALE if multi_scale is True else multi_scale
    if isinstance(fraction, (int, float)) and not isinstance(fraction, bool) and 0 < fraction < 1:
        trained_at = min(numbers) if numbers else tile
        smallest = int(trained_at * (1 - fraction))
        if smallest < tile:
            needed = -(-int(tile / (1 - fraction)) // MAX_STRIDE) * MAX_STRIDE
            problems.append((
                "train_config.multi_scale",
                f"{multi_scale} trains batches as small as {smallest} px, below slicing.tile {tile}: tiles and "
                f"balls shrink again; remove multi_scale, or set {image_size_option}: {needed} to keep the "
                "smallest batches at the tile size",
            ))
    return problems
