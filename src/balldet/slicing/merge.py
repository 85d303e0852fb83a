"""Merging the detections of a frame's tiles (and of the whole frame) into the frame's detections.

The rules are sahi's ``postprocess`` (``NMS``, ``GREEDYNMM``), tested against sahi on the same
inputs: candidates in sahi's order (score descending, ties by ``x1 y1 x2 y2`` ascending), a pair
matches when its IoU (or IoS, intersection over the smaller box) is ``>= threshold``, per class
unless class-agnostic.

* ``nms``: a kept box drops every later box it matches. sahi's own choice for low confidence
  thresholds (it switches to NMS/IoU below 0.1: merging would grow boxes out of junk), so ours,
  which keep candidates down to 0.001, default to it.
* ``nmm``: sahi's *greedy* NMM (its default for sliced prediction): the boxes a kept box matches
  are merged into it one by one, in order, each checked against the box grown so far (one that no
  longer matches is dropped); the merged box is their union, the score the highest.

Written here rather than called from sahi: sahi merges lists of its ``ObjectPrediction`` objects,
a Python object per box (NMS of 20 tiles' 6000 candidates: ~90 ms, here ~11 ms; greedy NMM ~140 ms,
here ~20 ms: ``bench/bench_slicing.py``), picks a backend by the machine (torchvision on a GPU,
which suppresses at ``>`` and breaks score ties its own way, so results would depend on where they
run), and would be imported by every prediction. Here the matching pairs are found by a sweep over
boxes sorted by ``x1`` in horizontal bands (few boxes meet), and only boxes that match another go
through the greedy loop. Overlaps are computed in float64 (sahi: float32), which can differ only
for a pair at exactly the threshold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from balldet.boxes import Detections
from balldet.errors import BalldetError

METHODS = ("nms", "nmm")
METRICS = ("iou", "ios")
# Candidate pairs examined at once: bounds the memory of the sweep (a few arrays of this length).
_PAIR_BUDGET = 1 << 21

#: A tile's detections in tile pixels and where the tile starts in the frame (dx, dy).
Part = tuple[Detections, tuple[float, float]]


@dataclass(frozen=True)
class MergeRule:
    """How overlapping detections of tiles become one: ``method`` (``nms`` or greedy ``nmm``),
    ``metric`` (``iou`` or ``ios``), ``threshold`` (a pair matches at ``>=``), ``class_agnostic``."""

    method: str = "nms"
    metric: str = "iou"
    threshold: float = 0.5
    class_agnostic: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise BalldetError(f"unknown merge method {self.method!r}",
                               fix=f"use one of {', '.join(METHODS)} (nmm is sahi's greedy NMM)")
        if self.metric not in METRICS:
            raise BalldetError(f"unknown overlap metric {self.metric!r}", fix=f"use one of {', '.join(METRICS)}")
        # A threshold of 0 would match boxes that do not touch: every box of a frame would merge into one.
        threshold = self.threshold
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
            raise BalldetError(f"the merge threshold must be in (0, 1], not {self.threshold!r}",
                               fix="use e.g. 0.5 (sahi's default)")

    def __call__(self, parts: Iterable[Part]) -> Detections:
        return merge_detections(parts, method=self.method, metric=self.metric, threshold=self.threshold,
                                class_agnostic=self.class_agnostic)


def shift(detections: Detections, dx: float, dy: float) -> Detections:
    """``detections`` moved by ``(dx, dy)`` pixels: from a tile's pixels to the frame's."""
    offset = np.array([dx, dy, dx, dy], dtype=np.float64)
    return Detections(boxes=detections.boxes + offset, scores=detections.scores, classes=detections.classes)


def merge_detections(
    parts: Iterable[Part], *, method: str = "nms", metric: str = "iou", threshold: float = 0.5,
    class_agnostic: bool = False,
) -> Detections:
    """The detections of ``parts`` (each in its tile's pixels, with the tile's offset) in frame
    pixels, overlapping ones merged by the rule (see the module doc); highest score first."""
    MergeRule(method, metric, threshold, class_agnostic)  # refuses a rule that is not one
    moved = [shift(detections, dx, dy) for detections, (dx, dy) in parts]
    if not moved:
        return Detections.empty()
    boxes = np.concatenate([d.boxes for d in moved])
    scores = np.concatenate([d.scores for d in moved])
    classes = np.concatenate([d.classes for d in moved])
    n = len(scores)
    if n == 0:
        return Detections.empty()
    # sahi's order; position in it is a box's rank, and everything below works on ranks
    order = np.lexsort((boxes[:, 3], boxes[:, 2], boxes[:, 1], boxes[:, 0], -scores))
    boxes, scores, classes = boxes[order], scores[order], classes[order]
    groups = np.zeros(n, dtype=np.int64) if class_agnostic else classes
    low, high = matching_pairs(boxes, groups, metric, threshold)
    kept, merges = _greedy(n, low, high)
    if method == "nmm":
        boxes, classes = boxes.copy(), classes.copy()
        for keeper, merged in merges.items():
            if len(merged):
                boxes[keeper], classes[keeper] = _merge_into(keeper, merged, boxes, scores, classes, metric, threshold)
    return Detections(boxes=boxes[kept], scores=scores[kept], classes=classes[kept])


def matching_pairs(
    boxes: np.ndarray, groups: np.ndarray, metric: str, threshold: float, band: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)``, ``i < j``, of boxes of one group whose overlap is ``>= threshold``.

    A pair can match only if its boxes meet. The frame is cut into horizontal bands (``band`` px,
    twice the median box height by default) and each box listed in every band it touches; within
    a band and group, sorted by ``x1``, the candidates of a box are those after it that start
    before it ends (one ``searchsorted``). A pair is examined in the band where its boxes'
    intersection starts, so once."""
    heights = boxes[:, 3] - boxes[:, 1]
    if band is None:
        band = float(np.clip(2 * np.median(heights), 8.0, 1024.0)) if len(boxes) else 8.0
    top = boxes[:, 1] - boxes[:, 1].min() if len(boxes) else boxes[:, 1]
    first = np.floor(top / band).astype(np.int64)
    last = np.floor(np.maximum(top + heights, top) / band).astype(np.int64)
    spans = last - first + 1
    owner = np.repeat(np.arange(len(boxes)), spans)
    lane = np.repeat(first, spans) + np.arange(len(owner)) - np.repeat(np.cumsum(spans) - spans, spans)
    # One integer key per entry: its (group, band) lane, then the rank of its x1 among all x1 (exact:
    # x1_q < x2_p exactly when rank(x1_q) < the count of x1 below x2_p).
    _, group_index = np.unique(groups, return_inverse=True)
    x1, x2 = boxes[owner, 0], boxes[owner, 2]
    sorted_x1 = np.sort(x1)
    size = len(owner) + 1
    lane_id = group_index[owner] * (int(lane.max()) + 1 if len(lane) else 1) + lane
    keys = lane_id * size + np.searchsorted(sorted_x1, x1, side="left")
    ends = lane_id * size + np.searchsorted(sorted_x1, x2, side="left")
    order = np.argsort(keys, kind="stable")
    owner, lane, keys, ends = owner[order], lane[order], keys[order], ends[order]
    stop = np.searchsorted(keys, ends, side="left")  # candidates of p: p+1 .. stop[p]-1
    counts = np.maximum(stop - np.arange(1, len(owner) + 1), 0)
    found_low: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    found_high: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    for lo, hi in _chunks(counts):
        pos = np.repeat(np.arange(lo, hi), counts[lo:hi])
        start = np.cumsum(counts[lo:hi]) - counts[lo:hi]
        other = pos + 1 + np.arange(len(pos)) - np.repeat(start, counts[lo:hi])
        a, b = owner[pos], owner[other]
        # examined in the band where the intersection starts only (boxes of one group: lanes are per group)
        here = np.floor(np.maximum(top[a], top[b]) / band).astype(np.int64) == lane[pos]
        a, b = a[here], b[here]
        match = overlap(boxes[a], boxes[b], metric) >= threshold
        found_low.append(np.minimum(a[match], b[match]))
        found_high.append(np.maximum(a[match], b[match]))
    return np.concatenate(found_low), np.concatenate(found_high)


def overlap(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Row-wise IoU or IoS of xyxy boxes ``a`` and ``b``; 0 where the denominator is 0 (as sahi)."""
    width = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    height = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.maximum(width, 0.0) * np.maximum(height, 0.0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    denominator = area_a + area_b - inter if metric == "iou" else np.minimum(area_a, area_b)
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, inter / safe, 0.0)


def _chunks(counts: np.ndarray) -> Iterable[tuple[int, int]]:
    """Ranges of positions whose candidate counts add up to about the pair budget (one at least)."""
    total = np.cumsum(counts)
    lo = 0
    while lo < len(counts):
        base = total[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(total, base + _PAIR_BUDGET, side="right")), lo + 1)
        yield lo, min(hi, len(counts))
        lo = hi


def _greedy(n: int, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Greedy suppression over ranks: each box not yet suppressed is kept and suppresses the later
    boxes it matches that are still free; returns the kept ranks and, per keeper, those it took."""
    suppressed = np.zeros(n, dtype=bool)
    merges: dict[int, np.ndarray] = {}
    if len(low):
        edges = np.lexsort((high, low))
        low, high = low[edges], high[edges]
        sources, first = np.unique(low, return_index=True)
        bounds = np.append(first, len(low))
        # only boxes that match a later one can suppress anything: the loop is over those alone
        for k, source in enumerate(sources.tolist()):
            if suppressed[source]:
                continue
            taken = high[bounds[k] : bounds[k + 1]]
            taken = taken[~suppressed[taken]]
            suppressed[taken] = True
            merges[source] = taken
    return np.flatnonzero(~suppressed), merges


def _merge_into(
    keeper: int, merged: np.ndarray, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, metric: str,
    threshold: float,
) -> tuple[list[float], int]:
    """sahi's greedy merge of the boxes ``merged`` into ``keeper``: each is checked against the box
    grown so far; the class stays the keeper's unless a merged box scores as high (sahi's rule).
    Python floats, one box at a time: the same IEEE operations as sahi's, without numpy's per-call
    cost on four numbers."""
    x1, y1, x2, y2 = boxes[keeper].tolist()
    score, label = float(scores[keeper]), int(classes[keeper])
    for other, (u1, v1, u2, v2), other_score, other_label in zip(
        merged.tolist(), boxes[merged].tolist(), scores[merged].tolist(), classes[merged].tolist()
    ):
        inter = max(min(x2, u2) - max(x1, u1), 0.0) * max(min(y2, v2) - max(y1, v1), 0.0)
        area, other_area = (x2 - x1) * (y2 - y1), (u2 - u1) * (v2 - v1)
        denominator = area + other_area - inter if metric == "iou" else min(area, other_area)
        if denominator <= 0 or inter / denominator < threshold:
            continue
        x1, y1, x2, y2 = min(x1, u1), min(y1, v1), max(x2, u2), max(y2, v2)
        if not score > other_score:
            label = int(other_label)
        score = max(score, other_score)
    return [x1, y1, x2, y2], label
