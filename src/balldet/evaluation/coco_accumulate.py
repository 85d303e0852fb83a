"""Accumulation of matched detections into COCO precision/recall arrays and the 12 stats, and into
the raw precision/recall/F1 curve against the score threshold.

Internal helpers of :mod:`balldet.evaluation.coco`; :func:`accumulate` takes per-detection
TP/FP flags from any match rule, so the ball measures' centre-distance AP shares it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_EPS = np.spacing(1)


def accumulate(
    det_class: np.ndarray,
    det_score: np.ndarray,
    det_rank: np.ndarray,
    class_order: np.ndarray,
    tp: np.ndarray,
    fp: np.ndarray,
    n_pos: np.ndarray,
    max_dets: Sequence[int],
    rec_thrs: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision (T,R,K,A,M), recall (T,K,A,M) and scores (T,R,K,A,M) as COCO accumulates them.

    ``det_rank`` is each detection's rank inside its image and class (0 = highest score);
    ``class_order`` lists the detections by class index, then descending score, ties in image
    order and then rank order. ``tp``/``fp`` are (A, T, D) flags under each area range and match
    threshold (a detection that is neither is ignored); ``n_pos`` (K, A) counts the non-ignored ground truths.

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

    order = class_order
    bounds = np.searchsorted(det_class[order], np.arange(n_cls + 1), side="left")
    for k in range(n_cls):
        idx_k = order[bounds[k] : bounds[k + 1]]
        rank_k, score_k = det_rank[idx_k], det_score[idx_k]
        top_rank = int(rank_k.max()) if rank_k.size else -1
        for a in range(n_area):
            npos = int(n_pos[k, a])
            if npos == 0:
                continue
            # recall >= thr  <=>  cumulative TP >= need[thr] (the division is monotone in TP)
            need = np.searchsorted(np.arange(npos + 1) / npos, rec_thrs, side="left")
            tp_k = np.take(tp[a], idx_k, axis=1)
            counted_k = tp_k | np.take(fp[a], idx_k, axis=1)
            for m, max_det in enumerate(max_dets):
                if top_rank < max_det:
                    tp_m, counted_m, scores_m = tp_k, counted_k, score_k
                else:
                    keep = rank_k < max_det
                    tp_m = np.compress(keep, tp_k, axis=1)
                    counted_m = np.compress(keep, counted_k, axis=1)
                    scores_m = score_k[keep]
                if scores_m.shape[0] == 0:
                    recall[:, k, a, m] = 0.0
                    precision[:, :, k, a, m] = 0.0
                    scores[:, :, k, a, m] = 0.0
                    continue
                prec, rec, sco = _sample_curves(tp_m, counted_m, scores_m, need, npos)
                precision[:, :, k, a, m] = prec
                recall[:, k, a, m] = rec
                scores[:, :, k, a, m] = sco
    return precision, recall, scores


def _sample_curves(
    tp: np.ndarray, counted: np.ndarray, det_scores: np.ndarray, need: np.ndarray, npos: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sampled precision (T, R), final recall (T,) and sampled scores (T, R) of score-sorted rows.

    ``tp`` (T, D): true positives; ``counted`` (T, D): true or false positives (the rest is
    ignored); ``need`` (R,): cumulative TP count that reaches each recall threshold.

    Only the true positives are visited: recall first reaches a positive threshold at the
    ``need``-th true positive, and the right-to-left running maximum of precision at a true
    positive only depends on the precision at later true positives (in between, precision
    falls or stays). A threshold reached before any detection (``need == 0``) samples index 0.
    """
    n_thr = tp.shape[0]
    count_type = np.int32 if tp.shape[1] < 2**31 else np.int64
    n_counted = np.cumsum(counted, axis=1, dtype=count_type)  # tp + fp so far
    rows, cols = np.nonzero(tp)
    n_tp = np.bincount(rows, minlength=n_thr)
    j = np.arange(rows.shape[0]) - np.repeat(np.cumsum(n_tp) - n_tp, n_tp)  # 0-based TP index
    width = max(int(n_tp.max()), 1)
    env = np.full((n_thr, width), -1.0)
    env[rows, j] = (j + 1) / (n_counted[rows, cols] + _EPS)
    env = np.maximum.accumulate(env[:, ::-1], axis=1)[:, ::-1]
    where = np.zeros((n_thr, width), dtype=np.int64)
    where[rows, j] = cols

    col = np.clip(need - 1, 0, width - 1)
    reached = need[None, :] <= n_tp[:, None]  # (T, R)
    prec = np.where(reached, np.maximum(env[:, col], 0.0), 0.0)
    sco = np.where(reached, det_scores[where[:, col]], 0.0)
    sco[:, need == 0] = det_scores[0]
    return prec, n_tp / npos, sco


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


@dataclass(frozen=True)
class ThresholdCurve:
    """Precision, recall and F1 when keeping the detections with ``score >= threshold``.

    ``thresholds`` are the distinct detection scores, descending; the other arrays are aligned.
    Counted from raw TP/FP flags, not COCO's 101-point interpolation: ``P = TP / (TP + FP)`` (0
    before anything counts), ``R = TP / num_gt`` (0 without ground truth), ``F1 = 2PR / (P + R)``.
    Detections that COCO ignores count neither way, but their scores are thresholds too.
    """

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    num_gt: int
    iou: float

    @classmethod
    def from_flags(
        cls, scores: np.ndarray, tp: np.ndarray, fp: np.ndarray, num_gt: int, iou: float
    ) -> ThresholdCurve:
        """The curve of detections sorted by descending score, each a TP, an FP or neither."""
        if scores.size == 0:
            empty = np.zeros(0)
            return cls(empty, empty, empty, empty, num_gt, iou)
        cut = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))  # last index of each score
        n_tp = np.cumsum(tp)[cut].astype(np.float64)
        n_fp = np.cumsum(fp)[cut].astype(np.float64)
        zeros = np.zeros_like(n_tp)
        precision = np.divide(n_tp, n_tp + n_fp, out=zeros.copy(), where=(n_tp + n_fp) > 0)
        recall = n_tp / num_gt if num_gt > 0 else zeros.copy()
        total = precision + recall
        f1 = np.divide(2 * precision * recall, total, out=zeros.copy(), where=total > 0)
        return cls(scores[cut], precision, recall, f1, num_gt, iou)

    def best(self) -> dict[str, float]:
        """``{"P", "R", "F1", "threshold"}`` at the F1-best point; on equal F1 the highest threshold
        wins. Without detections ``P = R = F1 = 0`` and ``threshold = nan``."""
        if self.thresholds.size == 0:
            return {"P": 0.0, "R": 0.0, "F1": 0.0, "threshold": math.nan}
        i = int(np.argmax(self.f1))
        p, r, f1, t = self.precision[i], self.recall[i], self.f1[i], self.thresholds[i]
        return {"P": float(p), "R": float(r), "F1": float(f1), "threshold": float(t)}
