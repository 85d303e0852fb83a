"""Ball measures: detection quality judged by where the ball is, not by box overlap.

A ball is a few pixels wide, so one pixel of box error moves the IoU a lot while the centre,
which is what tracking and analytics use, barely moves. These measures therefore judge
detections by their box centre ``c(d)`` against the ground-truth (GT) box centre ``g``.

**Every distance and area here is in original-image pixels** (the frame the labels describe,
e.g. 1920×1080), never in network-input pixels. Published figures use other frames: TrackNetV3
counts 4 px at its 512×288 network input (about 15 px at 1920×1080), WASB in original pixels;
always state the frame when comparing.

Measures (inputs: ``Sequence[ImageGT]`` and ``Sequence[ImageDets]``, as for
:func:`~balldet.evaluation.coco.evaluate_coco`):

1. :func:`evaluate_distance_ap` -- AP_dist: COCO AP with a centre-distance match rule.
2. :func:`~balldet.evaluation.ball_top1.frame_top_one` -- per-frame top-1 outcomes
   (TrackNet/WASB TP/FP1/FP2/FN/TN) at any score threshold τ, the F1-best τ*, the localisation
   error of the true positives and the false-positive rate on ball-free frames.
3. :func:`evaluate_tiny_ap` / :func:`tiny_object_ap` -- COCO AP on the AI-TOD size bins.

Example::

    from balldet.evaluation.ball import evaluate_distance_ap, frame_top_one

    ap = evaluate_distance_ap(gts, dets).summary()   # {"AP_dist@2px": ..., "AP_dist@1s": ...}
    top = frame_top_one(gts, dets)                    # all classes pooled as "the ball"
    tau = top.best_tau().tau                          # on validation frames
    top.counts(0.5).precision, top.localisation(0.5).rmse_px
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .ball_top1 import (
    TOP1_RADIUS_PX,
    FrameTopOne,
    Localisation,
    TauSearch,
    TopOneCounts,
    frame_top_one,
)
from balldet.boxes import xywh_centres

from .coco import AREA_LABELS, AREA_RANGES, MAX_DETS, RECALL_THRESHOLDS, CocoResult, evaluate_coco
from .coco_accumulate import accumulate
from .coco_match import Cells, flatten_cells, greedy_match, same_cell_pairs
from .inputs import ImageDets, ImageGT

__all__ = [
    "AITOD_AREA_RANGES",
    "COCO_AND_AITOD_AREA_RANGES",
    "DIST_RADII_PX",
    "DIST_SIZE_FACTORS",
    "TOP1_RADIUS_PX",
    "DistanceAP",
    "FrameTopOne",
    "Localisation",
    "TauSearch",
    "TopOneCounts",
    "evaluate_distance_ap",
    "evaluate_tiny_ap",
    "frame_top_one",
    "tiny_object_ap",
]

#: Fixed AP_dist radii, in original-image pixels.
DIST_RADII_PX: tuple[float, ...] = (2.0, 4.0, 8.0)
#: Scale-free AP_dist radii as multiples ``k`` of the GT size ``s = max(w, h)``: ``r = k·s``.
DIST_SIZE_FACTORS: tuple[float, ...] = (0.5, 1.0)

#: AI-TOD size bins in squared original-image pixels: very tiny 0–8², tiny 8–16², small 16–32².
#: COCO's bound rule applies (outside when ``area < lo`` or ``area > hi``), so an area of
#: exactly 8² or 16² counts in both neighbouring bins, as 32² does in COCO's small and medium.
#: ``small_aitod`` differs from COCO's ``small`` (0–32²).
AITOD_AREA_RANGES: dict[str, tuple[float, float]] = {
    "verytiny": (0.0, 8.0**2),
    "tiny": (8.0**2, 16.0**2),
    "small_aitod": (16.0**2, 32.0**2),
}
#: COCO's four ranges followed by the AI-TOD bins: one evaluation gives both, and the COCO
#: entries (``stats`` included) are the same as with the default ranges.
COCO_AND_AITOD_AREA_RANGES: dict[str, tuple[float, float]] = {
    **dict(zip(AREA_LABELS, AREA_RANGES)),
    **AITOD_AREA_RANGES,
}


# --------------------------------------------------------------------------- AP_dist


@dataclass(frozen=True)
class DistanceAP:
    """Result of :func:`evaluate_distance_ap`.

    Attributes:
        radii_px: the fixed radii (original-image pixels).
        size_factors: the scale-free factors ``k`` (radius ``k·max(w, h)`` of each GT).
        precision: ``(T, R, K)`` COCO-interpolated precision at the 101 recall thresholds, one
            row per radius then per size factor; -1 for a class without GT.
        recall: ``(T, K)`` final recall, -1 for a class without GT.
        class_ids: the K evaluated classes (axis K).
    """

    radii_px: tuple[float, ...]
    size_factors: tuple[float, ...]
    precision: np.ndarray
    recall: np.ndarray
    class_ids: tuple[int, ...]

    def _ap(self, row: int) -> float:
        valid = self.precision[row][self.precision[row] > -1]
        return float(np.mean(valid)) if valid.size else -1.0

    def ap_at_radius(self, radius_px: float) -> float:
        """AP_dist at a fixed radius (mean over classes with GT; -1 when none has any)."""
        return self._ap(self.radii_px.index(float(radius_px)))

    def ap_at_size_factor(self, factor: float) -> float:
        """AP_dist at the scale-free radius ``factor·max(w, h)`` (-1 when no class has GT)."""
        return self._ap(len(self.radii_px) + self.size_factors.index(float(factor)))

    def summary(self) -> dict[str, float]:
        """``AP_dist@<r>px`` per radius, ``AP_dist@mean`` (their mean) and ``AP_dist@<k>s``.

        ``AP_dist@mean`` is -1 when the radii are -1 (all of them are, or none: whether a class
        counts depends on its GT, not on the radius).
        """
        out = {f"AP_dist@{r:g}px": self.ap_at_radius(r) for r in self.radii_px}
        if self.radii_px:
            values = list(out.values())
            out["AP_dist@mean"] = -1.0 if min(values) < 0 else float(np.mean(values))
        for k in self.size_factors:
            out[f"AP_dist@{k:g}s"] = self.ap_at_size_factor(k)
        return out


def _distance_pairs(
    cells: Cells, radii: np.ndarray, factors: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Same-cell (detection, GT) pairs close enough to match under at least one radius.

    Returns ``(det_index, gt_index, distance, limit)`` with ``limit`` (P, T) the radius of each
    pair under each threshold: the fixed radii, then ``k·max(w, h)`` of the pair's GT.
    """
    det_centre, gt_centre = xywh_centres(cells.det_boxes), xywh_centres(cells.gt_boxes)
    gt_size = np.max(cells.gt_boxes[:, 2:], axis=1) if cells.gt_boxes.size else np.zeros(0)
    fixed_reach = float(radii.max()) if radii.size else 0.0
    factor_reach = float(factors.max()) if factors.size else 0.0
    parts = []
    for det_idx, gt_idx in same_cell_pairs(cells.det_cell, cells.gt_cell):
        delta = det_centre[det_idx] - gt_centre[gt_idx]
        dist = np.hypot(delta[:, 0], delta[:, 1])
        size = gt_size[gt_idx]
        keep = dist <= np.maximum(fixed_reach, factor_reach * size)
        det_idx, gt_idx, dist, size = det_idx[keep], gt_idx[keep], dist[keep], size[keep]
        limit = np.concatenate(
            [np.broadcast_to(radii, (dist.size, radii.size)), size[:, None] * factors[None, :]], axis=1
        )
        parts.append((det_idx, gt_idx, dist, limit))
    if not parts:
        n_thr = radii.size + factors.size
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros((0, n_thr))
    return tuple(np.concatenate(p) for p in zip(*parts))  # type: ignore[return-value]


def evaluate_distance_ap(
    gts: Sequence[ImageGT],
    dets: Sequence[ImageDets],
    class_ids: Sequence[int] | None = None,
    *,
    radii_px: Sequence[float] = DIST_RADII_PX,
    size_factors: Sequence[float] = DIST_SIZE_FACTORS,
) -> DistanceAP:
    """AP_dist: COCO AP where a detection matches by centre distance instead of IoU.

    Same engine as :func:`~balldet.evaluation.coco.evaluate_coco`: per image and class the
    detections are taken in descending score order (stable, cut to 100) and each takes the
    *nearest* still unmatched GT of its class whose centre lies within the radius,
    ``‖c(d) − g‖ ≤ r`` (on equal distance the GT listed last, as COCO does on equal IoU). For a
    scale-free radius ``r = k·s`` the radius is the candidate GT's own ``k·max(w, h)`` while
    "nearest" stays the plain pixel distance. Accumulation is COCO's (stable merge of all
    images by score, 101-point interpolated precision); a class without GT gives -1 and is left
    out of the means. Crowd GTs are handled as in COCO (never a TP; detections on them are
    ignored); GT areas and area ranges play no part. Distances are in original-image pixels.

    Args:
        gts, dets, class_ids: as for :func:`~balldet.evaluation.coco.evaluate_coco`.
        radii_px: fixed radii (pixels, > 0).
        size_factors: factors ``k`` of the scale-free radii (> 0).
    """
    radii = np.asarray([float(r) for r in radii_px], dtype=np.float64)
    factors = np.asarray([float(k) for k in size_factors], dtype=np.float64)
    if radii.size + factors.size == 0:
        raise ValueError("give at least one radius or size factor")
    if np.any(radii <= 0) or np.any(factors <= 0):
        raise ValueError("radii and size factors must be positive")
    max_det = MAX_DETS[-1]
    cells = flatten_cells(gts, dets, class_ids, max_det)
    n_cls, n_det = int(cells.class_ids.size), int(cells.det_cell.size)

    det_idx, gt_idx, dist, limit = _distance_pairs(cells, radii, factors)
    # The greedy matcher prefers the highest value at or above the threshold: with the value
    # ``-distance`` and the threshold ``-radius`` that is the nearest GT within the radius.
    gt_ignore = cells.gt_crowd[None, :]
    matched, matched_ignored = greedy_match(
        det_idx, gt_idx, -dist, cells.det_rank, gt_ignore, cells.gt_crowd, -limit, n_det
    )
    tp = matched & ~matched_ignored
    fp = ~matched
    n_pos = np.bincount(cells.gt_class[~cells.gt_crowd], minlength=n_cls).reshape(n_cls, 1)
    precision, recall, _ = accumulate(
        cells.det_class, cells.det_scores, cells.det_rank, cells.class_order(),
        tp, fp, n_pos, (max_det,), RECALL_THRESHOLDS,
    )
    return DistanceAP(
        radii_px=tuple(float(r) for r in radii),
        size_factors=tuple(float(k) for k in factors),
        precision=precision[:, :, :, 0, 0],
        recall=recall[:, :, 0, 0],
        class_ids=tuple(int(c) for c in cells.class_ids),
    )


# --------------------------------------------------------------------------- tiny-object AP


def tiny_object_ap(result: CocoResult) -> dict[str, float]:
    """AP@[.5:.95] and AP50 in each AI-TOD bin of a result evaluated with those bins.

    ``result`` must come from ``evaluate_coco(..., area_ranges=COCO_AND_AITOD_AREA_RANGES)`` (or
    any ranges containing :data:`AITOD_AREA_RANGES`' labels). Keys ``AP_<bin>`` and
    ``AP50_<bin>`` for ``verytiny``, ``tiny``, ``small_aitod``; -1 for a bin without GT.
    """
    out = {}
    for label in AITOD_AREA_RANGES:
        out[f"AP_{label}"] = result.ap(label)
        out[f"AP50_{label}"] = result.ap(label, iou=0.5)
    return out


def evaluate_tiny_ap(
    gts: Sequence[ImageGT], dets: Sequence[ImageDets], class_ids: Sequence[int] | None = None
) -> dict[str, float]:
    """Tiny-object AP: :func:`tiny_object_ap` beside the overall ``AP50`` and ``AP50:95``.

    Areas are GT areas (default ``w·h``) in squared original-image pixels.
    """
    result = evaluate_coco(gts, dets, class_ids, area_ranges=COCO_AND_AITOD_AREA_RANGES)
    return {"AP50": result.ap("all", 0.5), "AP50:95": result.ap("all"), **tiny_object_ap(result)}
