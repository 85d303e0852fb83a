"""The YOLO training layout both backends read: ``<split>/images`` and ``<split>/labels`` of links.

Images and labels are symlinked, never copied, and never written next to the source: the backends
write their label caches into this layout, which belongs to the run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

from balldet.data.dataset import DatasetRef
from balldet.data.prepared import PreparedData
from balldet.backends.base_converter import ConvertedData, DatasetConverter
from balldet.files import write_text_atomic


def link_frames(frames: Iterable[tuple[DatasetRef, Path]], split_dir: Path) -> int:
    """Link each image (and its label file, when there is one) into ``split_dir``; return the count."""
    images_dir, labels_dir = split_dir / "images", split_dir / "labels"
    images_dir.mkdir(parents=True)
    labels_dir.mkdir(parents=True)
    labels_of: dict[str, set[str]] = {}  # one listing per dataset instead of a stat per frame
    count = 0
    for ref, image in frames:
        if ref.id not in labels_of:
            labels_of[ref.id] = set(os.listdir(ref.labels_dir)) if ref.labels_dir.is_dir() else set()
        # The id prefix keeps equal file names of different datasets apart. Sources are absolute
        # already (datasets resolve to absolute folders), so no per-file path resolution is needed.
        name = f"{ref.id[:8]}__{image.stem}"
        os.symlink(os.path.abspath(image), images_dir / f"{name}{image.suffix}")
        if f"{image.stem}.txt" in labels_of[ref.id]:
            os.symlink(os.path.abspath(ref.labels_dir / f"{image.stem}.txt"), labels_dir / f"{name}.txt")
        count += 1
    return count


def _frames_of(datasets: list[DatasetRef], exclude: set[tuple[str, str]]) -> Iterator[tuple[DatasetRef, Path]]:
    for ref in datasets:
        for image in ref.image_files():
            if (ref.id, image.name) not in exclude:
                yield ref, image


def build_yolo_layout(data: PreparedData, out_dir: Path, model_type: str) -> ConvertedData:
    """Build ``train/`` and ``val/`` under a temporary folder, then rename it to ``out_dir``."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    dropped = {(f.dataset_id, f.file) for f in data.dropped_frames}
    held_out = {(f.dataset_id, f.file) for f in data.val_frames}
    train_count = link_frames(_frames_of(data.train, exclude=held_out | dropped), tmp / "train")
    if data.val:
        val_frames = _frames_of(data.val, exclude=dropped)
    else:
        by_id = {ref.id: ref for ref in data.train}
        val_frames = ((by_id[f.dataset_id], by_id[f.dataset_id].images_dir / f.file) for f in data.val_frames)
    val_count = link_frames(val_frames, tmp / "val")
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


class YoloLayoutConverter(DatasetConverter):
    """A converter for backends that read this layout; a subclass only names its model type."""

    def convert(self, data: PreparedData, out_dir: Path) -> ConvertedData:
        return build_yolo_layout(data, out_dir, self.model_type)
