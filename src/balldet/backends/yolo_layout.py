"""The YOLO training layout both backends read, built from links in time that does not grow with
the number of frames when whole datasets are used.

For each dataset of a split (``<tag>``: the start of its id)::

    <split>/images/<tag>  -> the dataset's images folder       (whole dataset: one folder link)
    <split>/images/<tag>/ a real folder of per-frame links      (some frames left out)
    <split>/labels/<tag>  -> the dataset's labels folder        (always one folder link)

``data.yaml`` names ``<split>/images``, a real folder of this layout. Both trainers resolve that
folder, find the frames below it without resolving them, derive each label path by replacing the
last ``/images/`` with ``/labels/``, and write their label cache beside the first label folder:
``<split>/labels/<tag>.cache``, inside this layout, never in a source dataset.

Frames are linked one by one when a dataset has frames left out (the validation split held out of
training, frames dropped by the checks), when its images folder holds anything a trainer would read
that balldet does not list as a frame, and when a training option writes files next to each image
(``cache: disk``: the ``.npy`` files would otherwise land in the source dataset).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from balldet.backends.base_converter import ConvertedData, DatasetConverter
from balldet.data.dataset import IMAGE_SUFFIXES, DatasetRef
from balldet.data.prepared import PreparedData
from balldet.files import write_text_atomic


def link_dataset(ref: DatasetRef, split_dir: Path, tag: str, *, exclude: set[str], folder_links: bool) -> int:
    """Link one dataset's frames (all but the ``exclude``d file names) into ``split_dir``; return
    how many frames the trainer will see."""
    images = [p.name for p in ref.image_files()]
    kept = [name for name in images if name not in exclude]
    images_link = split_dir / "images" / tag
    if ref.labels_dir.is_dir():
        os.symlink(os.path.abspath(ref.labels_dir), split_dir / "labels" / tag, target_is_directory=True)
    if folder_links and len(kept) == len(images) and _holds_only(ref.images_dir, len(images)):
        os.symlink(os.path.abspath(ref.images_dir), images_link, target_is_directory=True)
        return len(kept)
    images_link.mkdir()
    # Sources are absolute already (datasets resolve to absolute folders): no per-file resolution.
    source = os.path.abspath(ref.images_dir)
    for name in kept:
        os.symlink(os.path.join(source, name), images_link / name)
    return len(kept)


def _holds_only(images_dir: Path, frame_count: int) -> bool:
    """Whether the folder holds nothing but its ``frame_count`` frames (trainers read every image
    file below a folder, so a stray sub-folder or an unlisted format rules out a folder link)."""
    with os.scandir(images_dir) as entries:
        names = [e.name for e in entries]
    return len(names) == frame_count and all(os.path.splitext(n)[1].lower() in IMAGE_SUFFIXES for n in names)


def link_split(
    datasets: Iterable[tuple[DatasetRef, set[str]]], split_dir: Path, *, folder_links: bool = True
) -> int:
    """Link each (dataset, excluded file names) into ``split_dir``; return the frame count."""
    (split_dir / "images").mkdir(parents=True)
    (split_dir / "labels").mkdir()
    tags: set[str] = set()
    count = 0
    for ref, exclude in datasets:
        tag = ref.id[:8]
        if tag in tags:  # the same dataset twice, or two ids with the same start
            tag = f"{ref.id[:8]}-{len(tags)}"
        tags.add(tag)
        count += link_dataset(ref, split_dir, tag, exclude=exclude, folder_links=folder_links)
    return count


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
    train_count = link_split(train, tmp / "train", folder_links=folder_links)
    if data.val:
        val = [(ref, dropped.get(ref.id, set())) for ref in data.val]
    else:
        # the held-out frames of each training dataset: everything else is excluded
        val = [
            (ref, {p.name for p in ref.image_files()} - held_out[ref.id])
            for ref in data.train if ref.id in held_out
        ]
    val_count = link_split(val, tmp / "val", folder_links=folder_links)
    names = dict(enumerate(data.class_names))
    data_yaml = {"path": str(out_dir.resolve()), "train": "train/images", "val": "val/images", "names": names}
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
        # Both trainers' `cache: disk` writes an .npy beside every image path they were given.
        return {"folder_links": train_config.get("cache") != "disk"}

    def convert(self, data: PreparedData, out_dir: Path, *, options: Mapping[str, Any] | None = None) -> ConvertedData:
        return build_yolo_layout(data, out_dir, self.model_type, **dict(options or {}))
