"""The YOLO training layout both backends read, built in time that hardly grows with the number of
frames: no image byte is copied and, but for one training option, no link is made per frame.

For each dataset of a split (``<tag>``: the start of its id)::

    <split>/images/<tag>  -> the dataset's images folder
    <split>/labels/<tag>  -> the dataset's labels folder
    <split>/frames.txt    the frames to use, one ``./images/<tag>/<file>`` per line, when some are
                          left out (a validation split held out of training, frames dropped by the
                          checks, anything else in an images folder)

``data.yaml`` names ``<split>/images`` (a real folder of this layout) or ``<split>/frames.txt``.
Both trainers resolve that path but not the frame paths found below it or listed in it, derive each
label path by replacing the last ``/images/`` with ``/labels/``, and write their label cache beside
the first label folder (ultralytics: ``<split>/labels/<tag>.cache``) or the list (yolov5:
``<split>/frames.cache``): inside this layout, never in a source dataset.

With ``cache: disk`` both trainers write an ``.npy`` beside every frame path, which would land in
the source dataset; then each frame is linked on its own under a real ``<split>/images/<tag>/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from balldet.backends.base_converter import ConvertedData, DatasetConverter
from balldet.datasets.dataset import IMAGE_SUFFIXES, DatasetRef
from balldet.datasets.prepared import PreparedData
from balldet.files import write_text_atomic


def link_split(
    datasets: Iterable[tuple[DatasetRef, set[str]]], split_dir: Path, *, folder_links: bool = True
) -> tuple[str, int]:
    """Link each (dataset, excluded file names) into ``split_dir``; return what ``data.yaml`` names
    for the split (relative to the layout) and how many frames the trainer will see."""
    (split_dir / "images").mkdir(parents=True)
    (split_dir / "labels").mkdir()
    tags: set[str] = set()
    listed: list[tuple[str, list[str]]] = []
    all_whole = True
    for ref, exclude in datasets:
        tag = ref.id[:8]
        if tag in tags:  # the same dataset twice, or two ids with the same start
            tag = f"{ref.id[:8]}-{len(tags)}"
        tags.add(tag)
        names = ref.image_names()
        kept = [name for name in names if name not in exclude]
        listed.append((tag, kept))
        if ref.labels_dir.is_dir():
            os.symlink(os.path.abspath(ref.labels_dir), split_dir / "labels" / tag, target_is_directory=True)
        if folder_links:
            os.symlink(os.path.abspath(ref.images_dir), split_dir / "images" / tag, target_is_directory=True)
            all_whole = all_whole and len(kept) == len(names) and _holds_only(ref.images_dir, len(names))
        else:
            _link_each(ref.images_dir, kept, split_dir / "images" / tag)
    count = sum(len(kept) for _, kept in listed)
    if folder_links and not all_whole:
        # "./" is how both trainers spell a path relative to the list: the layout can be moved.
        lines = [f"./images/{tag}/{name}\n" for tag, kept in listed for name in kept]
        write_text_atomic(split_dir / "frames.txt", "".join(lines))
        return f"{split_dir.name}/frames.txt", count
    return f"{split_dir.name}/images", count


def _link_each(images_dir: Path, names: list[str], folder: Path) -> None:
    folder.mkdir()
    # Sources are absolute already (datasets resolve to absolute folders): no per-file resolution.
    source = os.path.abspath(images_dir)
    for name in names:
        os.symlink(os.path.join(source, name), folder / name)


def _holds_only(images_dir: Path, frame_count: int) -> bool:
    """Whether the folder holds nothing but its ``frame_count`` frames (trainers read every image
    file below a folder, so a sub-folder or a format balldet does not list rules out naming it)."""
    with os.scandir(images_dir) as entries:
        names = [e.name for e in entries]
    return len(names) == frame_count and all(os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES for n in names)


def build_yolo_layout(
    data: PreparedData, out_dir: Path, model_type: str, *, folder_links: bool = True
) -> ConvertedData:
    """Build ``train/`` and ``val/`` under a temporary folder, then rename it to ``out_dir``."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    dropped = _names_by_dataset(data.dropped_frames)
    held_out = _names_by_dataset(data.val_frames)
    train = [(ref, dropped.get(ref.id, set()) | held_out.get(ref.id, set())) for ref in data.train]
    train_entry, train_count = link_split(train, tmp / "train", folder_links=folder_links)
    if data.val:
        val = [(ref, dropped.get(ref.id, set())) for ref in data.val]
    else:
        # the held-out frames of each training dataset: everything else is excluded
        val = [
            (ref, set(ref.image_names()) - held_out[ref.id])
            for ref in data.train if ref.id in held_out
        ]
    val_entry, val_count = link_split(val, tmp / "val", folder_links=folder_links)
    names = dict(enumerate(data.class_names))
    data_yaml = {"path": str(out_dir.resolve()), "train": train_entry, "val": val_entry, "names": names}
    write_text_atomic(tmp / "data.yaml", yaml.safe_dump(data_yaml, sort_keys=False))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return ConvertedData(
        model_type=model_type,
        root=out_dir.resolve(),
        data_file=(out_dir / "data.yaml").resolve(),
        train_images=train_count,
        val_images=val_count,
        class_names=data.class_names,
    )


def _names_by_dataset(frames: Iterable[Any]) -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for frame in frames:
        names.setdefault(frame.dataset_id, set()).add(frame.file)
    return names


class YoloLayoutConverter(DatasetConverter):
    """A converter for backends that read this layout; a subclass only names its model type."""

    @classmethod
    def layout_options(cls, train_config: Mapping[str, Any]) -> dict[str, Any]:
        # Both trainers' `cache: disk` writes an .npy beside every frame path they are given.
        return {"folder_links": train_config.get("cache") != "disk"}

    def convert(self, data: PreparedData, out_dir: Path, *, options: Mapping[str, Any] | None = None) -> ConvertedData:
        return build_yolo_layout(data, out_dir, self.model_type, **dict(options or {}))
