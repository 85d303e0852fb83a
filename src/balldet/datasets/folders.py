"""A dataset from a plain folder or an ultralytics ``data.yaml``: read the way ultralytics reads it.

Everything that turns a folder or a ``data.yaml`` given by a user into a :class:`DatasetRef` lives
here (`balldet evaluate --dataset`, `balldet datasets check`); catalog ids are resolved elsewhere
(:mod:`balldet.datasets.resolver`).

**A plain folder** holds ``images/`` (with images in it) and ``labels/`` (YOLO ``class cx cy w h``,
normalised, one ``<image stem>.txt`` per image). Its class names come from the folder's
``data.yaml`` (``names`` as a list, or a dict ``{0: ball, 1: player}``; ``nc`` alone gives
``class_0``... as in ultralytics), else from its ``dataset.json`` (balldet's catalog metadata, which
also gives id, name and version). When neither names the classes, labels that use one class id
are scored as that many classes (``class_0``...); labels with more than one class id are refused:
the names decide which id is which class, and balldet does not guess them.

**An ultralytics data.yaml** (the file, or a folder holding ``data.yaml``/``data.yml`` and no
images directly under ``images/``) names its splits: ``train``, ``val`` (or ``validation``),
``test``, each a folder of images relative to the dataset root. The root is ``path`` (absolute, or
relative to the folder of the data.yaml), else the data.yaml's folder; when a split is not found
under ``path`` (a data.yaml copied from another machine), the data.yaml's own folder is tried. As in
ultralytics, an entry ``../x`` that does not exist is read as ``x``, and each image's label file is
found by replacing the last ``images`` folder of its path with ``labels`` (``images/val`` →
``labels/val``, ``valid/images`` → ``valid/labels``; without an ``images`` folder the labels lie
beside the images). ``balldet evaluate`` scores one split, ``val`` unless told otherwise, like
``yolo val``; ``balldet datasets check`` checks every split. Not read: splits given as lists of
several folders or as ``.txt`` lists of image files, and images in subfolders of a split's folder.

ultralytics differs in one place: it resolves a relative ``path`` against the working directory or
its ``datasets_dir`` setting; balldet resolves it against the data.yaml, so the file travels with
its dataset.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from balldet.datasets.dataset import IMAGE_SUFFIXES, DatasetInfo, DatasetRef
from balldet.errors import DatasetError

DATA_YAML_NAMES = ("data.yaml", "data.yml")
METADATA_FILE = "dataset.json"  # as in the local catalog
SPLITS = ("train", "val", "test")
DEFAULT_SPLIT = "val"  # what `yolo val` scores
LOCAL_VERSION = "local"
NAMES_FIX = (
    "put a data.yaml beside images/ that names the classes in class-id order, e.g. `names: [ball, player]` "
    "(or `names: {0: ball, 1: player}`), as ultralytics reads it"
)


@dataclass(frozen=True)
class DataYaml:
    """What balldet reads from an ultralytics data.yaml."""

    file: Path
    roots: tuple[Path, ...]  # where split entries are looked up, in order
    names: list[str] | None
    entries: dict[str, Any] = field(default_factory=dict)  # split -> the entry as written

    @property
    def root(self) -> Path:
        return self.roots[0]

    def images_folder(self, split: str) -> Path:
        """The folder of ``split``'s images (resolved); a clear error when it cannot be read."""
        if split not in self.entries:
            listed = ", ".join(self.entries) or "none"
            raise DatasetError(
                f"{self.file} has no split {split!r} (its splits: {listed})",
                fix="choose one of its splits (`balldet evaluate --split ...`)" if self.entries
                else "add `val: <folder of images>` (relative to `path`) to the data.yaml",
            )
        entry = self.entries[split]
        if isinstance(entry, list) and len(entry) == 1:
            entry = entry[0]
        if isinstance(entry, list):
            raise DatasetError(
                f"{self.file}: split {split!r} lists {len(entry)} folders; balldet reads one folder per dataset",
                fix="give each folder as a dataset of its own (a folder with images/ and labels/)",
            )
        if not isinstance(entry, str) or not entry.strip():
            raise DatasetError(f"{self.file}: split {split!r} is {entry!r}, not a folder",
                               fix="give the folder of the split's images, relative to `path`")
        tried = []
        for root in self.roots:
            candidate = root / entry
            if not candidate.exists() and entry.startswith("../"):
                candidate = root / entry[3:]  # as ultralytics does (Roboflow exports say ../train/images)
            candidate = candidate.resolve()
            tried.append(str(candidate))
            if candidate.is_file():
                raise DatasetError(
                    f"{self.file}: split {split!r} is the file {candidate}; balldet reads a folder of images",
                    fix="give the folder that holds the split's images",
                )
            if candidate.is_dir():
                return candidate
        raise DatasetError(
            f"{self.file}: the images of split {split!r} ({entry!r}) are not at {' nor '.join(tried)}",
            fix="set `path:` in the data.yaml to the dataset root (absolute, or relative to the data.yaml)",
        )


def labels_folder_for(images_folder: Path) -> Path:
    """Where the label files of the images in ``images_folder`` are, by ultralytics' rule: the last
    ``images`` folder of the path becomes ``labels``; without one, labels lie beside the images."""
    parts = images_folder.parts
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            return Path(*parts[:i], "labels", *parts[i + 1 :])
    return images_folder


def read_data_yaml(file: Path) -> DataYaml:
    """Read an ultralytics data.yaml: its class names, its dataset root and its splits."""
    file = Path(file).expanduser().resolve()
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DatasetError(f"cannot read {file}: {exc}", fix="give an ultralytics data.yaml") from exc
    if not isinstance(data, dict):
        raise DatasetError(f"{file} is not an ultralytics data.yaml (not a mapping of keys)",
                           fix="give a data.yaml with `names:` and `val:` (and `path:`)")
    here = file.parent
    roots = [here]
    if data.get("path"):
        root = Path(str(data["path"])).expanduser()
        root = (root if root.is_absolute() else here / root).resolve()
        roots = [root] if root == here else [root, here]
    entries = {split: data[split] for split in SPLITS if data.get(split) is not None}
    if "val" not in entries and data.get("validation") is not None:
        entries["val"] = data["validation"]  # ultralytics renames it too
    return DataYaml(file=file, roots=tuple(roots), names=_names(data, file), entries=entries)


def _names(data: dict[str, Any], source: Path) -> list[str] | None:
    """``names`` (a list, or a dict keyed 0..n-1) or, without names, ``nc`` classes ``class_0``...;
    None when the data.yaml says neither."""
    raw, nc = data.get("names"), data.get("nc")
    if nc is not None and (isinstance(nc, bool) or not isinstance(nc, int) or nc < 1):
        raise DatasetError(f"{source}: nc is {nc!r}, not a number of classes", fix="write nc as a whole number ≥ 1")
    if raw is None:
        return None if nc is None else [f"class_{i}" for i in range(nc)]
    names = class_names(raw, str(source))
    if nc is not None and nc != len(names):
        raise DatasetError(f"{source}: nc is {nc} but names lists {len(names)} classes",
                           fix="make nc the number of names, or drop nc")
    return names


def class_names(raw: Any, source: str) -> list[str]:
    """Class names in class-id order from a list, or a dict ``{0: a, 1: b}`` (ids 0..n-1, keys may be
    written as text)."""
    if isinstance(raw, dict):
        try:
            by_id = {int(key): value for key, value in raw.items()}
        except (TypeError, ValueError):
            raise DatasetError(f"{source}: names has keys {list(raw)}, not class ids", fix=NAMES_FIX) from None
        if sorted(by_id) != list(range(len(by_id))):
            raise DatasetError(f"{source}: names has class ids {sorted(by_id)}, not 0..{len(by_id) - 1}",
                               fix=NAMES_FIX)
        raw = [by_id[i] for i in range(len(by_id))]
    if not isinstance(raw, list) or not raw or not all(isinstance(n, (str, int, float)) for n in raw):
        raise DatasetError(f"{source}: names is {raw!r}, not a list of class names", fix=NAMES_FIX)
    return [str(n) for n in raw]


def find_data_yaml(folder: Path) -> Path | None:
    for name in DATA_YAML_NAMES:
        if (folder / name).is_file():
            return folder / name
    return None


def holds_images(folder: Path) -> bool:
    """Whether ``folder`` has an image file directly in it."""
    if not folder.is_dir():
        return False
    with os.scandir(folder) as entries:
        return any(e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES for e in entries)


def open_dataset(spec: str | Path, *, split: str | None = None) -> DatasetRef:
    """The dataset in a plain folder, or split ``split`` (default ``val``) of an ultralytics data.yaml
    (the file, or a folder holding it and no images directly under ``images/``)."""
    path = Path(spec).expanduser()
    data_yaml = _data_yaml_of(path)
    if data_yaml is None:
        if split is not None:
            raise DatasetError(
                f"{path} is a plain dataset folder (images/ and labels/): it has no splits to choose from",
                fix="leave --split out, or give an ultralytics data.yaml",
            )
        return _plain_folder(path)
    return _split_of(read_data_yaml(data_yaml), split or DEFAULT_SPLIT)


def open_datasets(spec: str | Path) -> list[DatasetRef]:
    """Every dataset ``spec`` holds: a plain folder's one, or each split of a data.yaml (splits sharing
    a folder once)."""
    path = Path(spec).expanduser()
    data_yaml = _data_yaml_of(path)
    if data_yaml is None:
        return [_plain_folder(path)]
    described = read_data_yaml(data_yaml)
    if not described.entries:
        raise DatasetError(f"{described.file} names no split (train, val, test)",
                           fix="add `train:`/`val:` folders of images to the data.yaml")
    refs: dict[Path, DatasetRef] = {}
    for split in described.entries:
        ref = _split_of(described, split)
        refs.setdefault(ref.images_dir, ref)
    return list(refs.values())


def _data_yaml_of(path: Path) -> Path | None:
    """The data.yaml ``path`` stands for, or None for a plain folder."""
    if path.is_file():
        if path.suffix.lower() in (".yaml", ".yml"):
            return path
        raise DatasetError(f"{path} is a file, not a dataset folder or a data.yaml",
                           fix="give a folder with images/ and labels/, or an ultralytics data.yaml")
    if not path.is_dir():
        raise DatasetError(f"{path} does not exist",
                           fix="give a folder with images/ and labels/, or an ultralytics data.yaml")
    if holds_images(path / "images"):
        return None
    found = find_data_yaml(path)
    if found is None:
        images = path / "images"
        inner = sorted(p.name for p in images.iterdir() if p.is_dir()) if images.is_dir() else []
        if inner:
            raise DatasetError(
                f"{images} holds folders ({', '.join(inner[:5])}), not images, and {path} has no data.yaml "
                "naming them as splits",
                fix=f"give the ultralytics data.yaml of this dataset (`val: images/{inner[0]}`, ...), or a folder "
                "with images/ and labels/",
            )
        raise DatasetError(
            f"{path} is no dataset folder: it has no images/ with images in it and no data.yaml",
            fix="give a folder with images/ and labels/ (YOLO format), or an ultralytics data.yaml",
        )
    return found


def _folder_id(folder: Path) -> str:
    """A stable 32-hex id for a dataset that has none: from where its images are."""
    return hashlib.md5(str(folder).encode()).hexdigest()  # noqa: S324  (a name, not security)


def _count_images(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    with os.scandir(folder) as entries:
        return sum(1 for e in entries if e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES)


def _metadata(folder: Path) -> dict[str, Any] | None:
    """The folder's dataset.json (balldet catalog metadata), validated; None without one."""
    meta = folder / METADATA_FILE
    if not meta.is_file():
        return None
    try:
        return DatasetInfo.model_validate_json(meta.read_text(encoding="utf-8")).model_dump()
    except (OSError, ValidationError, ValueError) as exc:
        raise DatasetError(f"{meta} is not valid dataset metadata: {exc}",
                           fix="fix or remove dataset.json (a data.yaml can name the classes instead)") from exc


def _plain_folder(path: Path) -> DatasetRef:
    folder = path.resolve()
    meta = _metadata(folder)
    data_yaml = find_data_yaml(folder)
    names = read_data_yaml(data_yaml).names if data_yaml is not None else None
    if names is None and meta is not None:
        names = meta["names"]
    if names is None:
        names = _names_from_labels(folder / "labels", where=str(folder))
    info = meta or {"id": _folder_id(folder / "images"), "name": folder.name, "version": LOCAL_VERSION,
                    "number_samples": _count_images(folder / "images")}
    return DatasetRef(**{**info, "names": names}, path=folder)


def _split_of(described: DataYaml, split: str) -> DatasetRef:
    images = described.images_folder(split)
    labels = labels_folder_for(images)
    names = described.names
    if names is None:
        meta = _metadata(described.file.parent)
        names = meta["names"] if meta is not None else _names_from_labels(labels, where=str(described.file))
    root = next((r for r in described.roots if images.is_relative_to(r)), described.file.parent)
    return DatasetRef(
        id=_folder_id(images), name=f"{root.name}:{split}", version=LOCAL_VERSION, names=names,
        number_samples=_count_images(images), path=images, images_folder=images, labels_folder=labels,
    )


def _label_class_ids(labels: Path) -> Iterator[int]:
    """The class id of every parseable label row under ``labels`` (defects are the checks' business)."""
    if not labels.is_dir():
        return
    with os.scandir(labels) as entries:
        files = [e.path for e in entries if e.is_file() and e.name.lower().endswith(".txt")]
    for file in files:
        try:
            with open(file, encoding="utf-8-sig", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue
        for line in text.splitlines():
            first = line.split(maxsplit=1)[:1]
            try:
                value = float(first[0]) if first else -1.0
            except ValueError:
                continue
            if value >= 0 and value == int(value):
                yield int(value)


def _names_from_labels(labels: Path, *, where: str) -> list[str]:
    """Names for a dataset that names no class. Labels using one class id ``k`` (or none) are read as
    ``k + 1`` classes ``class_0``... (only ``k`` has ground truth, the others count for nothing); labels
    using several ids are refused: which id is the ball is for the names to say, not for a guess."""
    seen: set[int] = set()
    for class_id in _label_class_ids(labels):
        seen.add(class_id)
        if len(seen) > 1:
            break
    if len(seen) > 1:
        ids = ", ".join(str(i) for i in sorted(seen))
        raise DatasetError(
            f"the labels in {labels} use several class ids (e.g. {ids}), and {where} does not name the "
            "classes (no data.yaml with names, no dataset.json): balldet cannot know which id is which class",
            fix=NAMES_FIX,
        )
    count = max(seen) + 1 if seen else 1
    return [f"class_{i}" for i in range(count)]

