"""ClearML's datasets, as the dataset resolver asks for them: metadata by id, a read-only local copy.

A ClearML dataset task carries the class names and sample count as hyperparameters
(``dataset_info.names``, ``dataset_info.number_samples``), as the team's datasets do.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from balldet.datasets.catalog import LocalCatalog
from balldet.datasets.dataset import DatasetInfo, DatasetRef
from balldet.datasets.resolver import DatasetResolver, find_yolo_root
from balldet.errors import DatasetError
from balldet.settings import Settings
from balldet.tracking import clearml_compat  # the one place that reaches into clearml's objects


def dataset_resolver(settings: Settings) -> DatasetResolver:
    """The settings' local catalog, and ClearML's datasets unless the settings are offline."""
    return DatasetResolver(LocalCatalog(settings.catalog_dir), None if settings.clearml_offline else ClearMLDatasets())


class ClearMLDatasets:
    def find(self, dataset_id: str) -> DatasetInfo:
        dataset = _clearml_dataset(dataset_id)
        return dataset_info_from_clearml(dataset_id, dataset.name, dataset.version, dataset.tags,
                                         clearml_compat.dataset_parameters(dataset))

    def fetch(self, dataset_id: str) -> DatasetRef:
        """The dataset in ClearML's local cache (read-only: never written to)."""
        dataset = _clearml_dataset(dataset_id)
        folder = Path(dataset.get_local_copy())
        info = dataset_info_from_clearml(dataset_id, dataset.name, dataset.version, dataset.tags,
                                         clearml_compat.dataset_parameters(dataset))
        return DatasetRef(**info.model_dump(), path=find_yolo_root(folder))


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
