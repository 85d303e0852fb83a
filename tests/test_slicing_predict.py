"""Sliced prediction through the real backends against sahi's own sliced prediction (its ultralytics
adapter, slicing and postprocess), on a wide frame, with untrained networks (offline, no weights to
download): their junk boxes at conf 0.001 are as good as any for comparing two ways of predicting."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from balldet.backends.base_model import batch_sources
from balldet.backends.ultralytics.backend import UltralyticsWrapper
from balldet.boxes import Detections
from balldet.errors import BackendError, DatasetError
from balldet.slicing import MergeRule, predict_sliced, tile_grid
from balldet.slicing.merge import shift
from balldet.slicing.predict import tile_parts, with_area

sahi = pytest.importorskip("sahi")

TILE, OVERLAP = 160, 0.25
WIDTH, HEIGHT = 608, 224  # 5 x 2 tiles; 608 is no multiple of the step (120): the last column moves back


def wide_frame(rng: np.random.Generator, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Grass-like noise with white balls of 4-12 px: BGR uint8."""
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[...] = (40, 140, 60)
    frame = np.clip(frame + rng.normal(0, 18, frame.shape), 0, 255).astype(np.uint8)
    for _ in range(25):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(frame, centre, int(rng.integers(2, 7)), (235, 235, 235), -1)
    return frame


@pytest.fixture(scope="module")
def frame_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("frames") / "wide.png"  # lossless: every reader sees the same pixels
    cv2.imwrite(str(path), wide_frame(np.random.default_rng(0)))
    return path


@pytest.fixture(scope="module")
def ultralytics_weights(tmp_path_factory) -> Path:
    """An untrained yolov8n that keeps its 300 candidates per tile at conf 0.001, with spread scores
    (0.01-0.5) and sizes (10-70 px): batch norm calibrated on a frame (an untrained network's
    activations otherwise vanish layer by layer: every score the same), the class logits near
    -5, the box distances favouring a few strides."""
    root = tmp_path_factory.mktemp("ultralytics")
    UltralyticsWrapper(root / "cache")._configure()  # balldet's offline settings before ultralytics imports
    from ultralytics import YOLO

    torch.manual_seed(0)
    model = YOLO("yolov8n.yaml")
    network, head = model.model, model.model.model[-1]
    for layer in network.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.reset_running_stats()
            layer.momentum = None  # running statistics = those of the one calibration batch
    frame = wide_frame(np.random.default_rng(5))[None, :TILE, :, ::-1]
    network.train()
    with torch.no_grad():
        network(torch.from_numpy(np.ascontiguousarray(frame)).permute(0, 3, 1, 2).float() / 255)
    network.eval()
    for branch in head.cv3:
        torch.nn.init.normal_(branch[-1].weight, std=0.05)
        torch.nn.init.constant_(branch[-1].bias, -5.0)
    for branch in head.cv2:
        torch.nn.init.normal_(branch[-1].weight, std=0.1)
        branch[-1].bias.data = (-0.5 * torch.arange(float(head.reg_max))).repeat(4)
    path = root / "untrained.pt"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def ultralytics_model(ultralytics_weights, tmp_path_factory) -> UltralyticsWrapper:
    wrapper = UltralyticsWrapper(tmp_path_factory.mktemp("cache"))
    wrapper.load(ultralytics_weights, device="cpu")
    return wrapper


@pytest.fixture(scope="module")
def sahi_model(ultralytics_model, ultralytics_weights):
    from sahi import AutoDetectionModel

    return AutoDetectionModel.from_pretrained(
        model_type="ultralytics", model_path=str(ultralytics_weights), confidence_threshold=0.001, device="cpu",
        image_size=TILE,
    )


def canonical(detections: Detections) -> np.ndarray:
    rows = np.column_stack([detections.boxes, detections.scores, detections.classes])
    return rows[np.lexsort((rows[:, 3], rows[:, 2], rows[:, 1], rows[:, 0], -rows[:, 4]))]


def from_sahi(predictions) -> Detections:
    return Detections(
        boxes=np.array([p.bbox.to_xyxy() for p in predictions]).reshape(-1, 4),
        scores=np.array([float(p.score.value) for p in predictions]),
        classes=np.array([p.category.id for p in predictions], dtype=np.int64),
    )


def test_each_tile_predicts_as_sahi_predicts_its_slice(ultralytics_model, sahi_model, frame_file):
    from sahi.predict import get_prediction
    from sahi.slicing import slice_image

    frame = cv2.imread(str(frame_file), cv2.IMREAD_COLOR)
    rects = tile_grid(WIDTH, HEIGHT, TILE, OVERLAP)
    ours = tile_parts(ultralytics_model, frame, rects, image_size=TILE, batch_size=1)
    slices = slice_image(str(frame_file), slice_height=TILE, slice_width=TILE, overlap_height_ratio=OVERLAP,
                         overlap_width_ratio=OVERLAP, auto_slice_resolution=False)
    assert [tuple(s) for s in slices.starting_pixels] == [r[:2] for r in rects]
    total = 0
    for (detections, offset), piece in zip(ours, slices):
        theirs = get_prediction(piece["image"], sahi_model, shift_amount=piece["starting_pixel"],
                                full_shape=[HEIGHT, WIDTH], postprocess=None)
        theirs = from_sahi([p.get_shifted_object_prediction() for p in theirs.object_prediction_list])
        np.testing.assert_allclose(canonical(shift(detections, *offset)), canonical(theirs), rtol=0, atol=1e-4)
        total += len(detections.scores)
    assert total > 500  # the comparison has something to compare


@pytest.mark.parametrize("full_frame", [False, True])
@pytest.mark.parametrize("rule", [MergeRule(), MergeRule("nmm", "ios", 0.5)], ids=["nms-iou", "greedy_nmm-ios"])
def test_predict_sliced_equals_sahis_get_sliced_prediction(
    ultralytics_model, sahi_model, frame_file, full_frame, rule
):
    from sahi.postprocess.backends import get_postprocess_backend, set_postprocess_backend
    from sahi.predict import get_sliced_prediction

    tiles = len(tile_grid(WIDTH, HEIGHT, TILE, OVERLAP))
    [ours] = predict_sliced(ultralytics_model, [frame_file], tile=TILE, overlap=OVERLAP, full_frame=full_frame,
                            image_size=TILE, batch_size=tiles, merge=rule)
    before = get_postprocess_backend()
    set_postprocess_backend("numpy")  # on a GPU sahi would merge with torchvision's rules
    try:
        result = get_sliced_prediction(
            str(frame_file), sahi_model, slice_height=TILE, slice_width=TILE, overlap_height_ratio=OVERLAP,
            overlap_width_ratio=OVERLAP, perform_standard_pred=full_frame, auto_slice_resolution=False,
            postprocess_type={"nms": "NMS", "nmm": "GREEDYNMM"}[rule.method],
            postprocess_match_metric=rule.metric.upper(), postprocess_match_threshold=rule.threshold,
            postprocess_class_agnostic=rule.class_agnostic, force_postprocess_type=True, batch_size=tiles,
            verbose=0,
        )
    finally:
        set_postprocess_backend(before)
    theirs = from_sahi(result.object_prediction_list)
    assert len(ours.scores) > 300
    # the same forward passes (same batches): boxes to float32 rounding of the tile offsets
    np.testing.assert_allclose(canonical(ours), canonical(theirs), rtol=0, atol=1e-4)
    assert ours.boxes[:, [0, 2]].max() <= WIDTH and ours.boxes[:, [1, 3]].max() <= HEIGHT


def matched(a: Detections, b: Detections, *, box_px: float, score: float) -> np.ndarray:
    """Which detections of ``a`` have one in ``b`` of the same class within ``box_px`` and ``score``."""
    close = (np.abs(a.boxes[:, None, :] - b.boxes[None, :, :]).max(axis=2) <= box_px) & (
        np.abs(a.scores[:, None] - b.scores[None, :]) <= score) & (a.classes[:, None] == b.classes[None, :])
    return close.any(axis=1)


def test_all_tiles_in_one_batch_equal_one_tile_at_a_time(ultralytics_model, frame_file):
    one_pass, one_by_one = (
        next(predict_sliced(ultralytics_model, [frame_file], tile=TILE, overlap=OVERLAP, full_frame=True,
                            image_size=TILE, batch_size=batch))
        for batch in (64, 1)
    )
    # torch's CPU convolutions round differently by batch size (last bits of float32): boxes agree to
    # a hundredth of a pixel, and the odd candidate near a threshold of the backend's NMS or of the
    # merge goes one way in one pass and the other way in the other
    for a, b in ((one_pass, one_by_one), (one_by_one, one_pass)):
        found = matched(a, b, box_px=0.02, score=1e-4)
        assert found.mean() > 0.98
def test_a_frame_is_read_once_and_its_tiles_are_not_copied(ultralytics_model, frame_file, monkeypatch):
    reads, batches = [], []
    real_imread, real_predict_batch = cv2.imread, ultralytics_model.predict_batch
    monkeypatch.setattr(cv2, "imread", lambda *args: reads.append(args) or real_imread(*args))

    def predict_batch(images, *, image_size):
        batches.append((images, image_size))
        return real_predict_batch(images, image_size=image_size)

    monkeypatch.setattr(ultralytics_model, "predict_batch", predict_batch)
    list(predict_sliced(ultralytics_model, [frame_file, frame_file], tile=TILE, overlap=OVERLAP, full_frame=True,
                        image_size=None, batch_size=4))
    assert len(reads) == 2 and reads[0] == (str(frame_file), cv2.IMREAD_COLOR)
    # per frame: 10 tiles in batches of 4 at the tile's size, then the whole frame at the backend's own
    assert [(len(images), size) for images, size in batches] == [(4, TILE), (4, TILE), (2, TILE), (1, None)] * 2
    tiles = [image for images, _ in batches[:3] for image in images]
    assert all(tile.base is not None and tile.shape == (TILE, TILE, 3) for tile in tiles)


def test_a_frame_smaller_than_a_tile_is_predicted_whole_once(ultralytics_model, tmp_path):
    small = wide_frame(np.random.default_rng(1), width=150, height=100)
    path = tmp_path / "small.png"
    cv2.imwrite(str(path), small)
    [sliced] = predict_sliced(ultralytics_model, [path], tile=TILE, overlap=OVERLAP, full_frame=True, image_size=TILE,
                              batch_size=8)
    [whole] = ultralytics_model.predict_batch([path], image_size=TILE)
    assert len(whole.scores) > 0
    np.testing.assert_allclose(canonical(sliced), canonical(MergeRule()([(with_area(whole), (0, 0))])), atol=1e-6)


def test_arrays_predict_as_their_files_ultralytics(ultralytics_model, frame_file):
    frame = cv2.imread(str(frame_file), cv2.IMREAD_COLOR)
    [from_file] = ultralytics_model.predict_batch([frame_file], image_size=320)
    [from_array] = ultralytics_model.predict_batch([frame], image_size=320)
    assert len(from_file.scores) > 0
    np.testing.assert_array_equal(canonical(from_array), canonical(from_file))


def test_arrays_predict_as_their_files_yolov5(frame_file, tmp_path):
    from balldet.backends.yolov5.backend import Yolov5Wrapper
    from balldet.backends.yolov5.compat import import_yolov5, yolov5_call, yolov5_root

    cache = tmp_path / "cache"
    weights = tmp_path / "untrained-yolov5n.pt"
    with yolov5_call():
        import_yolov5(cache, allow_downloads=False)
        from models.yolo import Model  # the top-level module yolov5's own checkpoints pickle

        torch.manual_seed(0)
        model = Model(str(yolov5_root() / "models" / "yolov5n.yaml"), ch=3, nc=1)
        model.names = {0: "ball"}
        torch.save({"model": model.half(), "epoch": -1}, weights)
    wrapper = Yolov5Wrapper(cache)
    wrapper.load(weights, device="cpu")
    frame = cv2.imread(str(frame_file), cv2.IMREAD_COLOR)
    from_files = wrapper.predict_batch([frame_file, frame_file], image_size=320)
    from_arrays = wrapper.predict_batch([frame, frame[:, :]], image_size=320)
    assert len(from_files[0].scores) > 0
    for a, b in zip(from_arrays, from_files):
        np.testing.assert_array_equal(canonical(a), canonical(b))
    # a tile (a view into the frame) predicts as the same pixels cut out and saved
    crop = tmp_path / "crop.png"
    cv2.imwrite(str(crop), frame[64:224, 120:280])
    [tile_from_file] = wrapper.predict_batch([crop], image_size=TILE)
    [tile_from_view] = wrapper.predict_batch([frame[64:224, 120:280]], image_size=TILE)
    np.testing.assert_array_equal(canonical(tile_from_view), canonical(tile_from_file))


def test_what_a_backend_is_handed(frame_file):
    frame = np.zeros((10, 20, 3), dtype=np.uint8)
    assert batch_sources([frame_file, Path("b.jpg")]) == [str(frame_file), "b.jpg"]
    assert batch_sources([frame])[0] is frame
    with pytest.raises(BackendError, match="mixes") as error:
        batch_sources([frame_file, frame])
    assert error.value.fix
    bad_arrays = (frame.astype(np.float32), frame[..., 0], np.zeros((10, 20, 4), np.uint8),
                  np.zeros((0, 5, 3), np.uint8))
    for bad in bad_arrays:
        with pytest.raises(BackendError, match=r"BGR uint8 of shape \(H, W, 3\)"):
            batch_sources([bad])


def test_errors_name_the_problem(ultralytics_model, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    with pytest.raises(DatasetError, match="cannot read image") as error:
        list(predict_sliced(ultralytics_model, [broken], tile=TILE, overlap=OVERLAP))
    assert error.value.fix
    with pytest.raises(BackendError, match="before load"):
        list(predict_sliced(UltralyticsWrapper(tmp_path), [broken], tile=TILE, overlap=OVERLAP))
