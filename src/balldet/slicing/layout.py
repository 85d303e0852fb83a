"""The tiled training layout: tiles cut from full-resolution frames, in the YOLO layout both trainers
read (:mod:`balldet.backends.yolo_layout`).

Tiles are derived data, made once per dataset version and slicing: the layout shelf holds an entry
``tiles-<key>/`` per dataset (``images/<frame stem>__x<x0>_y<y0>.png``, ``labels/`` beside them and
``tiles.json``, which tile came from which frame); a run's layout then links those folders like
it links a dataset's own. Source datasets are only read.

Which tiles are kept: every tile holding an object (a box cut by the tile's edge counts when most of
it is inside, see :func:`balldet.slicing.tiles.clip_to_tile`), and of the tiles holding none, as
many as ``empty_tiles`` times those, drawn at random (seeded by the run's seed and the dataset).
Tiles of a frame go wherever the frame goes: a validation split held out of a training dataset
holds out the tiles of its frames.

Tiles are PNG: a frame's pixels reach the trainer as they are in the frame (no second JPEG loss
around a ball of a few pixels).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from balldet.backends.base_converter import ConvertedData
from balldet.backends.yolo_layout import link_split
from balldet.boxes import xyxy_to_yolo, yolo_rows, yolo_to_xyxy
from balldet.cache import Shelf, make_key
from balldet.checks.fingerprints import dataset_state
from balldet.config import SlicingSection
from balldet.datasets.dataset import DatasetRef
from balldet.datasets.prepared import FrameRef, PreparedData
from balldet.datasets.yolo import image_size, read_labels
from balldet.errors import ConfigError, DatasetError
from balldet.files import write_json_atomic, write_text_atomic
from balldet.slicing.predict import read_frame
from balldet.slicing.tiles import clip_to_tile, tile_grid, tile_name

TILES_VERSION = 1  # bump when tiles are cut differently: entries of the old cut are not reused
INDEX = "tiles.json"
PNG_FAST = [1]  # cv2.IMWRITE_PNG_COMPRESSION level: lossless either way, level 1 writes fastest
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PlannedTile:
    frame: str  # the frame's file name in its dataset
    rect: tuple[int, int, int, int]
    rows: np.ndarray  # YOLO rows of the tile, normalised by the tile's size


def frame_sizes(ref: DatasetRef, exclude: set[str]) -> dict[str, tuple[int, int]]:
    """(width, height) as displayed of every frame of ``ref`` but ``exclude``, by file name, in name order."""
    return {name: image_size(ref.images_dir / name) for name in ref.image_names() if name not in exclude}


def check_tile_fits(datasets: Iterable[DatasetRef], slicing: SlicingSection,
                    sizes_of: dict[str, dict[str, tuple[int, int]]]) -> None:
    """A tile that holds a whole frame cuts nothing: named for every dataset where that is so of all
    its frames (one error, all datasets), before any tile is cut. ``sizes_of``: :func:`frame_sizes`
    by dataset id."""
    problems = []
    for ref in datasets:
        sizes = set(sizes_of[ref.id].values())
        if sizes and all(w <= slicing.tile and h <= slicing.tile for w, h in sizes):
            largest = max(sizes, key=lambda s: s[0] * s[1])
            problems.append((
                "slicing.tile",
                f"{slicing.tile} holds a whole frame of {ref.label} (its largest frames are {largest[0]}x{largest[1]}):"
                f" slicing would not cut them; use a tile below {max(largest)} px, or remove the slicing section "
                "to train on whole frames",
            ))
    if problems:
        raise ConfigError(problems)


def plan_tiles(ref: DatasetRef, slicing: SlicingSection, *, seed: int, exclude: set[str],
               sizes: dict[str, tuple[int, int]] | None = None) -> list[PlannedTile]:
    """The tiles of ``ref`` to keep (see the module's docstring), in frame order; ``sizes``: the
    frames' :func:`frame_sizes` when they were read already."""
    if sizes is None:
        sizes = frame_sizes(ref, exclude)
    with_objects: list[PlannedTile] = []
    empty: list[PlannedTile] = []
    for name, (width, height) in sizes.items():
        rows = read_labels(ref.label_file(ref.images_dir / name))
        boxes = yolo_to_xyxy(rows[:, 1:5], width, height)
        for rect in tile_grid(width, height, slicing.tile, slicing.overlap):
            kept = clip_to_tile(boxes, rows[:, 0], rect)
            tile_w, tile_h = rect[2] - rect[0], rect[3] - rect[1]
            tile_rows = np.column_stack([kept.classes, xyxy_to_yolo(kept.boxes, tile_w, tile_h)])
            (with_objects if len(tile_rows) else empty).append(PlannedTile(name, rect, tile_rows))
    wanted = min(len(empty), round(slicing.empty_tiles * len(with_objects)))
    rng = np.random.default_rng([seed, int(ref.id[:16], 16)])
    picked = set(rng.choice(len(empty), size=wanted, replace=False).tolist()) if wanted else set()
    kept = with_objects + [tile for i, tile in enumerate(empty) if i in picked]
    order = {name: i for i, name in enumerate(sizes)}
    return sorted(kept, key=lambda t: (order[t.frame], t.rect[1], t.rect[0]))


def cut_tiles(ref: DatasetRef, tiles: list[PlannedTile], folder: Path, progress: Progress | None = None) -> None:
    """Write ``tiles`` of ``ref`` under ``folder`` (images/, labels/), each frame decoded once."""
    import cv2

    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    by_frame: dict[str, list[PlannedTile]] = {}
    for tile in tiles:
        by_frame.setdefault(tile.frame, []).append(tile)

    def cut(frame: str) -> None:
        path = ref.images_dir / frame
        pixels = read_frame(path)  # as the trainers read it: EXIF orientation applied, three channels
        stem = Path(frame).stem
        for tile in by_frame[frame]:
            x0, y0, x1, y1 = tile.rect
            name = tile_name(stem, tile.rect)
            if not cv2.imwrite(str(folder / "images" / f"{name}.png"), pixels[y0:y1, x0:x1],
                               [cv2.IMWRITE_PNG_COMPRESSION, *PNG_FAST]):
                raise DatasetError(f"could not write a tile of {path} under {folder}")
            lines = yolo_rows(tile.rows[:, 0], tile.rows[:, 1:5])
            (folder / "labels" / f"{name}.txt").write_text("".join(f"{line}\n" for line in lines))

    frames = list(by_frame)
    # OpenCV decodes and encodes outside the GIL: one thread per core cuts frames side by side
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for done, _ in enumerate(pool.map(cut, frames), 1):
            if progress is not None:
                progress(ref.label, done, len(frames))


def dataset_tiles(ref: DatasetRef, slicing: SlicingSection, shelf: Shelf, *, seed: int, exclude: set[str],
                  sizes: dict[str, tuple[int, int]] | None = None, progress: Progress | None = None,
                  ) -> tuple[DatasetRef, dict[str, list[str]]]:
    """The tiles of ``ref`` as a dataset of their own (cut now, or found on ``shelf``) and which tile
    files each frame gave."""
    settings = slicing.model_dump(include={"tile", "overlap", "empty_tiles"})
    key = make_key(TILES_VERSION, dataset_state(ref), sorted(exclude), settings, seed, prefix="tiles")
    folder = shelf.entry_folder(key)
    if folder is None:
        raise DatasetError("tiles need a cache folder to be cut into", fix="set cache_dir in the settings")
    index = _read_index(folder / INDEX)
    if index is None:
        tiles = plan_tiles(ref, slicing, seed=seed, exclude=exclude, sizes=sizes)
        partial = folder.with_name(f".{folder.name}.partial")
        if partial.exists():
            shutil.rmtree(partial)
        cut_tiles(ref, tiles, partial, progress)
        index = {}
        for tile in tiles:
            index.setdefault(tile.frame, []).append(f"{tile_name(Path(tile.frame).stem, tile.rect)}.png")
        write_json_atomic(partial / INDEX, index, compact=True)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(partial, folder)  # whole or not at all: the index is inside
    tiles_ref = ref.model_copy(update={"path": folder, "images_folder": None, "labels_folder": None,
                                       "number_samples": sum(len(v) for v in index.values())})
    return tiles_ref, index


def _read_index(path: Path) -> dict[str, list[str]] | None:
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return index if isinstance(index, dict) else None


def build_tiled_layout(data: PreparedData, out_dir: Path, model_type: str, *, slicing: SlicingSection,
                       seed: int, shelf: Shelf, progress: Progress | None = None) -> ConvertedData:
    """``train/`` and ``val/`` of tiles (see the module's docstring), built beside ``out_dir`` and
    renamed into place."""
    dropped = _names_by_dataset(data.dropped_frames)
    held_out = _names_by_dataset(data.val_frames)
    own_val = {ref.id for ref in data.val}
    trained_on = {ref.id for ref in data.train}
    # every frame's header is read once: for the check, then for cutting the tiles
    sizes_of = {ref.id: frame_sizes(ref, dropped.get(ref.id, set())) for ref in [*data.train, *data.val]}
    check_tile_fits([*data.train, *data.val], slicing, sizes_of)
    train: list[tuple[DatasetRef, set[str]]] = []
    val: list[tuple[DatasetRef, set[str]]] = []
    for ref in [*data.train, *[r for r in data.val if r.id not in trained_on]]:
        tiles_ref, index = dataset_tiles(ref, slicing, shelf, seed=seed, exclude=dropped.get(ref.id, set()),
                                         sizes=sizes_of[ref.id], progress=progress)
        if ref.id in own_val:
            val.append((tiles_ref, set()))
        if ref.id in trained_on:
            # link_split leaves out what it is told: the held-out frames' tiles from train, the rest from val
            held_tiles = {name for frame in held_out.get(ref.id, ()) for name in index.get(frame, [])}
            train.append((tiles_ref, held_tiles))
            if ref.id in held_out:
                every_tile = {name for names in index.values() for name in names}
                val.append((tiles_ref, every_tile - held_tiles))
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    train_entry, train_count = link_split(train, tmp / "train")
    val_entry, val_count = link_split(val, tmp / "val")
    if train_count == 0 or val_count == 0:
        shutil.rmtree(tmp)
        split = "training" if train_count == 0 else "validation"
        raise DatasetError(f"the {split} frames give no tile to train on: none holds an object, and no ball-free "
                           "tile was drawn", fix=f"give {split} data with labelled objects, or raise "
                           "slicing.empty_tiles")
    data_yaml = {"path": str(out_dir.resolve()), "train": train_entry, "val": val_entry,
                 "names": dict(enumerate(data.class_names))}
    write_text_atomic(tmp / "data.yaml", yaml.safe_dump(data_yaml, sort_keys=False))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return ConvertedData(model_type=model_type, root=out_dir.resolve(), data_file=(out_dir / "data.yaml").resolve(),
                         train_images=train_count, val_images=val_count, class_names=data.class_names,
                         tile=slicing.tile)


def _names_by_dataset(frames: Iterable[FrameRef]) -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for frame in frames:
        names.setdefault(frame.dataset_id, set()).add(frame.file)
    return names
