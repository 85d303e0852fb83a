"""What ``balldet datasets add`` is given: the arguments, checked all at once, and the source folder,
read the way :mod:`balldet.datasets.folders` reads folders and data.yaml files.

**The source** is a plain YOLO folder (``images/`` with images in it, ``labels/``) or an ultralytics
data.yaml (the file, or a folder holding it and no images directly under ``images/``). The splits of a
data.yaml (``train``, ``val``, ``test``) are merged into one dataset: a dataset of the catalog or the
server is one folder of frames, and which frames validate a training is the config's choice, not the
dataset's. Two files of different splits with the same stem cannot share one ``images/`` folder, so
they are refused. Only image files (the suffixes both trainers read) and ``.txt`` label files are
taken; anything else in the folders (a data.yaml, caches, notes) is not part of the dataset.

**Class names**, in this order: ``names`` (``--names``), the data.yaml's ``names``, the folder's
``dataset.json``. A data.yaml with only ``nc`` names nothing (ultralytics' ``class_0``... would be
registered as the team's class names); no names at all is a usage error naming the three ways.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from balldet.config import DATASET_ID_PATTERN
from balldet.datasets.catalog import LocalCatalog
from balldet.datasets.dataset import IMAGE_SUFFIXES, DatasetInfo, DatasetRef
from balldet.datasets.folders import find_data_yaml, holds_images, labels_folder_for, read_data_yaml
from balldet.errors import DatasetError, UsageError

VERSION_PATTERN = re.compile(r"^\d+\.\d+\.\d+$")
NAMES_HOW = ("give --names ball (or --names ball,player), put a data.yaml with `names: [ball, player]` beside "
             "images/, or a dataset.json with names")


@dataclass(frozen=True)
class Split:
    """One folder of frames of the source: a data.yaml split (``name``) or the plain folder (``""``)."""

    name: str
    images: Path
    labels: Path


@dataclass(frozen=True)
class Source:
    """The source as read: its folder, the data.yaml read (if any), its splits and its files."""

    path: Path  # what was given, resolved
    root: Path  # the folder file paths in messages are relative to
    data_yaml: Path | None
    splits: tuple[Split, ...]
    images: tuple[tuple[Split, str], ...]  # (split, file name), in split then name order
    labels: tuple[tuple[Split, str], ...]

    def relative(self, path: Path) -> str:
        """``path`` as shown to the user: relative to the source's root where it lies inside it."""
        return str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)


@dataclass(frozen=True)
class Plan:
    """A dataset about to be registered: what it will be, what it is made of, how it is stored."""

    source: Source
    info: DatasetInfo  # a fresh id; the server gives its own
    names_from: str  # where the class names came from (for the report)
    link: bool
    allow_defects: bool
    allow_leakage: bool
    against: tuple[str, ...]
    project: str | None

    @property
    def refs(self) -> list[DatasetRef]:
        """The source's splits as datasets named as the new one (frame identity reads the name)."""
        return [DatasetRef(**self.info.model_dump(), path=split.images, images_folder=split.images,
                           labels_folder=split.labels) for split in self.source.splits]


def new_dataset_id() -> str:
    """A fresh 32-hex id, the shape of a ClearML id."""
    return uuid.uuid4().hex


def plan_addition(source: Path, *, name: str, version: str, names: Sequence[str] | None, tags: Sequence[str],
                  link: bool, allow_defects: bool, allow_leakage: bool, against: Sequence[str],
                  project: str | None, catalog: LocalCatalog | None) -> Plan:
    """The arguments checked and the source read; every problem at once, as a :class:`UsageError`
    (``--name``, ``--version``, ``--names``, ``--tag``, ``--against``, ``--link``, ``SOURCE``).

    ``catalog``: the local catalog the dataset goes into (offline), where its name and version must be
    new and the ``against`` ids must be; None with a server (asked later, the server being checked first)."""
    # one name, tag or id given as a plain string is one entry, not a sequence of letters
    names, tags, against = (
        [value] if isinstance(value, str) else value for value in (names, tags, against))
    problems: list[tuple[str, str]] = []
    if link and catalog is None:
        problems.append(("--link", "only for the local catalog: a server dataset holds its files; leave --link out"))
    name = (name or "").strip()
    if not name:
        problems.append(("--name", "is empty; give the dataset's name, e.g. class:ball-markup:our-004"))
    elif "/" in name or any(ch in name for ch in "\n\r\t"):
        problems.append(("--name", f"{name!r} holds '/' or a line break; ClearML reads '/' as a project folder"))
    if not VERSION_PATTERN.match(version or ""):
        problems.append(("--version", f"{version!r} is not a version x.y.z; give e.g. 1.0.0"))
    clean_names = _split_list(names)
    if names is not None and not clean_names:
        problems.append(("--names", "is empty; " + NAMES_HOW))
    elif len(set(clean_names)) != len(clean_names):
        problems.append(("--names", f"{','.join(clean_names)} names a class twice; give each class once, in "
                         "class-id order"))
    clean_tags = list(dict.fromkeys(t.strip() for t in tags))
    if any(not t for t in clean_tags):
        problems.append(("--tag", "an empty tag; give tags such as --tag class:ball"))
    bad_ids = [i for i in against if not DATASET_ID_PATTERN.match(i)]
    if bad_ids:
        problems.append(("--against", f"{', '.join(bad_ids)}: not a 32-hex dataset id; copy the id from "
                         "`balldet datasets list` or the ClearML web UI"))
    if catalog is not None:
        problems += _catalog_problems(catalog, name, version, [i for i in against if i not in bad_ids])
    read: Source | None = None
    try:
        read = read_source(Path(source))
    except DatasetError as exc:
        problems.append(("SOURCE", exc.message + (f"; {exc.fix}" if exc.fix else "")))
    found: list[str] | None = clean_names or None
    names_from = "--names" if found else ""
    if read is not None:
        if found is None:
            try:
                found, names_from = source_names(read)
            except DatasetError as exc:
                problems.append(("SOURCE", exc.message + (f"; {exc.fix}" if exc.fix else "")))
            else:
                if found is None:
                    problems.append(("--names", f"{read.path} names no classes; " + NAMES_HOW))
        if link and len(read.splits) > 1:
            problems.append(("--link", f"{read.data_yaml} has {len(read.splits)} splits, merged into one dataset, "
                             "which needs a copy; leave --link out"))
        if not read.images:
            problems.append(("SOURCE", f"{read.path} holds no images; give a folder with images/ and labels/"))
    if problems or read is None or found is None:
        raise UsageError(problems)
    collisions = _same_stems(read)
    if collisions:
        shown = "; ".join(collisions[:5]) + (f" and {len(collisions) - 5} more" if len(collisions) > 5 else "")
        raise DatasetError(f"{read.path}: the splits share file stems, and one dataset has one images/ folder: {shown}",
                           fix="rename the files so that every stem is unique, or add each split as a dataset")
    info = DatasetInfo(id=new_dataset_id(), name=name, version=version, tags=clean_tags, names=list(found),
                       number_samples=len(read.images))
    return Plan(source=read, info=info, names_from=names_from, link=link, allow_defects=allow_defects,
                allow_leakage=allow_leakage, against=tuple(dict.fromkeys(against)), project=project)


def _catalog_problems(catalog: LocalCatalog, name: str, version: str, against: list[str]) -> list[tuple[str, str]]:
    problems = []
    taken = next((ref for ref in catalog.list() if ref.name == name and ref.version == version), None)
    if taken is not None:
        problems.append(("--version", f"{taken.label} is in the catalog already ({taken.id}); give a new version"))
    unknown = [i for i in against if i not in catalog]
    if unknown:
        problems.append(("--against", f"{', '.join(unknown)}: not in the local catalog {catalog.root}; see "
                         "`balldet datasets list` (offline, every catalog dataset is compared anyway)"))
    return problems


def _split_list(values: Sequence[str] | None) -> list[str]:
    """``--names ball,player`` and ``--names ball --names player`` alike."""
    return [part.strip() for value in (values or ()) for part in value.split(",") if part.strip()]


def read_source(path: Path) -> Source:
    """The source's splits and files; a :class:`DatasetError` saying what is wrong with its layout."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DatasetError(f"{path} does not exist", fix="give a folder with images/ and labels/, or a data.yaml")
    path = path.resolve()
    data_yaml: Path | None = None
    if path.is_file():
        if path.suffix.lower() not in (".yaml", ".yml"):
            raise DatasetError(f"{path} is a file, not a dataset folder or a data.yaml",
                               fix="give a folder with images/ and labels/, or an ultralytics data.yaml")
        data_yaml = path
    elif not holds_images(path / "images"):
        data_yaml = find_data_yaml(path)
        if data_yaml is None:
            raise DatasetError(f"{path} has no images/ with images in it and no data.yaml",
                               fix="give a folder with images/ and labels/ (YOLO format), or an ultralytics data.yaml")
    if data_yaml is None:
        splits = (Split("", path / "images", path / "labels"),)
        root = path
    else:
        described = read_data_yaml(data_yaml)
        if not described.entries:
            raise DatasetError(f"{data_yaml} names no split (train, val, test)",
                               fix="add `train:`/`val:` folders of images to the data.yaml")
        seen: dict[Path, Split] = {}
        for split in described.entries:
            images = described.images_folder(split)
            seen.setdefault(images, Split(split, images, labels_folder_for(images)))
        splits = tuple(seen.values())
        root = described.root
    images = tuple((split, f) for split in splits for f in _files(split.images, IMAGE_SUFFIXES))
    labels = tuple((split, f) for split in splits for f in _files(split.labels, (".txt",)))
    return Source(path=path, root=root, data_yaml=data_yaml, splits=splits, images=images, labels=labels)


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[str]:
    """Names of the files in ``folder`` (not below it) whose suffix, in any case, is one of ``suffixes``."""
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_file() and os.path.splitext(e.name)[1].lower() in suffixes)


def source_names(source: Source) -> tuple[list[str] | None, str]:
    """(class names, where from) by the data.yaml's ``names``, then the folder's dataset.json; (None, "")."""
    data_yaml = source.data_yaml or find_data_yaml(source.path)
    if data_yaml is not None and _names_key(data_yaml):
        return read_data_yaml(data_yaml).names, str(data_yaml)
    folder = source.path if source.data_yaml is None else source.data_yaml.parent
    meta = folder / "dataset.json"
    if meta.is_file():
        try:
            return DatasetInfo.model_validate_json(meta.read_text(encoding="utf-8")).names, str(meta)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{meta} is not valid dataset metadata: {exc}",
                               fix="fix or remove dataset.json, or give --names") from exc
    return None, ""


def _names_key(data_yaml: Path) -> bool:
    """Whether the data.yaml says ``names`` (not just ``nc``)."""
    try:
        data = yaml.safe_load(data_yaml.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DatasetError(f"cannot read {data_yaml}: {exc}", fix="give an ultralytics data.yaml") from exc
    return isinstance(data, dict) and data.get("names") is not None


def _same_stems(source: Source) -> list[str]:
    """Files of different splits that would land on one name in the merged dataset: images sharing a
    stem (and so a label file), label files sharing a name."""
    if len(source.splits) < 2:
        return []
    clashes = []
    for files, folder_of, key in ((source.images, lambda s: s.images, lambda n: os.path.splitext(n)[0]),
                                  (source.labels, lambda s: s.labels, lambda n: n)):
        first: dict[str, Path] = {}
        for split, name in files:
            path = folder_of(split) / name
            if key(name) in first and first[key(name)].parent != path.parent:
                clashes.append(f"{source.relative(first[key(name)])} and {source.relative(path)}")
            first.setdefault(key(name), path)
    return clashes


def dataset_json_text(info: DatasetInfo) -> str:
    """``dataset.json`` as the local catalog writes it."""
    return json.dumps(info.model_dump(), indent=2) + "\n"
