"""`balldet export`, run as a user runs it, for both backends: the exported ONNX model predicts the
boxes of the weights it came from -- checked by the command itself (balldet's wrappers: the
frameworks' own runtimes for exported files) and again here by an independent runner (onnxruntime
called directly, the outputs decoded and NMS'd by hand) -- TorchScript likewise with torch.jit.load;
a failed check keeps nothing; bad flags are all named at once before anything loads.

The weights are untrained networks (offline, nothing to download) calibrated to give spread scores
on noise frames like the ones below: an untrained yolov5n as it is scores every frame the same, and
its ties at the 300-box cut would make any two runs of it disagree.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from balldet.backends.base_model import PREDICT_CONF, PREDICT_MAX_DET
from balldet.backends.export_check import SCORE_TOLERANCE, box_tolerance_px, letterbox, predictions
from balldet.boxes import Detections
from test_predict_cli import yolov5_pt  # noqa: F401  (the fixture)
from test_slicing_predict import TILE, ultralytics_weights, wide_frame  # noqa: F401  (the fixture)

onnxruntime = pytest.importorskip("onnxruntime")

IMGSZ = 320
BOX_TOLERANCE_PX = box_tolerance_px(IMGSZ)  # 0.05 px
# Noise frames like the one the networks were calibrated on: one at the input size, one letterboxed
# with a border (scaled down a little), one scaled down; every one gives 300 boxes of spread scores.
FRAME_SIZES = ((320, 320), (336, 320), (400, 400))
IOU = {"ultralytics": 0.7, "yolov5": 0.6}  # each framework's NMS IoU as balldet predicts


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(7)
    for index, (width, height) in enumerate(FRAME_SIZES):
        cv2.imwrite(str(folder / f"frame_{index}.png"), wide_frame(rng, width, height))
    return folder


@pytest.fixture(scope="module")
def yolov5_weights(yolov5_pt, tmp_path_factory) -> Path:  # noqa: F811
    """test_predict_cli's untrained yolov5n, calibrated as ``ultralytics_weights`` is: batch norm on
    one frame, the head's weights small, the objectness near sigmoid(-4)."""
    from balldet.backends.yolov5.compat import import_yolov5, torch_for_yolov5, yolov5_call

    root = tmp_path_factory.mktemp("yolov5-calibrated")
    with yolov5_call():
        import_yolov5(root / "cache", allow_downloads=False)
        model = torch_for_yolov5().load(str(yolov5_pt), map_location="cpu")["model"].float()
        for layer in model.modules():
            if isinstance(layer, torch.nn.BatchNorm2d):
                layer.reset_running_stats()
                layer.momentum = None
        frame = wide_frame(np.random.default_rng(5))[None, :TILE, :, ::-1]
        model.train()
        with torch.no_grad():
            model(torch.from_numpy(np.ascontiguousarray(frame)).permute(0, 3, 1, 2).float() / 255)
        model.eval()
        detect = model.model[-1]
        torch.manual_seed(0)
        for conv in detect.m:
            torch.nn.init.normal_(conv.weight, std=0.05)
            bias = conv.bias.data.view(detect.na, -1)  # per anchor: x y w h, objectness, classes
            bias[:, :4], bias[:, 4], bias[:, 5:] = 0.0, -4.0, 0.0
        path = root / "yolov5n-calibrated.pt"
        torch.save({"model": model.half(), "epoch": -1}, path)
    return path


def network_inputs(folder: Path) -> list[np.ndarray]:
    """The frames letterboxed to the exported input, as the check gives them to both models (BGR)."""
    return [letterbox(cv2.imread(str(path)), IMGSZ) for path in sorted(folder.glob("*.png"))]


def decode(output: np.ndarray, model_type: str) -> Detections:
    """A raw exported output to detections, written here from the frameworks' documented layouts:
    ultralytics (1, 4 + classes, anchors) with cx cy w h and class scores; yolov5 (1, anchors,
    5 + classes) with cx cy w h, objectness and class scores (a box scores objectness x class). Then
    NMS per class, the 300 best kept, boxes clipped to the input, as both frameworks predict."""
    import torchvision

    rows = torch.from_numpy(np.asarray(output, dtype=np.float32)[0])
    if model_type == "ultralytics":
        rows = rows.T
        boxes, class_scores = rows[:, :4], rows[:, 4:]
    else:
        keep = rows[:, 4] > PREDICT_CONF
        rows = rows[keep]
        boxes, class_scores = rows[:, :4], rows[:, 5:] * rows[:, 4:5]
    scores, classes = class_scores.max(1)
    keep = scores > PREDICT_CONF
    boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
    corners = torch.cat([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], 1)
    kept = torchvision.ops.batched_nms(corners, scores, classes, IOU[model_type])[:PREDICT_MAX_DET]
    return Detections(corners[kept].clamp(0, IMGSZ).numpy(), scores[kept].numpy(), classes[kept].numpy())


def as_tensor(image: np.ndarray) -> np.ndarray:
    """A BGR picture as both frameworks feed it: RGB, channels first, 0..1, float32, batch of one."""
    return np.ascontiguousarray(image[None, :, :, ::-1].transpose(0, 3, 1, 2)).astype(np.float32) / 255


def largest_differences(reference: Detections, other: Detections) -> tuple[float, float]:
    """Both sets of boxes paired one to one (the same count; an optimal assignment on corner and
    score differences, each in its tolerance, one class per pair): the largest differences."""
    from scipy.optimize import linear_sum_assignment

    assert len(reference.scores) == len(other.scores) > 0
    corners = np.abs(reference.boxes[:, None, :] - other.boxes[None, :, :]).max(axis=2)
    scores = np.abs(reference.scores[:, None] - other.scores[None, :])
    cost = np.maximum(corners / BOX_TOLERANCE_PX, scores / SCORE_TOLERANCE)
    cost[reference.classes[:, None] != other.classes[None, :]] = 1e9
    rows, cols = linear_sum_assignment(cost)
    assert len(rows) == len(reference.scores) and (reference.classes[rows] == other.classes[cols]).all()
    return float(corners[rows, cols].max()), float(scores[rows, cols].max())


def reported_difference(stdout: str, fmt: str) -> tuple[float, float]:
    """The largest box and score differences `balldet export` says its check of ``fmt`` found."""
    found = re.search(rf"^{fmt}: .*\n  check passed: .*largest difference (\S+) px .*?, (\S+) in scores", stdout, re.M)
    assert found, stdout
    return float(found[1]), float(found[2])


def exported_then_run_independently(workspace, weights: Path, model_type: str, frames: Path, tmp_path: Path):
    """`balldet export` to both formats, then each file run here without balldet or the frameworks'
    runtimes; the weights through balldet's wrapper (what `balldet predict` gives)."""
    out = tmp_path / "exported"
    result = workspace.cli("export", "--weights", str(weights), "--format", "onnx", "--format", "torchscript",
                           "--imgsz", str(IMGSZ), "--check", str(frames), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"{weights.stem}.onnx", f"{weights.stem}.torchscript"]
    inputs = network_inputs(frames)
    reference = predictions(model_type, weights, inputs, imgsz=IMGSZ, cache_dir=tmp_path / "cache")

    session = onnxruntime.InferenceSession(str(out / f"{weights.stem}.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert session.get_inputs()[0].shape == [1, 3, IMGSZ, IMGSZ]
    scripted = torch.jit.load(str(out / f"{weights.stem}.torchscript"), map_location="cpu")
    measured = {}
    for fmt, run in (("onnx", lambda x: session.run(None, {session.get_inputs()[0].name: x})[0]),
                     ("torchscript", lambda x: run_traced(scripted, x))):
        differences = [largest_differences(ours, decode(run(as_tensor(image)), model_type))
                       for ours, image in zip(reference, inputs)]
        box, score = max(d[0] for d in differences), max(d[1] for d in differences)
        assert box <= BOX_TOLERANCE_PX and score <= SCORE_TOLERANCE, (fmt, box, score)
        reported = reported_difference(result.stdout, fmt)
        assert reported[0] <= BOX_TOLERANCE_PX and reported[1] <= SCORE_TOLERANCE
        measured[fmt] = {"independent": (box, score), "balldet export": reported}
    print(model_type, json.dumps(measured))  # the numbers the README states (pytest -s)
    return measured


def run_traced(module, batch: np.ndarray) -> np.ndarray:
    """A TorchScript detector's raw output (yolov5's comes as a tuple of one)."""
    with torch.no_grad():
        output = module(torch.from_numpy(batch))
    return (output[0] if isinstance(output, (tuple, list)) else output).numpy()


def test_ultralytics_onnx_predicts_the_boxes_of_its_weights(workspace, ultralytics_weights, frames,  # noqa: F811
                                                            tmp_path):
    exported_then_run_independently(workspace, ultralytics_weights, "ultralytics", frames, tmp_path)


def test_yolov5_onnx_predicts_the_boxes_of_its_weights(workspace, yolov5_weights, frames, tmp_path):
    measured = exported_then_run_independently(workspace, yolov5_weights, "yolov5", frames, tmp_path)
    # yolov5's TorchScript is traced from the very modules its .pt runs: the same numbers
    assert measured["torchscript"]["balldet export"] == (0.0, 0.0)


def test_a_run_is_exported_beside_its_weights_under_the_run_id(workspace, yolov5_weights):
    run_id = "20260101-120000-251130_1230_yolov5n_wide_sliced"
    run_dir = workspace.outputs / "aicska" / "debug" / run_id
    (run_dir / "weights").mkdir(parents=True)
    weights = run_dir / "weights" / "best.pt"
    shutil.copyfile(yolov5_weights, weights)
    write_run(run_dir, run_id, "yolov5", weights=weights)
    # no --check: checked on the frames balldet draws itself
    result = workspace.cli("export", "--weights", run_id, "--format", "torchscript", "--imgsz", str(IMGSZ))
    assert result.returncode == 0, result.stderr
    assert "frames drawn by balldet" in result.stderr
    assert {p.name for p in (run_dir / "weights").iterdir()} == {"best.pt", f"{run_id}.torchscript"}
    assert reported_difference(result.stdout, "torchscript") == (0.0, 0.0)
    assert re.search(r"check passed: 900 boxes on 3 frames", result.stdout), result.stdout


def test_a_failed_check_exits_1_and_keeps_nothing(settings_env, ultralytics_weights, frames, tmp_path,  # noqa: F811
                                                  monkeypatch, capsys):
    import balldet.stages.export
    from balldet.cli import main

    # ONNX moves boxes by hundredths of a pixel: a tolerance of 0 fails every check
    monkeypatch.setattr(balldet.stages.export, "BOX_TOLERANCE", 0.0)
    target = tmp_path / "out" / "model.onnx"
    target.parent.mkdir()
    target.write_text("an earlier export")
    with pytest.raises(SystemExit) as exited:
        main(["export", "--weights", str(ultralytics_weights), "--imgsz", str(IMGSZ), "--check", str(frames),
              "--out", str(target)])
    assert exited.value.code == 1
    stderr = capsys.readouterr().err
    assert "do not detect what the weights detect" in stderr and "differs by" in stderr
    assert target.read_text() == "an earlier export"
    assert [p.name for p in target.parent.iterdir()] == ["model.onnx"]  # no temporary folder left


def test_every_bad_flag_at_once_before_anything_is_loaded(workspace, tmp_path):
    empty = tmp_path / "no-frames"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a frame")
    result = workspace.cli("export", "--weights", str(tmp_path / "missing.pt"), "--format", "onnx,tflite",
                           "--imgsz", "100", "--model_type", "detectron", "--check", str(empty))
    assert result.returncode == 2
    for flag, words in (("--weights", "no weights file"), ("--format", "'tflite'"), ("--imgsz", "multiple of 32"),
                        ("--model_type", "detectron"), ("--check", "no frames in")):
        assert re.search(rf"- {flag}: .*{words}", result.stderr), (flag, result.stderr)
    assert "Traceback" not in result.stderr

    run_id = "20260101-130000-stopped_before_training"
    run_dir = workspace.outputs / "aicska" / "debug" / run_id
    run_dir.mkdir(parents=True)
    write_run(run_dir, run_id, "ultralytics", weights=None)
    stopped = workspace.cli("export", "--weights", run_id, "--check", str(tmp_path / "none"), "--no-check")
    assert stopped.returncode == 2
    assert re.search(r"- --weights: .*has no trained weights", stopped.stderr), stopped.stderr
    assert "- --no-check: --check and --no-check contradict" in stopped.stderr
    assert not list(run_dir.glob("*.onnx"))


def test_without_onnxruntime_the_extra_is_named(settings_env, ultralytics_weights, monkeypatch, capsys):  # noqa: F811
    import importlib.util

    from balldet.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(SystemExit) as exited:
        main(["export", "--weights", str(ultralytics_weights)])
    assert exited.value.code == 2
    stderr = capsys.readouterr().err
    assert "--format: exporting onnx needs onnxruntime" in stderr and "pip install 'balldet[export]'" in stderr


def test_the_check_pairs_boxes_one_to_one_and_forgives_only_the_cut():
    from balldet.backends.export_check import compare

    rng = np.random.default_rng(0)
    corner = rng.uniform(0, 200, (PREDICT_MAX_DET, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(5, 60, (PREDICT_MAX_DET, 2))], axis=1)
    scores = np.sort(rng.uniform(0.01, 0.9, PREDICT_MAX_DET))[::-1]
    reference = Detections(boxes, scores, np.zeros(PREDICT_MAX_DET))

    def variant(shift=0.0, score_shift=0.0, keep=slice(None), classes=None):
        return Detections(boxes[keep] + shift, scores[keep] + score_shift,
                          np.zeros(PREDICT_MAX_DET)[keep] if classes is None else classes[keep])

    def check(other):
        return compare(reference, other, "f", box_tolerance=0.1)

    close = check(variant(shift=0.05, score_shift=5e-4))
    assert close.matched == PREDICT_MAX_DET and not close.problems and close.max_box_px == pytest.approx(0.05)
    moved = check(variant(shift=0.5))
    assert moved.matched == 0 and len(moved.problems) == PREDICT_MAX_DET and "differs by 0.5 px" in moved.problems[0]
    rescored = check(variant(score_shift=0.01))
    assert rescored.matched == 0 and "its score by 0.01" in rescored.problems[0]
    # both kept their 300 boxes, the 300th of each another candidate scoring as the cut: forgiven
    other = Detections(np.r_[boxes[:-1], [[250.0, 250.0, 270.0, 270.0]]], np.r_[scores[:-1], scores[-1] + 1e-6],
                       np.zeros(PREDICT_MAX_DET))
    cut = check(other)
    assert cut.matched == PREDICT_MAX_DET - 1 and cut.borderline == 2 and not cut.problems
    # one box fewer is no cut
    fewer = check(variant(keep=slice(0, PREDICT_MAX_DET - 1)))
    assert fewer.borderline == 0 and len(fewer.problems) == 1
    # a box lost in the middle of the scores is not
    lost = check(variant(keep=np.r_[0:100, 101:PREDICT_MAX_DET]))
    assert lost.borderline == 0 and len(lost.problems) == 1 and "has no counterpart" in lost.problems[0]
    # another class is another box
    relabelled = check(variant(classes=np.r_[1, np.zeros(PREDICT_MAX_DET - 1)]))
    assert relabelled.matched == PREDICT_MAX_DET - 1 and len(relabelled.problems) == 2


def test_export_help(workspace):
    result = workspace.cli("export", "--help", COLUMNS="200")
    assert result.returncode == 0, result.stderr
    for option in ("--weights", "--format", "--out", "--imgsz", "--model_type", "--check", "--no-check"):
        assert option in result.stdout


def write_run(run_dir: Path, run_id: str, model_type: str, *, weights: Path | None) -> None:
    """The run.json of a local run as `balldet run` leaves it (only what export reads matters)."""
    manifest = {
        "run_id": run_id, "run_dir": str(run_dir), "clearml_project": "aicska/debug/pipeline/object_detection",
        "status": "completed" if weights else "failed",
        "request": {"config_name": f"aicska/object_detection/{model_type}/ball/{run_id[16:]}.yaml",
                    "model_type": model_type, "project": "aicska"},
        "artefacts": {"weights": str(weights)} if weights else {},
    }
    (run_dir / "run.json").write_text(json.dumps(manifest))
