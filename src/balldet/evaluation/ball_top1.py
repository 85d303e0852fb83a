"""Per-frame top-1 ball measures (TrackNet/WASB convention), τ* search, localisation error and
false positives on ball-free frames. Part of :mod:`balldet.evaluation.ball`.

Each frame is scored by one prediction: its highest-scoring detection with score ≥ τ (on equal
scores the one listed first). With ``d`` the distance from that prediction's box centre to the
nearest GT box centre of the frame, in **original-image pixels**, and ``r`` = 4 px:

* TP  -- ball visible, prediction with ``d ≤ r``;
* FP1 -- ball visible, prediction with ``d > r``;
* FP2 -- prediction on a frame without ball;
* FN  -- ball visible, no prediction;
* TN  -- no ball, no prediction.

Precision ``TP/(TP+FP1+FP2)``, recall ``TP/(TP+FN)``, ``TP/visible frames``
(``TP/(TP+FP1+FN)``), F1 ``2PR/(P+R)``, accuracy ``(TP+TN)/frames``; a ratio with a zero
denominator is 0 (as :meth:`CocoResult.best_f1 <balldet.evaluation.coco.CocoResult.best_f1>`
does), a low value that cannot pass for a good one. Ratios where 0 would read as *perfect* --
the localisation error without any TP and the false-positive rate without ball-free frames --
are -1 instead.

Which boxes are "the ball": ``ball_class=None`` pools every class (right for one-class ball
datasets: any GT box is a visible ball, any detection a ball prediction); with several classes
pass the ball's class id, and GT boxes and detections of other classes are left out. A frame's
ball is visible when it has at least one such GT box. Crowd flags and GT areas play no part.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from balldet.boxes import xywh_centres

from .inputs import ImageDets, ImageGT

#: Radius within which a top-1 prediction is a TP, in original-image pixels (as WASB; TrackNetV3
#: uses 4 px at its 512×288 network input, which is a different, larger tolerance).
TOP1_RADIUS_PX = 4.0
#: The fixed score threshold the top-1 measures are reported at, and what :meth:`best_tau`
#: falls back to when there is no detection to learn a threshold from.
DEFAULT_TAU = 0.5


def _ratio(num: float, den: float, undefined: float = 0.0) -> float:
    return float(num) / float(den) if den > 0 else undefined


@dataclass(frozen=True)
class TopOneCounts:
    """Per-frame top-1 outcome counts at score threshold ``tau`` and the rates built on them."""

    tau: float
    tp: int
    fp1: int
    fp2: int
    fn: int
    tn: int

    @property
    def frames(self) -> int:
        return self.tp + self.fp1 + self.fp2 + self.fn + self.tn

    @property
    def visible_frames(self) -> int:
        return self.tp + self.fp1 + self.fn

    @property
    def ballfree_frames(self) -> int:
        return self.fp2 + self.tn

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp1 + self.fp2)

    @property
    def recall(self) -> float:
        """``TP/(TP+FN)``: a frame whose prediction is too far (FP1) does not count here."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def tp_per_visible(self) -> float:
        """``TP/visible frames``: like recall, but a too-far prediction (FP1) counts as a miss."""
        return _ratio(self.tp, self.visible_frames)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return _ratio(2 * p * r, p + r)

    @property
    def accuracy(self) -> float:
        return _ratio(self.tp + self.tn, self.frames)

    @property
    def ballfree_fp_rate(self) -> float:
        """Share of ball-free frames with a detection scoring ≥ τ; -1 without ball-free frames."""
        return _ratio(self.fp2, self.ballfree_frames, undefined=-1.0)

    def rates(self) -> dict[str, float]:
        """``P``, ``R``, ``F1``, ``accuracy``, ``TP_per_visible``."""
        return {
            "P": self.precision,
            "R": self.recall,
            "F1": self.f1,
            "accuracy": self.accuracy,
            "TP_per_visible": self.tp_per_visible,
        }


@dataclass(frozen=True)
class Localisation:
    """Centre error of the top-1 true positives at ``tau``, in original-image pixels.

    ``rmse_px`` = sqrt(mean d²) and ``median_px`` over the ``count`` TPs; both -1 when there is
    no TP. As TPs have ``d ≤ r`` both are at most the TP radius.
    """

    tau: float
    count: int
    rmse_px: float
    median_px: float


@dataclass(frozen=True)
class TauSearch:
    """The score threshold τ* with the best top-1 F1, that F1, and the counts at τ*."""

    tau: float
    f1: float
    counts: TopOneCounts


@dataclass(frozen=True)
class FrameTopOne:
    """Each frame's top-1 candidate, from which every threshold's outcome follows.

    Attributes:
        score: ``(F,)`` score of the frame's best detection, ``-inf`` without any.
        distance_px: ``(F,)`` distance from that detection's box centre to the nearest GT
            centre, original-image pixels; ``inf`` when the frame lacks a detection or a ball.
        visible: ``(F,)`` whether the frame has a ball.
        radius_px: the TP radius.
    """

    score: np.ndarray
    distance_px: np.ndarray
    visible: np.ndarray
    radius_px: float = TOP1_RADIUS_PX

    def _outcomes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per frame: would a prediction be a TP, an FP1, an FP2."""
        close = self.visible & (self.distance_px <= self.radius_px)
        return close, self.visible & ~close, ~self.visible

    def counts(self, tau: float) -> TopOneCounts:
        """Outcome counts when the frame's best detection is kept if its score is ≥ ``tau``."""
        if math.isnan(tau):
            raise ValueError("tau must be a number")
        predicted = self.score >= tau
        tp, fp1, fp2 = (int(np.count_nonzero(predicted & kind)) for kind in self._outcomes())
        n_visible = int(np.count_nonzero(self.visible))
        n_free = int(self.visible.size) - n_visible
        return TopOneCounts(
            tau=float(tau), tp=tp, fp1=fp1, fp2=fp2, fn=n_visible - tp - fp1, tn=n_free - fp2
        )

    def localisation(self, tau: float) -> Localisation:
        """RMSE and median centre error over the TPs at ``tau`` (-1 without TPs)."""
        tp = (self.score >= tau) & self._outcomes()[0]
        d = self.distance_px[tp]
        if d.size == 0:
            return Localisation(tau=float(tau), count=0, rmse_px=-1.0, median_px=-1.0)
        rmse = float(np.sqrt(np.mean(d * d)))
        return Localisation(tau=float(tau), count=int(d.size), rmse_px=rmse, median_px=float(np.median(d)))

    def best_tau(self) -> TauSearch:
        """τ* maximising the top-1 F1 over these frames (e.g. the validation frames).

        Only the frames' best scores can change an outcome, so each distinct one is tried (a
        threshold between two of them keeps the same frames as the upper one). On equal F1 the
        highest threshold wins, as in :meth:`CocoResult.best_f1
        <balldet.evaluation.coco.CocoResult.best_f1>`. Without any detection nothing can be
        learned and τ* is :data:`DEFAULT_TAU`.
        """
        has_det = np.isfinite(self.score)
        if not np.any(has_det):
            return TauSearch(tau=DEFAULT_TAU, f1=0.0, counts=self.counts(DEFAULT_TAU))
        order = np.argsort(-self.score[has_det], kind="stable")
        scores = self.score[has_det][order]
        tp, fp1, fp2 = (np.cumsum(kind[has_det][order]) for kind in self._outcomes())
        last = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))  # end of each score run
        tp, fp1, fp2 = tp[last], fp1[last], fp2[last]
        fn = int(np.count_nonzero(self.visible)) - tp - fp1
        # F1 = 2PR/(P+R) = 2TP/(2TP+FP1+FP2+FN); the denominator holds at least one prediction
        f1 = 2 * tp / (2 * tp + fp1 + fp2 + fn)
        best = int(np.argmax(f1))  # the first maximum is the highest threshold
        tau = float(scores[last[best]])
        counts = self.counts(tau)
        return TauSearch(tau=tau, f1=counts.f1, counts=counts)


def frame_top_one(
    gts: Sequence[ImageGT],
    dets: Sequence[ImageDets],
    *,
    ball_class: int | None = None,
    radius_px: float = TOP1_RADIUS_PX,
) -> FrameTopOne:
    """Find each frame's top-1 candidate and its distance to the nearest ball centre.

    ``gts[i]`` and ``dets[i]`` are frame ``i`` (boxes xywh, original-image pixels).
    ``ball_class=None`` pools all classes; otherwise only boxes of ``ball_class`` count (see the
    module notes). ``radius_px`` is the TP radius.
    """
    if len(gts) != len(dets):
        raise ValueError(f"gts and dets must have one entry per frame ({len(gts)} != {len(dets)})")
    if not radius_px > 0:
        raise ValueError("radius_px must be positive")
    n_frames = len(gts)
    g_box, g_frame, _ = _flatten_frames([(g.boxes, g.classes) for g in gts], ball_class)
    d_box, d_frame, keep = _flatten_frames([(d.boxes, d.classes) for d in dets], ball_class)
    d_score = np.concatenate([d.scores for d in dets])[keep] if n_frames else np.zeros(0)

    visible = np.bincount(g_frame, minlength=n_frames)[:n_frames] > 0
    score = np.full(n_frames, -np.inf)
    distance = np.full(n_frames, np.inf)
    if d_score.size:
        order = np.lexsort((-d_score, d_frame))  # by frame, descending score; stable on ties
        first = np.ones(order.size, dtype=bool)
        first[1:] = d_frame[order][1:] != d_frame[order][:-1]
        top_det = order[first]
        top_frame = d_frame[top_det]
        score[top_frame] = d_score[top_det]
        # distance from each top detection to every GT of its frame, minimum per frame
        lo = np.searchsorted(g_frame, top_frame, side="left")
        n_gt = np.searchsorted(g_frame, top_frame, side="right") - lo
        with_gt = n_gt > 0
        lo, n_gt, top_det, top_frame = lo[with_gt], n_gt[with_gt], top_det[with_gt], top_frame[with_gt]
        if top_det.size:
            seg_start = np.cumsum(n_gt) - n_gt
            gt_idx = np.repeat(lo - seg_start, n_gt) + np.arange(int(n_gt.sum()))
            delta = np.repeat(xywh_centres(d_box[top_det]), n_gt, axis=0) - xywh_centres(g_box[gt_idx])
            dist = np.hypot(delta[:, 0], delta[:, 1])
            distance[top_frame] = np.minimum.reduceat(dist, seg_start)
    return FrameTopOne(score=score, distance_px=distance, visible=visible, radius_px=float(radius_px))


def _flatten_frames(
    per_frame: list[tuple[np.ndarray, np.ndarray]], ball_class: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All frames' boxes concatenated, kept to the ball class: boxes, frame index, kept mask."""
    if not per_frame:
        return np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0, bool)
    boxes = np.concatenate([b for b, _ in per_frame])
    classes = np.concatenate([c for _, c in per_frame])
    frame = np.repeat(np.arange(len(per_frame)), [c.shape[0] for _, c in per_frame])
    keep = np.ones(classes.shape, bool) if ball_class is None else classes == ball_class
    return boxes[keep], frame[keep], keep

