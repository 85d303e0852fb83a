"""balldet.evaluation.plots: every plot is a readable PNG of the expected size, written atomically,
also for empty inputs; the F1 curve counts like ``CocoResult.best_f1``."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
from matplotlib.figure import Figure

from balldet.evaluation import ImageDets, ImageGT, evaluate_coco
from balldet.boxes import Detections
from balldet.evaluation import plots
from balldet.evaluation.plots import (
    ThresholdCurve,
    plot_dataset_bars,
    plot_f1_vs_threshold,
    plot_leaderboard,
    plot_pr_curve,
    plot_sample_frames,
    threshold_curve,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, width: int | None = None, height: int | None = None) -> np.ndarray:
    """A valid PNG, alone in its folder (no temporary file left), about ``width`` × ``height``."""
    assert path.is_file() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None
    if width is not None:
        assert abs(image.shape[1] - width) <= 0.2 * width, image.shape
    if height is not None:
        assert abs(image.shape[0] - height) <= 0.2 * height, image.shape
    return image


def random_case(seed: int, n_images: int = 60, n_classes: int = 1, crowd: bool = False):
    rng = np.random.default_rng(seed)
    gts, dets = [], []
    for _ in range(n_images):
        n_gt = int(rng.integers(0, 4))
        xy = rng.uniform(0, 500, (n_gt, 2))
        wh = rng.uniform(4, 80, (n_gt, 2))
        g_boxes = np.concatenate([xy, wh], axis=1)
        g_cls = rng.integers(0, n_classes, n_gt)
        iscrowd = rng.random(n_gt) < 0.2 if crowd else None
        gts.append(ImageGT(boxes=g_boxes, classes=g_cls, iscrowd=iscrowd))
        hits = g_boxes + rng.normal(0, 3, g_boxes.shape)
        clutter = np.concatenate([rng.uniform(0, 500, (3, 2)), rng.uniform(4, 60, (3, 2))], axis=1)
        d_boxes = np.concatenate([hits, clutter])
        d_boxes[:, 2:] = np.abs(d_boxes[:, 2:]) + 1
        scores = np.round(rng.random(len(d_boxes)), 2)  # rounded: equal scores happen
        d_cls = np.concatenate([g_cls, rng.integers(0, n_classes, 3)])
        dets.append(ImageDets(boxes=d_boxes, scores=scores, classes=d_cls))
    return gts, dets


def empty_case(n_images: int = 3, with_gt: bool = False, with_dets: bool = False):
    box = np.array([[10.0, 10.0, 20.0, 20.0]])
    none = np.zeros((0, 4))
    gts = [ImageGT(box, [0]) if with_gt else ImageGT(none, []) for _ in range(n_images)]
    dets = [ImageDets(box, [0.9], [0]) if with_dets else ImageDets(none, [], []) for _ in range(n_images)]
    return gts, dets


# --------------------------------------------------------------------------- threshold curve


@pytest.mark.parametrize(
    "seed, n_classes, crowd", [(0, 1, False), (1, 1, True), (2, 3, False), (3, 2, True)]
)
def test_threshold_curve_best_matches_best_f1(seed, n_classes, crowd):
    gts, dets = random_case(seed, n_classes=n_classes, crowd=crowd)
    result = evaluate_coco(gts, dets)
    for iou in (0.5, 0.75):
        curve = threshold_curve(gts, dets, iou=iou)
        assert curve.best() == pytest.approx(result.best_f1(iou=iou), rel=0, abs=1e-12)
        assert np.all(np.diff(curve.thresholds) < 0)
        assert np.all(np.diff(curve.recall) >= 0)  # lowering the threshold only finds more


def test_threshold_curve_empty_inputs():
    curve = threshold_curve(*empty_case(with_gt=True))
    assert curve.thresholds.size == 0 and curve.num_gt == 3
    assert curve.best()["F1"] == 0.0
    no_gt = threshold_curve(*empty_case(with_dets=True))
    assert no_gt.num_gt == 0 and np.all(no_gt.recall == 0) and np.all(no_gt.precision == 0)
    with pytest.raises(ValueError):
        threshold_curve([], [ImageDets(np.zeros((0, 4)), [], [])])


# --------------------------------------------------------------------------- curves


def test_plot_pr_curve(tmp_path):
    gts, dets = random_case(5, n_classes=2)
    result = evaluate_coco(gts, dets)
    path = plot_pr_curve(result, tmp_path / "pr" / "curve.png", "PR", class_names={0: "ball"})
    assert path == tmp_path / "pr" / "curve.png"
    assert_png(path, 768, 624)
    only_50 = plot_pr_curve(result, tmp_path / "pr50" / "c.png", "PR", iou=0.75, show_mean_iou=False)
    assert_png(only_50)
    with pytest.raises(ValueError):
        plot_pr_curve(result, tmp_path / "bad.png", "PR", iou=0.52)


def test_plot_pr_curve_finds_area_all_among_custom_ranges(tmp_path):
    result = evaluate_coco(*random_case(8))
    # A result whose area axis starts with another range: only the "all" slice holds curves.
    moved = np.concatenate([np.full_like(result.precision[:, :, :, :1], -1), result.precision], axis=3)
    fake = SimpleNamespace(precision=moved, class_ids=result.class_ids, area_labels=("tiny", "all"))
    image = assert_png(plot_pr_curve(fake, tmp_path / "pr.png", "custom ranges"))
    assert np.any(image[..., 0].astype(int) - image[..., 2] > 100)  # the (blue) curve is drawn


@pytest.mark.parametrize("with_gt, with_dets", [(False, False), (True, False), (False, True)])
def test_plot_pr_curve_empty(tmp_path, with_gt, with_dets):
    result = evaluate_coco(*empty_case(with_gt=with_gt, with_dets=with_dets))
    assert_png(plot_pr_curve(result, tmp_path / "pr.png", "empty"), 768, 624)


def test_plot_f1_vs_threshold_from_inputs_and_from_curve(tmp_path):
    gts, dets = random_case(6)
    from_inputs = plot_f1_vs_threshold((gts, dets), tmp_path / "a" / "f1.png", "F1")
    assert_png(from_inputs, 768, 552)
    curve = threshold_curve(gts, dets)
    assert_png(plot_f1_vs_threshold(curve, tmp_path / "b" / "f1.png", "F1"), 768, 552)


@pytest.mark.parametrize("with_gt, with_dets", [(False, False), (True, False), (False, True)])
def test_plot_f1_vs_threshold_empty(tmp_path, with_gt, with_dets):
    source = empty_case(with_gt=with_gt, with_dets=with_dets)
    assert_png(plot_f1_vs_threshold(source, tmp_path / "f1.png", "empty"))
    empty_curve = ThresholdCurve(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0), 0, 0.5)
    (tmp_path / "f1.png").unlink()
    assert_png(plot_f1_vs_threshold(empty_curve, tmp_path / "f1.png", "empty"))


# --------------------------------------------------------------------------- bar charts


def test_plot_dataset_bars(tmp_path):
    scores = {
        "val/synth-ball-ver:1.0": {"mAP@0.5": 0.71, "mAP@0.5:0.95": 0.32},
        "test/synth-ball-ver:1.0": {"mAP@0.5": 0.68, "mAP@0.5:0.95": -1.0},  # -1: undefined
        "test/other": {"mAP@0.5": 0.2},  # a metric missing
    }
    assert_png(plot_dataset_bars(scores, tmp_path / "bars.png"))
    (tmp_path / "bars.png").unlink()
    assert_png(plot_dataset_bars({}, tmp_path / "bars.png"))


def test_plot_leaderboard(tmp_path):
    rows = [
        {"run": "run-a", "model_type": "ultralytics", "dataset": "test/x-ver:1", "mAP@0.5": 0.8},
        {"run": "run-a", "model_type": "ultralytics", "dataset": "test/y-ver:1", "mAP@0.5": 0.6},
        {"run": "run-b", "model_type": "yolov5", "dataset": "test/x-ver:1", "mAP@0.5": 0.7},
        {"run": "run-b", "model_type": "yolov5", "dataset": "test/y-ver:1", "mAP@0.5": -1.0},
        {"run": "run-c", "dataset": "test/x-ver:1", "mAP@0.5:0.95": 0.3},  # lacks the metric
    ]
    assert_png(plot_leaderboard(rows, tmp_path / "board.png", "mAP@0.5"))
    (tmp_path / "board.png").unlink()
    nested = [
        {"run": "r", "model_type": "yolov5", "split": "val", "dataset": "x-ver:1", "metrics": {"F1": 0.5}}
    ]
    assert_png(plot_leaderboard(nested, tmp_path / "board.png", "F1"))
    (tmp_path / "board.png").unlink()
    assert_png(plot_leaderboard([], tmp_path / "board.png", "mAP@0.5"))


# --------------------------------------------------------------------------- frames


def write_frames(folder: Path, n: int, size=(360, 640)) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        image = np.full((*size, 3), (40, 140, 40), np.uint8)
        cv2.circle(image, (100 + 20 * i, 100), 3, (255, 255, 255), -1)  # a tiny ball
        paths.append(folder / f"frame_{i:03d}.jpg")
        cv2.imwrite(str(paths[-1]), image)
    return paths


def test_plot_sample_frames(tmp_path):
    images = write_frames(tmp_path / "frames", 10)
    truth = [np.array([[97.0 + 20 * i, 97.0, 103.0 + 20 * i, 103.0]]) for i in range(10)]
    dets = [t + 1.0 for t in truth]
    scores = [np.array([0.1 + 0.08 * i]) for i in range(10)]  # some below the threshold
    out = tmp_path / "plot" / "frames.png"
    image = assert_png(plot_sample_frames(images, truth, dets, scores, out, title="samples"))
    assert image.shape[1] == pytest.approx(4 * 3.8 * plots.DPI, abs=2)  # 8 frames: 4 columns
    # Red (prediction) and green (ground truth) pixels are both drawn.
    b, g, r = (image[..., c].astype(int) for c in range(3))
    assert np.any((r > 200) & (g < 80)) and np.any((g > 160) & (r < 80) & (b < 120))


def test_plot_sample_frames_edge_cases(tmp_path):
    images = write_frames(tmp_path / "frames", 2) + [tmp_path / "missing.jpg"]
    empty = [np.zeros((0, 4))] * 3
    out = tmp_path / "plot" / "frames.png"
    assert_png(plot_sample_frames(images, empty, empty, [np.zeros(0)] * 3, out))
    out.unlink()
    assert_png(plot_sample_frames([], [], [], [], out))
    with pytest.raises(ValueError):
        plot_sample_frames(images, empty[:1], empty, [np.zeros(0)] * 3, out)


# --------------------------------------------------------------------------- atomic writing


def test_failed_render_keeps_the_previous_file(tmp_path, monkeypatch):
    gts, dets = random_case(7)
    result = evaluate_coco(gts, dets)
    path = plot_pr_curve(result, tmp_path / "pr.png", "first")
    before = path.read_bytes()

    def broken_savefig(self, *args, **kwargs):
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError):
        plot_pr_curve(result, path, "second")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["pr.png"]


def _drawn_figure(monkeypatch, draw) -> Any:
    """The figure a plot function made, laid out as it is saved."""
    from balldet.evaluation import plots

    made = []
    real_save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: made.append(fig) or real_save(fig, path))
    draw()
    (fig,) = made
    fig.canvas.draw()
    return fig


def _inside(fig, artist) -> bool:
    box, frame = artist.get_window_extent(fig.canvas.get_renderer()), fig.bbox
    return box.x0 >= frame.x0 - 1 and box.x1 <= frame.x1 + 1 and box.y0 >= frame.y0 - 1 and box.y1 <= frame.y1 + 1


LONG = "test/20240416-Russian_Cup-CSKA_Moscow-vs-Baltika_Kaliningrad-01-001-ver:1.0.0 (seen in training)"


def test_leaderboard_legend_and_dataset_names_stay_inside_the_picture(tmp_path, monkeypatch):
    from balldet.evaluation.plots import plot_dataset_bars, plot_leaderboard

    rows = [{"run": f"20261130-1{r}0000-251125_1200_yolov8n_synth_demo-ab{r}def", "model_type": "yolov5",
             "dataset": d, "mAP@0.5": 0.1 * r} for r in range(7) for d in (LONG, "test/soccernet_ball_001-ver:1.0.2")]
    fig = _drawn_figure(monkeypatch, lambda: plot_leaderboard(rows, tmp_path / "b.png", "mAP@0.5"))
    (legend,) = fig.legends
    assert _inside(fig, legend), "the legend is cut off: runs cannot be matched to bars"
    assert len(legend.get_texts()) == 7
    assert all(_inside(fig, label) for label in fig.axes[0].get_xticklabels())

    fig = _drawn_figure(monkeypatch, lambda: plot_dataset_bars(
        {LONG: {"mAP@0.5": 0.5}, "test/soccernet_ball_001-ver:1.0.2": {"mAP@0.5": -1.0}}, tmp_path / "d.png"))
    labels = fig.axes[0].get_xticklabels()
    assert all(_inside(fig, label) for label in labels)
    assert labels[0].get_text().replace("\n", "") == LONG  # whole, only wrapped


def test_pr_curve_legend_names_the_classes(tmp_path, monkeypatch):
    from balldet.evaluation.dataset_plots import plot_scored_dataset
    from balldet.evaluation.frames import FrameTruth, evaluate_frames

    truth = [FrameTruth(np.array([[0, 0.5, 0.5, 0.1, 0.1], [1, 0.2, 0.2, 0.1, 0.1]]), 100, 100)]
    dets = [Detections(np.array([[45.0, 45, 55, 55], [15, 15, 25, 25]]), np.array([0.9, 0.8]), np.array([0, 1]))]
    made = []
    from balldet.evaluation import plots

    real = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: made.append(fig) or real(fig, path))
    scored = evaluate_frames(truth, dets, num_classes=2).coco_result
    plot_scored_dataset(tmp_path, "test/x-ver:1", [tmp_path / "none.jpg"], truth, dets, scored,
                        class_names=["ball", "player"])
    texts = {t.get_text() for fig in made for legend in [*fig.legends, *[a.get_legend() for a in fig.axes]]
             if legend is not None for t in legend.get_texts()}
    assert any("ball" in t for t in texts) and any("player" in t for t in texts)
    assert not any(t.startswith("class ") for t in texts)
