"""What ``balldet label pick`` must not pick again: frames the known datasets hold, and near-duplicates.

A candidate is left out when the checks that run before training would flag it beside the known
datasets, so a batch that is labelled and registered passes them:

* ``known``: its (recording, frame) is in a known dataset (:mod:`balldet.datasets.frames`);
* ``identical``: a frames-folder file byte for byte equal to a known image (blake2b digest);
* ``near_duplicate``: its picture is a near-duplicate of a known image as the leakage check
  finds them -- dHashes within :data:`~balldet.checks.leakage.MAX_DISTANCE` bits, confirmed when 99 %
  of the 32x32 grey thumbnails differ by at most :data:`~balldet.checks.leakage.THUMB_P99` levels --
  unless frame identity explains the likeness: two numbered frames of one recording (other frame
  numbers) look alike because the camera did not move, and the leakage check does not flag them.

Between two candidates the same rule holds, with one difference: two numbered frames of one
recording count as duplicates only when they are *the same picture* (a video that repeats a frame,
a frame exported twice), judged on a finer grey image (:data:`FINE_SIDE` px on its long side) whose
every pixel must agree within the same :data:`~balldet.checks.leakage.THUMB_P99` levels. A whole-pitch
camera's frames look alike at thumbnail scale minutes apart, but players move, and at the finer
scale they show; a repeated frame does not change.

The known images' fingerprints (size, digest, dHash) and thumbnails are the ones the checks
remember per dataset in the cache (:mod:`balldet.checks.fingerprints`, :mod:`balldet.checks.thumbnails`):
a catalog checked before costs one small file per dataset. A candidate's dHash is computed from its
pixels exactly as :func:`balldet.checks.images.dhash` computes it from the PNG the batch will hold
(OpenCV's reduced PNG decoding: libpng's grey conversion, then a linear 1/4 resize), so the batch,
once a dataset, fingerprints as the candidates did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from balldet.checks.fingerprints import Fingerprints, dataset_fingerprints
from balldet.checks.images import dhash
from balldet.checks.leakage import MAX_DISTANCE, THUMB_P99, _close_pairs, _similar
from balldet.checks.report import Progress
from balldet.checks.thumbnails import THUMB_SIZE, Thumbnails
from balldet.datasets.dataset import DatasetRef
from balldet.datasets.frames import FrameIdentity

FINE_SIDE = 160  # px on the long side of the grey image that tells a repeated frame from a moved scene
# libpng's RGB -> grey weights (15-bit fixed point, truncated), as OpenCV's PNG reader uses them
_GREY_R, _GREY_G, _GREY_B = 9797, 19234, 3737


@dataclass(frozen=True)
class Picture:
    """What a candidate's picture is compared by: its dHash, 32x32 grey thumbnail, the finer grey
    image, and (for a file) the digest of its bytes."""

    dhash: int | None
    thumb: np.ndarray | None
    fine: np.ndarray | None
    digest: str | None = None


def picture_of(image: np.ndarray, data: bytes | None = None) -> Picture:
    """The :class:`Picture` of a BGR frame; ``data``: the file's bytes it was decoded from, when it has
    a file (its dHash is then the file's, as the checks compute it)."""
    import hashlib

    import cv2

    from balldet.checks.images import DIGEST_BYTES

    bgr = image.astype(np.uint32)
    grey = ((_GREY_R * bgr[..., 2] + _GREY_G * bgr[..., 1] + _GREY_B * bgr[..., 0]) >> 15).astype(np.uint8)
    height, width = grey.shape
    if data is not None:
        value = dhash(data)
        digest = hashlib.blake2b(data, digest_size=DIGEST_BYTES).hexdigest()
    else:
        reduced = cv2.resize(grey, (max(1, width // 4), max(1, height // 4)), interpolation=cv2.INTER_LINEAR_EXACT)
        value, digest = _dhash_bits(cv2.resize(reduced, (9, 8), interpolation=cv2.INTER_AREA)), None
    thumb = cv2.resize(grey, (THUMB_SIZE, THUMB_SIZE), interpolation=cv2.INTER_AREA)
    scale = FINE_SIDE / max(width, height)
    fine_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    fine = cv2.resize(grey, fine_size, interpolation=cv2.INTER_AREA) if scale < 1 else grey.copy()
    return Picture(value, thumb, fine, digest)


def _dhash_bits(small: np.ndarray) -> int:
    small = small.astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def looks_alike(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """The leakage check's confirmation of a near-duplicate candidate, on two thumbnails."""
    return _similar(a, b, THUMB_P99)


def same_picture(a: Picture, b: Picture) -> bool:
    """Two frames of one recording that are one picture (see the module doc)."""
    if a.fine is None or b.fine is None or a.fine.shape != b.fine.shape:
        return False
    return int(np.abs(a.fine.astype(np.int16) - b.fine.astype(np.int16)).max()) <= THUMB_P99


Identity = tuple[str, int | None]


def duplicates(a: Picture, b: Picture, identity_a: Identity, identity_b: Identity) -> bool:
    """Whether two candidates are duplicates (their dHashes are known to be close)."""
    if a.digest is not None and a.digest == b.digest:
        return True
    if one_recording(identity_a, identity_b):
        return same_picture(a, b)
    return looks_alike(a.thumb, b.thumb)


def one_recording(a: Identity, b: Identity) -> bool:
    """Two numbered frames of one recording (other numbers: the same number is the same frame)."""
    return a[1] is not None and b[1] is not None and a[0] == b[0]


@dataclass
class KnownFrames:
    """The known datasets' images: identities, digests, dHashes, and thumbnails on demand."""

    refs: list[DatasetRef]
    prints: list[Fingerprints]
    identities: list[Identity]
    owner: list[int]  # image -> index into refs
    names: list[str]
    thumbs: Thumbnails
    numbered: set[tuple[str, int]] = field(default_factory=set)
    digests: dict[str, int] = field(default_factory=dict)  # digest -> first image

    @property
    def hashes(self) -> list[int | None]:
        return [value for p in self.prints for value in p.hashes]

    def describe(self, i: int) -> str:
        return f"{self.refs[self.owner[i]].label}/images/{self.names[i]}"

    def thumb(self, i: int) -> np.ndarray | None:
        return self.thumbs.get(self.refs[self.owner[i]], self.names[i])


def known_frames(refs: Sequence[DatasetRef], *, identity: FrameIdentity, cache_dir: Path | None,
                 progress: Progress | None = None) -> KnownFrames:
    """Every image of ``refs``, by the fingerprints the checks remember in ``cache_dir``."""
    unique: dict[Path, DatasetRef] = {}
    for ref in refs:
        unique.setdefault(Path(ref.images_dir).resolve(), ref)
    refs = list(unique.values())
    prints = dataset_fingerprints(refs, cache_dir=cache_dir, progress=progress, stage="known datasets: image hashes")
    identities: list[Identity] = []
    owner: list[int] = []
    names: list[str] = []
    for k, (ref, fingerprints) in enumerate(zip(refs, prints)):
        identify = identity.for_dataset(ref)
        identities += [identify(name.rpartition(".")[0]) for name in fingerprints.names]
        owner += [k] * len(fingerprints)
        names += fingerprints.names
    known = KnownFrames(refs, prints, identities, owner, names, Thumbnails(cache_dir))
    known.numbered = {(rec, n) for rec, n in identities if n is not None}
    for i, digest in enumerate(d for p in prints for d in p.digests):
        if digest is not None:
            known.digests.setdefault(digest, i)
    return known


@dataclass
class Exclusion:
    kind: str  # "identical" or "near_duplicate"
    detail: str


def pictures_known(known: KnownFrames, pictures: Sequence[Picture], identities: Sequence[Identity],
                   ) -> tuple[dict[int, Exclusion], dict[int, set[int]]]:
    """Candidates whose pictures are known (by index: why), and for each candidate the other
    candidates whose dHashes are close to its own (the pairs the pick must confirm)."""
    known_hashes = known.hashes
    n_known = len(known_hashes)
    out: dict[int, Exclusion] = {}
    for c, picture in enumerate(pictures):
        if picture.digest is not None and picture.digest in known.digests:
            out[c] = Exclusion("identical", f"same bytes as {known.describe(known.digests[picture.digest])}")
    close: dict[int, set[int]] = {}
    for j, i in _close_pairs(known_hashes + [p.dhash for p in pictures], MAX_DISTANCE):
        if j >= n_known:  # two candidates
            close.setdefault(i - n_known, set()).add(j - n_known)
            close.setdefault(j - n_known, set()).add(i - n_known)
            continue
        if i < n_known:  # two known images: the checks' business
            continue
        c = i - n_known
        if c in out or one_recording(identities[c], known.identities[j]):
            continue
        if looks_alike(pictures[c].thumb, known.thumb(j)):
            distance = (known_hashes[j] ^ pictures[c].dhash).bit_count()  # type: ignore[operator]
            out[c] = Exclusion("near_duplicate", f"looks the same (dHash distance {distance}) as {known.describe(j)}")
    known.thumbs.save()
    return out, close


def numbered_frames(refs: Sequence[DatasetRef], identity: FrameIdentity) -> set[tuple[str, int]]:
    """The (recording, frame) of every numbered image of ``refs``, from file names alone (no image is
    read): what ``label pick`` checks ``--count`` against before any model is loaded."""
    out: set[tuple[str, int]] = set()
    for ref in refs:
        if not ref.images_dir.is_dir():
            continue
        identify = identity.for_dataset(ref)
        for name in ref.image_names():
            recording, number = identify(name.rpartition(".")[0])
            if number is not None:
                out.add((recording, number))
    return out
