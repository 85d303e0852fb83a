"""A labelled export back into balldet: CVAT's or Label Studio's export of a batch becomes a YOLO folder (the
batch's images, the export's boxes, the batch's class names) that :func:`balldet.registration.add_dataset`
checks and registers like any other dataset.

What the export must be, and which frames count as labelled, is :mod:`balldet.labelling.labelled`'s rule.
Every problem of the arguments and of the export is reported at once (a :class:`UsageError`, exit 2) before
anything is written; the registration then refuses defects and leaks as ``balldet datasets add`` does.
Nothing is registered when any step fails: the YOLO folder is built in a temporary folder beside the cache
and removed whatever happens. The images are the batch's own files (hard links where the file system allows,
else copies), never the export's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from balldet.boxes import yolo_rows
from balldet.checks.report import Progress
from balldet.errors import UsageError
from balldet.files import write_text_atomic
from balldet.labelling import cvat, label_studio
from balldet.labelling.batch import Batch, read_batch
from balldet.labelling.labelled import Labelled
from balldet.registration import AddedDataset, add_dataset
from balldet.registration.source import VERSION_PATTERN
from balldet.settings import Settings

EXPORT_KINDS = {".json": label_studio.TOOL, ".zip": cvat.TOOL, ".xml": cvat.TOOL}


@dataclass(frozen=True)
class Imported:
    """What an import read (the labelled frames, the warnings) and the dataset it registered."""

    labelled: Labelled
    added: AddedDataset

    @property
    def boxes(self) -> int:
        return sum(len(frame.classes) for frame in self.labelled.frames)


def read_labelled(export: Path, batch: Batch) -> Labelled:
    """The export (by its suffix: ``.json`` Label Studio, ``.zip``/``.xml`` CVAT) read against ``batch``."""
    tool = EXPORT_KINDS.get(Path(export).suffix.lower())
    if tool == label_studio.TOOL:
        return label_studio.read_export(export, batch)
    if tool == cvat.TOOL:
        return cvat.read_export(export, batch)
    raise UsageError([("EXPORT", _kinds_hint(export))])


def import_labels(export: Path, batch_folder: Path, *, name: str, version: str, settings: Settings,
                  tags: Sequence[str] = (), allow_leakage: bool = False, allow_defects: bool = False,
                  against: Sequence[str] = (), project: str | None = None,
                  progress: Progress | None = None) -> Imported:
    """Read ``export`` against the batch in ``batch_folder`` and register the labelled frames as ``name``
    ``version`` (see the module); the other arguments are :func:`~balldet.registration.add_dataset`'s."""
    export, batch_folder = Path(export), Path(batch_folder)
    problems: list[tuple[str, str]] = []
    if not (name or "").strip():
        problems.append(("--name", "is empty; give the new dataset's name, e.g. class:ball-markup:our-004"))
    if not VERSION_PATTERN.match(version or ""):
        problems.append(("--version", f"{version!r} is not a version x.y.z; give e.g. 1.0.0"))
    batch: Batch | None = None
    try:
        batch = read_batch(batch_folder, option="--batch")
    except UsageError as exc:
        problems += exc.problems
    if not export.is_file():
        problems.append(("EXPORT", f"{export} is not a file; give CVAT's export zip (or its annotations.xml) or "
                         "Label Studio's JSON export (`balldet label pull` writes one)"))
    elif export.suffix.lower() not in EXPORT_KINDS:
        problems.append(("EXPORT", _kinds_hint(export)))
    labelled: Labelled | None = None
    if batch is not None and not problems:
        try:
            labelled = read_labelled(export, batch)
        except UsageError as exc:
            problems += exc.problems
    if problems or batch is None or labelled is None:
        raise UsageError(problems)
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="label-import-", dir=settings.cache_dir) as tmp:
        folder = Path(tmp) / "dataset"
        write_yolo_folder(folder, batch_folder, batch, labelled)
        added = add_dataset(folder, name=name, version=version, settings=settings, names=list(batch.names),
                            tags=tags, allow_leakage=allow_leakage, allow_defects=allow_defects, against=against,
                            project=project, progress=progress)
    return Imported(labelled=labelled, added=added)


def write_yolo_folder(folder: Path, batch_folder: Path, batch: Batch, labelled: Labelled) -> None:
    """``folder``: ``images/`` (the labelled frames' files from the batch), ``labels/<stem>.txt`` (an empty
    file for a frame without objects) and ``data.yaml`` with the batch's class names."""
    images, labels = folder / "images", folder / "labels"
    images.mkdir(parents=True)
    labels.mkdir()
    by_stem = {frame.stem: frame for frame in batch.frames}
    for frame in labelled.frames:
        source = batch_folder / by_stem[frame.stem].file
        target = images / PurePosixPath(by_stem[frame.stem].file).name
        try:
            os.link(source, target)
        except OSError:  # another file system, or links not allowed: a copy
            shutil.copyfile(source, target)
        rows = yolo_rows(frame.classes.tolist(), frame.boxes)
        write_text_atomic(labels / f"{frame.stem}.txt", "".join(f"{row}\n" for row in rows))
    write_text_atomic(folder / "data.yaml", yaml.safe_dump({"names": list(batch.names)}, sort_keys=False))


def _kinds_hint(export: Path) -> str:
    return (f"{export}: a {export.suffix or 'suffixless'} file is no export balldet reads; give CVAT's export "
            "('CVAT for images 1.1': the .zip or its annotations.xml) or Label Studio's JSON export (.json)")
