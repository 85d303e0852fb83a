"""Precision, recall and F1 against the score threshold, detection by detection (IoU matching as
COCO does it), for plots that need the whole curve rather than one point of it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from balldet.evaluation.coco import MAX_DETS
from balldet.evaluation.inputs import ImageDets, ImageGT


@dataclass(frozen=True)
class ThresholdCurve:
    """Precision, recall and F1 when keeping detections with ``score >= threshold``.

    ``thresholds`` are the distinct detection scores, descending; the other arrays are aligned.
    """

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    num_gt: int
    iou: float

    def best(self) -> dict[str, float]:
        """The F1-best point (on equal F1 the highest threshold), like ``CocoResult.best_f1``."""
        if self.thresholds.size == 0:
            return {"P": 0.0, "R": 0.0, "F1": 0.0, "threshold": math.nan}
        i = int(np.argmax(self.f1))
        p, r, f1, t = self.precision[i], self.recall[i], self.f1[i], self.thresholds[i]
        return {"P": float(p), "R": float(r), "F1": float(f1), "threshold": float(t)}


def _iou_matrix(det: np.ndarray, gt: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """IoU of xywh boxes, ``(D, G)``, with COCO's arithmetic (crowd: overlap / detection area)."""
    dx, dy, dw, dh = (det[:, j, None] for j in range(4))
    gx, gy, gw, gh = (gt[None, :, j] for j in range(4))
    ow = np.minimum(dx + dw, gx + gw) - np.maximum(dx, gx)
    oh = np.minimum(dy + dh, gy + gh) - np.maximum(dy, gy)
    inter = np.where((ow > 0) & (oh > 0), ow * oh, 0.0)
    union = np.where(crowd[None, :], dw * dh, dw * dh + gw * gh - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inter > 0, inter / union, 0.0)


def _match_cell(det_boxes: np.ndarray, gt_boxes: np.ndarray, crowd: np.ndarray, iou: float):
    """COCO's greedy matching for one image and class, detections already in score order.

    Returns per detection ``(is_tp, is_ignored)``: a detection takes the best-IoU free non-crowd
    GT (last one on equal IoU, as COCO does); failing that, overlapping a crowd box makes it
    ignored; otherwise it is a false positive.
    """
    n = det_boxes.shape[0]
    tp, ignored = np.zeros(n, bool), np.zeros(n, bool)
    if gt_boxes.shape[0] == 0:
        return tp, ignored
    ious = _iou_matrix(det_boxes, gt_boxes, crowd)
    free = ~crowd
    for d in range(n):
        candidate = np.where(free & (ious[d] >= iou), ious[d], -1.0)
        if candidate.max() >= 0:
            free[candidate.size - 1 - int(np.argmax(candidate[::-1]))] = False
            tp[d] = True
        elif np.any(crowd & (ious[d] >= iou)):
            ignored[d] = True
    return tp, ignored


def threshold_curve(
    gts: Sequence[ImageGT], dets: Sequence[ImageDets], iou: float = 0.5
) -> ThresholdCurve:
    """Raw P/R/F1 at every score threshold, all classes pooled, COCO matching at ``iou``.

    Same counting as ``CocoResult.best_f1`` (area "all", at most 100 detections per image and
    class, crowd matches ignored), but every point of the curve, for plotting.
    """
    if len(gts) != len(dets):
        raise ValueError(f"gts and dets must have one entry per image ({len(gts)} != {len(dets)})")
    scores, tps, num_gt = [], [], 0
    for g, d in zip(gts, dets):
        num_gt += int(np.count_nonzero(~g.iscrowd))
        for cls in np.unique(d.classes):
            sel = np.flatnonzero(d.classes == cls)
            order = sel[np.argsort(-d.scores[sel], kind="stable")][: MAX_DETS[-1]]
            g_sel = g.classes == cls
            tp, ignored = _match_cell(d.boxes[order], g.boxes[g_sel], g.iscrowd[g_sel], iou)
            scores.append(d.scores[order][~ignored])
            tps.append(tp[~ignored])
    if not scores:
        empty = np.zeros(0)
        return ThresholdCurve(empty, empty, empty, empty, num_gt, iou)
    order = np.argsort(-np.concatenate(scores), kind="stable")
    s, tp = np.concatenate(scores)[order], np.concatenate(tps)[order]
    last_of_score = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    n_tp = np.cumsum(tp)[last_of_score].astype(np.float64)
    precision = n_tp / (last_of_score + 1)
    recall = n_tp / num_gt if num_gt else np.zeros_like(n_tp)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return ThresholdCurve(s[last_of_score], precision, recall, f1, num_gt, iou)


# --------------------------------------------------------------------------- figure helpers
