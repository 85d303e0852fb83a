"""The greedy pick of ``balldet label pick``: best frames first, spread over recordings and time.

Candidates are taken in order of ``score / (1 + spread * picked)``, ``picked`` being how many frames
of the candidate's recording are already in the batch: with ``spread`` 0 the order is the score's
alone, with 1 a recording's second frame must score twice as high as another recording's first, and
large values go round the recordings. A candidate is skipped when it lies fewer than ``min_gap``
frames from a pick of its recording (the same moment of play twice teaches little; unnumbered frames
have no time) or when it duplicates a pick (:func:`balldet.labelling.pick_known.duplicates`, asked
only for the pairs whose dHashes are close). Picks never go away, so a skipped candidate stays
skipped, and the greedy order is well defined. Equal keys are ordered by a permutation drawn from
``seed``: the same inputs and seed pick the same frames.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Candidate:
    recording: str  # the group the spread counts in
    frame: int | None
    score: float


@dataclass
class Selection:
    picked: list[int] = field(default_factory=list)  # candidate indices, in pick order
    too_close: int = 0  # skipped: within min_gap of a pick of its recording
    duplicate: int = 0  # skipped: a duplicate of a pick


def select(candidates: Sequence[Candidate], count: int, *, min_gap: int, spread: float, seed: int,
           close: dict[int, set[int]], duplicates: Callable[[int, int], bool]) -> Selection:
    """Up to ``count`` candidate indices (see the module doc); fewer when the rest are all skipped."""
    tiebreak = np.random.default_rng(seed).permutation(len(candidates))
    picked_in: dict[str, list[int]] = {}  # recording -> frame numbers picked
    per_recording: dict[str, int] = {}
    heap = [(-c.score, int(tiebreak[i]), i, 0) for i, c in enumerate(candidates)]
    heapq.heapify(heap)
    chosen: set[int] = set()
    out = Selection()
    while heap and len(out.picked) < count:
        _, rank, i, seen = heapq.heappop(heap)
        c = candidates[i]
        n = per_recording.get(c.recording, 0)
        if seen != n:  # its recording gained picks since its key was made: queue it again, lower
            heapq.heappush(heap, (-c.score / (1 + spread * n), rank, i, n))
            continue
        if c.frame is not None and any(abs(c.frame - f) < min_gap for f in picked_in.get(c.recording, ())):
            out.too_close += 1
            continue
        if any(j in chosen and duplicates(i, j) for j in close.get(i, ())):
            out.duplicate += 1
            continue
        chosen.add(i)
        out.picked.append(i)
        per_recording[c.recording] = n + 1
        if c.frame is not None:
            picked_in.setdefault(c.recording, []).append(c.frame)
    return out
