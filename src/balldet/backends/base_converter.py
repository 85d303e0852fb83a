"""DatasetConverter: turns a run's resolved datasets into the layout one backend trains from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from balldet.datasets.prepared import PreparedData


class ConvertedData(BaseModel):
    """A backend's training layout. ``data_file`` is what the backend is pointed at."""

    model_type: str
    root: Path
    data_file: Path
    train_images: int
    val_images: int
    class_names: list[str]
    # the side of the tiles cut from the frames (slicing), None for whole frames
    tile: int | None = None


class DatasetConverter(ABC):
    """Builds the layout without copying image bytes and without writing into source folders."""

    model_type: str = ""

    @classmethod
    def layout_options(cls, train_config: Mapping[str, Any]) -> dict[str, Any]:
        """What of the training options changes the layout (part of its cache key); none by default."""
        return {}

    @abstractmethod
    def convert(self, data: PreparedData, out_dir: Path, *, options: Mapping[str, Any] | None = None) -> ConvertedData:
        """Write the layout under ``out_dir`` (a fresh folder owned by this run) and describe it.
        ``options`` are :meth:`layout_options` of the run's training options."""
