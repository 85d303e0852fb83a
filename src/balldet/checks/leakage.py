"""Leakage and duplicates: the same frame, the same bytes, or nearly the same picture twice.

A pair of images across groups (train/val against test), or across datasets when one group is
checked (``balldet datasets check a b``: the team's rule, a frame in at most one dataset), is
*leakage*: ``same_frame``, ``identical_image``, ``near_duplicate_image``. A pair inside one dataset,
or inside one group of several (two training datasets), is a *duplicate*, a defect of the data:
``duplicate_frame``, ``duplicate_image``, ``near_duplicate``. Near duplicates that are not leakage are
only reported when frame identity does not explain them: two frames of one recording (other frame
numbers) look alike because a static camera filmed them. A technical camera that sees the whole pitch
makes every frame of a match look alike at thumbnail scale (players of a few dozen pixels move
between them), minutes apart as much as moments apart. Everything is bucketed, never all pairs:

* ``same_frame``: a dict keyed by (recording, frame number) from the dataset name and the file
  stem (:mod:`balldet.datasets.frames`).
* ``identical_image``: files are grouped by size first; only sizes seen in two datasets have their
  blake2b digests compared.
* ``near_duplicate_image``: a 64-bit dHash per image, cut into four 16-bit bands. Two hashes within
  Hamming distance 7 agree on at least one band up to one bit (pigeonhole), so pairing each band value
  with itself and its 16 one-bit neighbours finds every candidate; numpy does this for all images at
  once (about 100 candidates per image at 100k random hashes, too many to look at one by one in
  Python), and keeps the pairs within the distance. A candidate is confirmed by comparing 32x32
  grayscale thumbnails: re-encoded or slightly resized copies differ by a few grey levels everywhere,
  distinct frames of a static camera differ a lot where players moved (99th percentile of the
  difference on synthetic frames: copies <= 5, distinct frames >= 34).

One dataset folder given in two groups (e.g. in train and in test) is declared overlap, the config's
choice: it is checked once, in the first group.

Each pair is reported once, as the strongest kind: identical_image, then same_frame, then near_duplicate_image.

Sizes, digests and dHashes come from :mod:`balldet.checks.fingerprints` (the one read of each image,
shared with the defect check), thumbnails from :mod:`balldet.checks.thumbnails`; both are remembered
per dataset: with a ``cache_dir``, checking unchanged datasets again decodes no image, and the
findings themselves are remembered on the ``leakage`` shelf of :mod:`balldet.cache` for the same
datasets in the same groups (a re-run of a config reads one small file).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path

import numpy as np

from balldet.cache import Shelf, make_key
from balldet.checks.fingerprints import Fingerprints, dataset_fingerprints, fingerprints_key
from balldet.checks.report import Finding, Progress
from balldet.checks.thumbnails import Thumbnails
from balldet.datasets.dataset import DatasetRef
from balldet.datasets.frames import DEFAULT_FRAME_IDENTITY, FrameIdentity

MAX_DISTANCE = 7  # dHash bits: candidate pairs (exact recall up to 7 with 4 bands and 1-bit probes)
THUMB_P99 = 16.0  # grey levels: confirmed near duplicate when 99% of thumbnail pixels differ less
BANDS = 4
BAND_BITS = 16
FINDINGS_VERSION = 3  # bump when what is found changes, so remembered findings are not reused

# A pair inside one dataset, or inside one group of several (two training datasets), is no leakage
# but a duplicate: a defect of the data, handled like the other defects.
DUPLICATE_OF = {"identical_image": "duplicate_image", "same_frame": "duplicate_frame",
                "near_duplicate_image": "near_duplicate"}


class _Images:
    """Every image of the checked datasets, by index (group, then dataset, then name order).

    Plain parallel lists rather than an object per image: building and comparing a Path per image
    took more time than all the checks together.
    """

    def __init__(self, members: list[tuple[str, DatasetRef]], prints: list[Fingerprints]) -> None:
        self.members = members
        self.names = [name for fingerprints in prints for name in fingerprints.names]
        self.owner = [k for k, fingerprints in enumerate(prints) for _ in range(len(fingerprints))]
        self.sizes = [size for fingerprints in prints for size in fingerprints.sizes]
        self.digests = [digest for fingerprints in prints for digest in fingerprints.digests]
        self.hashes = [value for fingerprints in prints for value in fingerprints.hashes]

    def ref(self, i: int) -> DatasetRef:
        return self.members[self.owner[i]][1]

    def file(self, i: int) -> str:
        return f"images/{self.names[i]}"

    def describe(self, i: int) -> str:
        return f"{self.ref(i).label}/{self.file(i)} [{self.members[self.owner[i]][0]}]"


def find_leakage(groups: dict[str, list[DatasetRef]], *, progress: Progress | None = None,
                 max_distance: int = MAX_DISTANCE, thumb_p99: float = THUMB_P99,
                 cache_dir: Path | None = None, frames: FrameIdentity = DEFAULT_FRAME_IDENTITY) -> list[Finding]:
    """Findings for frames shared between the datasets of ``groups`` (group name -> datasets).

    Give ``{"train": [...], "test": [...]}`` to check a config, or one group to check datasets
    against each other. The later of two matching images (in group, then dataset order) is reported.
    With ``cache_dir``, image fingerprints and thumbnails are remembered there per dataset, and the
    findings per combination of datasets in their present states (the findings are the same).
    ``frames`` reads each frame's recording and number from the names.
    """
    if max_distance > 2 * BANDS - 1:
        raise ValueError(f"max_distance above {2 * BANDS - 1} is not supported by the band index")
    shelf = Shelf.of(cache_dir, "leakage")
    # Key before reading: findings from changed folders must not go under their old states.
    key = findings_key(groups, max_distance, thumb_p99, frames) if shelf.enabled else ""
    known = shelf.load_json(key, read=lambda rows: [Finding(**row) for row in rows])
    if known is not None:
        return known
    findings = _find_leakage(groups, progress, max_distance, thumb_p99, cache_dir, frames)
    shelf.save_json(key, [asdict(f) for f in findings])
    return findings


def findings_key(groups: dict[str, list[DatasetRef]], max_distance: int, thumb_p99: float,
                 frames: FrameIdentity) -> str:
    """The key of the findings for these datasets in their present states: their fingerprints' keys
    stand for the states (see :func:`fingerprints_key`)."""
    return make_key(FINDINGS_VERSION, max_distance, thumb_p99, list(frames.patterns), [
        [group, [[ref.label, fingerprints_key(ref)] for ref in refs]] for group, refs in groups.items()
    ])


def _find_leakage(groups: dict[str, list[DatasetRef]], progress: Progress | None, max_distance: int,
                  thumb_p99: float, cache_dir: Path | None, frames: FrameIdentity) -> list[Finding]:
    findings: list[Finding] = []
    members: list[tuple[str, DatasetRef]] = []
    seen: set[Path] = set()
    for group, refs in groups.items():
        for ref in refs:
            key = Path(ref.path).resolve()
            if key not in seen:  # one dataset in two groups is declared overlap, not leakage
                seen.add(key)
                members.append((group, ref))
    prints = dataset_fingerprints([ref for _, ref in members], cache_dir=cache_dir, progress=progress)
    images = _Images(members, prints)
    owner = images.owner
    member_group = [group for group, _ in members]
    several_groups = len(groups) > 1
    reported: set[tuple[int, int]] = set()

    def leaks(i: int, j: int) -> bool:
        """Across groups (train/val against test), or across datasets when one group is checked."""
        if owner[i] == owner[j]:
            return False
        return member_group[owner[i]] != member_group[owner[j]] or not several_groups

    def report(kind: str, i: int, j: int, message: str) -> None:
        pair = (min(i, j), max(i, j))
        if pair in reported:
            return
        reported.add(pair)
        if not leaks(i, j):
            kind = DUPLICATE_OF[kind]
        findings.append(Finding(kind, images.ref(pair[1]).label, images.file(pair[1]), None,
                                f"{message} {images.describe(pair[0])}"))

    # byte-identical files: only sizes shared by two images, and in those only digests seen twice
    digest_counts = Counter(images.digests)
    by_size: dict[int, list[int]] = defaultdict(list)
    for i, size in enumerate(images.sizes):
        if size is not None:
            by_size[size].append(i)
    for ids in by_size.values():
        if len(ids) < 2:
            continue
        first_of: dict[str, dict[int, int]] = defaultdict(dict)  # digest -> dataset -> first image
        for i in ids:
            digest = images.digests[i]
            if digest is None or digest_counts[digest] < 2:
                continue
            firsts = first_of[digest]
            if owner[i] in firsts:  # a copy inside its own dataset
                report("identical_image", firsts[owner[i]], i, "same bytes as")
            for dataset, j in firsts.items():
                if dataset != owner[i]:  # and against the first copy in another dataset
                    report("identical_image", j, i, "same bytes as")
                    break
            firsts.setdefault(owner[i], i)

    # the same recording and frame number: only for identities seen twice
    identities: list[tuple[str, int | None]] = []
    for (_, ref), fingerprints in zip(members, prints):
        # the stem: every listed image name ends in an image suffix (os.path.splitext is 3x slower)
        identify = frames.for_dataset(ref)
        identities += [identify(name.rpartition(".")[0]) for name in fingerprints.names]
    identity_counts = Counter(identities)
    seen_at: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, (recording, frame) in enumerate(identities):
        if frame is None or identity_counts[(recording, frame)] < 2:
            continue
        if seen_at[(recording, frame)]:
            report("same_frame", seen_at[(recording, frame)][0], i, f"recording {recording} frame {frame} is also")
        seen_at[(recording, frame)].append(i)

    # near duplicates: dHash candidates within max_distance, confirmed on thumbnails. Two frames of
    # one recording look alike because the camera does not move: frame identity explains them, so
    # (unless they leak) they are no duplicates.
    thumbs = Thumbnails(cache_dir)
    for j, i in _close_pairs(images.hashes, max_distance):
        if (j, i) in reported:
            continue
        if not leaks(i, j) and _other_frames_of_one_recording(identities[i], identities[j]):
            continue
        if _similar(thumbs.get(images.ref(i), images.names[i]), thumbs.get(images.ref(j), images.names[j]),
                    thumb_p99):
            distance = (images.hashes[i] ^ images.hashes[j]).bit_count()
            report("near_duplicate_image", j, i, f"looks the same (dHash distance {distance}) as")
    thumbs.save()
    return findings


def _other_frames_of_one_recording(a: tuple[str, int | None], b: tuple[str, int | None]) -> bool:
    """Two numbered frames of one recording (the same number is a same_frame finding already)."""
    return a[1] is not None and b[1] is not None and a[0] == b[0] and a[1] != b[1]


def _close_pairs(hashes: list[int | None], max_distance: int) -> list[tuple[int, int]]:
    """Every pair ``(j, i)``, ``j < i``, of images whose dHashes differ in at most ``max_distance``
    (<= 7) bits, ordered by ``i`` then ``j``."""
    ids = np.array([i for i, value in enumerate(hashes) if value is not None], dtype=np.int64)
    values = np.array([value for value in hashes if value is not None], dtype=np.uint64)
    found = []
    for b in range(BANDS):
        band = ((values >> np.uint64(b * BAND_BITS)) & np.uint64((1 << BAND_BITS) - 1)).astype(np.int32)
        order = np.argsort(band, kind="stable").astype(np.int32)
        ordered = values[order]  # the hashes of one band value lie together ...
        counts = np.bincount(band, minlength=1 << BAND_BITS).astype(np.int32)
        starts = (np.cumsum(counts) - counts).astype(np.int32)  # ... from starts[value] on
        for bit in (None, *range(BAND_BITS)):
            if bit is None:  # equal bands
                probes, targets = np.arange(len(band), dtype=np.int32), band
            else:  # bands one bit apart: probed from the side with the bit set only, so each pair once
                probes = np.flatnonzero(band & (1 << bit)).astype(np.int32)
                targets = band[probes] ^ (1 << bit)
            sizes = counts[targets]
            ends = np.cumsum(sizes)
            if not len(ends) or not ends[-1]:
                continue
            # Millions of candidate pairs at 100k images: only where each pair's second hash lies in
            # `ordered` and the distance are computed for all of them; the rest for the close ones.
            where = np.arange(ends[-1]) + np.repeat(starts[targets] - (ends - sizes), sizes)
            close = np.flatnonzero(_popcount(np.repeat(values[probes], sizes) ^ ordered[where]) <= max_distance)
            a, c = probes[np.searchsorted(ends, close, side="right")], order[where[close]]
            keep = c < a if bit is None else np.ones(len(a), dtype=bool)  # each pair once, no image with itself
            found.append((a[keep], c[keep]))
    if not found:
        return []
    a, c = np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])
    later, earlier = ids[np.maximum(a, c)], ids[np.minimum(a, c)]
    # another band may have found the same pair: unique keys, sorted by (i, j)
    n = max(len(hashes), 1)
    return [(int(key % n), int(key // n)) for key in np.unique(later * n + earlier)]


_BYTE_BITS = np.array([bin(v).count("1") for v in range(256)], dtype=np.uint8)


def _popcount(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint64."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(values)
    return _popcount_bytes(values)


def _popcount_bytes(values: np.ndarray) -> np.ndarray:
    return _BYTE_BITS[values.view(np.uint8)].reshape(-1, 8).sum(axis=1)


def _similar(a: np.ndarray | None, b: np.ndarray | None, p99: float) -> bool:
    if a is None or b is None:
        return False
    return float(np.percentile(np.abs(a.astype(np.float32) - b.astype(np.float32)), 99)) <= p99
