"""Ball measures (balldet.evaluation.ball): hand-worked cases, pycocotools cross-checks of the
centre-distance AP and of custom area ranges, and score_frames' keys and speed.

All coordinates are original-image pixels; boxes are xywh unless said otherwise."""

from __future__ import annotations

import contextlib
import io
import math
import time

import numpy as np
import pytest

from balldet.boxes import Detections
from balldet.evaluation import (
    AITOD_AREA_RANGES,
    AREA_LABELS,
    AREA_RANGES,
    COCO_AND_AITOD_AREA_RANGES,
    ImageDets,
    ImageGT,
    evaluate_coco,
    evaluate_distance_ap,
    evaluate_tiny_ap,
    frame_top_one,
)
from balldet.evaluation.frames import FrameTruth, best_tau, score_frames

# COCO divides by (tp + fp + eps): a perfect precision is 1/(1 + eps), not 1.
APPROX = dict(rel=0, abs=1e-12)
HALF_RECALL_AP = 51 / 101  # precision 1 on recall thresholds 0.00..0.50, 0 beyond


def box_at(cx, cy, w, h=None):
    """xywh box centred on (cx, cy)."""
    h = w if h is None else h
    return [cx - w / 2, cy - h / 2, w, h]


def gt(boxes, classes=None, **kw):
    boxes = np.array(boxes, float).reshape(-1, 4)
    return ImageGT(boxes, [0] * len(boxes) if classes is None else classes, **kw)


def dt(boxes, scores, classes=None):
    boxes = np.array(boxes, float).reshape(-1, 4)
    return ImageDets(boxes, scores, [0] * len(boxes) if classes is None else classes)


NO_GT, NO_DET = gt([]), dt([], [])


# --------------------------------------------------------------------------- AP_dist by hand


def test_distance_ap_radius_boundaries():
    # det centre 3 px right of the GT centre: matches at r = 4 and 8 (3 <= r), not at r = 2.
    # GT 4x4 -> s = 4: 0.5s = 2 (no match), 1s = 4 (match).
    ap = evaluate_distance_ap([gt([box_at(10, 10, 4)])], [dt([box_at(13, 10, 4)], [0.9])])
    s = ap.summary()
    assert list(s) == [
        "AP_dist@2px", "AP_dist@4px", "AP_dist@8px", "AP_dist@mean", "AP_dist@0.5s", "AP_dist@1s"
    ]
    assert s["AP_dist@2px"] == 0.0
    assert s["AP_dist@4px"] == pytest.approx(1, **APPROX) and s["AP_dist@8px"] == pytest.approx(1, **APPROX)
    assert s["AP_dist@mean"] == pytest.approx(2 / 3, **APPROX)  # (0 + 1 + 1) / 3
    assert s["AP_dist@0.5s"] == 0.0 and s["AP_dist@1s"] == pytest.approx(1, **APPROX)
    # exactly on the radius counts (<=): 3-4-5 triangle, distance 5
    on_edge = evaluate_distance_ap(
        [gt([box_at(10, 10, 4)])], [dt([box_at(13, 14, 4)], [0.9])], radii_px=[5, 4.9]
    )
    assert on_edge.ap_at_radius(5) == pytest.approx(1, **APPROX) and on_edge.ap_at_radius(4.9) == 0.0


def test_distance_ap_scale_free_radius_follows_each_gt():
    # image 0: GT 20x20 (s = 20), det 6 px off, score .9; image 1: GT 4x4 (s = 4), det 3 px off, score .8
    gts = [gt([box_at(100, 100, 20)]), gt([box_at(50, 50, 4)])]
    dets = [dt([box_at(106, 100, 20)], [0.9]), dt([box_at(53, 50, 4)], [0.8])]
    ap = evaluate_distance_ap(gts, dets)
    # 0.5s: big one within 10 (TP), small one not within 2 (FP) -> TP then FP: recall 1/2 at P 1
    assert ap.ap_at_size_factor(0.5) == pytest.approx(HALF_RECALL_AP, **APPROX)
    # 1s: 6 <= 20 and 3 <= 4 -> both TP
    assert ap.ap_at_size_factor(1) == pytest.approx(1, **APPROX)
    # 4 px: FP (6 px) at .9 then TP (3 px) at .8: precision 1/2 up to recall 1/2
    assert ap.ap_at_radius(4) == pytest.approx(0.5 * HALF_RECALL_AP, **APPROX)
    assert ap.ap_at_radius(8) == pytest.approx(1, **APPROX) and ap.ap_at_radius(2) == 0.0


def test_distance_ap_greedy_takes_the_nearest_gt():
    # GT centres g1 = (10, 10), g2 = (13, 10). d_a (.9) at (12, 10): g1 2 px, g2 1 px -> takes g2
    # although g1 is also within 4. d_b (.8) at (16.5, 10): g1 6.5 px, g2 taken.
    gts = [gt([box_at(10, 10, 2), box_at(13, 10, 2)])]
    dets = [dt([box_at(12, 10, 2), box_at(16.5, 10, 2)], [0.9, 0.8])]
    ap = evaluate_distance_ap(gts, dets)
    # r = 4: d_a TP, d_b FP (6.5 > 4) -> recall 1/2 at precision 1 (a "first GT within r" rule
    # would give d_a g1 and d_b g2 at 3.5 px: AP 1)
    assert ap.ap_at_radius(4) == pytest.approx(HALF_RECALL_AP, **APPROX)
    # r = 8: d_b takes g1 at 6.5 px -> both TP
    assert ap.ap_at_radius(8) == pytest.approx(1, **APPROX)
    # r = 2: d_a takes g2 (1 px); d_b: nothing within 2 -> AP 51/101
    assert ap.ap_at_radius(2) == pytest.approx(HALF_RECALL_AP, **APPROX)


def test_distance_ap_score_order_and_classes():
    # the higher-scoring det claims the GT even when farther; class 1 never matches class 0.
    gts = [gt([box_at(10, 10, 4)])]
    dets = [dt([box_at(13, 10, 4), box_at(10, 10, 4), box_at(10, 10, 4)], [0.9, 0.8, 0.95], [0, 0, 1])]
    ap = evaluate_distance_ap(gts, dets)
    assert ap.class_ids == (0, 1)
    assert np.all(ap.precision[:, :, 1] == -1)  # class 1 has no GT: -1, left out
    # r = 2: the .9 det (3 px) misses, the .8 one (0 px) then takes the GT: FP, TP -> P 1/2
    assert ap.ap_at_radius(2) == pytest.approx(0.5, **APPROX)
    assert ap.ap_at_radius(4) == pytest.approx(1, **APPROX)  # .9 takes it, .8 is a FP after
    assert evaluate_distance_ap([NO_GT], [NO_DET]).summary()["AP_dist@mean"] == -1.0


# --------------------------------------------------------------------------- pycocotools cross-checks


def _pycocotools_eval(gts, dets, class_ids, similarity=None, area_ranges=None):
    """pycocotools on our data; ``similarity(dt_boxes, gt_boxes)`` replaces the IoU if given.

    With a similarity, one "IoU" threshold of -1e9 is used and pairs that must not match get
    -inf: pycocotools' greedy loop then takes the highest similarity among allowed pairs.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images = [{"id": i + 1} for i in range(len(gts))]
    cats = [{"id": int(c)} for c in class_ids]
    anns = []  # ids from 1: pycocotools treats id 0 as "no match"
    for i, g in enumerate(gts):
        columns = (g.boxes.tolist(), g.classes.tolist(), g.areas.tolist(), g.iscrowd.tolist())
        for box, c, area, crowd in zip(*columns):
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(c), "bbox": box,
                         "area": area, "iscrowd": int(crowd)})
    results = [
        {"image_id": i + 1, "category_id": int(c), "bbox": b, "score": s}
        for i, d in enumerate(dets)
        for b, s, c in zip(d.boxes.tolist(), d.scores.tolist(), d.classes.tolist())
    ]

    class Reference(COCOeval):
        def computeIoU(self, imgId, catId):  # noqa: N802 (pycocotools' name)
            if similarity is None:
                return super().computeIoU(imgId, catId)
            g, d = self._gts[imgId, catId], self._dts[imgId, catId]
            if not g and not d:
                return []
            order = np.argsort([-x["score"] for x in d], kind="mergesort")
            d = [d[i] for i in order][: self.params.maxDets[-1]]
            boxes = [np.array([x["bbox"] for x in xs], float).reshape(-1, 4) for xs in (d, g)]
            return similarity(*boxes)

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {"images": images, "categories": cats, "annotations": anns}
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        ev = Reference(coco_gt, coco_dt, "bbox")
        if similarity is not None:
            ev.params.iouThrs = np.array([-1e9])
            ev.params.maxDets = [100]
            ev.params.areaRng, ev.params.areaRngLbl = [[0, 1e10]], ["all"]
        if area_ranges is not None:
            ev.params.areaRng = [list(v) for v in area_ranges.values()]
            ev.params.areaRngLbl = list(area_ranges)
        ev.evaluate()
        ev.accumulate()
        if similarity is None:  # summarize needs COCO's three maxDets
            ev.summarize()
    return ev


def _within(limit_of):
    def similarity(d_boxes, g_boxes):
        dc = d_boxes[:, :2] + d_boxes[:, 2:] / 2
        gc = g_boxes[:, :2] + g_boxes[:, 2:] / 2
        dist = np.hypot(dc[:, None, 0] - gc[None, :, 0], dc[:, None, 1] - gc[None, :, 1])
        limit = limit_of(g_boxes)[None, :]
        return np.where(dist <= limit, -dist, -np.inf)

    return similarity


def _random_ball_case(rng, n_img):
    gts, dets = [], []
    for _ in range(n_img):
        n_gt = int(rng.integers(0, 4))
        centres = rng.uniform(0, 40, (n_gt, 2)).round(1)
        sizes = rng.uniform(2, 20, n_gt).round()
        g_boxes = [box_at(x, y, s) for (x, y), s in zip(centres, sizes)]
        g_cls = rng.integers(0, 2, n_gt)
        gts.append(gt(g_boxes, g_cls, iscrowd=rng.random(n_gt) < 0.1))
        d_boxes, d_cls = [], []
        for (x, y), s, c in zip(centres, sizes, g_cls):
            for _ in range(int(rng.integers(0, 3))):
                off = rng.normal(0, 4, 2).round()  # integer offsets: many exact-radius cases
                d_boxes.append(box_at(x + off[0], y + off[1], s))
                d_cls.append(c)
        for _ in range(int(rng.integers(0, 3))):
            d_boxes.append(box_at(*rng.uniform(0, 40, 2), 6))
            d_cls.append(int(rng.integers(0, 2)))
        scores = rng.integers(1, 5, len(d_boxes)) / 4  # ties
        dets.append(dt(d_boxes, scores, d_cls))
    return gts, dets


@pytest.mark.parametrize("seed", range(25))
def test_distance_ap_matches_pycocotools_with_a_distance_rule(seed):
    pytest.importorskip("pycocotools")
    rng = np.random.default_rng(seed)
    gts, dets = _random_ball_case(rng, int(rng.integers(1, 12)))
    ours = evaluate_distance_ap(gts, dets)
    rules = [lambda g, r=r: np.full(len(g), r) for r in ours.radii_px]
    rules += [lambda g, k=k: k * np.max(g[:, 2:], axis=1) for k in ours.size_factors]
    for row, limit_of in enumerate(rules):
        ref = _pycocotools_eval(gts, dets, ours.class_ids, similarity=_within(limit_of))
        ref_precision = ref.eval["precision"][0, :, :, 0, 0]
        np.testing.assert_allclose(ours.precision[row], ref_precision, rtol=0, atol=1e-12)
        np.testing.assert_allclose(ours.recall[row], ref.eval["recall"][0, :, 0, 0], rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- tiny-object AP


def test_tiny_bins_place_boxes_like_coco():
    # 7x7 (49 px²) very tiny, 12x12 (144) tiny, 20x20 (400) small; the 12x12 is missed.
    gts = [gt([box_at(20, 20, 7), box_at(60, 20, 12), box_at(120, 20, 20)])]
    dets = [dt([box_at(20, 20, 7), box_at(120, 20, 20)], [0.9, 0.8])]
    tiny = evaluate_tiny_ap(gts, dets)
    assert tiny["AP_verytiny"] == pytest.approx(1, **APPROX)
    assert tiny["AP50_verytiny"] == pytest.approx(1, **APPROX)
    assert tiny["AP_tiny"] == 0.0 and tiny["AP50_tiny"] == 0.0
    assert tiny["AP_small_aitod"] == pytest.approx(1, **APPROX)
    # overall: TP, TP then the 12x12 never found -> precision 1 up to recall 2/3 (67 of 101 thresholds)
    assert tiny["AP50"] == pytest.approx(67 / 101, **APPROX)


def test_tiny_bin_boundaries_follow_coco():
    # area exactly 8² = 64 is in very tiny (64 <= hi) and in tiny (64 >= lo); 8 x 8.125 = 65 only in tiny
    for (w, h), verytiny in (((8, 8), True), ((8, 8.125), False)):
        r = evaluate_tiny_ap([gt([box_at(20, 20, w, h)])], [dt([box_at(20, 20, w, h)], [0.9])])
        assert r["AP_tiny"] == pytest.approx(1, **APPROX)
        assert (r["AP_verytiny"] > 0) is verytiny and (r["AP_verytiny"] == -1) is (not verytiny)
        assert r["AP_small_aitod"] == -1.0  # no GT in 16²..32²


def test_custom_area_ranges_leave_coco_results_unchanged():
    rng = np.random.default_rng(5)
    gts, dets = _random_ball_case(rng, 30)
    default = evaluate_coco(gts, dets)
    both = evaluate_coco(gts, dets, area_ranges=COCO_AND_AITOD_AREA_RANGES)
    assert both.area_labels == AREA_LABELS + tuple(AITOD_AREA_RANGES)
    np.testing.assert_array_equal(both.stats, default.stats)
    for name in ("precision", "scores"):
        np.testing.assert_array_equal(getattr(both, name)[:, :, :, :4], getattr(default, name))
    np.testing.assert_array_equal(both.recall[:, :, :4], default.recall)
    assert both.best_f1() == default.best_f1()
    assert default.area_labels == AREA_LABELS
    assert dict(zip(AREA_LABELS, AREA_RANGES))["small"] == (0.0, 32.0**2)
    with pytest.raises(ValueError):
        evaluate_coco(gts, dets, area_ranges={"tiny": (0, 256)})


def test_custom_area_ranges_match_pycocotools():
    pytest.importorskip("pycocotools")
    rng = np.random.default_rng(9)
    gts, dets = _random_ball_case(rng, 25)
    ours = evaluate_coco(gts, dets, area_ranges=COCO_AND_AITOD_AREA_RANGES)
    ref = _pycocotools_eval(gts, dets, ours.class_ids, area_ranges=COCO_AND_AITOD_AREA_RANGES)
    np.testing.assert_allclose(ours.stats, ref.stats, rtol=0, atol=1e-12)
    for name in ("precision", "recall", "scores"):
        np.testing.assert_allclose(getattr(ours, name), ref.eval[name], rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- per-frame top-1


def _top1_frames():
    ball = box_at(100, 100, 8)
    gts = [
        gt([ball]),  # f0: best det .9 at 2 px -> TP at .5
        gt([ball]),  # f1: best det .8 at 10 px -> FP1 (the .7 one on the ball is not top-1)
        NO_GT,  # f2: det .6 -> FP2
        gt([ball]),  # f3: det .4 on the ball -> FN at .5 (TP once tau <= .4)
        NO_GT,  # f4: det .2 -> TN at .5
        NO_GT,  # f5: nothing -> TN
        gt([ball, box_at(200, 200, 8)]),  # f6: det .7 at (199, 203): nearest ball sqrt(10) px -> TP
    ]
    dets = [
        dt([box_at(102, 100, 8), box_at(300, 300, 8)], [0.9, 0.3]),
        dt([box_at(110, 100, 8), box_at(100, 100, 8)], [0.8, 0.7]),
        dt([box_at(50, 50, 8)], [0.6]),
        dt([box_at(100, 100, 8)], [0.4]),
        dt([box_at(50, 50, 8)], [0.2]),
        NO_DET,
        dt([box_at(199, 203, 8)], [0.7]),
    ]
    return gts, dets


def test_top1_counts_and_rates():
    top = frame_top_one(*_top1_frames())
    c = top.counts(0.5)
    assert (c.tp, c.fp1, c.fp2, c.fn, c.tn) == (2, 1, 1, 1, 2)
    assert c.precision == pytest.approx(2 / 4)  # TP / (TP + FP1 + FP2)
    assert c.recall == pytest.approx(2 / 3)  # TP / (TP + FN)
    assert c.tp_per_visible == pytest.approx(2 / 4)  # 4 visible frames: f0, f1, f3, f6
    assert c.f1 == pytest.approx(4 / 7)  # 2 * 1/2 * 2/3 / (1/2 + 2/3) = (2/3) / (7/6)
    assert c.accuracy == pytest.approx(4 / 7)  # (TP + TN) / 7 frames
    # ball-free frames f2, f4, f5; only f2 has a detection >= .5
    assert c.ballfree_frames == 3 and c.ballfree_fp_rate == pytest.approx(1 / 3)
    assert top.counts(0.95) == type(c)(tau=0.95, tp=0, fp1=0, fp2=0, fn=4, tn=3)


def test_localisation_error_over_true_positives():
    loc = frame_top_one(*_top1_frames()).localisation(0.5)
    # TPs at 2 px (f0) and sqrt(1 + 9) px (f6): RMSE sqrt((4 + 10) / 2), median their mean
    assert loc.count == 2
    assert loc.rmse_px == pytest.approx(math.sqrt(7))
    assert loc.median_px == pytest.approx((2 + math.sqrt(10)) / 2)
    none = frame_top_one(*_top1_frames()).localisation(0.95)
    assert (none.count, none.rmse_px, none.median_px) == (0, -1.0, -1.0)


def test_best_tau_maximises_top1_f1():
    # frame best scores .9 TP, .8 FP1, .7 TP, .6 FP2, .4 TP, .2 FP2; 4 visible frames.
    # F1 = 2TP / (2TP + FP1 + FP2 + FN) per threshold:
    #   .9: 2/(2+0+0+3) = .4   .8: 2/(2+1+0+2) = .4   .7: 4/(4+1+0+1) = .667
    #   .6: 4/(4+1+1+1) = .571  .4: 6/(6+1+1+0) = .75  .2: 6/(6+1+2+0) = .667
    search = frame_top_one(*_top1_frames()).best_tau()
    assert search.tau == 0.4 and search.f1 == pytest.approx(0.75)
    c = search.counts
    assert (c.tp, c.fp1, c.fp2, c.fn, c.tn) == (3, 1, 1, 0, 2)


def test_best_tau_ties_and_no_detections():
    # f0 ball, det .9 on it; f1 ball, det .5 far off. .9: 2/(2+0+1) = 2/3; .5: 2/(2+1+0) = 2/3.
    gts = [gt([box_at(10, 10, 4)]), gt([box_at(10, 10, 4)])]
    dets = [dt([box_at(10, 10, 4)], [0.9]), dt([box_at(30, 10, 4)], [0.5])]
    assert frame_top_one(gts, dets).best_tau().tau == 0.9  # equal F1: the higher threshold
    assert frame_top_one(gts, [NO_DET, NO_DET]).best_tau().tau == 0.5


def test_top1_equal_scores_keep_the_detection_listed_first():
    # both score .7; the first listed is 10 px off (FP1), the second on the ball
    gts = [gt([box_at(10, 10, 4)])]
    for boxes, expected in (([box_at(20, 10, 4), box_at(10, 10, 4)], (0, 1)),
                            ([box_at(10, 10, 4), box_at(20, 10, 4)], (1, 0))):
        c = frame_top_one(gts, [dt(boxes, [0.7, 0.7])]).counts(0.5)
        assert (c.tp, c.fp1) == expected


def test_top1_ball_class_and_fp_rate_without_ballfree_frames():
    # class 0 = ball, class 1 = player. The player det scores higher and is 40 px away.
    gts = [gt([box_at(10, 10, 4)])]
    dets = [dt([box_at(50, 10, 20), box_at(11, 10, 4)], [0.9, 0.6], [1, 0])]
    pooled = frame_top_one(gts, dets).counts(0.5)
    ball = frame_top_one(gts, dets, ball_class=0).counts(0.5)
    assert (pooled.tp, pooled.fp1) == (0, 1) and (ball.tp, ball.fp1) == (1, 0)
    assert ball.ballfree_frames == 0 and ball.ballfree_fp_rate == -1.0
    # a player-only frame is ball-free for the ball class: its player GT does not count
    player = box_at(50, 10, 20)
    free = frame_top_one([gt([player], [1])], [dt([player], [0.9], [1])], ball_class=0)
    assert free.counts(0.5).tn == 1


# --------------------------------------------------------------------------- score_frames


BALL_KEYS = {
    "mAP@0.5", "mAP@0.5:0.95", "mAP@0.75", "AR@100", "P", "R", "F1", "conf@bestF1",
    "AP_dist@2px", "AP_dist@4px", "AP_dist@8px", "AP_dist@mean", "AP_dist@0.5s", "AP_dist@1s",
    "top1@0.5/P", "top1@0.5/R", "top1@0.5/F1", "top1@0.5/accuracy", "top1@0.5/TP_per_visible",
    "loc/RMSE_px", "loc/median_px", "AP_verytiny", "AP_tiny", "AP_small_aitod",
    "AP50_verytiny", "AP50_tiny", "AP50_small_aitod",
    "FP_rate_ballfree@0.5", "ballfree_frames", "ballfree_frames_with_FP@0.5",
    "frame_width_px", "frame_height_px",
}
TAU_KEYS = {f"top1@tau/{k}" for k in ("P", "R", "F1", "accuracy", "TP_per_visible", "tau")}


def random_frames(n, rng, width=1280, height=720):
    """YOLO truth (one ball in 80 % of frames) and detections (xyxy): one near the ball, clutter."""
    truth, detections = [], []
    for _ in range(n):
        size = rng.uniform(4, 30)
        centre = rng.uniform([20, 20], [width - 20, height - 20])
        has_ball = rng.random() < 0.8
        rows = np.array([[0, centre[0] / width, centre[1] / height, size / width, size / height]])
        truth.append(FrameTruth(rows if has_ball else np.zeros((0, 5)), width, height))
        centres = rng.uniform([0, 0], [width, height], (int(rng.integers(0, 6)), 2))
        scores = rng.uniform(0, 0.6, len(centres))
        if has_ball and rng.random() < 0.9:  # usually found, scoring above the clutter
            centres = np.vstack([centre + rng.normal(0, 3, 2), centres])
            scores = np.append(rng.uniform(0.4, 1), scores)
        half = rng.uniform(2, 15, (len(centres), 1))
        boxes = np.hstack([centres - half, centres + half])  # xyxy, as backends return them
        detections.append(Detections(boxes, scores, np.zeros(len(centres), dtype=np.int64)))
    return truth, detections


def test_score_frames_reports_every_measure():
    rng = np.random.default_rng(3)
    truth, detections = random_frames(60, rng)
    metrics = score_frames(truth, detections, num_classes=1)
    assert set(metrics) == BALL_KEYS
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
    tau = best_tau(truth, detections)
    with_tau = score_frames(truth, detections, num_classes=1, tau=tau)
    assert set(with_tau) == BALL_KEYS | TAU_KEYS and with_tau["top1@tau/tau"] == tau
    assert {k: with_tau[k] for k in metrics} == metrics
    # tau was picked for the best F1 on these very frames
    assert with_tau["top1@tau/F1"] >= with_tau["top1@0.5/F1"]
    assert metrics["frame_width_px"] == 1280
    assert metrics["ballfree_frames"] == sum(len(t.rows) == 0 for t in truth)


def test_score_frames_on_ten_thousand_frames_is_fast():
    rng = np.random.default_rng(4)
    truth, detections = random_frames(10_000, rng)
    start = time.perf_counter()
    metrics = score_frames(truth, detections, num_classes=1, tau=0.3)
    elapsed = time.perf_counter() - start
    assert set(metrics) == BALL_KEYS | TAU_KEYS
    assert metrics["top1@0.5/R"] > 0.5 and metrics["AP_dist@8px"] > metrics["AP_dist@2px"] > 0
    assert elapsed < 5.0, f"score_frames took {elapsed:.2f} s on 10k frames"
