"""Dataset id → local folder: the local catalog first, then ClearML Datasets when a server is used."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from balldet.datasets.catalog import LocalCatalog
from balldet.datasets.dataset import DatasetInfo, DatasetRef
from balldet.errors import DatasetError
from balldet.settings import Settings
from balldet.tracking import clearml_compat  # the one place that reaches into clearml's objects


class DatasetResolver:
    """Resolves ids. ``use_clearml`` is false offline: then only the local catalog is asked."""

    def __init__(self, catalog: LocalCatalog, *, use_clearml: bool) -> None:
        self.catalog = catalog
        self.use_clearml = use_clearml

    @classmethod
    def from_settings(cls, settings: Settings) -> DatasetResolver:
        """The settings' local catalog, and ClearML's datasets unless the settings are offline."""
        return cls(LocalCatalog(settings.catalog_dir), use_clearml=not settings.clearml_offline)

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
            if not self.use_clearml:
                unknown.append((dataset_id, f"is not in the local catalog {self.catalog.root}"))
                continue
            try:
                _clearml_dataset(dataset_id)
            except DatasetError as exc:
                unknown.append((dataset_id, f"is not on the ClearML server ({exc.message})"))
        return unknown

    def describe(self, dataset_id: str) -> str:
        """``<name>-ver:<version>`` of a known dataset (metadata only), else the id."""
        try:
            if dataset_id in self.catalog:
                return self.catalog.get(dataset_id).label
            if self.use_clearml:
                dataset = _clearml_dataset(dataset_id)
                return f"{dataset.name}-ver:{dataset.version}"
        except DatasetError:
            pass
        return dataset_id

    def resolve(self, dataset_id: str) -> DatasetRef:
        if dataset_id in self.catalog:
            return self.catalog.get(dataset_id)
        if not self.use_clearml:
            return self.catalog.get(dataset_id)  # raises the catalog's clear error
        return _resolve_on_clearml(dataset_id)


def _clearml_dataset(dataset_id: str) -> Any:
    """A ClearML dataset's metadata (nothing is downloaded)."""
    from clearml import Dataset

    try:
        return Dataset.get(dataset_id=dataset_id)
    except Exception as exc:  # clearml raises ValueError or its own errors for unknown ids
        raise DatasetError(
            f"ClearML dataset {dataset_id} cannot be found: {exc}",
            fix="check the id in the ClearML web UI (Datasets), and the server in clearml.conf",
        ) from exc


def _resolve_on_clearml(dataset_id: str) -> DatasetRef:
    """Fetch a ClearML dataset into ClearML's local cache (read-only: never written to)."""
    dataset = _clearml_dataset(dataset_id)
    folder = Path(dataset.get_local_copy())
    info = dataset_info_from_clearml(dataset_id, dataset.name, dataset.version, dataset.tags,
                                     clearml_compat.dataset_parameters(dataset))
    return DatasetRef(**info.model_dump(), path=find_yolo_root(folder))


def dataset_info_from_clearml(
    dataset_id: str, name: str, version: str | None, tags: list[str], params: dict[str, Any]
) -> DatasetInfo:
    """Metadata from a dataset task: ``dataset_info.names`` and ``dataset_info.number_samples``."""
    section = params.get("dataset_info", {}) or {}
    names = _parse_names(section.get("names"))
    if not names:
        raise DatasetError(
            f"ClearML dataset {name} ({dataset_id}) has no hyperparameter dataset_info.names",
            fix="set dataset_info.names (the class names) on the dataset task",
        )
    samples = int(section.get("number_samples", 0) or 0)
    return DatasetInfo(
        id=dataset_id, name=name, version=version or "1.0.0", tags=list(tags or []), names=names,
        number_samples=samples,
    )


def _parse_names(raw: Any) -> list[str]:
    """Class names as ClearML stores them: a list, a dict {id: name}, or the text of either."""
    if isinstance(raw, str):
        try:
            raw = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            raw = [n.strip() for n in raw.split(",") if n.strip()]
    if isinstance(raw, dict):
        return [str(raw[k]) for k in sorted(raw, key=lambda k: int(k))]
    if isinstance(raw, (list, tuple)):
        return [str(n) for n in raw]
    return []


def find_yolo_root(folder: Path) -> Path:
    """The folder holding ``images/`` and ``labels/`` (the dataset root or one level below it)."""
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        if (candidate / "images").is_dir():
            return candidate
    raise DatasetError(
        f"{folder} has no images/ folder",
        fix="a dataset must hold images/ and labels/ in YOLO format",
    )
