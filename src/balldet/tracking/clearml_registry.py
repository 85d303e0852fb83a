"""Registering a dataset on the ClearML server as the team's datasets are, with ClearML's own Dataset
API (``balldet datasets add`` with a server; :mod:`balldet.registration` decides what to register).

The shape the rest of balldet reads back (:func:`balldet.tracking.clearml_datasets.dataset_info_from_clearml`):
a ClearML Dataset in a project, with a name, a version, tags (``class:ball``...) and, on the dataset's
task, the hyperparameters ``dataset_info/names`` (the class names, as a list) and
``dataset_info/number_samples``. A new version of a name that exists gets the latest earlier version
as its parent: ClearML then stores only the files that changed, and :meth:`Dataset.sync_folder`
makes the new version hold exactly the given folder (files the parent had and the folder lacks are
removed from the new version).

Beside the files, the dataset's task carries the file artifact :data:`FINGERPRINTS_ARTIFACT`: what
the leakage check of a later ``datasets add`` compares with (its format is
:mod:`balldet.registration.known`'s business; here it is just a file), so that check never has to
download the dataset.

Nothing here decides anything: the queries return what the server holds, :func:`upload_dataset`
creates, uploads and finalizes, and deletes the draft again when any of that fails, so a failed
upload leaves no half-made dataset behind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from balldet.errors import TrackingError
from balldet.tracking import clearml_compat

FINGERPRINTS_ARTIFACT = "balldet_fingerprints"
# Statuses of a dataset that can be used (and be a parent): finalized, or published.
USABLE_STATUSES = ("completed", "published", "closed", "stopped")


class ServerDataset(BaseModel):
    """A dataset as the server lists it (nothing downloaded)."""

    id: str
    name: str
    project: str = ""
    version: str | None = None
    status: str | None = None
    tags: list[str] = []

    @property
    def usable(self) -> bool:
        return (self.status or "") in USABLE_STATUSES

    @property
    def label(self) -> str:
        return f"{self.name}-ver:{self.version or '?'}"


class UploadedDataset(BaseModel):
    """Where a registered dataset is: its id, project and, in ClearML's offline mode, its session folder."""

    id: str
    project: str
    offline_folder: str | None = None


def versions_of(name: str) -> list[ServerDataset]:
    """Every dataset called exactly ``name``, in any project and state (drafts and archived ones too:
    a version that exists in any state is taken)."""
    from clearml import Dataset

    found = _query(lambda: Dataset.list_datasets(partial_name=f"^{re.escape(name)}$", only_completed=False),
                   f"the datasets named {name!r}")
    return [d for d in found if d.name == name]


def tagged(tag: str) -> list[ServerDataset]:
    """The usable datasets carrying ``tag`` (e.g. ``class:ball``), in any project, archived ones left out."""
    from clearml import Dataset

    found = _query(lambda: Dataset.list_datasets(tags=[tag], only_completed=True, include_archived=False),
                   f"the datasets tagged {tag!r}")
    return [d for d in found if tag in d.tags and d.usable]


def describe(dataset_id: str) -> ServerDataset:
    """One dataset's name, project, version, status and tags (its metadata only)."""
    dataset = _dataset(dataset_id)
    return ServerDataset(id=dataset_id, name=dataset.name, project=dataset.project or "", version=dataset.version,
                         status="completed" if dataset.is_final() else "in_progress", tags=list(dataset.tags or []))


def fingerprints_file(dataset_id: str) -> Path | None:
    """The local copy of the dataset's :data:`FINGERPRINTS_ARTIFACT` (a small file; the dataset itself
    is not downloaded), or None when the dataset has none (it was not registered by balldet)."""
    dataset = _dataset(dataset_id)
    try:
        local = clearml_compat.dataset_artifact_file(dataset, FINGERPRINTS_ARTIFACT)
    except Exception as exc:  # a download that fails: the caller falls back to the dataset's files
        raise TrackingError(f"cannot download the fingerprints of dataset {dataset_id}: {exc}",
                            fix="check the ClearML file server, or retry") from exc
    return Path(local) if local else None


def upload_dataset(folder: Path, *, name: str, project: str, version: str, tags: Sequence[str],
                   names: list[str], number_samples: int, parent_id: str | None,
                   fingerprints: Path | None, show_progress: bool = True) -> UploadedDataset:
    """Create the dataset from ``folder`` (its files as they are, under the same relative paths),
    set the team's hyperparameters, attach ``fingerprints``, upload and finalize it; the new id.

    Any failure after the dataset was created deletes it from the server again."""
    from clearml import Dataset

    dataset = Dataset.create(dataset_name=name, dataset_project=project, dataset_version=version,
                             dataset_tags=list(tags), parent_datasets=[parent_id] if parent_id else None)
    try:
        dataset.sync_folder(local_path=str(folder))
        clearml_compat.set_dataset_parameters(dataset, {
            "dataset_info/names": list(names), "dataset_info/number_samples": int(number_samples),
        })
        if fingerprints is not None:
            dataset.set_metadata(Path(fingerprints), metadata_name=FINGERPRINTS_ARTIFACT, ui_visible=False)
        dataset.upload(show_progress=show_progress)
        dataset.finalize()
    except BaseException:
        _delete_draft(dataset)
        raise
    offline_folder = None
    if Dataset.is_offline():
        offline_folder = str(dataset.get_offline_mode_folder())
        clearml_compat.close_dataset_task(dataset)
    return UploadedDataset(id=dataset.id, project=project, offline_folder=offline_folder)


def _delete_draft(dataset: Any) -> None:
    """Remove a dataset that could not be finished (offline there is nothing on a server to remove)."""
    from clearml import Dataset

    if Dataset.is_offline():
        clearml_compat.close_dataset_task(dataset)
        return
    try:
        Dataset.delete(dataset_id=dataset.id, force=True)
    except Exception:  # the original error matters more; the draft stays visible as in progress
        pass


def _dataset(dataset_id: str) -> Any:
    from clearml import Dataset

    try:
        return Dataset.get(dataset_id=dataset_id)
    except Exception as exc:  # clearml raises ValueError or its own errors for unknown ids
        from balldet.errors import DatasetError

        raise DatasetError(
            f"ClearML dataset {dataset_id} cannot be found: {exc}",
            fix="check the id in the ClearML web UI (Datasets), and the server in clearml.conf",
        ) from exc


def _query(call: Any, what: str) -> list[ServerDataset]:
    try:
        rows = call()
    except Exception as exc:
        raise TrackingError(f"the ClearML server could not list {what}: {type(exc).__name__}: {exc}",
                            fix="check the server (balldet checks it before asking), and retry") from exc
    return [ServerDataset(id=str(row["id"]), name=str(row.get("name") or ""), project=str(row.get("project") or ""),
                          version=row.get("version"), status=row.get("status"), tags=list(row.get("tags") or []))
            for row in rows]
