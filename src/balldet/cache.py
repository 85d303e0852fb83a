"""The one cache of balldet: how a remembered result is keyed, where it lives, how it is written and
read back. Every cache uses it: the stage cache, training layouts, dataset checks, image fingerprints
and thumbnails, leakage findings and dataset content hashes.

Key recipe (:func:`make_key`): the first :data:`KEY_LENGTH` hex digits of the sha256 of the
canonical JSON of ``[KEY_VERSION, *parts]`` (sorted keys, no whitespace, ASCII; a value JSON does
not know, such as a path, as its ``str``). The parts are everything the entry depends on, the
caller's own version number of what it stores among them (``CHECKS_VERSION``, ...), so a change of
meaning is a new key and never a wrong hit. A key may start with a readable prefix,
``<prefix>-<digest>``: entries sharing a prefix are successive states of one thing (one dataset
folder), and :meth:`Shelf.keep_only` removes the states a new one replaces.

Layout: all entries of one kind lie on one shelf, ``<cache_dir>/<kind>/``:

* a file entry is ``<cache_dir>/<kind>/<key><suffix>`` (``checks/<id>-<digest>.json``,
  ``fingerprints/<id>-<place>-<digest>.thumbs.npz``);
* a folder entry is ``<cache_dir>/<kind>/<key>/`` (a training layout, a run's stage outputs), and a
  file in it ``<cache_dir>/<kind>/<key>/<name>``.

Kinds in use: ``stage_cache``, ``layouts``, ``checks``, ``fingerprints``, ``leakage``, ``content_hash``.

Reading back: an entry that cannot be used -- missing, cut short, garbage, not UTF-8, the wrong
shape for its reader -- is a miss, never an error: the result is simply made again (a cache only
saves time). Loaders return None for a miss (a JSON ``null`` reads as a miss too); pydantic values
come back as ``(found, value)``, since a stored value may itself be None.

Writing: atomically (a temporary name in the same folder, then a rename, see :mod:`balldet.files`),
so a reader sees the old entry or the new one, never half of one.

Without a ``cache_dir`` the shelf is absent: every load is a miss, every save does nothing.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter

from balldet.files import write_bytes_atomic, write_json_atomic

KEY_VERSION = 1  # bump when the recipe itself changes: every remembered entry is then left unused
KEY_LENGTH = 24  # hex digits: 96 bits, a collision among the entries of one cache is out of reach

T = TypeVar("T")

# What reading an unusable entry raises: the file system, JSON, UTF-8, pydantic (a ValueError),
# numpy's npz reader, and a reader finding the wrong shape (a missing key, a wrong type).
UNUSABLE = (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError, EOFError, zipfile.BadZipFile)


def make_key(*parts: Any, prefix: str = "") -> str:
    """The key of an entry made of ``parts`` (anything JSON can write, paths included)."""
    canonical = json.dumps([KEY_VERSION, *parts], sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode("ascii")).hexdigest()[:KEY_LENGTH]
    if not prefix:
        return digest
    if "/" in prefix or "\\" in prefix or prefix.startswith("."):
        raise ValueError(f"a key prefix is part of a file name: {prefix!r}")
    return f"{prefix}-{digest}"


def _identity(value: Any) -> Any:
    return value


@lru_cache(maxsize=None)
def _adapter(kind: Any) -> TypeAdapter:
    return kind if isinstance(kind, TypeAdapter) else TypeAdapter(kind)


def read_model(path: Path, kind: Any) -> tuple[bool, Any]:
    """(found, value) of the pydantic ``kind`` (a model, a type, or a TypeAdapter) in the JSON file at
    ``path``; (False, None) when it cannot be read as one."""
    try:
        return True, _adapter(kind).validate_json(Path(path).read_bytes())
    except UNUSABLE:
        return False, None


def write_model(path: Path, value: Any, kind: Any, *, indent: int | None = 2) -> None:
    """``value`` as the JSON of the pydantic ``kind``, written atomically."""
    write_bytes_atomic(Path(path), _adapter(kind).dump_json(value, indent=indent))


class Shelf:
    """The entries of one kind: ``<cache_dir>/<kind>/`` (``folder``), or no shelf at all (None)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = None if folder is None else Path(folder)

    @classmethod
    def of(cls, cache_dir: Path | None, kind: str) -> Shelf:
        """The shelf of ``kind`` in ``cache_dir``; an absent one without a ``cache_dir``."""
        return cls(None if cache_dir is None else Path(cache_dir) / kind)

    @property
    def enabled(self) -> bool:
        return self.folder is not None

    def path(self, key: str, suffix: str = "", *, name: str | None = None) -> Path | None:
        """``<key><suffix>`` on the shelf, or the file ``name`` in the folder entry ``key``."""
        if self.folder is None:
            return None
        return self.folder / key / name if name is not None else self.folder / f"{key}{suffix}"

    def entry_folder(self, key: str) -> Path | None:
        """The folder entry ``key`` (not created: its maker fills it)."""
        return None if self.folder is None else self.folder / key

    # ---- reading: a miss for anything unusable

    def load_bytes(self, key: str, suffix: str = "", *, name: str | None = None,
                   read: Callable[[bytes], T] = _identity) -> T | None:
        """``read`` of the entry's bytes; None when there is no entry, or ``read`` finds it unusable."""
        path = self.path(key, suffix, name=name)
        if path is None:
            return None
        try:
            return read(path.read_bytes())
        except UNUSABLE:
            return None

    def load_json(self, key: str, suffix: str = ".json", *, name: str | None = None,
                  read: Callable[[Any], T] = _identity) -> T | None:
        """``read`` of the entry's JSON (it checks the shape and converts); None for a miss."""
        return self.load_bytes(key, suffix, name=name, read=lambda data: read(json.loads(data)))

    def load_model(self, key: str, kind: Any, suffix: str = ".json", *,
                   name: str | None = None) -> tuple[bool, Any]:
        """(found, value) of the pydantic ``kind`` stored under ``key`` (see :func:`read_model`)."""
        path = self.path(key, suffix, name=name)
        return (False, None) if path is None else read_model(path, kind)

    # ---- writing: atomic, nothing without a shelf

    def save_bytes(self, key: str, data: bytes, suffix: str = "", *, name: str | None = None) -> None:
        path = self.path(key, suffix, name=name)
        if path is not None:
            write_bytes_atomic(path, data)

    def save_json(self, key: str, value: Any, suffix: str = ".json", *, name: str | None = None,
                  compact: bool = False) -> None:
        """``compact``: no whitespace, for large machine-read entries (100k-image lists)."""
        path = self.path(key, suffix, name=name)
        if path is not None:
            write_json_atomic(path, value, compact=compact)

    def save_model(self, key: str, value: Any, kind: Any, suffix: str = ".json", *,
                   name: str | None = None) -> None:
        path = self.path(key, suffix, name=name)
        if path is not None:
            write_model(path, value, kind)

    def keep_only(self, key: str) -> None:
        """Remove the file entries of earlier states of what ``key`` (``<prefix>-<digest>``) is a
        state of: they are never asked for again, and some are megabytes (100k-image fingerprints)."""
        if self.folder is None or "-" not in key:
            return
        prefix = key.rpartition("-")[0]
        for old in self.folder.glob(f"{prefix}-*"):
            # the same length: a longer name sharing the prefix belongs to another thing
            stem = old.name[:len(key)]
            if stem != key and len(stem) == len(key) and stem.rpartition("-")[0] == prefix and old.is_file():
                old.unlink(missing_ok=True)
