"""`balldet predict`, run as a user runs it: frames balldet did not make, weights of either backend,
its output compared with ultralytics' own `predict(save_txt=True, save_conf=True)`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from foreign_data import phone_frames
from test_slicing_predict import ultralytics_weights  # noqa: F401  (the fixture)


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    return phone_frames(tmp_path_factory.mktemp("phone"))


@pytest.fixture(scope="module")
def ultralytics_pt(ultralytics_weights) -> Path:
    """An untrained yolov8n as ultralytics saves a model, calibrated to give boxes of spread scores."""
    return ultralytics_weights


@pytest.fixture(scope="module")
def yolov5_pt(tmp_path_factory) -> Path:
    """An untrained yolov5n checkpoint as yolov5's train.py saves one (its `models.yolo.Model`)."""
    from balldet.backends.yolov5.compat import import_yolov5, yolov5_call, yolov5_root

    root = tmp_path_factory.mktemp("yolov5")
    with yolov5_call():
        import_yolov5(root / "cache", allow_downloads=False)
        from models.yolo import Model

        torch.manual_seed(0)
        model = Model(str(yolov5_root() / "models" / "yolov5n.yaml"), ch=3, nc=1)
        model.names = {0: "ball"}
        path = root / "yolov5n-untrained.pt"
        torch.save({"model": model.half(), "epoch": -1}, path)
    return path


def rows_of(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: np.loadtxt(p, ndmin=2).reshape(-1, 6) for p in sorted(folder.glob("*.txt"))}


def test_whole_frames_as_ultralytics_own_predict_writes_them(workspace, frames, ultralytics_pt, tmp_path):
    from ultralytics import YOLO

    out = tmp_path / "out"
    result = workspace.cli("predict", "--weights", str(ultralytics_pt), "--source", str(frames.root),
                           "--out", str(out), "--conf", "0.001", "--imgsz", "160", "--batch", "1")
    assert result.returncode == 0, result.stderr
    assert "ultralytics" in result.stderr and "whole frames" in result.stderr
    ours = rows_of(out)
    # one file per frame, upper-case extensions, grayscale and EXIF-rotated frames included
    assert set(ours) == {spec.stem for spec in frames.frames}
    reference = tmp_path / "reference"
    model = YOLO(str(ultralytics_pt))
    for image in sorted(frames.images.iterdir()):  # one frame at a time, as `yolo predict` does a folder
        list(model.predict(str(image), conf=0.001, imgsz=160, save_txt=True, save_conf=True, project=str(reference),
                           name="run", exist_ok=True, verbose=False, stream=True))
    theirs = rows_of(reference / "run" / "labels")
    assert theirs, "ultralytics found nothing: the comparison would prove nothing"
    for stem, rows in ours.items():
        expected = theirs.get(stem, np.zeros((0, 6)))  # ultralytics writes no file for a frame without boxes
        assert rows.shape == expected.shape, stem
        # one frame a forward pass, as ultralytics' own: the same boxes up to the last written digit
        close = (np.abs(rows[:, None, 1:] - expected[None, :, 1:]).max(axis=2) < 2e-6) & (
            rows[:, None, 0] == expected[None, :, 0])
        assert close.any(axis=1).all() and close.any(axis=0).all(), stem


def test_sliced_frames_are_the_sliced_predictions_in_frame_coordinates(workspace, frames, ultralytics_pt, tmp_path):
    from balldet.backends.ultralytics.backend import UltralyticsWrapper
    from balldet.datasets.yolo import image_size
    from balldet.slicing.predict import predict_sliced

    out = tmp_path / "out"
    result = workspace.cli("predict", "--weights", str(ultralytics_pt), "--source", str(frames.images),
                           "--out", str(out), "--slice", "96", "--overlap", "0.25", "--conf", "0.01")
    assert result.returncode == 0, result.stderr
    assert "tiles of 96 px, overlap 0.25" in result.stderr
    wrapper = UltralyticsWrapper(tmp_path / "cache")
    wrapper.load(ultralytics_pt, device="cpu")
    images = sorted(frames.images.iterdir())
    found = rows_of(out)
    for image, detections in zip(images, predict_sliced(wrapper, images, tile=96, overlap=0.25)):
        keep = detections.scores >= 0.01
        width, height = image_size(image)
        rows = found[image.stem]
        assert len(rows) == keep.sum()
        if len(rows):
            assert (rows[:, 1:5] >= 0).all() and (rows[:, [1, 3]] <= 1).all() and (rows[:, [2, 4]] <= 1).all()
            cx = (detections.boxes[keep, 0] + detections.boxes[keep, 2]) / 2 / width
            np.testing.assert_allclose(np.sort(rows[:, 1]), np.sort(cx), atol=1e-6)


def test_a_yolov5_checkpoint_is_told_from_the_file(workspace, frames, yolov5_pt, tmp_path):
    out = tmp_path / "out"
    result = workspace.cli("predict", "--weights", str(yolov5_pt), "--source", str(frames.root), "--out", str(out),
                           "--conf", "0")
    assert result.returncode == 0, result.stderr
    assert "yolov5 weights" in result.stderr
    assert len(list(out.glob("*.txt"))) == len(frames.frames)


def test_every_bad_flag_at_once_before_anything_is_loaded(workspace, tmp_path):
    (tmp_path / "taken").write_text("a file")
    result = workspace.cli("predict", "--weights", str(tmp_path / "missing.pt"), "--source", str(tmp_path / "none"),
                           "--out", str(tmp_path / "taken"), "--slice", "100", "--overlap", "1.5", "--imgsz", "50",
                           "--conf", "2", "--batch", "0", "--model_type", "detectron")
    assert result.returncode == 2
    for flag in ("--weights", "--source", "--out", "--slice", "--overlap", "--imgsz", "--conf", "--batch",
                 "--model_type"):
        assert f"{flag}:" in result.stderr, flag
    assert "Traceback" not in result.stderr


def test_tile_options_without_a_tile_and_weights_of_no_backend_are_refused(workspace, frames, ultralytics_pt,
                                                                            tmp_path):
    out = tmp_path / "out"
    result = workspace.cli("predict", "--weights", str(ultralytics_pt), "--source", str(frames.root), "--out",
                           str(out), "--overlap", "0.3")
    assert result.returncode == 2 and "--overlap" in result.stderr and "--slice" in result.stderr
    shrink = workspace.cli("predict", "--weights", str(ultralytics_pt), "--source", str(frames.root), "--out",
                           str(out), "--slice", "320", "--imgsz", "160")
    assert shrink.returncode == 2 and "smaller than the tile" in shrink.stderr
    not_weights = tmp_path / "notes.pt"
    not_weights.write_text("not a checkpoint")
    unknown = workspace.cli("predict", "--weights", str(not_weights), "--source", str(frames.root), "--out", str(out))
    assert unknown.returncode == 2 and "--model_type" in unknown.stderr
    assert not out.exists()
