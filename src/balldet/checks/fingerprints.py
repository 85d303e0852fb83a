"""Image fingerprints: one read of every image of a dataset, remembered per dataset state.

A fingerprint is what one read of an image gives (:func:`balldet.checks.images.read_image`): its
size in bytes, a blake2b digest of its bytes, its 64-bit dHash and the verdict of its header check.
The defect check (image headers), the leakage check (sizes, digests, dHashes) and the run record's
content hash (digests) all take them from here, so the first check of a dataset reads each image
once. The dHash decodes the image (milliseconds for a broadcast frame: minutes at 100k images), so
images are read by a pool of threads (decoding and digesting run outside Python's global lock) and,
with a ``cache_dir``, a dataset's fingerprints are remembered on the ``fingerprints`` shelf of
:mod:`balldet.cache` under :func:`fingerprints_key`: its id, version, folder and the state of its
images folder (adding, removing or renaming an image makes a new key; labels do not matter).

Without a ``cache_dir`` (``balldet datasets check``: the files as they are now) the reads of the last
few datasets are kept in memory while every image still has the size, modification and change times
and inode it had when read: the defect check and the leakage check that follows it share one read,
and an image written or replaced in between is read again (all of its dataset). Only a write within
the file system's clock tick of the read that keeps the size would go unseen.

The digest is taken for every image, not only for sizes two datasets share: compressed pictures
collide in size all the time (19 905 of 20 000 distinct pictures in 10 datasets shared a size with
another dataset in one measurement), so a cache without digests would read nearly every file again
on each run. It costs little beside the decoding, which reads the same bytes.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from balldet.cache import Shelf, make_key
from balldet.checks.images import ImageRead, read_image
from balldet.checks.report import Progress
from balldet.datasets.dataset import DatasetRef

# Bump when a fingerprint's meaning changes (dHash size, digest, header check), so remembered ones
# are not reused.
FINGERPRINTS_VERSION = 2
SHELF = "fingerprints"
HASH_CHUNK = 200  # images per task of the thread pool
HASH_STAGE = "leakage: image hashes"  # progress of reads the leakage check asks for
RECENT_IMAGES = 500_000  # images whose reads are kept in memory without a cache_dir


@dataclass(frozen=True)
class Fingerprints:
    """Per image of one dataset, in :meth:`DatasetRef.image_names` order: file name, size in bytes,
    blake2b digest (hex) and dHash (None where the file could not be read or decoded), and the header
    check's ``(kind, message)`` (None when fine)."""

    names: list[str]
    sizes: list[int | None]
    digests: list[str | None]
    hashes: list[int | None]
    problems: list[tuple[str, str] | None]

    def __len__(self) -> int:
        return len(self.names)


def dataset_place(ref: DatasetRef) -> str:
    """Stands for the dataset's folder: local folders given without metadata all share one id."""
    return make_key(str(Path(ref.path).resolve()))


def dataset_state(ref: DatasetRef) -> list[Any]:
    """Key parts of a dataset as it is now: which dataset, where, and its folders' state (changed by
    adding, removing or renaming a file; see :meth:`DatasetRef.folder_state`)."""
    return [ref.id, ref.version, dataset_place(ref), ref.folder_state()]


def fingerprints_key(ref: DatasetRef) -> str:
    """The key of ``ref``'s fingerprints (and thumbnails) in its present state; its prefix names the
    dataset, so a new state replaces the old ones."""
    images_state = ref.folder_state()[0]
    return make_key(FINGERPRINTS_VERSION, ref.id, ref.version, dataset_place(ref), images_state,
                    prefix=f"{ref.id}-{dataset_place(ref)}")


def image_fingerprints(ref: DatasetRef, cache_dir: Path | None = None, progress: Progress | None = None,
                       stage: str = HASH_STAGE) -> Fingerprints:
    """The fingerprints of every image of ``ref``: remembered ones, else read (and remembered)."""
    return dataset_fingerprints([ref], cache_dir=cache_dir, progress=progress, stage=stage)[0]


def dataset_fingerprints(refs: list[DatasetRef], *, cache_dir: Path | None = None,
                         progress: Progress | None = None, workers: int | None = None,
                         stage: str = HASH_STAGE) -> list[Fingerprints]:
    """:func:`image_fingerprints` of each of ``refs``; ``progress(stage, ...)`` counts the images read,
    over all. ``workers`` threads read them (default: one per usable core)."""
    shelf = Shelf.of(cache_dir, SHELF)
    # Keys and stamps before listing: a file added while reading must not be remembered as absent.
    keys = [fingerprints_key(ref) if shelf.enabled else "" for ref in refs]
    stamps = [None if shelf.enabled else _stamp(ref) for ref in refs]
    found: list[Fingerprints | None] = [
        shelf.load_json(key, read=_from_json) if shelf.enabled else _recent.get(ref, stamp)
        for ref, key, stamp in zip(refs, keys, stamps)
    ]
    todo = {k: _image_names(ref) for k, ref in enumerate(refs) if found[k] is None}
    total, done = sum(len(names) for names in todo.values()), 0
    # the pool starts its threads at the first task: nothing to read, no thread
    with ThreadPoolExecutor(max_workers=workers or _usable_cores()) as pool:
        for k, names in todo.items():
            folder = refs[k].images_dir
            # chunks, not single images: a task per image costs about as much as reading a small one
            chunks = [[folder / name for name in names[start:start + HASH_CHUNK]]
                      for start in range(0, len(names), HASH_CHUNK)]
            reads: list[ImageRead] = []
            for rows in pool.map(_read_chunk, chunks):
                reads += rows
                done += len(rows)
                if progress is not None:
                    progress(stage, done, total)
            found[k] = prints = _fingerprints(names, reads)
            if shelf.enabled:
                shelf.save_json(keys[k], _to_json(refs[k], prints), compact=True)
                shelf.keep_only(keys[k])  # earlier states are never asked for again; 10 MB each at 100k
            else:
                _recent.put(refs[k], stamps[k], prints)
    return found  # type: ignore[return-value]  (every None was read above)


def _image_names(ref: DatasetRef) -> list[str]:
    return ref.image_names() if ref.images_dir.is_dir() else []


def _fingerprints(names: list[str], reads: list[ImageRead]) -> Fingerprints:
    return Fingerprints(list(names), [r.size for r in reads], [r.digest for r in reads], [r.dhash for r in reads],
                        [r.problem for r in reads])


def _read_chunk(paths: list[Path]) -> list[ImageRead]:
    return [read_image(path) for path in paths]


def _usable_cores() -> int:
    """Cores this process may run on (a container or `taskset` may allow fewer than the machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _to_json(ref: DatasetRef, prints: Fingerprints) -> dict[str, Any]:
    # Parallel lists, no whitespace: 100k images make about 10 MB and load in a fraction of a second.
    return {
        "version": FINGERPRINTS_VERSION, "dataset": ref.id, "path": str(ref.path), "names": prints.names,
        "sizes": prints.sizes, "digests": prints.digests, "dhashes": prints.hashes, "problems": prints.problems,
    }


def _from_json(data: dict[str, Any]) -> Fingerprints | None:
    """Remembered fingerprints; None (a miss) unless every column is a list of one entry per image."""
    problems = [None if p is None else (str(p[0]), str(p[1])) for p in data["problems"]]
    prints = Fingerprints(data["names"], data["sizes"], data["digests"], data["dhashes"], problems)
    usable = data["version"] == FINGERPRINTS_VERSION and isinstance(prints.names, list) and all(
        isinstance(column, list) and len(column) == len(prints.names)
        for column in (prints.sizes, prints.digests, prints.hashes))
    return prints if usable and len(problems) == len(prints.names) else None


Stamp = tuple[tuple[str, int, int, int, int], ...]


def _stamp(ref: DatasetRef) -> Stamp | None:
    """Each image's name, size, times and inode: changed by any write or replacement (the change
    time even when a copy puts an old modification time back)."""
    try:
        folder = ref.images_dir
        stamps = []
        for name in _image_names(ref):
            stat = os.stat(folder / name)
            stamps.append((name, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino))
        return tuple(stamps)
    except OSError:
        return None  # an image that cannot be looked at is read (and reported) afresh


class _RecentReads:
    """The fingerprints of the datasets read last without a cache_dir, by images folder, each with the
    stamp its images had before they were read; about :data:`RECENT_IMAGES` images at most."""

    def __init__(self) -> None:
        self._reads: OrderedDict[Path, tuple[Stamp, Fingerprints]] = OrderedDict()

    def get(self, ref: DatasetRef, stamp: Stamp | None) -> Fingerprints | None:
        known = self._reads.get(Path(ref.images_dir).resolve())
        return known[1] if known is not None and stamp is not None and known[0] == stamp else None

    def put(self, ref: DatasetRef, stamp: Stamp | None, prints: Fingerprints) -> None:
        folder = Path(ref.images_dir).resolve()
        self._reads.pop(folder, None)
        if stamp is None:
            return
        self._reads[folder] = (stamp, prints)
        while sum(len(p) for _, p in self._reads.values()) > RECENT_IMAGES and len(self._reads) > 1:
            self._reads.popitem(last=False)


_recent = _RecentReads()
