"""Box IoU and COCO's greedy detection-to-ground-truth matching, vectorised over images.

Internal helpers of :mod:`balldet.evaluation.coco`. Every image/class pair ("cell") is matched
independently; instead of looping over cells, the matching walks the detection *rank* (0 = the
highest-scoring detection of its cell) and handles the detections of that rank in every cell,
under every area range and every IoU threshold, with one set of array operations. The only
Python loop is therefore over ranks (at most ``max(maxDets)`` iterations).
"""

from __future__ import annotations

import numpy as np

#: Upper bound on the number of (detection, ground truth) pairs whose IoU is computed at once.
PAIR_CHUNK = 1 << 22


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
    n_det = det_cell.shape[0]
    lo = np.searchsorted(gt_cell, det_cell, side="left")
    count = np.searchsorted(gt_cell, det_cell, side="right") - lo
    cum = np.cumsum(count)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    start = 0
    while start < n_det:
        base = int(cum[start - 1]) if start else 0
        end = max(start + 1, int(np.searchsorted(cum, base + PAIR_CHUNK, side="right")))
        c = count[start:end]
        n_pairs = int(c.sum())
        if n_pairs:
            det_idx = np.repeat(np.arange(start, end), c)
            first = np.repeat(np.cumsum(c) - c, c)
            gt_idx = np.repeat(lo[start:end], c) + (np.arange(n_pairs) - first)
            iou = pair_iou(det_boxes[det_idx], gt_boxes[gt_idx], gt_crowd[gt_idx])
            keep = iou >= min_iou
            parts.append((det_idx[keep], gt_idx[keep], iou[keep]))
        start = end
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    return tuple(np.concatenate(p) for p in zip(*parts))  # type: ignore[return-value]


def greedy_match(
    pair_det: np.ndarray,
    pair_gt: np.ndarray,
    pair_iou_values: np.ndarray,
    det_rank: np.ndarray,
    gt_ignore: np.ndarray,
    gt_crowd: np.ndarray,
    thresholds: np.ndarray,
    n_det: int,
) -> tuple[np.ndarray, np.ndarray]:
    """COCO's greedy matching for every cell, area range and IoU threshold at once.

    Arguments: the candidate pairs from :func:`candidate_pairs`; ``det_rank`` (D,) the rank of
    each detection inside its cell by descending score; ``gt_ignore`` (A, G) the ignore flag of
    each ground truth per area range (crowd or area outside the range); ``gt_crowd`` (G,);
    ``thresholds`` (T,) the effective IoU thresholds ``min(t, 1 - 1e-10)``.

    Within a cell the detections are processed in rank order. A detection takes, among the
    ground truths still available (a crowd one always is; any other one only until it has been
    matched) with IoU >= threshold, a non-ignored one if there is any, else an ignored one; among
    those the highest IoU, and on equal IoU the one listed last. This is exactly what COCO's scan
    over the ground truths (non-ignored first, stop on reaching the ignored ones once a
    non-ignored match is held, take any IoU >= the best so far) ends with.

    Returns ``matched`` (A, T, D) and ``matched_ignored`` (A, T, D): whether the detection got a
    match, and whether that match is an ignored ground truth.
    """
    n_area, n_gt = gt_ignore.shape
    n_thr = thresholds.shape[0]
    if pair_det.size == 0:
        nothing = np.zeros((n_area, n_thr, n_det), dtype=bool)
        return nothing, nothing.copy()

    # Pairs grouped by (rank, detection); inside a detection by ascending (IoU, ground truth
    # index), so that a pair's position in its group orders the candidates exactly the way the
    # reference prefers them: higher IoU wins, on a tie the later ground truth wins. The input
    # pairs come ordered by (detection, ground truth) and both sorts are stable.
    pair_rank = det_rank[pair_det]
    order = np.argsort(pair_rank * np.int64(n_det) + pair_det, kind="stable")
    p_det = pair_det[order]
    n_pairs = p_det.shape[0]
    new_group = np.ones(n_pairs, dtype=bool)
    new_group[1:] = p_det[1:] != p_det[:-1]
    group_start = np.flatnonzero(new_group)
    group_len = np.diff(np.append(group_start, n_pairs))
    multi = np.flatnonzero(np.repeat(group_len > 1, group_len))  # only these need the IoU order
    if multi.size:
        inner = order[multi]
        group_id = np.cumsum(new_group)[multi]
        order[multi] = inner[np.lexsort((pair_iou_values[inner], group_id))]
    p_gt, p_iou = pair_gt[order], pair_iou_values[order]
    position = (np.arange(n_pairs) - np.repeat(group_start, group_len)).astype(np.int32)
    big = int(group_len.max()) + 1  # a non-ignored candidate outranks every ignored one
    group_rank = pair_rank[order][group_start]
    max_rank = int(group_rank[-1])
    rank_bounds = np.searchsorted(group_rank, np.arange(max_rank + 2), side="left")
    group_bounds = np.append(group_start, n_pairs)

    # Work in (item, area * threshold) layout: gathers and scatters then move whole rows.
    n_at = n_area * n_thr
    taken = np.zeros((n_gt, n_at), dtype=bool)
    thr = np.tile(thresholds, n_area)[None, :]  # (1, A*T)
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
        cand = (~taken[g] | crowd[g]) & (p_iou[p0:p1, None] >= thr)  # (P, A*T)
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
