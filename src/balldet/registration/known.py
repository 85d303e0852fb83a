"""The datasets a new one is compared with for leakage, and the comparison.

A known dataset is what the leakage check needs of it, never its files as such: per image its name,
size, digest and dHash (:class:`~balldet.checks.fingerprints.Fingerprints`) and, for the few
near-duplicate candidates, a 32x32 thumbnail. Where they come from:

* a dataset of the local catalog: :func:`~balldet.checks.fingerprints.dataset_fingerprints` with the
  cache, so each is read once and remembered (as ``prepare_data`` does), thumbnails made on demand
  and remembered beside them (:class:`~balldet.checks.thumbnails.Thumbnails`);
* a server dataset registered by balldet: its *fingerprint pack*, one compressed ``.npz`` holding the
  fingerprints and the thumbnail of every image (about 1 KB an image), attached to the dataset when
  ``datasets add`` uploaded it and kept in the local cache by dataset id once fetched (a finalized
  dataset never changes);
* any other server dataset: its local copy, fetched once through ClearML's cache, then as a catalog
  dataset.

:func:`find_leaks` compares the new dataset's images with each known dataset's: byte-identical files
(digests), the same recording and frame number (:mod:`balldet.datasets.frames`, each dataset's name
with its file stems), and near-duplicate pictures (dHashes within
:data:`~balldet.checks.leakage.MAX_DISTANCE` bits, confirmed by thumbnails as
:mod:`balldet.checks.leakage` does). Each pair of a new image and a known dataset is reported once, as
the strongest kind. The new dataset is usually small beside all the known ones, so each new dHash is
compared with every known one in numpy (a thousand new frames against a million known: seconds).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from balldet.checks.fingerprints import Fingerprints, dataset_fingerprints
from balldet.checks.leakage import MAX_DISTANCE, THUMB_P99
from balldet.checks.report import Finding, Progress
from balldet.checks.thumbnails import THUMB_SIZE, Thumbnails, thumbnail
from balldet.datasets.dataset import DatasetRef
from balldet.datasets.frames import FrameIdentity

PACK_VERSION = 1  # bump when the pack's meaning changes: older packs are then not used
PAIRS_PER_BLOCK = 4_000_000  # dHash comparisons held in memory at once (32 MB)

Thumb = Callable[[str], "np.ndarray | None"]


@dataclass
class Known:
    """A dataset compared with: its id, name and label, its images' fingerprints, and a thumbnail by
    file name (None where the image cannot be decoded)."""

    id: str
    name: str
    label: str
    prints: Fingerprints
    thumb: Thumb


@dataclass
class NewImages:
    """The new dataset's images: where each is shown in messages, its name, fingerprint and thumbnail."""

    refs: list[DatasetRef]
    prints: list[Fingerprints]
    shown: Callable[[int, str], str]  # (ref index, file name) -> how the user sees the file
    thumbs: dict[tuple[int, str], np.ndarray | None] = field(default_factory=dict)  # made ones, by (ref, name)

    def rows(self) -> list[tuple[int, str, int | None, str | None, int | None]]:
        return [(k, name, size, digest, value) for k, p in enumerate(self.prints)
                for name, size, digest, value in zip(p.names, p.sizes, p.digests, p.hashes)]

    def thumb(self, k: int, name: str) -> np.ndarray | None:
        if (k, name) not in self.thumbs:
            self.thumbs[(k, name)] = thumbnail(self.refs[k].images_dir / name)
        return self.thumbs[(k, name)]


def catalog_known(refs: list[DatasetRef], *, cache_dir: Path | None, progress: Progress | None = None
                  ) -> tuple[list[Known], Thumbnails]:
    """Known datasets of the local catalog (or local copies): fingerprints remembered in ``cache_dir``;
    thumbnails made on demand (call ``save()`` on the returned :class:`Thumbnails` afterwards)."""
    prints = dataset_fingerprints(refs, cache_dir=cache_dir, progress=progress, stage="known datasets: images")
    thumbs = Thumbnails(cache_dir)
    known = [Known(ref.id, ref.name, ref.label, p, lambda name, ref=ref: thumbs.get(ref, name))
             for ref, p in zip(refs, prints)]
    return known, thumbs


def find_leaks(new: NewImages, known: list[Known], frames: FrameIdentity, *, progress: Progress | None = None
               ) -> dict[str, list[Finding]]:
    """Leakage findings of the new images, by the label of the known dataset they leak into (only
    datasets with findings; see the module)."""
    rows = new.rows()
    identify = [frames.for_dataset(ref) for ref in new.refs]
    identities = [identify[k](name.rpartition(".")[0]) for k, name, _, _, _ in rows]
    label = new.refs[0].label if new.refs else ""
    leaks: dict[str, list[Finding]] = {}
    for done, other in enumerate(known, start=1):
        found: dict[int, tuple[str, str]] = {}  # new image -> (kind, message)
        digests: dict[str, str] = {}
        for name, digest in zip(other.prints.names, other.prints.digests):
            if digest is not None:
                digests.setdefault(digest, name)
        for i, (_, _, _, digest, _) in enumerate(rows):
            if digest is not None and digest in digests:
                found[i] = ("identical_image", f"same bytes as {other.label}/images/{digests[digest]}")
        other_identify = frames.for_dataset(_named(other))
        by_frame: dict[tuple[str, int], str] = {}
        for name in other.prints.names:
            recording, frame = other_identify(name.rpartition(".")[0])
            if frame is not None:
                by_frame.setdefault((recording, frame), name)
        for i, (recording, frame) in enumerate(identities):
            if i not in found and frame is not None and (recording, frame) in by_frame:
                found[i] = ("same_frame", f"recording {recording} frame {frame} is also "
                            f"{other.label}/images/{by_frame[(recording, frame)]}")
        todo = [i for i, row in enumerate(rows) if i not in found and row[4] is not None]
        for i, j, distance in _close(rows, todo, other.prints.hashes):
            if i in found:
                continue  # a closer candidate of this image was confirmed already
            name = other.prints.names[j]
            k, new_name = rows[i][0], rows[i][1]
            if _similar(new.thumb(k, new_name), other.thumb(name)):
                found[i] = ("near_duplicate_image", f"looks the same (dHash distance {distance}) as "
                            f"{other.label}/images/{name}")
        for i in sorted(found):
            kind, message = found[i]
            shown = new.shown(rows[i][0], rows[i][1])
            leaks.setdefault(other.label, []).append(Finding(kind, label, shown, None, message))
        if progress is not None:
            progress("leakage: known datasets", done, len(known))
    return leaks


def _named(known: Known) -> DatasetRef:
    """A stand-in ref carrying what frame identity reads of a dataset: its id and name."""
    return DatasetRef(id=known.id if len(known.id) == 32 else "0" * 32, name=known.name, names=["x"],
                      number_samples=0, path=Path("."))


def _close(rows: list, todo: list[int], hashes: list[int | None]) -> list[tuple[int, int, int]]:
    """(new row, known image, distance) for dHashes within :data:`MAX_DISTANCE`, nearest first per row."""
    index = np.array([j for j, value in enumerate(hashes) if value is not None], dtype=np.int64)
    if not len(index) or not todo:
        return []
    values = np.array([hashes[j] for j in index], dtype=np.uint64)
    block = max(1, PAIRS_PER_BLOCK // len(values))
    pairs = []
    for start in range(0, len(todo), block):
        rows_here = todo[start:start + block]
        mine = np.array([rows[i][4] for i in rows_here], dtype=np.uint64)
        distance = _popcount(mine[:, None] ^ values[None, :])
        a, b = np.nonzero(distance <= MAX_DISTANCE)
        pairs += [(rows_here[x], int(index[y]), int(distance[x, y])) for x, y in zip(a, b)]
    return sorted(pairs, key=lambda p: (p[0], p[2], p[1]))


def _popcount(values: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(values)
    bits = np.array([bin(v).count("1") for v in range(256)], dtype=np.uint8)
    return bits[values.view(np.uint8)].reshape(*values.shape, 8).sum(axis=-1)


def _similar(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """The thumbnails differ by at most :data:`THUMB_P99` grey levels on 99% of their pixels."""
    if a is None or b is None:
        return False
    return float(np.percentile(np.abs(a.astype(np.float32) - b.astype(np.float32)), 99)) <= THUMB_P99


# -- fingerprint packs: what a server dataset carries for later leakage checks ---------------------------------


def all_thumbnails(files: list[Path], *, progress: Progress | None = None, workers: int = 4) -> list[np.ndarray | None]:
    """The thumbnail of every file (decoding runs outside Python's lock: a few threads share the work)."""
    out: list[np.ndarray | None] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, thumb in enumerate(pool.map(thumbnail, files), start=1):
            out.append(thumb)
            if progress is not None and (done % 200 == 0 or done == len(files)):
                progress("thumbnails", done, len(files))
    return out


def pack_bytes(name: str, version: str, prints: Fingerprints, thumbs: list[np.ndarray | None]) -> bytes:
    """The fingerprint pack of a dataset (compressed npz; read back by :func:`read_pack`)."""
    blank = np.zeros((THUMB_SIZE, THUMB_SIZE), np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer, pack_version=np.array(PACK_VERSION), dataset=np.array([name, version]),
        names=np.array(prints.names, dtype=str),
        sizes=np.array([-1 if s is None else s for s in prints.sizes], dtype=np.int64),
        digests=np.array(["" if d is None else d for d in prints.digests], dtype=str),
        dhashes=np.array([0 if h is None else h for h in prints.hashes], dtype=np.uint64),
        has_dhash=np.array([h is not None for h in prints.hashes], dtype=bool),
        thumbs=np.array([blank if t is None else t for t in thumbs], dtype=np.uint8).reshape(
            -1, THUMB_SIZE, THUMB_SIZE),
        has_thumb=np.array([t is not None for t in thumbs], dtype=bool),
    )
    return buffer.getvalue()


def read_pack(data: bytes, *, dataset_id: str, label: str) -> Known | None:
    """A known dataset from its pack; None when the pack is of another version or does not hold together."""
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        if int(arrays["pack_version"]) != PACK_VERSION:
            return None
        name = str(arrays["dataset"][0])
        names = [str(n) for n in arrays["names"]]
        columns = [arrays[key] for key in ("sizes", "digests", "dhashes", "has_dhash", "thumbs", "has_thumb")]
    if any(len(column) != len(names) for column in columns):
        return None
    sizes, digests, dhashes, has_dhash, thumbs, has_thumb = columns
    prints = Fingerprints(
        names=names, sizes=[None if s < 0 else int(s) for s in sizes], digests=[str(d) or None for d in digests],
        hashes=[int(h) if ok else None for h, ok in zip(dhashes, has_dhash)], problems=[None] * len(names))
    by_name = {n: (thumbs[k] if has_thumb[k] else None) for k, n in enumerate(names)}
    return Known(dataset_id, name, label, prints, lambda n: by_name.get(n))
