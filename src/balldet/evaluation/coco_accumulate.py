"""Accumulation of matched detections into COCO precision/recall arrays and the 12 stats.

Internal helpers of :mod:`balldet.evaluation.coco`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_EPS = np.spacing(1)


def accumulate(
    det_class: np.ndarray,
    det_score: np.ndarray,
    det_rank: np.ndarray,
    tp: np.ndarray,
    fp: np.ndarray,
    n_pos: np.ndarray,
    max_dets: Sequence[int],
    rec_thrs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision (T,R,K,A,M), recall (T,K,A,M) and scores (T,R,K,A,M) as COCO accumulates them.

    The detection arrays must be ordered by image, then by rank inside the image and class
    (``det_rank``, 0 = highest score). ``tp``/``fp`` are (A, T, D) flags (a detection that is
    neither is ignored); ``n_pos`` (K, A) counts the non-ignored ground truths.

    Per class, area range and maxDets ``m``: the detections of rank < m of all images are merged
    and stably sorted by descending score (ties keep image order, then rank order), cumulative
    TP/FP give recall ``tp / n_pos`` and precision ``tp / (tp + fp + eps)``; the precision is
    made non-increasing from the right and sampled, like the score, at the first index whose
    recall reaches each recall threshold (0 beyond the last detection). Settings without any
    non-ignored ground truth keep -1.
    """
    n_area, n_thr, _ = tp.shape
    n_cls = n_pos.shape[0]
    n_rec, n_max = rec_thrs.shape[0], len(max_dets)
    precision = -np.ones((n_thr, n_rec, n_cls, n_area, n_max))
    recall = -np.ones((n_thr, n_cls, n_area, n_max))
    scores = -np.ones((n_thr, n_rec, n_cls, n_area, n_max))

    # stable: equal scores stay in (image, rank) order
    order = np.lexsort((-det_score, det_class))
    bounds = np.searchsorted(det_class[order], np.arange(n_cls + 1), side="left")
    top_rank = int(det_rank.max()) if det_rank.size else -1
    for k in range(n_cls):
        if not np.any(n_pos[k] > 0):
            continue
        idx_k = order[bounds[k] : bounds[k + 1]]
        for m, max_det in enumerate(max_dets):
            idx = idx_k if top_rank < max_det else idx_k[det_rank[idx_k] < max_det]
            n_det = idx.shape[0]
            sorted_scores = det_score[idx]
            for a in range(n_area):
                npos = int(n_pos[k, a])
                if npos == 0:
                    continue
                if n_det == 0:
                    recall[:, k, a, m] = 0.0
                    precision[:, :, k, a, m] = 0.0
                    scores[:, :, k, a, m] = 0.0
                    continue
                tp_sum = np.cumsum(tp[a][:, idx], axis=1).astype(np.float64)
                fp_sum = np.cumsum(fp[a][:, idx], axis=1).astype(np.float64)
                rc = tp_sum / npos
                pr = tp_sum / (fp_sum + tp_sum + _EPS)
                pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
                recall[:, k, a, m] = rc[:, -1]
                for t in range(n_thr):
                    at = np.searchsorted(rc[t], rec_thrs, side="left")
                    inside = at < n_det
                    q = np.zeros(n_rec)
                    s = np.zeros(n_rec)
                    q[inside] = pr[t, at[inside]]
                    s[inside] = sorted_scores[at[inside]]
                    precision[t, :, k, a, m] = q
                    scores[t, :, k, a, m] = s
    return precision, recall, scores


def _mean_valid(values: np.ndarray) -> float:
    valid = values[values > -1]
    return -1.0 if valid.size == 0 else float(np.mean(valid))


def summarize(
    precision: np.ndarray,
    recall: np.ndarray,
    iou_thrs: np.ndarray,
    area_labels: Sequence[str],
    max_dets: Sequence[int],
) -> np.ndarray:
    """The 12 COCO detection stats from the accumulated arrays (means over entries > -1)."""

    def pick(ap: bool, iou: float | None, area: str, max_det: int) -> float:
        a_sel = [i for i, lbl in enumerate(area_labels) if lbl == area]
        m_sel = [i for i, md in enumerate(max_dets) if md == max_det]
        arr = precision if ap else recall
        if iou is not None:
            arr = arr[np.flatnonzero(iou_thrs == iou)]
        arr = arr[:, :, :, a_sel, m_sel] if ap else arr[:, :, a_sel, m_sel]
        return _mean_valid(arr)

    last = max_dets[-1]
    return np.array(
        [
            pick(True, None, "all", last),
            pick(True, 0.5, "all", last),
            pick(True, 0.75, "all", last),
            pick(True, None, "small", last),
            pick(True, None, "medium", last),
            pick(True, None, "large", last),
            pick(False, None, "all", max_dets[0]),
            pick(False, None, "all", max_dets[1]),
            pick(False, None, "all", last),
            pick(False, None, "small", last),
            pick(False, None, "medium", last),
            pick(False, None, "large", last),
        ],
        dtype=np.float64,
    )
