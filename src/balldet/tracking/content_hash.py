"""A dataset's content hash: sha256 over its files' relative paths, sizes and bytes, remembered per
dataset (id, version, folder state) so a re-run does not read every image again."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from balldet.datasets.dataset import DatasetRef
from balldet.files import write_json_atomic

HASH_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_files(ref: DatasetRef) -> list[Path]:
    """The files the content hash covers: the images and everything under labels/."""
    files = list(ref.image_files()) if ref.images_dir.is_dir() else []
    if ref.labels_dir.is_dir():
        files += [p for p in ref.labels_dir.rglob("*") if p.is_file()]
    return sorted(set(files))


def _cache_file(cache_dir: Path, ref: DatasetRef) -> Path:
    return Path(cache_dir) / f"{ref.id}.json"


def _cache_key(ref: DatasetRef) -> dict[str, Any]:
    return {"id": ref.id, "version": ref.version, "folder_state": list(ref.folder_state())}


def _read_cache(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def content_hash(ref: DatasetRef, cache_dir: Path | None = None) -> str:
    """sha256 over the sorted (relative path, size, sha256 of bytes) of the dataset's images and labels.

    With ``cache_dir``, the result is kept in ``<cache_dir>/<dataset id>.json`` keyed by
    (id, version, folder_state()): a later call with the same key reads no file. When the key
    changed, files whose size and mtime are unchanged keep their cached digest, so only new or
    changed files are read. Like folder_state(), the key does not see a file edited in place.
    """
    key = _cache_key(ref)
    cached = _read_cache(_cache_file(cache_dir, ref)) if cache_dir is not None else None
    if cached and cached.get("key") == key and isinstance(cached.get("hash"), str):
        return cached["hash"]

    known: dict[str, Any] = {}
    if cached and isinstance(cached.get("files"), dict):
        known = cached["files"]
    root = Path(ref.path)
    entries: dict[str, list[Any]] = {}
    for path in dataset_files(ref):
        rel = path.relative_to(root).as_posix()
        stat = path.stat()
        previous = known.get(rel)
        unchanged = isinstance(previous, list) and len(previous) == 3
        if unchanged and previous[:2] == [stat.st_size, stat.st_mtime_ns]:
            digest = previous[2]
        else:
            digest = file_sha256(path)
        entries[rel] = [stat.st_size, stat.st_mtime_ns, digest]

    total = hashlib.sha256()
    for rel in sorted(entries):
        size, _, digest = entries[rel]
        total.update(f"{rel}\0{size}\0{digest}\n".encode("utf-8"))
    result = total.hexdigest()

    if cache_dir is not None:
        try:
            write_json_atomic(
                _cache_file(cache_dir, ref),
                {"key": key, "hash": result, "number_files": len(entries), "files": entries},
            )
        except OSError:
            pass  # a cache that cannot be written only costs time
    return result
