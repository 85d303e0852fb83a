"""Dataset id → local folder: the local catalog first, then a server's datasets (ClearML's, see
``balldet.tracking.clearml_datasets``) when the settings use a server."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from balldet.datasets.catalog import LocalCatalog
from balldet.datasets.dataset import DatasetInfo, DatasetRef
from balldet.errors import DatasetError


class RemoteDatasets(Protocol):
    """Datasets on a server, by id. Both raise :class:`DatasetError` for an id the server lacks."""

    def find(self, dataset_id: str) -> DatasetInfo:
        """The dataset's metadata; nothing is downloaded."""

    def fetch(self, dataset_id: str) -> DatasetRef:
        """A local, read-only copy of the dataset."""


class DatasetResolver:
    """Resolves ids: the local catalog, then ``remote`` (none offline)."""

    def __init__(self, catalog: LocalCatalog, remote: RemoteDatasets | None = None) -> None:
        self.catalog = catalog
        self.remote = remote

    def check_known(self, dataset_ids: list[str]) -> list[tuple[str, str]]:
        """Ids that cannot be resolved, as (id, reason), without fetching any data: the local catalog,
        then (with a server) ClearML's dataset metadata."""
        unknown = []
        for dataset_id in dataset_ids:
            if dataset_id in self.catalog:
                try:
                    self.catalog.get(dataset_id)  # its metadata must be readable too
                except DatasetError as exc:
                    unknown.append((dataset_id, f"cannot be used: {exc.message}"))
                continue
            if self.remote is None:
                unknown.append((dataset_id, f"is not in the local catalog {self.catalog.root}"))
                continue
            try:
                self.remote.find(dataset_id)
            except DatasetError as exc:
                unknown.append((dataset_id, f"is not on the ClearML server ({exc.message})"))
        return unknown

    def describe(self, dataset_id: str) -> str:
        """``<name>-ver:<version>`` of a known dataset (metadata only), else the id."""
        try:
            if dataset_id in self.catalog:
                return self.catalog.get(dataset_id).label
            if self.remote is not None:
                return self.remote.find(dataset_id).label
        except DatasetError:
            pass
        return dataset_id

    def resolve(self, dataset_id: str) -> DatasetRef:
        if dataset_id in self.catalog:
            return self.catalog.get(dataset_id)
        if self.remote is None:
            return self.catalog.get(dataset_id)  # raises the catalog's clear error
        return self.remote.fetch(dataset_id)


def find_yolo_root(folder: Path) -> Path:
    """The folder holding ``images/`` and ``labels/`` (the dataset root or one level below it)."""
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        if (candidate / "images").is_dir():
            return candidate
    raise DatasetError(
        f"{folder} has no images/ folder",
        fix="a dataset must hold images/ and labels/ in YOLO format",
    )
