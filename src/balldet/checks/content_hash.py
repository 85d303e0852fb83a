"""A dataset's content hash: which bytes a run trained and tested on, as its run record says.

Recipe (:data:`CONTENT_HASH_VERSION` 2, run records from ``record_version`` 2 on): the sha256 (hex)
over one line per file, the lines sorted, each ``<path>\\0<size in bytes>\\0<digest>\\n`` with

* ``images/<name>`` for every image of the dataset, its digest the blake2b (16 bytes, hex) of its
  fingerprint: the one read of each image the dataset checks make (:mod:`balldet.checks.fingerprints`),
  so recording a checked dataset reads no image again;
* ``labels/<path inside the labels folder>`` for every file under the labels folder, its digest the
  blake2b (16 bytes, hex) of its bytes, read here (label files are small).

(Version 1 took a sha256 of every file's bytes, paths relative to the dataset folder.)

With a ``cache_dir`` the hash is remembered on the ``content_hash`` shelf of :mod:`balldet.cache` per
dataset state (id, version, folder, :meth:`DatasetRef.folder_state`): a later call in the same state
reads no file. Like ``folder_state()``, the key does not see a file edited in place.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from balldet.cache import Shelf, make_key
from balldet.checks.fingerprints import dataset_state, image_fingerprints
from balldet.checks.images import DIGEST_BYTES
from balldet.datasets.dataset import DatasetRef

CONTENT_HASH_VERSION = 2
SHELF = "content_hash"


def content_hash(ref: DatasetRef, cache_dir: Path | None = None) -> str:
    """The content hash of ``ref`` (see the module's docstring); ``cache_dir`` is the cache folder,
    where the image fingerprints are remembered too. OSError when a file cannot be read."""
    shelf = Shelf.of(cache_dir, SHELF)
    # Key before reading: a hash of changed folders must not go under their old state.
    key = make_key(CONTENT_HASH_VERSION, *dataset_state(ref), prefix=ref.id) if shelf.enabled else ""
    known = shelf.load_json(key, read=_hash_of)
    if known is not None:
        return known

    lines = [*_image_lines(ref, cache_dir), *_label_lines(ref)]
    total = hashlib.sha256()
    for line in sorted(lines):
        total.update(line.encode("utf-8"))
    result = total.hexdigest()
    try:
        shelf.save_json(key, {"hash": result, "number_files": len(lines)})
        shelf.keep_only(key)
    except OSError:
        pass  # a cache that cannot be written only costs time
    return result


def _image_lines(ref: DatasetRef, cache_dir: Path | None) -> list[str]:
    prints = image_fingerprints(ref, cache_dir)
    lines = []
    for name, size, digest, problem in zip(prints.names, prints.sizes, prints.digests, prints.problems):
        if digest is None:  # the read failed: its problem says why
            raise OSError(f"{ref.images_dir / name}: {problem[1] if problem else 'cannot be read'}")
        lines.append(f"images/{name}\0{size}\0{digest}\n")
    return lines


def _label_lines(ref: DatasetRef) -> list[str]:
    folder = ref.labels_dir
    if not folder.is_dir():
        return []
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        digest = hashlib.blake2b(data, digest_size=DIGEST_BYTES).hexdigest()
        lines.append(f"labels/{path.relative_to(folder).as_posix()}\0{len(data)}\0{digest}\n")
    return lines


def _hash_of(data: dict) -> str | None:
    value = data["hash"]
    return value if isinstance(value, str) and len(value) == 64 else None
