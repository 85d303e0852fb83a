"""What balldet knows about one dataset, wherever it comes from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from balldet.config import DATASET_ID_PATTERN

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class DatasetInfo(BaseModel):
    """Metadata of a dataset: the same fields a ClearML dataset task carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=DATASET_ID_PATTERN.pattern)
    name: str
    version: str = "1.0.0"
    tags: list[str] = Field(default_factory=list)
    names: list[str] = Field(min_length=1, description="class names, index = class id")
    number_samples: int = Field(ge=0)

    @property
    def label(self) -> str:
        """The name used in reported scalars: ``<name>-ver:<version>``."""
        return f"{self.name}-ver:{self.version}"


class DatasetRef(DatasetInfo):
    """A dataset resolved to a local folder with ``images/`` and ``labels/``.

    A split of an ultralytics ``data.yaml`` (see :mod:`balldet.datasets.folders`) keeps its images and
    labels elsewhere: ``images_folder`` and ``labels_folder`` say where, and ``path`` is then the
    split's images folder (one folder per split, so splits of one data.yaml stay apart).
    """

    path: Path
    images_folder: Path | None = None
    labels_folder: Path | None = None

    @model_serializer(mode="wrap")
    def _leave_out_defaults(self, handler: Any) -> dict[str, Any]:
        # Catalog and ClearML datasets serialise exactly as before the two folders existed.
        data = handler(self)
        for key in ("images_folder", "labels_folder"):
            if data.get(key, 0) is None:
                del data[key]
        return data

    @property
    def images_dir(self) -> Path:
        return self.images_folder if self.images_folder is not None else self.path / "images"

    @property
    def labels_dir(self) -> Path:
        return self.labels_folder if self.labels_folder is not None else self.path / "labels"

    def image_names(self) -> list[str]:
        """File names, sorted, of this dataset's images: :meth:`image_files` without a Path per file."""
        # scandir knows each entry's type from the folder listing: no stat per file at 100k images.
        with os.scandir(self.images_dir) as entries:
            names = [e.name for e in entries if e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES]
        return sorted(names)

    def image_files(self) -> list[Path]:
        """Image files, sorted by name, of this dataset."""
        images_dir = self.images_dir
        return [images_dir / name for name in self.image_names()]

    def label_file(self, image: Path) -> Path:
        return self.labels_dir / f"{image.stem}.txt"

    def folder_state(self) -> list[int]:
        """Changes when files are added, removed or renamed (folder mtimes): cheap at any size.

        Editing a file in place does not change it; datasets are versioned, edits make a new version.
        """
        return [p.stat().st_mtime_ns if p.exists() else 0 for p in (self.images_dir, self.labels_dir)]
