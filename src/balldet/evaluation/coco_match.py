"""Flattening images into (image, class) cells, box IoU and COCO's greedy matching, vectorised.

Internal helpers of :mod:`balldet.evaluation.coco` (and of the ball measures, which reuse the
same cells and greedy matching with a centre-distance rule). Every image/class pair ("cell") is
matched independently; instead of looping over cells, the matching walks the detection *rank*
(0 = the highest-scoring detection of its cell) and handles the detections of that rank in
every cell, under every area range and every threshold, with one set of array operations. The
only Python loop is therefore over ranks (at most ``max(maxDets)`` iterations).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .inputs import ImageDets, ImageGT

#: Upper bound on the number of (detection, ground truth) pairs whose IoU is computed at once.
PAIR_CHUNK = 1 << 22


def argsort_pairs(major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """Order by ``major`` then ``minor`` (non-negative ints, ``minor`` unique)."""
    n = minor.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if (int(major.max()) + 1) * n < 2**62:
        return np.argsort(major.astype(np.int64) * n + minor)  # unique keys: any algorithm
    return np.lexsort((minor, major))


def _class_index(classes: np.ndarray, class_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each class in ``class_ids`` and whether it is there at all."""
    if class_ids.size == 0:
        return np.zeros(classes.shape, np.int64), np.zeros(classes.shape, bool)
    pos = np.minimum(np.searchsorted(class_ids, classes), class_ids.size - 1)
    return pos, class_ids[pos] == classes


@dataclass(frozen=True)
class Cells:
    """Ground truths and detections of all images in flat arrays, grouped by cell.

    A cell is one (image, class) pair, numbered ``image * K + class index``. Ground truths are
    sorted by cell (input order inside); detections by cell, then descending score (ties in
    input order), and cut to ``max_det`` per cell. ``det_score_pos`` is each detection's
    position in the stable descending-score order of all detections (ties: image order, then
    input order), the key of every later merge across images; ``det_rank`` its rank in its cell.
    """

    class_ids: np.ndarray
    gt_cell: np.ndarray
    gt_class: np.ndarray
    gt_boxes: np.ndarray
    gt_areas: np.ndarray
    gt_crowd: np.ndarray
    det_cell: np.ndarray
    det_class: np.ndarray
    det_boxes: np.ndarray
    det_scores: np.ndarray
    det_score_pos: np.ndarray
    det_rank: np.ndarray

    def class_order(self) -> np.ndarray:
        """Detections by class index, then descending score (ties: image, then rank order)."""
        return argsort_pairs(self.det_class, self.det_score_pos)


def flatten_cells(
    gts: Sequence[ImageGT],
    dets: Sequence[ImageDets],
    class_ids: Sequence[int] | None,
    max_det: int,
) -> Cells:
    """Flatten per-image inputs into :class:`Cells`; boxes of classes not in ``class_ids`` go.

    ``class_ids=None`` evaluates the sorted union of the ground-truth and detection classes.
    """
    if len(gts) != len(dets):
        raise ValueError(f"gts and dets must have one entry per image ({len(gts)} != {len(dets)})")
    n_img = len(gts)

    def cat(parts: list[np.ndarray], empty: np.ndarray) -> np.ndarray:
        return np.concatenate(parts) if parts else empty

    g_cls_parts = [g.classes for g in gts]
    d_cls_parts = [d.classes for d in dets]
    g_box = cat([g.boxes for g in gts], np.zeros((0, 4)))
    g_cls = cat(g_cls_parts, np.zeros(0, np.int64))
    g_area = cat([g.areas for g in gts], np.zeros(0))  # type: ignore[misc]
    g_crowd = cat([g.iscrowd for g in gts], np.zeros(0, bool))  # type: ignore[misc]
    g_img = np.repeat(np.arange(n_img), [c.shape[0] for c in g_cls_parts])
    d_box = cat([d.boxes for d in dets], np.zeros((0, 4)))
    d_score = cat([d.scores for d in dets], np.zeros(0))
    d_cls = cat(d_cls_parts, np.zeros(0, np.int64))
    d_img = np.repeat(np.arange(n_img), [c.shape[0] for c in d_cls_parts])

    if class_ids is None:
        cls = np.unique(np.concatenate([g_cls, d_cls]))
    else:
        cls = np.unique(np.asarray(list(class_ids), dtype=np.int64))
    n_cls = int(cls.size)

    g_k, keep = _class_index(g_cls, cls)
    g_cell = g_img[keep] * n_cls + g_k[keep]
    order = np.argsort(g_cell, kind="stable")  # by image, class; input order inside
    g_cell, g_k = g_cell[order], g_k[keep][order]
    g_box, g_area, g_crowd = g_box[keep][order], g_area[keep][order], g_crowd[keep][order]

    d_k, keep = _class_index(d_cls, cls)
    d_cell, d_k = d_img[keep] * n_cls + d_k[keep], d_k[keep]
    d_box, d_score = d_box[keep], d_score[keep]
    # Position in the descending-score order of all detections, ties in input order (= image
    # order, then order inside the image): the one float sort; later orders sort integer keys.
    d_spos = np.empty(d_score.size, dtype=np.int64)
    d_spos[np.argsort(-d_score, kind="stable")] = np.arange(d_score.size)
    order = argsort_pairs(d_cell, d_spos)  # by image, class, descending score
    d_cell, d_k, d_box, d_score, d_spos = (x[order] for x in (d_cell, d_k, d_box, d_score, d_spos))
    n = d_cell.size
    run_start = np.ones(n, dtype=bool)
    run_start[1:] = d_cell[1:] != d_cell[:-1]
    starts = np.flatnonzero(run_start)
    d_rank = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
    keep = d_rank < max_det
    return Cells(
        class_ids=cls,
        gt_cell=g_cell,
        gt_class=g_k,
        gt_boxes=g_box,
        gt_areas=g_area,
        gt_crowd=g_crowd,
        det_cell=d_cell[keep],
        det_class=d_k[keep],
        det_boxes=d_box[keep],
        det_scores=d_score[keep],
        det_score_pos=d_spos[keep],
        det_rank=d_rank[keep],
    )


def same_cell_pairs(det_cell: np.ndarray, gt_cell: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """All (detection, ground truth) index pairs of the same cell, ordered by (detection, GT).

    ``gt_cell`` must be sorted ascending. Yields chunks of at most about ``PAIR_CHUNK`` pairs
    (a detection's pairs are never split) so that callers can filter each chunk before the next
    one is built and memory stays bounded.
    """
    n_det = det_cell.shape[0]
    lo = np.searchsorted(gt_cell, det_cell, side="left")
    count = np.searchsorted(gt_cell, det_cell, side="right") - lo
    cum = np.cumsum(count)
    start = 0
    while start < n_det:
        base = int(cum[start - 1]) if start else 0
        end = max(start + 1, int(np.searchsorted(cum, base + PAIR_CHUNK, side="right")))
        c = count[start:end]
        n_pairs = int(c.sum())
        if n_pairs:
            det_idx = np.repeat(np.arange(start, end), c)
            first = np.repeat(np.cumsum(c) - c, c)
            yield det_idx, np.repeat(lo[start:end], c) + (np.arange(n_pairs) - first)
        start = end


def pair_iou(det_boxes: np.ndarray, gt_boxes: np.ndarray, gt_crowd: np.ndarray) -> np.ndarray:
    """IoU of the box pairs ``(det_boxes[i], gt_boxes[i])``, all xywh, in float64.

    The arithmetic follows COCO's bbox IoU step by step so that the values agree bit for bit:
    the overlap width is ``min(x_d + w_d, x_g + w_g) - max(x_d, x_g)`` (height likewise), a pair
    whose overlap width or height is ``<= 0`` gets 0, otherwise ``inter = ow * oh`` and the IoU is
    ``inter / (area_d + area_g - inter)`` -- or ``inter / area_d`` against a crowd ground truth.
    Box areas here are always ``w * h`` (the annotated ground-truth area is only used for the
    area ranges).
    """
    dx, dy, dw, dh = (det_boxes[:, j] for j in range(4))
    gx, gy, gw, gh = (gt_boxes[:, j] for j in range(4))
    ow = np.minimum(dw + dx, gw + gx) - np.maximum(dx, gx)
    oh = np.minimum(dh + dy, gh + gy) - np.maximum(dy, gy)
    inter = ow * oh
    det_area = dw * dh
    union = np.where(gt_crowd, det_area, det_area + gw * gh - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where((ow > 0) & (oh > 0), iou, 0.0)


def candidate_pairs(
    det_cell: np.ndarray,
    det_boxes: np.ndarray,
    gt_cell: np.ndarray,
    gt_boxes: np.ndarray,
    gt_crowd: np.ndarray,
    min_iou: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (detection, ground truth) pairs of the same cell whose IoU is at least ``min_iou``.

    ``gt_cell`` must be sorted ascending. Returns ``(det_index, gt_index, iou)``; pairs below
    ``min_iou`` (the smallest IoU threshold) can never match and are dropped here.
    """
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for det_idx, gt_idx in same_cell_pairs(det_cell, gt_cell):
        iou = pair_iou(det_boxes[det_idx], gt_boxes[gt_idx], gt_crowd[gt_idx])
        keep = iou >= min_iou
        parts.append((det_idx[keep], gt_idx[keep], iou[keep]))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    return tuple(np.concatenate(p) for p in zip(*parts))  # type: ignore[return-value]


def greedy_match(
    pair_det: np.ndarray,
    pair_gt: np.ndarray,
    pair_value: np.ndarray,
    det_rank: np.ndarray,
    gt_ignore: np.ndarray,
    gt_crowd: np.ndarray,
    thresholds: np.ndarray,
    n_det: int,
) -> tuple[np.ndarray, np.ndarray]:
    """COCO's greedy matching for every cell, area range and threshold at once.

    Arguments: the candidate pairs ``(pair_det, pair_gt, pair_value)`` ordered by (detection,
    ground truth), as :func:`candidate_pairs` gives them; ``pair_value`` is the pair's
    similarity, higher is better (the IoU for COCO; the ball measures pass minus the centre
    distance); ``det_rank`` (D,) the rank of each detection inside its cell by descending score;
    ``gt_ignore`` (A, G) the ignore flag of each ground truth per area range (crowd or area
    outside the range); ``gt_crowd`` (G,); ``thresholds`` (T,) the effective IoU thresholds
    ``min(t, 1 - 1e-10)``, or (P, T) one row per pair when the threshold depends on the pair.

    Within a cell the detections are processed in rank order. A detection takes, among the
    ground truths still available (a crowd one always is; any other one only until it has been
    matched) with value >= threshold, a non-ignored one if there is any, else an ignored one;
    among those the highest value, and on equal value the one listed last. This is exactly what
    COCO's scan over the ground truths (non-ignored first, stop on reaching the ignored ones once
    a non-ignored match is held, take any IoU >= the best so far) ends with.

    Returns ``matched`` (A, T, D) and ``matched_ignored`` (A, T, D): whether the detection got a
    match, and whether that match is an ignored ground truth.
    """
    n_area, n_gt = gt_ignore.shape
    n_thr = thresholds.shape[-1]
    per_pair = thresholds.ndim == 2
    if pair_det.size == 0:
        nothing = np.zeros((n_area, n_thr, n_det), dtype=bool)
        return nothing, nothing.copy()

    # Pairs grouped by (rank, detection); inside a detection by ascending (value, ground truth
    # index), so that a pair's position in its group orders the candidates exactly the way the
    # reference prefers them: higher value wins, on a tie the later ground truth wins. The input
    # pairs come ordered by (detection, ground truth) and both sorts are stable.
    pair_rank = det_rank[pair_det]
    order = np.argsort(pair_rank * np.int64(n_det) + pair_det, kind="stable")
    p_det = pair_det[order]
    n_pairs = p_det.shape[0]
    new_group = np.ones(n_pairs, dtype=bool)
    new_group[1:] = p_det[1:] != p_det[:-1]
    group_start = np.flatnonzero(new_group)
    group_len = np.diff(np.append(group_start, n_pairs))
    multi = np.flatnonzero(np.repeat(group_len > 1, group_len))  # only these need the value order
    if multi.size:
        inner = order[multi]
        group_id = np.cumsum(new_group)[multi]
        order[multi] = inner[np.lexsort((pair_value[inner], group_id))]
    p_gt, p_value = pair_gt[order], pair_value[order]
    p_thr = thresholds[order] if per_pair else None
    position = (np.arange(n_pairs) - np.repeat(group_start, group_len)).astype(np.int32)
    big = int(group_len.max()) + 1  # a non-ignored candidate outranks every ignored one
    group_rank = pair_rank[order][group_start]
    max_rank = int(group_rank[-1])
    rank_bounds = np.searchsorted(group_rank, np.arange(max_rank + 2), side="left")
    group_bounds = np.append(group_start, n_pairs)

    # Work in (item, area * threshold) layout: gathers and scatters then move whole rows.
    n_at = n_area * n_thr
    taken = np.zeros((n_gt, n_at), dtype=bool)
    thr = None if per_pair else np.tile(thresholds, n_area)[None, :]  # (1, A*T)
    bonus = np.repeat(np.where(gt_ignore, 0, big).astype(np.int32).T, n_thr, axis=1)  # (G, A*T)
    crowd = gt_crowd[:, None]
    hit_rows: list[np.ndarray] = []
    ign_rows: list[np.ndarray] = []
    det_rows: list[np.ndarray] = []
    for r in range(max_rank + 1):
        s0, s1 = int(rank_bounds[r]), int(rank_bounds[r + 1])
        if s0 == s1:
            continue
        p0, p1 = int(group_bounds[s0]), int(group_bounds[s1])
        g = p_gt[p0:p1]
        step_thr = np.tile(p_thr[p0:p1], (1, n_area)) if p_thr is not None else thr
        cand = (~taken[g] | crowd[g]) & (p_value[p0:p1, None] >= step_thr)  # (P, A*T)
        key = np.where(cand, position[p0:p1, None] + bonus[g], np.int32(-1))
        local_start = group_start[s0:s1] - p0
        best = np.maximum.reduceat(key, local_start, axis=0)  # (S, A*T)
        hit = best >= 0
        # the winner is the candidate holding the group's best key (keys are unique in a group);
        # the ground truths of one step all differ (one detection per cell and rank)
        won = cand & (key == np.repeat(best, group_len[s0:s1], axis=0))
        taken[g] |= won
        hit_rows.append(hit)
        ign_rows.append(hit & (best < big))
        det_rows.append(p_det[group_start[s0:s1]])
    dets = np.concatenate(det_rows)
    flat = np.zeros((n_det, n_at), dtype=bool)
    flat[dets] = np.concatenate(hit_rows)
    matched = flat.T.copy().reshape(n_area, n_thr, n_det)
    flat[dets] = np.concatenate(ign_rows)
    matched_ignored = flat.T.copy().reshape(n_area, n_thr, n_det)
    return matched, matched_ignored
