"""Tile cutting and merging on their own, against sahi (references nobody here wrote): the grid is
``sahi.slicing.get_slice_bboxes``, the boxes a tile keeps follow sahi's ``process_coco_annotations``
(but at ``>`` where sahi keeps at ``>=``), and merging is sahi's NMS / greedy NMM postprocess."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from balldet.boxes import Detections, xyxy_to_xywh
from balldet.errors import BalldetError
from balldet.slicing import merge
from balldet.slicing.merge import MergeRule, matching_pairs, merge_detections
from balldet.slicing.tiles import axis_starts, clip_to_tile, parse_tile_name, tile_grid, tile_name

sahi_slicing = pytest.importorskip("sahi.slicing")


def sahi_grid(width: int, height: int, tile: int, overlap: float) -> list[tuple[int, ...]]:
    return [tuple(r) for r in sahi_slicing.get_slice_bboxes(
        image_height=height, image_width=width, slice_height=tile, slice_width=tile, auto_slice_resolution=False,
        overlap_height_ratio=overlap, overlap_width_ratio=overlap,
    )]


# -- the grid ------------------------------------------------------------------------------------------------


SIZES = (1, 31, 100, 319, 320, 321, 500, 640, 641, 1000, 1080, 1920, 2160, 3840)
TILES = (32, 100, 320, 640, 1000)
OVERLAPS = (0.0, 0.1, 0.2, 0.25, 1 / 3, 0.5, 0.75, 0.9)


def grid_cases():
    for width, height, tile, overlap in itertools.product(SIZES, SIZES[::3], TILES, OVERLAPS):
        count = len(axis_starts(width, tile, overlap)) * len(axis_starts(height, tile, overlap))
        if count <= 3000:  # sahi builds its grid in Python; the tiniest steps on 4K frames only cost time
            yield width, height, tile, overlap


def test_grid_equals_sahis_get_slice_bboxes():
    cases = list(grid_cases())
    assert len(cases) > 1000
    for width, height, tile, overlap in cases:
        assert tile_grid(width, height, tile, overlap) == sahi_grid(width, height, tile, overlap), (
            width, height, tile, overlap)


def test_grid_covers_the_frame_with_full_size_tiles():
    for width, height, tile, overlap in grid_cases():
        rects = np.array(tile_grid(width, height, tile, overlap))
        assert (rects[:, 2] - rects[:, 0] == min(tile, width)).all()
        assert (rects[:, 3] - rects[:, 1] == min(tile, height)).all()
        assert len({tuple(r) for r in rects}) == len(rects)  # no tile twice
        # a full grid (every column in every row), each axis covered without a gap
        xs, ys = np.unique(rects[:, [0, 2]], axis=0), np.unique(rects[:, [1, 3]], axis=0)
        assert len(rects) == len(xs) * len(ys)
        for spans, size in ((xs, width), (ys, height)):
            assert spans[0, 0] == 0 and spans[-1, 1] == size and (spans[1:, 0] <= spans[:-1, 1]).all()


def test_overlap_zero_tiles_side_by_side():
    assert tile_grid(300, 200, 100, 0.0) == [
        (0, 0, 100, 100), (100, 0, 200, 100), (200, 0, 300, 100),
        (0, 100, 100, 200), (100, 100, 200, 200), (200, 100, 300, 200),
    ]


def test_a_tile_size_that_does_not_divide_the_frame_moves_the_last_tile_back():
    # 250 = 2.5 tiles: the third tile starts at 150 (full size), sharing 50 px with the second
    assert tile_grid(250, 100, 100, 0.0) == [(0, 0, 100, 100), (100, 0, 200, 100), (150, 0, 250, 100)]
    # overlap 0.2 of 100 -> step 80: 0, 80, 160, then flush with the edge at 170
    assert [r[0] for r in tile_grid(270, 100, 100, 0.2)] == [0, 80, 160, 170]
    # the overlap in pixels is truncated, as sahi does: int(0.25 * 90) = 22 -> step 68
    assert [r[0] for r in tile_grid(300, 90, 90, 0.25)] == [0, 68, 136, 204, 210]


def test_a_frame_smaller_than_a_tile_is_one_tile_spanning_it():
    assert tile_grid(50, 30, 100, 0.2) == [(0, 0, 50, 30)] == sahi_grid(50, 30, 100, 0.2)
    # smaller in one dimension only: one row of tiles as high as the frame
    assert tile_grid(250, 60, 100, 0.0) == [(0, 0, 100, 60), (100, 0, 200, 60), (150, 0, 250, 60)]
    assert tile_grid(100, 100, 100, 0.5) == [(0, 0, 100, 100)]


def test_where_sahi_differs_an_empty_frame_and_bad_settings_are_errors():
    # sahi returns no tile for a frame of no pixels; a frame we cannot see is a broken file here
    assert sahi_grid(0, 100, 100, 0.2) == []
    with pytest.raises(BalldetError, match="cannot be cut"):
        tile_grid(0, 100, 100, 0.2)
    for tile, overlap in ((0, 0.2), (-5, 0.2), (100.5, 0.2), (True, 0.2), (100, 1.0), (100, -0.1), (100, "0.2")):
        with pytest.raises(BalldetError) as error:
            tile_grid(1000, 1000, tile, overlap)
        assert error.value.fix


# -- the boxes a tile keeps --------------------------------------------------------------------------------


def test_a_box_on_a_tile_corner_is_whole_in_the_four_overlapping_tiles():
    rects = tile_grid(180, 180, 100, 0.2)  # 2 x 2 tiles sharing [80, 100) in x and y
    assert rects == [(0, 0, 100, 100), (80, 0, 180, 100), (0, 80, 100, 180), (80, 80, 180, 180)]
    ball = np.array([[85.0, 86.0, 95.0, 97.0]])
    local = [clip_to_tile(ball, [0], rect) for rect in rects]
    assert [k.indices.tolist() for k in local] == [[0]] * 4
    np.testing.assert_array_equal(
        np.concatenate([k.boxes for k in local]),
        [[85, 86, 95, 97], [5, 86, 15, 97], [85, 6, 95, 17], [5, 6, 15, 17]],
    )


def test_a_box_on_the_corner_of_tiles_without_overlap_is_in_none():
    # a quarter in each of four tiles: no tile holds most of it (an overlap wider than a ball avoids this)
    rects = tile_grid(200, 200, 100, 0.0)
    ball = np.array([[95.0, 95.0, 105.0, 105.0]])
    assert all(len(clip_to_tile(ball, [0], rect).indices) == 0 for rect in rects)


def test_a_box_cut_by_two_tiles_is_kept_clipped_in_the_one_holding_most_of_it():
    left, right = (0, 0, 100, 100), (100, 0, 200, 100)
    boxes = np.array([[94.0, 40.0, 104.0, 50.0], [10.0, 10.0, 20.0, 20.0], [150.0, 50.0, 160.0, 60.0]])
    kept_left = clip_to_tile(boxes, [3, 4, 5], left)
    kept_right = clip_to_tile(boxes, [3, 4, 5], right)
    assert kept_left.indices.tolist() == [0, 1] and kept_left.classes.tolist() == [3, 4]
    np.testing.assert_array_equal(kept_left.boxes, [[94, 40, 100, 50], [10, 10, 20, 20]])  # 60 % inside: clipped
    assert kept_right.indices.tolist() == [2]  # 40 % inside: dropped
    np.testing.assert_array_equal(kept_right.boxes, [[50, 50, 60, 60]])
    # min_inside moves the line
    assert clip_to_tile(boxes, [3, 4, 5], right, min_inside=0.3).indices.tolist() == [0, 2]


def test_a_box_cut_exactly_in_half_is_in_neither_tile_where_sahi_keeps_both_halves():
    box = [95.0, 40.0, 105.0, 50.0]
    for rect in ((0, 0, 100, 100), (100, 0, 200, 100)):
        assert len(clip_to_tile(np.array([box]), [0], rect).indices) == 0
        assert len(sahi_kept([box], rect, 0.5)) == 1


def test_boxes_of_no_area_count_as_inside_when_within_the_closed_tile():
    boxes = np.array([[10.0, 10.0, 10.0, 20.0], [100.0, 5.0, 100.0, 5.0], [101.0, 5.0, 101.0, 5.0]])
    assert clip_to_tile(boxes, [0, 0, 0], (0, 0, 100, 100)).indices.tolist() == [0, 1]


def sahi_kept(boxes_xyxy, rect, min_area_ratio):
    """sahi's own slicing of annotations: (index, local xyxy) of what the tile keeps."""
    from sahi.slicing import process_coco_annotations
    from sahi.utils.coco import CocoAnnotation

    annotations = [CocoAnnotation(bbox=list(map(float, xywh)), category_id=0, category_name="ball")
                   for xywh in xyxy_to_xywh(np.asarray(boxes_xyxy, dtype=np.float64))]
    kept = process_coco_annotations(annotations, list(rect), min_area_ratio)
    out = []
    for annotation in kept:
        x, y, w, h = annotation.bbox
        # sahi hands back new objects: find the box by where it lies in the frame
        index = next(i for i in range(len(annotations)) if _contains(boxes_xyxy[i], x + rect[0], y + rect[1]))
        out.append((index, [x, y, x + w, y + h]))
    return out


def _contains(box, x, y) -> bool:
    return box[0] <= x < box[2] and box[1] <= y < box[3]


def test_boxes_a_tile_keeps_equal_sahis_sliced_annotations():
    rng = np.random.default_rng(7)
    width, height, tile = 700, 400, 160
    rects = tile_grid(width, height, tile, 0.2)
    # integer boxes of 1..40 px that do not overlap each other (so each sahi box names its source)
    boxes = []
    while len(boxes) < 60:
        w, h = rng.integers(1, 41, size=2)
        x, y = rng.integers(0, width - w), rng.integers(0, height - h)
        box = [float(x), float(y), float(x + w), float(y + h)]
        if all(box[2] <= b[0] or b[2] <= box[0] or box[3] <= b[1] or b[3] <= box[1] for b in boxes):
            boxes.append(box)
    boxes = np.array(boxes)
    ratio = 0.3711  # no ratio of two areas of at most 1600 px is this: > and >= agree
    for rect in rects:
        ours = clip_to_tile(boxes, np.zeros(len(boxes)), rect, min_inside=ratio)
        theirs = sorted(sahi_kept(boxes, rect, ratio))
        assert ours.indices.tolist() == [i for i, _ in theirs], rect
        np.testing.assert_allclose(ours.boxes, np.array([b for _, b in theirs]).reshape(-1, 4))


def test_no_boxes():
    kept = clip_to_tile(np.zeros((0, 4)), [], (0, 0, 100, 100))
    assert kept.boxes.shape == (0, 4) and kept.classes.shape == (0,) and kept.indices.shape == (0,)
    with pytest.raises(ValueError, match="one class per box"):
        clip_to_tile(np.zeros((2, 4)), [0], (0, 0, 100, 100))


def test_tile_names_map_back_to_the_frame():
    assert tile_name("match-01_000123", (640, 512, 1280, 1152)) == "match-01_000123__x640_y512"
    assert parse_tile_name("match-01_000123__x640_y512") == ("match-01_000123", 640, 512)
    assert parse_tile_name("match-01_000123__x640_y512.jpg") == ("match-01_000123", 640, 512)
    # a stem holding the separator itself, or dots
    assert parse_tile_name(tile_name("a__x1_y2", (3, 4, 5, 6)) + ".png") == ("a__x1_y2", 3, 4)
    assert parse_tile_name(tile_name("cam.1.frame", (0, 0, 1, 1))) == ("cam.1.frame", 0, 0)
    for name in ("frame_0001", "frame__x1_y", "frame__x-1_y2", "__x1_y2", "frame__x1_y2_z"):
        assert parse_tile_name(name) is None, name


# -- merging -----------------------------------------------------------------------------------------------


@pytest.fixture
def sahi_numpy_backend():
    """sahi's postprocess on its numpy backend (on a GPU machine it would pick torchvision, which
    suppresses at > rather than >= and breaks score ties its own way)."""
    from sahi.postprocess.backends import get_postprocess_backend, set_postprocess_backend

    before = get_postprocess_backend()
    set_postprocess_backend("numpy")
    yield
    set_postprocess_backend(before)


def sahi_merge(parts, *, method, metric, threshold, class_agnostic) -> Detections:
    """sahi's postprocess of the parts, built as get_sliced_prediction builds its predictions."""
    from sahi.postprocess.combine import GreedyNMMPostprocess, NMSPostprocess
    from sahi.prediction import ObjectPrediction

    predictions = []
    for detections, (dx, dy) in parts:
        rows = zip(detections.boxes.tolist(), detections.scores.tolist(), detections.classes.tolist())
        for box, score, label in rows:
            prediction = ObjectPrediction(bbox=box, category_id=int(label), score=score, shift_amount=[dx, dy])
            predictions.append(prediction.get_shifted_object_prediction())
    postprocess = {"nms": NMSPostprocess, "nmm": GreedyNMMPostprocess}[method](
        match_threshold=threshold, match_metric=metric.upper(), class_agnostic=class_agnostic)
    merged = postprocess(predictions) if len(predictions) > 1 else predictions
    return Detections(
        boxes=np.array([p.bbox.to_xyxy() for p in merged]).reshape(-1, 4),
        scores=np.array([p.score.value for p in merged]),
        classes=np.array([p.category.id for p in merged], dtype=np.int64),
    )


def canonical(detections: Detections) -> np.ndarray:
    rows = np.column_stack([detections.boxes, detections.scores, detections.classes])
    return rows[np.lexsort((rows[:, 3], rows[:, 2], rows[:, 1], rows[:, 0], -rows[:, 4]))]


def ball_parts(rects, ball, scores, label=0):
    """The ball (frame xyxy) as each tile that holds it whole would see it, with the tile's score."""
    parts = []
    for rect, score in zip(rects, scores):
        local = clip_to_tile(np.array([ball]), [label], rect)
        parts.append((Detections(local.boxes, np.full(len(local.indices), score), local.classes), rect[:2]))
    return parts


@pytest.mark.parametrize("method,metric", [("nms", "iou"), ("nms", "ios"), ("nmm", "ios"), ("nmm", "iou")])
def test_a_ball_seen_by_overlapping_tiles_is_one_detection_in_frame_pixels(method, metric, sahi_numpy_backend):
    rects = tile_grid(180, 180, 100, 0.2)
    ball = [85.25, 86.5, 95.75, 97.0]
    parts = ball_parts(rects, ball, [0.61, 0.83, 0.42, 0.7])
    rule = dict(method=method, metric=metric, threshold=0.5, class_agnostic=False)
    merged = merge_detections(parts, **rule)
    assert canonical(merged).tolist() == [[*ball, 0.83, 0]]
    np.testing.assert_array_equal(canonical(merged), canonical(sahi_merge(parts, **rule)))


def test_nmm_grows_the_box_where_nms_keeps_the_best_one(sahi_numpy_backend):
    # the ball half-seen: one tile has the top, another (better score) a box shifted by a pixel
    parts = [(Detections([[10.0, 10.0, 20.0, 20.0]], [0.9], [0]), (0, 0)),
             (Detections([[11.0, 12.0, 21.0, 22.0]], [0.5], [0]), (0, 0)),
             (Detections([[40.0, 40.0, 50.0, 50.0]], [0.5], [1]), (0, 0))]
    nms = merge_detections(parts, method="nms", metric="ios", threshold=0.5)
    nmm = merge_detections(parts, method="nmm", metric="ios", threshold=0.5)
    assert canonical(nms)[:, :4].tolist() == [[10, 10, 20, 20], [40, 40, 50, 50]]
    assert canonical(nmm)[:, :4].tolist() == [[10, 10, 21, 22], [40, 40, 50, 50]]
    for method, ours in (("nms", nms), ("nmm", nmm)):
        theirs = sahi_merge(parts, method=method, metric="ios", threshold=0.5, class_agnostic=False)
        np.testing.assert_array_equal(canonical(ours), canonical(theirs))


def random_parts(rng, rects, per_tile: int, classes: int = 2):
    """Candidate boxes as a detector at conf 0.001 keeps them: many small ones, some large, some
    duplicated in neighbouring tiles. Coordinates on a 1/16 px grid and float32 scores, so that
    sahi's float32 arithmetic sees the very same numbers."""
    parts = []
    balls = rng.uniform(0, [rects[-1][2] - 12, rects[-1][3] - 12], size=(per_tile * len(rects) // 3, 2))
    for rect in rects:
        x0, y0, x1, y1 = rect
        size = np.where(rng.random(per_tile) < 0.85, rng.uniform(3, 14, per_tile), rng.uniform(14, 120, per_tile))
        xy = rng.uniform(0, [x1 - x0, y1 - y0], size=(per_tile, 2))
        boxes = np.column_stack([xy, xy + size[:, None] * rng.uniform(0.7, 1.3, (per_tile, 2))])
        # the same balls seen by every tile they fall in, a pixel or so apart
        inside = balls[(balls[:, 0] >= x0) & (balls[:, 0] + 12 <= x1) & (balls[:, 1] >= y0) & (balls[:, 1] + 12 <= y1)]
        jitter = rng.normal(0, 0.6, (len(inside), 4))
        seen = np.column_stack([inside - [x0, y0], inside - [x0, y0] + 9]) + jitter
        boxes = np.concatenate([boxes, seen])
        boxes = np.clip(np.round(boxes * 16) / 16, 0, [x1 - x0, y1 - y0, x1 - x0, y1 - y0])
        scores = rng.uniform(0.001, 1, len(boxes)).astype(np.float32).astype(np.float64)
        labels = rng.integers(0, classes, len(boxes))
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        parts.append((Detections(boxes[keep], scores[keep], labels[keep]), rect[:2]))
    return parts


@pytest.mark.parametrize("method,metric,class_agnostic", [
    ("nms", "iou", False), ("nms", "iou", True), ("nms", "ios", False),
    ("nmm", "ios", False), ("nmm", "iou", True), ("nmm", "ios", True),
])
def test_merging_equals_sahis_postprocess(method, metric, class_agnostic, sahi_numpy_backend):
    rng = np.random.default_rng(3)
    rects = tile_grid(1280, 480, 320, 0.2)  # 10 tiles, ~1000 candidates
    parts = random_parts(rng, rects, per_tile=80)
    for threshold in (0.5, 0.3):
        rule = dict(method=method, metric=metric, threshold=threshold, class_agnostic=class_agnostic)
        ours, theirs = canonical(merge_detections(parts, **rule)), canonical(sahi_merge(parts, **rule))
        assert 0 < len(ours) < sum(len(d.scores) for d, _ in parts)  # something was merged
        assert ours.shape == theirs.shape, rule
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)


def test_merging_equals_sahis_sparse_path_on_many_candidates(sahi_numpy_backend):
    # above 2000 candidates sahi's numpy backend switches to an STRtree (its sparse path)
    rng = np.random.default_rng(11)
    parts = random_parts(rng, tile_grid(1920, 640, 320, 0.2), per_tile=120)
    assert sum(len(d.scores) for d, _ in parts) > 2000
    for method, metric in (("nms", "iou"), ("nmm", "ios")):
        rule = dict(method=method, metric=metric, threshold=0.5, class_agnostic=False)
        np.testing.assert_allclose(canonical(merge_detections(parts, **rule)),
                                   canonical(sahi_merge(parts, **rule)), rtol=0, atol=1e-9)


@pytest.mark.parametrize("band", [None, 0.5, 7.5, 50.0, 5000.0])
@pytest.mark.parametrize("metric", ["iou", "ios"])
def test_the_sweep_finds_every_matching_pair(band, metric):
    rng = np.random.default_rng(5)
    n = 400
    xy = np.round(rng.uniform(0, 200, (n, 2)) * 4) / 4  # on a grid: equal x1s, touching edges
    boxes = np.column_stack([xy, xy + np.round(rng.uniform(0, 40, (n, 2)) * 4) / 4])
    groups = rng.integers(0, 3, n)
    i, j = np.triu_indices(n, k=1)
    same = groups[i] == groups[j]
    matches = same & (merge.overlap(boxes[i], boxes[j], metric) >= 0.3)
    expected = set(zip(i[matches].tolist(), j[matches].tolist()))
    low, high = matching_pairs(boxes, groups, metric, 0.3, band=band)
    assert len(low) == len(expected) and set(zip(low.tolist(), high.tolist())) == expected
    assert len(expected) > 50


def test_merge_keeps_sahis_order_for_ties():
    # equal scores: the box with the smaller x1 comes first and suppresses the other
    parts = [(Detections([[2.0, 0.0, 12.0, 10.0], [1.0, 0.0, 11.0, 10.0]], [0.5, 0.5], [0, 0]), (0, 0))]
    assert merge_detections(parts).boxes.tolist() == [[1.0, 0.0, 11.0, 10.0]]


def test_merging_nothing():
    assert len(merge_detections([]).scores) == 0
    empty = merge_detections([(Detections.empty(), (0, 0)), (Detections.empty(), (100, 0))], method="nmm")
    assert empty.boxes.shape == (0, 4) and empty.classes.dtype == np.int64
    one = merge_detections([(Detections([[1.0, 2.0, 3.0, 4.0]], [0.5], [2]), (10, 20))])
    assert one.boxes.tolist() == [[11.0, 22.0, 13.0, 24.0]] and one.classes.tolist() == [2]


def test_a_merge_rule_that_is_not_one_is_refused():
    for bad in (dict(method="wbf"), dict(metric="giou"), dict(threshold=0), dict(threshold=1.5), dict(threshold="0.5")):
        with pytest.raises(BalldetError) as error:
            MergeRule(**bad)
        assert error.value.fix
    with pytest.raises(BalldetError):
        merge_detections([], method="soft-nms")
