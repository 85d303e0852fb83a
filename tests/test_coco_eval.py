"""balldet.evaluation.coco against pycocotools' COCOeval (bbox) on generated data, plus hand-worked
checks of best_f1 and the helpers."""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balldet.boxes import xyxy_to_xywh, yolo_to_xywh
from balldet.evaluation import SUMMARY_KEYS, ImageDets, ImageGT, evaluate_coco

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


# --------------------------------------------------------------------------- reference


def coco_reference(gts: list[ImageGT], dets: list[ImageDets], class_ids) -> COCOeval:
    """Run pycocotools on the same data: image ids 1..N in list order, annotation ids from 1."""
    images = [{"id": i + 1, "width": 4000, "height": 4000} for i in range(len(gts))]
    categories = [{"id": int(c)} for c in class_ids]
    anns = []
    for i, g in enumerate(gts):
        for box, cls, area, crowd in zip(
            g.boxes.tolist(), g.classes.tolist(), g.areas.tolist(), g.iscrowd.tolist()
        ):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": int(cls),
                    "bbox": box,
                    "area": area,
                    "iscrowd": int(crowd),
                }
            )
    results = [
        {"image_id": i + 1, "category_id": int(c), "bbox": b, "score": s}
        for i, d in enumerate(dets)
        for b, s, c in zip(d.boxes.tolist(), d.scores.tolist(), d.classes.tolist())
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "categories": categories, "annotations": anns}
        gt.createIndex()
        if results:
            dt = gt.loadRes(results)
        else:  # loadRes cannot take an empty list; an empty result set is what it would build
            dt = COCO()
            dt.dataset = {"images": list(images), "categories": categories, "annotations": []}
            dt.createIndex()
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def assert_matches_reference(gts, dets, class_ids=None):
    ours = evaluate_coco(gts, dets, class_ids=class_ids)
    ref = coco_reference(gts, dets, ours.class_ids)
    np.testing.assert_allclose(ours.stats, np.asarray(ref.stats), rtol=0, atol=1e-12)
    for name in ("precision", "recall", "scores"):
        np.testing.assert_allclose(getattr(ours, name), ref.eval[name], rtol=0, atol=1e-12, err_msg=name)
    return ours


# --------------------------------------------------------------------------- generators


def _boxes(rng, n, integer):
    kind = rng.integers(0, 3, n)  # 0 small, 1 medium, 2 large
    lo = np.array([1, 32, 96])[kind]
    hi = np.array([32, 96, 300])[kind]
    wh = rng.uniform(lo[:, None], hi[:, None], (n, 2))
    xy = rng.uniform(0, 500, (n, 2))
    b = np.concatenate([xy, wh], axis=1)
    return np.round(b) if integer else b


def make_case(rng, n_img=12, n_cls=3, crowd=True, custom_area=True):
    integer = bool(rng.integers(0, 2))
    tie_scores = bool(rng.integers(0, 2))
    only_det_class = 7
    gts, dets = [], []
    for _ in range(n_img):
        kind = rng.integers(0, 6)  # 0: empty frame, 1: GT only, 2: dets only, else both
        n_gt = 0 if kind in (0, 2) else int(rng.integers(1, 6))
        g_box = _boxes(rng, n_gt, integer)
        if n_gt and rng.random() < 0.2:  # duplicated ground truth -> IoU ties
            g_box[-1] = g_box[0]
        g_cls = rng.integers(0, n_cls, n_gt)
        g_crowd = (rng.random(n_gt) < 0.15) if crowd else np.zeros(n_gt, bool)
        areas = None
        if custom_area and rng.random() < 0.3:
            areas = g_box[:, 2] * g_box[:, 3] * rng.uniform(0.3, 1.5, n_gt)
        gts.append(ImageGT(g_box, g_cls, areas=areas, iscrowd=g_crowd))

        d_box, d_cls = [], []
        if kind not in (0, 1):
            for j in range(n_gt):  # detections around each ground truth
                for _ in range(int(rng.integers(0, 4))):
                    jitter = rng.normal(0, 0.15, 4) * np.r_[g_box[j, 2:], g_box[j, 2:]]
                    b = g_box[j] + (0 if rng.random() < 0.15 else jitter)
                    b[2:] = np.maximum(b[2:], 0.5)
                    d_box.append(np.round(b) if integer else b)
                    d_cls.append(g_cls[j] if rng.random() < 0.9 else rng.integers(0, n_cls))
            n_fp = int(rng.integers(0, 5))
            for b in _boxes(rng, n_fp, integer):
                d_box.append(b)
                d_cls.append(rng.integers(0, n_cls) if rng.random() < 0.85 else only_det_class)
        n_det = len(d_box)
        if tie_scores:
            scores = rng.integers(1, 6, n_det) / 5.0
        else:
            scores = rng.random(n_det)
        dets.append(ImageDets(np.array(d_box).reshape(-1, 4), scores, np.array(d_cls, dtype=int)))
    return gts, dets


# --------------------------------------------------------------------------- comparisons


@pytest.mark.parametrize("seed", range(120))
def test_random_cases_match_pycocotools(seed):
    rng = np.random.default_rng(seed)
    gts, dets = make_case(rng, n_img=int(rng.integers(1, 16)), n_cls=int(rng.integers(1, 4)))
    assert_matches_reference(gts, dets)


@pytest.mark.parametrize("seed", range(10))
def test_single_class_many_images(seed):
    rng = np.random.default_rng(1000 + seed)
    gts, dets = make_case(rng, n_img=150, n_cls=1, crowd=seed % 2 == 0)
    assert_matches_reference(gts, dets)


@pytest.mark.parametrize("seed", range(6))
def test_more_than_100_detections_per_image(seed):
    rng = np.random.default_rng(2000 + seed)
    gts, dets = [], []
    for _ in range(3):
        g = _boxes(rng, 30, True)
        gts.append(ImageGT(g, np.zeros(30, int)))
        d = np.concatenate([np.repeat(g, 4, axis=0) + rng.normal(0, 2, (120, 4)), _boxes(rng, 15, True)])
        d[:, 2:] = np.maximum(d[:, 2:], 1)
        scores = rng.integers(0, 4, len(d)) / 4.0  # heavy ties around the cut at 100
        dets.append(ImageDets(d, scores, np.zeros(len(d), int)))
    assert_matches_reference(gts, dets)


def test_explicit_class_ids_drop_and_add_classes():
    rng = np.random.default_rng(7)
    gts, dets = make_case(rng, n_img=10, n_cls=3)
    ours = assert_matches_reference(gts, dets, class_ids=[2, 0, 5])
    assert ours.class_ids == (0, 2, 5)
    assert np.all(ours.precision[:, :, 2] == -1)  # class 5 has nothing


def test_pair_chunking_and_sort_fallback_do_not_change_results(monkeypatch):
    import balldet.evaluation.coco_match as coco_match

    rng = np.random.default_rng(11)
    gts, dets = make_case(rng, n_img=12, n_cls=2)
    expected = evaluate_coco(gts, dets)
    monkeypatch.setattr(coco_match, "PAIR_CHUNK", 3)
    chunked = assert_matches_reference(gts, dets)
    np.testing.assert_array_equal(chunked.precision, expected.precision)

    major = np.array([2**61, 0, 2**61, 5], dtype=np.int64)
    minor = np.array([3, 2, 1, 0], dtype=np.int64)
    np.testing.assert_array_equal(coco_match.argsort_pairs(major, minor), [1, 3, 2, 0])


def test_class_only_in_detections_is_minus_one_and_left_out():
    gts = [ImageGT([[10, 10, 50, 50]], [0])]
    dets = [ImageDets([[10, 10, 50, 50], [100, 100, 20, 20]], [0.9, 0.8], [0, 3])]
    ours = assert_matches_reference(gts, dets)
    assert ours.class_ids == (0, 3)
    assert np.all(ours.precision[:, :, 1] == -1)
    assert set(ours.per_class_ap()) == {0}


def test_ground_truth_without_detections():
    gts = [ImageGT([[0, 0, 10, 10], [20, 20, 50, 50]], [0, 0]), ImageGT(np.zeros((0, 4)), [])]
    dets = [ImageDets(np.zeros((0, 4)), [], []), ImageDets(np.zeros((0, 4)), [], [])]
    ours = assert_matches_reference(gts, dets)
    assert ours.stats[0] == 0.0 and ours.stats[8] == 0.0
    assert ours.stats[5] == -1.0  # no large GT


def test_detections_without_any_ground_truth():
    gts = [ImageGT(np.zeros((0, 4)), []), ImageGT(np.zeros((0, 4)), [])]
    dets = [ImageDets([[0, 0, 10, 10]], [0.5], [1]), ImageDets(np.zeros((0, 4)), [], [])]
    ours = assert_matches_reference(gts, dets)
    assert np.all(ours.stats == -1)


def test_nothing_at_all():
    ours = evaluate_coco([ImageGT(np.zeros((0, 4)), [])], [ImageDets(np.zeros((0, 4)), [], [])])
    assert ours.class_ids == ()
    assert ours.stats.shape == (12,) and np.all(ours.stats == -1)
    assert ours.precision.shape == (10, 101, 0, 4, 3)


def test_crowd_ground_truth_absorbs_many_detections():
    gts = [ImageGT([[0, 0, 100, 100], [200, 200, 40, 40]], [0, 0], iscrowd=[1, 0])]
    boxes = [[10, 10, 30, 30], [50, 50, 30, 30], [200, 200, 40, 40], [0, 0, 100, 100], [400, 400, 5, 5]]
    dets = [ImageDets(boxes, [0.9, 0.8, 0.7, 0.6, 0.5], [0, 0, 0, 0, 0])]
    ours = assert_matches_reference(gts, dets)
    f1 = ours.best_f1(0.5)
    assert f1["P"] == 1.0 and f1["R"] == 1.0 and f1["threshold"] == 0.7  # crowd hits are ignored


def test_tiny_boxes_and_exact_ties():
    gts = [ImageGT([[5, 5, 4, 4], [5, 5, 4, 4], [30, 30, 2, 2]], [0, 0, 0])]
    dets = [ImageDets([[5, 5, 4, 4], [5, 5, 4, 4], [5, 5, 4, 4], [30, 30, 2, 3]], [0.5] * 4, [0] * 4)]
    assert_matches_reference(gts, dets)


def test_equal_iou_goes_to_the_ground_truth_listed_last():
    # d1 overlaps both GTs with IoU 0.6; it must take the second one, so d2 (IoU 2/3 with the
    # second GT only) finds nothing left and is a false positive.
    gts = [ImageGT([[0, 0, 10, 10], [5, 0, 10, 10]], [0, 0])]
    dets = [ImageDets([[2.5, 0, 10, 10], [7, 0, 10, 10]], [0.9, 0.8], [0, 0])]
    ours = assert_matches_reference(gts, dets)
    assert ours.recall[0, 0, 0, 2] == 0.5


@pytest.mark.parametrize("seed", range(40))
def test_dense_integer_grid_with_many_ties(seed):
    rng = np.random.default_rng(3000 + seed)
    gts, dets = [], []
    for _ in range(int(rng.integers(1, 6))):
        n_gt, n_det = int(rng.integers(0, 7)), int(rng.integers(0, 10))
        g = np.concatenate([rng.integers(0, 8, (n_gt, 2)), rng.integers(2, 9, (n_gt, 2))], 1)
        d = np.concatenate([rng.integers(0, 8, (n_det, 2)), rng.integers(2, 9, (n_det, 2))], 1)
        areas = rng.choice([10.0, 2000.0, 20000.0], n_gt) if rng.random() < 0.5 else None
        gts.append(ImageGT(g, rng.integers(0, 2, n_gt), areas=areas, iscrowd=rng.random(n_gt) < 0.2))
        dets.append(ImageDets(d, rng.integers(1, 4, n_det) / 4.0, rng.integers(0, 2, n_det)))
    if any(len(g) for g in gts) or any(len(d) for d in dets):
        assert_matches_reference(gts, dets)


small_box = st.tuples(
    st.integers(0, 12), st.integers(0, 12), st.integers(1, 12), st.integers(1, 12)
)


@st.composite
def frames(draw):
    n_img = draw(st.integers(1, 4))
    gts, dets = [], []
    for _ in range(n_img):
        g = draw(st.lists(st.tuples(small_box, st.integers(0, 1), st.booleans()), max_size=4))
        gts.append(
            ImageGT(
                np.array([b for b, _, _ in g], float).reshape(-1, 4),
                [c for _, c, _ in g],
                iscrowd=[bool(cr and i % 3 == 2) for i, (_, _, cr) in enumerate(g)],
            )
        )
        d = draw(st.lists(st.tuples(small_box, st.integers(0, 1), st.sampled_from([0.2, 0.5, 0.9])), max_size=6))
        dets.append(
            ImageDets(
                np.array([b for b, _, _ in d], float).reshape(-1, 4),
                [s for _, _, s in d],
                [c for _, c, _ in d],
            )
        )
    return gts, dets


@settings(max_examples=80, deadline=None)
@given(frames())
def test_hypothesis_small_grid_matches_pycocotools(case):
    gts, dets = case
    if not any(len(g) for g in gts) and not any(len(d) for d in dets):
        return
    assert_matches_reference(gts, dets)


# --------------------------------------------------------------------------- best_f1 by hand


def _one_image(gt_boxes, det_boxes, scores, gt_cls=None, det_cls=None):
    gt_cls = [0] * len(gt_boxes) if gt_cls is None else gt_cls
    det_cls = [0] * len(det_boxes) if det_cls is None else det_cls
    return evaluate_coco(
        [ImageGT(np.array(gt_boxes, float).reshape(-1, 4), gt_cls)],
        [ImageDets(np.array(det_boxes, float).reshape(-1, 4), scores, det_cls)],
    )


A, B = [0, 0, 10, 10], [50, 50, 10, 10]
FP1, FP2 = [100, 100, 10, 10], [200, 200, 10, 10]


def test_best_f1_picks_the_best_cut():
    # score: .9 TP, .8 FP, .7 TP, .6 FP  -> F1 per cut: 2/3, 1/2, 4/5, 2/3
    r = _one_image([A, B], [A, FP1, B, FP2], [0.9, 0.8, 0.7, 0.6])
    f = r.best_f1()
    assert f["threshold"] == 0.7
    assert f["P"] == pytest.approx(2 / 3) and f["R"] == 1.0 and f["F1"] == pytest.approx(0.8)


def test_best_f1_does_not_cut_inside_a_score_tie():
    # .9 TP, then .5 TP and .5 FP: keeping the .5 TP alone is not possible (F1 would be 1).
    # Cuts: .9 -> P 1, R 1/2, F1 2/3; .5 -> P 2/3, R 1, F1 4/5.
    r = _one_image([A, B], [A, B, FP1], [0.9, 0.5, 0.5])
    f = r.best_f1()
    assert f == {"P": pytest.approx(2 / 3), "R": 1.0, "F1": pytest.approx(0.8), "threshold": 0.5}


def test_best_f1_uses_the_requested_iou():
    # IoU of [0, 0, 10, 6] with A is 0.6: a TP at 0.5, a FP at 0.75
    r = _one_image([A], [[0, 0, 10, 6]], [0.4])
    assert r.best_f1(0.5) == {"P": 1.0, "R": 1.0, "F1": 1.0, "threshold": 0.4}
    assert r.best_f1(0.75) == {"P": 0.0, "R": 0.0, "F1": 0.0, "threshold": 0.4}
    with pytest.raises(ValueError):
        r.best_f1(0.42)


def test_best_f1_pools_classes():
    # class 0: .9 TP; class 1: .8 FP, .3 TP; GT: one per class.
    # Cuts: .9 -> 1/1, R 1/2, F1 2/3; .8 -> P 1/2, R 1/2, F1 1/2; .3 -> P 2/3, R 1, F1 4/5
    r = _one_image([A, B], [A, FP1, B], [0.9, 0.8, 0.3], gt_cls=[0, 1], det_cls=[0, 1, 1])
    f = r.best_f1()
    assert f["threshold"] == 0.3 and f["F1"] == pytest.approx(0.8)


def test_best_f1_without_detections_or_ground_truth():
    f = _one_image([A], [], []).best_f1()
    assert f["P"] == f["R"] == f["F1"] == 0.0 and math.isnan(f["threshold"])
    f = _one_image([], [A, B], [0.3, 0.6]).best_f1()
    assert f == {"P": 0.0, "R": 0.0, "F1": 0.0, "threshold": 0.6}


# --------------------------------------------------------------------------- API details


def test_summary_and_per_class_ap():
    r = _one_image([A, B], [A, FP1, B], [0.9, 0.8, 0.3], gt_cls=[0, 1], det_cls=[0, 1, 1])
    s = r.summary()
    assert list(s) == list(SUMMARY_KEYS)
    assert s["mAP@0.5:0.95"] == r.stats[0] and s["AR_large"] == r.stats[11]
    ap = r.per_class_ap()
    ap50 = r.per_class_ap(iou=0.5)
    assert set(ap) == {0, 1}
    assert ap50[0] == pytest.approx(1.0) and ap50[1] == pytest.approx(0.5)
    assert np.mean(list(ap.values())) == pytest.approx(r.stats[0], abs=1e-12)


def test_box_helpers_and_validation():
    np.testing.assert_allclose(xyxy_to_xywh([[1, 2, 11, 22]]), [[1, 2, 10, 20]])
    np.testing.assert_allclose(yolo_to_xywh([[0.5, 0.5, 0.2, 0.1]], 100, 200), [[40, 90, 20, 20]])
    with pytest.raises(ValueError):
        ImageGT([[1, 2, 3]], [0])
    with pytest.raises(ValueError):
        ImageDets([[1, 2, 3, 4]], [0.5, 0.6], [0])
    with pytest.raises(ValueError):
        evaluate_coco([ImageGT([[0, 0, 1, 1]], [0])], [])
