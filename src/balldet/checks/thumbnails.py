"""32x32 grayscale thumbnails that confirm near-duplicate candidates, remembered per dataset state.

Thumbnails decode the whole image, so they are made only for the candidates the dHashes point at,
after every image was read once for its fingerprint (candidates are known only once all dHashes are).
The same candidates come back on every run (246 pairs among 100k distinct pictures in one
measurement), so they are remembered beside the fingerprints: the ``fingerprints`` shelf, same key,
suffix ``.thumbs.npz``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from balldet.cache import Shelf
from balldet.checks.fingerprints import SHELF, fingerprints_key
from balldet.datasets.dataset import DatasetRef

THUMB_SIZE = 32
SUFFIX = ".thumbs.npz"


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
        self.shelf = Shelf.of(cache_dir, SHELF)
        self._known: dict[Path, dict[str, np.ndarray | None]] = {}
        self._keys: dict[Path, str] = {}
        self._made: set[Path] = set()

    def get(self, ref: DatasetRef, name: str) -> np.ndarray | None:
        folder = Path(ref.path)
        if folder not in self._known:
            # Key before reading: thumbnails made from a changed folder must not go under its old state.
            self._keys[folder] = key = fingerprints_key(ref) if self.shelf.enabled else ""
            self._known[folder] = self.shelf.load_bytes(key, SUFFIX, read=_from_npz) or {}
        known = self._known[folder]
        if name not in known:
            known[name] = thumbnail(ref.images_dir / name)
            self._made.add(folder)
        return known[name]

    def save(self) -> None:
        for folder in sorted(self._made):
            self.shelf.save_bytes(self._keys[folder], _to_npz(self._known[folder]), SUFFIX)
        self._made.clear()


def _to_npz(thumbs: dict[str, np.ndarray | None]) -> bytes:
    blank = np.zeros((THUMB_SIZE, THUMB_SIZE), np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, names=np.array(list(thumbs), dtype=str),
             decoded=np.array([t is not None for t in thumbs.values()], dtype=bool),
             pixels=np.array([blank if t is None else t for t in thumbs.values()], dtype=np.uint8).reshape(
                 -1, THUMB_SIZE, THUMB_SIZE))
    return buffer.getvalue()


def _from_npz(data: bytes) -> dict[str, np.ndarray | None] | None:
    """Remembered thumbnails by name; None (a miss) when the arrays do not fit together."""
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        names, decoded, pixels = arrays["names"], arrays["decoded"], arrays["pixels"]
    if not len(names) == len(decoded) == len(pixels) or pixels.shape[1:] != (THUMB_SIZE, THUMB_SIZE):
        return None
    return {str(name): pixels[k] if decoded[k] else None for k, name in enumerate(names)}
