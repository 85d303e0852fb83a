"""The local dataset catalog: ClearML-like datasets as plain folders, for runs with no server.

Layout: ``<catalog_dir>/<dataset id>/dataset.json`` (a :class:`DatasetInfo`) beside ``images/`` and
``labels/`` in YOLO format. The id is the key, exactly as on ClearML.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from balldet.datasets.dataset import DatasetInfo, DatasetRef
from balldet.errors import DatasetError
from balldet.files import write_text_atomic

METADATA_FILE = "dataset.json"


class LocalCatalog:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder(self, dataset_id: str) -> Path:
        return self.root / dataset_id

    def __contains__(self, dataset_id: str) -> bool:
        return (self.folder(dataset_id) / METADATA_FILE).is_file()

    def get(self, dataset_id: str) -> DatasetRef:
        folder = self.folder(dataset_id)
        meta = folder / METADATA_FILE
        if not meta.is_file():
            raise DatasetError(
                f"dataset {dataset_id} is not in the local catalog {self.root}",
                fix="run `balldet datasets list` to see the catalog, or `balldet datasets synth` "
                "to create the synthetic datasets",
            )
        try:
            info = DatasetInfo.model_validate_json(meta.read_text())
        except (ValidationError, ValueError) as exc:
            raise DatasetError(f"{meta} is not valid dataset metadata: {exc}") from exc
        if info.id != dataset_id:
            raise DatasetError(f"{meta} declares id {info.id}, but lies in folder {dataset_id}")
        return DatasetRef(**info.model_dump(), path=folder.resolve())

    def list(self) -> list[DatasetRef]:
        if not self.root.is_dir():
            return []
        refs = [self.get(p.name) for p in sorted(self.root.iterdir()) if (p / METADATA_FILE).is_file()]
        return sorted(refs, key=lambda r: (r.name, r.version))

    def register(self, info: DatasetInfo) -> DatasetRef:
        """Write ``dataset.json`` for a folder already holding images/ and labels/ (atomically)."""
        folder = self.folder(info.id)
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / METADATA_FILE, json.dumps(info.model_dump(), indent=2) + "\n")
        return self.get(info.id)
