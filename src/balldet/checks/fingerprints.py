"""Image fingerprints for the leakage check, remembered per dataset between runs.

A fingerprint is what :mod:`balldet.checks.leakage` needs of an image: its size in bytes, a
blake2b digest of its bytes and its 64-bit dHash. The dHash decodes the image (milliseconds for a
broadcast frame: minutes at 100k images), so with a ``cache_dir`` the fingerprints of a dataset are
kept in ``<cache_dir>/fingerprints/<dataset id>-<place>-<state>.json`` and reused while its folders
are unchanged. ``place`` stands for the folder (local folders given without metadata all share one
id), ``state`` for :meth:`DatasetRef.folder_state` and :data:`FINGERPRINTS_VERSION`, as in the
defect checks' cache: adding, removing or renaming a file makes a new key.

The digest is taken for every image, not only for sizes two datasets share: compressed pictures
collide in size all the time (19 905 of 20 000 distinct pictures in 10 datasets shared a size with
another dataset in one measurement), so a cache without digests would read nearly every file again
on each run. It costs little beside the decoding, which reads the same bytes.

Near-duplicate candidates are confirmed on 32x32 thumbnails, which decode the whole image. They are
made only for candidates, but the same candidates come back on every run (246 pairs among 100k
distinct pictures in one measurement), so :class:`Thumbnails` remembers them too, beside the
fingerprints (``<same name>.thumbs.npz``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from balldet.checks.report import Progress
from balldet.datasets.dataset import DatasetRef
from balldet.files import write_bytes_atomic, write_json_atomic

# Bump when a fingerprint's meaning changes (dHash size, digest), so remembered ones are not reused.
FINGERPRINTS_VERSION = 1
CACHE_FOLDER = "fingerprints"
THUMB_SIZE = 32
HASH_CHUNK = 200  # images per hashing task


@dataclass(frozen=True)
class Fingerprints:
    """Per image of one dataset, in :meth:`DatasetRef.image_files` order: file name, size in bytes,
    blake2b digest (hex) and dHash; None where the file could not be read or decoded."""

    names: list[str]
    sizes: list[int | None]
    digests: list[str | None]
    hashes: list[int | None]

    def __len__(self) -> int:
        return len(self.names)


def image_fingerprints(ref: DatasetRef, cache_dir: Path | None = None,
                       progress: Progress | None = None) -> Fingerprints:
    """The fingerprints of every image of ``ref``: remembered ones from ``cache_dir``, else computed
    (and then remembered there)."""
    return dataset_fingerprints([ref], cache_dir=cache_dir, progress=progress)[0]


def dataset_fingerprints(refs: list[DatasetRef], *, cache_dir: Path | None = None,
                         progress: Progress | None = None, workers: int | None = None) -> list[Fingerprints]:
    """:func:`image_fingerprints` of each of ``refs``; ``progress`` counts the images hashed, over all.

    Images are hashed by ``workers`` threads (default: one per core): decoding and digesting run
    outside Python's global lock, so threads use every core without starting processes.
    """
    # Keys before listing: a file added while hashing must not be remembered as absent.
    files = [None if cache_dir is None else cache_file(ref, cache_dir) for ref in refs]
    found = [None if file is None else _load(file) for file in files]
    todo = {k: ref.image_files() for k, ref in enumerate(refs) if found[k] is None}
    total, done = sum(len(paths) for paths in todo.values()), 0
    if not total:
        return found
    with ThreadPoolExecutor(max_workers=workers or _usable_cores()) as pool:
        for k, paths in todo.items():
            fingerprints = Fingerprints([path.name for path in paths], [], [], [])
            # chunks, not single images: a task per image costs about as much as hashing a small one
            chunks = [paths[start:start + HASH_CHUNK] for start in range(0, len(paths), HASH_CHUNK)]
            for rows in pool.map(_fingerprint_chunk, chunks):
                for size, digest, value in rows:
                    fingerprints.sizes.append(size)
                    fingerprints.digests.append(digest)
                    fingerprints.hashes.append(value)
                done += len(rows)
                if progress is not None:
                    progress("leakage: image hashes", done, total)
            if files[k] is not None:
                _store(files[k], refs[k], fingerprints)
            found[k] = fingerprints
    return found


def cache_file(ref: DatasetRef, cache_dir: Path) -> Path:
    """Where the fingerprints of ``ref`` in its present state are remembered."""
    place = _place(ref)
    state = hashlib.sha256(
        json.dumps([FINGERPRINTS_VERSION, ref.id, ref.version, place, ref.folder_state()]).encode()
    ).hexdigest()[:24]
    return Path(cache_dir) / CACHE_FOLDER / f"{ref.id}-{place}-{state}.json"


def _place(ref: DatasetRef) -> str:
    return hashlib.sha256(str(Path(ref.path).resolve()).encode()).hexdigest()[:12]


def _usable_cores() -> int:
    """Cores this process may run on (a container or `taskset` may allow fewer than the machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _fingerprint_chunk(paths: list[Path]) -> list[tuple[int | None, str | None, int | None]]:
    """(size, digest, dHash) of each image; size and digest None when the file cannot be read."""
    from balldet.checks.images import dhash, file_digest

    rows = []
    for path in paths:
        try:
            size: int | None = os.stat(path).st_size
            digest: str | None = file_digest(path).hex()
        except OSError:
            size = digest = None
        rows.append((size, digest, dhash(path)))
    return rows


def _store(file: Path, ref: DatasetRef, fingerprints: Fingerprints) -> None:
    # Parallel lists, no whitespace: 100k images make about 10 MB and load in a fraction of a second.
    write_json_atomic(file, {
        "version": FINGERPRINTS_VERSION, "dataset": ref.id, "path": str(ref.path),
        "names": fingerprints.names, "sizes": fingerprints.sizes, "digests": fingerprints.digests,
        "dhashes": fingerprints.hashes,
    }, compact=True)
    # Earlier states of the same folder are never asked for again; at 10 MB each they would pile up.
    for old in file.parent.glob(f"{ref.id}-{_place(ref)}-*"):
        if not old.name.startswith(file.stem):
            old.unlink(missing_ok=True)


def _load(file: Path) -> Fingerprints | None:
    """The remembered fingerprints, or None when there are none (or they cannot be used)."""
    try:
        data = json.loads(file.read_bytes())
        fingerprints = Fingerprints(data["names"], data["sizes"], data["digests"], data["dhashes"])
        usable = data["version"] == FINGERPRINTS_VERSION and all(
            isinstance(column, list) and len(column) == len(fingerprints.names)
            for column in (fingerprints.sizes, fingerprints.digests, fingerprints.hashes))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return fingerprints if usable else None


def thumbnail(path: Path) -> np.ndarray | None:
    """The image in grayscale, resized to THUMB_SIZE squared (uint8); None when it cannot be decoded."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        return None
    return cv2.resize(image, (THUMB_SIZE, THUMB_SIZE), interpolation=cv2.INTER_AREA)


class Thumbnails:
    """:func:`thumbnail` of images asked for by dataset and file name, made once per dataset state:
    remembered in ``cache_dir`` when given (:meth:`save` writes the ones made since loading)."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = cache_dir
        self._known: dict[Path, dict[str, np.ndarray | None]] = {}
        self._files: dict[Path, Path | None] = {}
        self._made: set[Path] = set()

    def get(self, ref: DatasetRef, name: str) -> np.ndarray | None:
        folder = Path(ref.path)
        if folder not in self._known:
            # Key before reading: thumbnails made from a changed folder must not go under its old state.
            file = None if self.cache_dir is None else cache_file(ref, self.cache_dir).with_suffix(".thumbs.npz")
            self._files[folder] = file
            self._known[folder] = {} if file is None else _load_thumbnails(file)
        known = self._known[folder]
        if name not in known:
            known[name] = thumbnail(ref.images_dir / name)
            self._made.add(folder)
        return known[name]

    def save(self) -> None:
        for folder in sorted(self._made):
            file = self._files[folder]
            if file is not None:
                _store_thumbnails(file, self._known[folder])
        self._made.clear()


def _store_thumbnails(file: Path, thumbs: dict[str, np.ndarray | None]) -> None:
    blank = np.zeros((THUMB_SIZE, THUMB_SIZE), np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, names=np.array(list(thumbs), dtype=str),
             decoded=np.array([t is not None for t in thumbs.values()], dtype=bool),
             pixels=np.array([blank if t is None else t for t in thumbs.values()], dtype=np.uint8).reshape(
                 -1, THUMB_SIZE, THUMB_SIZE))
    write_bytes_atomic(file, buffer.getvalue())


def _load_thumbnails(file: Path) -> dict[str, np.ndarray | None]:
    """The remembered thumbnails; none when there is no file (or it cannot be used)."""
    try:
        with np.load(io.BytesIO(file.read_bytes()), allow_pickle=False) as data:
            names, decoded, pixels = data["names"], data["decoded"], data["pixels"]
        if not len(names) == len(decoded) == len(pixels) or pixels.shape[1:] != (THUMB_SIZE, THUMB_SIZE):
            return {}
    except (OSError, ValueError, KeyError, EOFError, TypeError, zipfile.BadZipFile):
        return {}
    return {str(name): pixels[k] if decoded[k] else None for k, name in enumerate(names)}
