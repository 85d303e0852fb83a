"""Leakage between datasets: the same frame, the same bytes, or nearly the same picture twice.

Pairs are only looked for between *different* datasets (neighbouring video frames inside one
dataset are expected to look alike). Everything is bucketed, never all pairs:

* ``same_frame``: a dict keyed by (recording, frame number) from the file stem
  (:func:`balldet.data.splits.frame_identity`).
* ``identical_image``: files are grouped by size first; only sizes seen in two datasets are hashed
  (blake2b of the bytes).
* ``near_duplicate_image``: a 64-bit dHash per image, indexed as four 16-bit bands. Two hashes within
  Hamming distance 7 agree on at least one band up to one bit (pigeonhole), so looking up each band and
  its 16 one-bit neighbours finds every candidate. A candidate is confirmed by comparing 32x32
  grayscale thumbnails: re-encoded or slightly resized copies differ by a few grey levels everywhere,
  distinct frames of a static camera differ a lot where players moved (99th percentile of the
  difference on synthetic frames: copies <= 5, distinct frames >= 34).
* ``same_dataset``: one dataset folder given in two groups (e.g. in train and in test).

Each pair is reported once, as the strongest kind: identical_image, then same_frame, then near_duplicate_image.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from balldet.data.checks import Finding, Progress
from balldet.data.dataset import DatasetRef
from balldet.data.splits import frame_identity

MAX_DISTANCE = 7  # dHash bits: candidate pairs (exact recall up to 7 with 4 bands and 1-bit probes)
THUMB_SIZE = 32
THUMB_P99 = 16.0  # grey levels: confirmed near duplicate when 99% of thumbnail pixels differ less
BANDS = 4
BAND_BITS = 16


@dataclass(frozen=True)
class _Entry:
    group: str
    ref: DatasetRef
    name: str

    @property
    def path(self) -> Path:
        return self.ref.images_dir / self.name

    @property
    def file(self) -> str:
        return f"images/{self.name}"

    def describe(self) -> str:
        return f"{self.ref.label}/{self.file} [{self.group}]"


def find_leakage(groups: dict[str, list[DatasetRef]], *, progress: Progress | None = None,
                 max_distance: int = MAX_DISTANCE, thumb_p99: float = THUMB_P99) -> list[Finding]:
    """Findings for frames shared between the datasets of ``groups`` (group name -> datasets).

    Give ``{"train": [...], "test": [...]}`` to check a config, or one group to check datasets
    against each other. The later of two matching images (in group, then dataset order) is reported.
    """
    if max_distance > 2 * BANDS - 1:
        raise ValueError(f"max_distance above {2 * BANDS - 1} is not supported by the band index")
    findings: list[Finding] = []
    entries: list[_Entry] = []
    seen: dict[Path, tuple[str, DatasetRef]] = {}
    for group, refs in groups.items():
        for ref in refs:
            key = Path(ref.path).resolve()
            if key in seen:
                first_group, first = seen[key]
                if first_group != group:
                    findings.append(Finding("same_dataset", ref.label, ".", None,
                                            f"the dataset is in both {first_group!r} and {group!r}"))
                continue
            seen[key] = (group, ref)
            entries += [_Entry(group, ref, p.name) for p in ref.image_files()]

    reported: set[tuple[int, int]] = set()

    def report(kind: str, i: int, j: int, message: str) -> None:
        pair = (min(i, j), max(i, j))
        if pair in reported:
            return
        reported.add(pair)
        later, earlier = entries[pair[1]], entries[pair[0]]
        findings.append(Finding(kind, later.ref.label, later.file, None, f"{message} {earlier.describe()}"))

    def dataset_of(i: int) -> Path:
        return Path(entries[i].ref.path)

    # byte-identical files: hash only sizes that occur in more than one dataset
    by_size: dict[int, list[int]] = defaultdict(list)
    for i, entry in enumerate(entries):
        try:
            by_size[os.stat(entry.path).st_size].append(i)
        except OSError:
            continue
    from balldet.data.checks_images import dhash, file_digest

    to_hash = [ids for ids in by_size.values() if len({dataset_of(i) for i in ids}) > 1]
    total, done = sum(len(ids) for ids in to_hash), 0
    for ids in to_hash:
        first_of: dict[bytes, dict[Path, int]] = defaultdict(dict)
        for i in ids:
            digest = file_digest(entries[i].path)
            firsts = first_of[digest]
            for dataset, j in firsts.items():
                if dataset != dataset_of(i):
                    report("identical_image", j, i, "same bytes as")
                    break
            firsts.setdefault(dataset_of(i), i)
            done += 1
            if progress is not None and done % 1000 == 0:
                progress("leakage: identical bytes", done, total)

    # the same recording and frame number
    frames: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, entry in enumerate(entries):
        recording, frame = frame_identity(entry.ref, os.path.splitext(entry.name)[0])
        if frame is None:
            continue
        for j in frames[(recording, frame)]:
            if dataset_of(j) != dataset_of(i):
                report("same_frame", j, i, f"recording {recording} frame {frame} is also")
                break
        frames[(recording, frame)].append(i)

    # near duplicates: 64-bit dHash in 4 bands of 16 bits, 1-bit probes, then thumbnails
    index: dict[tuple[int, int], list[int]] = defaultdict(list)
    hashes: list[int | None] = []
    thumbs: dict[int, np.ndarray | None] = {}
    mask = (1 << BAND_BITS) - 1
    total = len(entries)
    for i, entry in enumerate(entries):
        value = dhash(entry.path)
        hashes.append(value)
        if progress is not None and ((i + 1) % 500 == 0 or i + 1 == total):
            progress("leakage: image hashes", i + 1, total)
        if value is None:
            continue
        candidates: set[int] = set()
        bands = [(value >> (b * BAND_BITS)) & mask for b in range(BANDS)]
        for b, band in enumerate(bands):
            for probe in (band, *(band ^ (1 << k) for k in range(BAND_BITS))):
                members = index.get((b, probe))
                if members:
                    candidates.update(members)
        mine = dataset_of(i)
        for j in sorted(candidates):
            other = hashes[j]
            if other is None or dataset_of(j) == mine or (j, i) in reported:
                continue
            if (value ^ other).bit_count() > max_distance:
                continue
            if _similar(_thumb(entries, thumbs, i), _thumb(entries, thumbs, j), thumb_p99):
                report("near_duplicate_image", j, i, f"looks the same (dHash distance {(value ^ other).bit_count()}) as")
        for b, band in enumerate(bands):
            index[(b, band)].append(i)
    return findings


def _thumb(entries: list[_Entry], cache: dict[int, np.ndarray | None], i: int) -> np.ndarray | None:
    if i not in cache:
        import cv2

        image = cv2.imread(str(entries[i].path), cv2.IMREAD_GRAYSCALE)
        cache[i] = None if image is None else cv2.resize(
            image, (THUMB_SIZE, THUMB_SIZE), interpolation=cv2.INTER_AREA).astype(np.float32)
    return cache[i]


def _similar(a: np.ndarray | None, b: np.ndarray | None, p99: float) -> bool:
    if a is None or b is None:
        return False
    return float(np.percentile(np.abs(a - b), 99)) <= p99
