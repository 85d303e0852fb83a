"""COCO-style bounding-box evaluation in pure numpy.

:func:`evaluate_coco` reproduces the results of pycocotools' ``COCOeval`` with ``iouType='bbox'``
and default parameters: the 12 ``stats`` and the ``precision`` / ``recall`` / ``scores`` arrays.

Semantics, in short:

* IoU on xywh boxes in float64; against a crowd ground truth (GT) the IoU is
  ``intersection / area(detection)``.
* IoU thresholds ``0.50:0.05:0.95`` (T=10), recall thresholds ``0:0.01:1`` (R=101), maxDets
  ``(1, 10, 100)`` (M=3), area ranges all/small/medium/large (A=4) =
  ``[0, 1e10]``, ``[0, 32²]``, ``[32², 96²]``, ``[96², 1e10]`` by default (``area_ranges`` takes
  others, e.g. the AI-TOD bins of :mod:`balldet.evaluation.ball`). A box is outside a range when
  its area is ``< lo`` or ``> hi``. The GT area is the annotated one (default ``w*h``); a detection's
  area is ``w*h``.
* Per image and class the detections are sorted by descending score (stable: ties keep input
  order) and cut to 100. Crowd GTs and GTs outside the area range are *ignored*. In score order
  each detection takes the best-IoU available GT with IoU >= the threshold, preferring
  non-ignored GTs (a crowd GT may be taken any number of times, any other GT once; on equal IoU
  the GT listed last wins). A detection matched to an ignored GT, or unmatched with its area
  outside the range, is ignored; other matched ones are true positives, other unmatched ones
  false positives.
* Per class, area range and maxDets the detections of all images are merged by descending score
  (stable; ties in image order), precision is made monotone and sampled at 101 recall levels.
  A class without any non-ignored GT gets -1 and is left out of the means.

Example::

    from balldet.evaluation import ImageGT, ImageDets, evaluate_coco

    gts = [ImageGT(boxes=[[10, 10, 20, 20]], classes=[0])]
    dets = [ImageDets(boxes=[[11, 10, 20, 20]], scores=[0.9], classes=[0])]
    result = evaluate_coco(gts, dets)
    result.summary()["mAP@0.5"]   # 1.0 (up to the 1e-16 COCO adds to denominators)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .coco_accumulate import ThresholdCurve, accumulate, summarize
from .coco_match import candidate_pairs, flatten_cells, greedy_match
from .inputs import ImageDets, ImageGT

#: IoU thresholds 0.50, 0.55, ..., 0.95 (T = 10).
IOU_THRESHOLDS: np.ndarray = np.linspace(0.5, 0.95, 10, endpoint=True)
#: Recall thresholds 0.00, 0.01, ..., 1.00 (R = 101).
RECALL_THRESHOLDS: np.ndarray = np.linspace(0.0, 1.0, 101, endpoint=True)
#: Maximum detections per image and class (M = 3).
MAX_DETS: tuple[int, ...] = (1, 10, 100)
#: Area ranges (A = 4), in squared pixels, and their labels.
AREA_RANGES: tuple[tuple[float, float], ...] = (
    (0.0, 1e10),
    (0.0, 32.0**2),
    (32.0**2, 96.0**2),
    (96.0**2, 1e10),
)
AREA_LABELS: tuple[str, ...] = ("all", "small", "medium", "large")

SUMMARY_KEYS: tuple[str, ...] = (
    "mAP@0.5:0.95",
    "mAP@0.5",
    "mAP@0.75",
    "mAP_small",
    "mAP_medium",
    "mAP_large",
    "AR@1",
    "AR@10",
    "AR@100",
    "AR_small",
    "AR_medium",
    "AR_large",
)


# --------------------------------------------------------------------------- result


@dataclass
class CocoResult:
    """Result of :func:`evaluate_coco`.

    Attributes:
        stats: ``(12,)`` exactly like ``COCOeval.stats``: AP@[.5:.95], AP50, AP75, AP
            small/medium/large (maxDets 100), AR at maxDets 1/10/100, AR small/medium/large.
        precision: ``(T, R, K, A, M)`` like ``COCOeval.eval['precision']`` (-1 = no GT).
        recall: ``(T, K, A, M)`` like ``COCOeval.eval['recall']``.
        scores: ``(T, R, K, A, M)`` like ``COCOeval.eval['scores']``.
        class_ids: the K evaluated class ids, ascending (axis K of the arrays).
        area_labels: the labels of the A area ranges (axis A of the arrays).
    """

    stats: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    scores: np.ndarray
    class_ids: tuple[int, ...]
    area_labels: tuple[str, ...] = AREA_LABELS
    # pooled over all classes, area "all", maxDets 100, sorted by descending score
    _pool_scores: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    _pool_tp: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((10, 0), bool))
    _pool_fp: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((10, 0), bool))
    _num_gt: int = field(repr=False, default=0)

    def summary(self) -> dict[str, float]:
        """The 12 stats by name: ``mAP@0.5:0.95``, ``mAP@0.5``, ..., ``AR_large`` (-1 = undefined)."""
        return {key: float(v) for key, v in zip(SUMMARY_KEYS, self.stats)}

    def ap(self, area: str = "all", iou: float | None = None) -> float:
        """AP (maxDets 100) over the classes with ground truth in the area range ``area``.

        ``iou=None`` averages over IoU 0.50:0.95, otherwise ``iou`` must be one of the IoU
        thresholds. -1 when no class has a ground truth in that range.
        """
        prec = self.precision[:, :, :, self.area_labels.index(area), len(MAX_DETS) - 1]
        if iou is not None:
            prec = prec[[_iou_index(iou)]]
        valid = prec[prec > -1]
        return float(np.mean(valid)) if valid.size else -1.0

    def per_class_ap(self, iou: float | None = None) -> dict[int, float]:
        """AP per class (area all, maxDets 100); classes without ground truth are omitted.

        ``iou=None`` averages over IoU 0.50:0.95; otherwise ``iou`` must be one of the IoU
        thresholds (e.g. 0.5 or 0.75).
        """
        prec = self.precision[:, :, :, self.area_labels.index("all"), len(MAX_DETS) - 1]
        if iou is not None:
            prec = prec[[_iou_index(iou)]]
        out: dict[int, float] = {}
        for k, cid in enumerate(self.class_ids):
            valid = prec[:, :, k][prec[:, :, k] > -1]
            if valid.size:
                out[int(cid)] = float(np.mean(valid))
        return out

    def threshold_curve(self, iou: float = 0.5) -> ThresholdCurve:
        """Precision, recall and F1 at every score threshold, all classes pooled.

        From the raw TP/FP flags of the matching at IoU threshold ``iou`` (one of the IoU
        thresholds; area "all", maxDets 100), not the 101-point interpolation; recall counts the
        non-crowd ground truth. Detections that COCO ignores (matched to a crowd box) count
        neither way.
        """
        t = _iou_index(iou)
        return ThresholdCurve.from_flags(self._pool_scores, self._pool_tp[t], self._pool_fp[t], self._num_gt, iou)

    def best_f1(self, iou: float = 0.5) -> dict[str, float]:
        """The score threshold that maximises F1, all classes pooled: the best point of
        :meth:`threshold_curve`.

        Keeping every detection with ``score >= threshold`` gives precision ``P = TP / (TP + FP)``,
        recall ``R = TP / #GT`` (non-crowd GT) and ``F1 = 2PR / (P + R)``. Only thresholds equal to
        a detection score are considered; on equal F1 the highest threshold wins.

        Returns ``{"P", "R", "F1", "threshold"}``; with no detections at all
        ``P = R = F1 = 0`` and ``threshold = nan``; with no ground truth ``R = 0``.
        """
        return self.threshold_curve(iou).best()


def _iou_index(iou: float) -> int:
    hit = np.flatnonzero(np.isclose(IOU_THRESHOLDS, iou, rtol=0.0, atol=1e-9))
    if hit.size == 0:
        raise ValueError(f"iou must be one of {[round(float(t), 2) for t in IOU_THRESHOLDS]}, got {iou}")
    return int(hit[0])


# --------------------------------------------------------------------------- evaluation


def evaluate_coco(
    gts: Sequence[ImageGT],
    dets: Sequence[ImageDets],
    class_ids: Sequence[int] | None = None,
    area_ranges: Mapping[str, tuple[float, float]] | None = None,
) -> CocoResult:
    """Evaluate detections against ground truth like pycocotools ``COCOeval`` (bbox).

    Args:
        gts: ground truth per image; include images without any object (empty ``ImageGT``).
        dets: detections per image; ``dets[i]`` belongs to the same image as ``gts[i]``.
        class_ids: classes to evaluate (sorted and de-duplicated); boxes of other classes are
            dropped. Default: the sorted union of the GT and detection classes.
        area_ranges: area ranges ``label -> (lo, hi)`` in squared pixels, in the order of axis
            A of the arrays; must include ``"all"``. Default: COCO's :data:`AREA_RANGES`
            (``all``/``small``/``medium``/``large``). Each range follows COCO's rule (outside
            when ``area < lo`` or ``area > hi``). ``stats`` picks its small/medium/large entries
            by label and is -1 for a label that is not given; :meth:`CocoResult.ap` reads any.

    Returns:
        A :class:`CocoResult` whose ``stats``/``precision``/``recall``/``scores`` equal what
        ``COCOeval`` computes on the same data (image ids in list order, annotation ids in
        list order, categories = ``class_ids``, ``areaRng``/``areaRngLbl`` = ``area_ranges``).
    """
    if area_ranges is None:
        area_ranges = dict(zip(AREA_LABELS, AREA_RANGES))
    labels = tuple(area_ranges)
    if "all" not in labels:
        raise ValueError(f"area_ranges must include 'all', got {list(labels)}")
    cells = flatten_cells(gts, dets, class_ids, MAX_DETS[-1])
    n_cls, n_area = int(cells.class_ids.size), len(labels)

    lo = np.array([float(area_ranges[k][0]) for k in labels])[:, None]
    hi = np.array([float(area_ranges[k][1]) for k in labels])[:, None]
    g_area = cells.gt_areas[None, :]
    g_ignore = cells.gt_crowd[None, :] | (g_area < lo) | (g_area > hi)  # (A, G)
    d_area = cells.det_boxes[:, 2] * cells.det_boxes[:, 3]
    d_outside = (d_area[None, :] < lo) | (d_area[None, :] > hi)  # (A, D)

    thresholds = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)
    pairs = candidate_pairs(
        cells.det_cell, cells.det_boxes, cells.gt_cell, cells.gt_boxes, cells.gt_crowd,
        float(thresholds.min()),
    )
    matched, matched_ignored = greedy_match(
        *pairs, cells.det_rank, g_ignore, cells.gt_crowd, thresholds, int(cells.det_cell.size)
    )
    d_ignore = matched_ignored | (~matched & d_outside[:, None, :])
    tp = matched & ~d_ignore
    fp = ~matched & ~d_ignore

    n_pos = np.stack(
        [np.bincount(cells.gt_class[~g_ignore[a]], minlength=n_cls) for a in range(n_area)], axis=1
    ).reshape(n_cls, n_area)
    precision, recall, scores = accumulate(
        cells.det_class, cells.det_scores, cells.det_rank, cells.class_order(),
        tp, fp, n_pos, MAX_DETS, RECALL_THRESHOLDS,
    )
    stats = summarize(precision, recall, IOU_THRESHOLDS, labels, MAX_DETS)

    everything = labels.index("all")
    pool = np.argsort(cells.det_score_pos)
    return CocoResult(
        stats=stats,
        precision=precision,
        recall=recall,
        scores=scores,
        class_ids=tuple(int(c) for c in cells.class_ids),
        area_labels=labels,
        _pool_scores=cells.det_scores[pool],
        _pool_tp=tp[everything][:, pool],
        _pool_fp=fp[everything][:, pool],
        _num_gt=int(n_pos[:, everything].sum()),
    )
