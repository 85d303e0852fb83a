"""Pictures of evaluation results: PR curves, F1 against threshold, bar charts, sample frames.

Every ``plot_*`` function is pure: it draws one figure, writes it as a PNG (atomically: a
temporary file in the same folder, then a rename, so a reader never sees half a file) and returns
the path. Figures are drawn with matplotlib's Agg canvas directly, never through pyplot, so no
display is needed and no global matplotlib state is touched. Empty inputs give a figure that says
what is missing instead of an error.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from balldet.boxes import cxcywh_to_xywh, xyxy_to_cxcywh
from balldet.evaluation.coco import IOU_THRESHOLDS, MAX_DETS, RECALL_THRESHOLDS, CocoResult
from balldet.evaluation.inputs import ImageDets, ImageGT
from balldet.evaluation.threshold_curve import ThresholdCurve, threshold_curve
from balldet.files import write_bytes_atomic

DPI = 120
# Dataset names on the x axis are wrapped to lines of about this many characters.
LABEL_WIDTH = 26
GT_COLOR = "#1fbf3f"
DET_COLOR = "#e8202a"
# Frames are shrunk to this width before drawing: a grid of full-HD frames would make huge PNGs.
FRAME_MAX_WIDTH = 960


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    write_bytes_atomic(Path(path), buffer.getvalue())  # temporary name, then os.replace
    return Path(path)


def _say_empty(ax: Any, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=12, c="0.4")


def _grouped_bars(
    ax: Any, groups: Sequence[str], series: Sequence[str], values: np.ndarray, value_labels: bool
) -> None:
    """One cluster per group, one bar per series; ``values[s, g]`` NaN (or < 0) means n/a."""
    width = 0.8 / max(len(series), 1)
    colors = _palette(len(series))
    x = np.arange(len(groups))
    for s, name in enumerate(series):
        pos = x - 0.4 + width * (s + 0.5)
        present = np.isfinite(values[s]) & (values[s] >= 0)
        bars = ax.bar(pos[present], values[s][present], width * 0.92, label=name, color=colors[s])
        if value_labels:
            ax.bar_label(bars, fmt="%.3f", fontsize=7, padding=1, rotation=90 if len(series) > 3 else 0)
            for p in pos[~present]:
                ax.text(p, 0.01, "n/a", ha="center", va="bottom", fontsize=7, color="0.4", rotation=90)
    # Dataset names are long (``test/<recording name>-ver:1.0.0 (seen in training)``): wrapped on
    # their own separators into a few short lines, each cluster's label stays under its cluster.
    ax.set_xticks(x, [wrap_label(g) for g in groups], fontsize=8)
    top = np.nanmax(np.where(values >= 0, values, np.nan)) if np.any(values >= 0) else 1.0
    ax.set_ylim(0, max(1.0, float(top)) * 1.15)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def wrap_label(text: str, width: int = LABEL_WIDTH) -> str:
    """``text`` in lines of at most about ``width`` characters, broken after ``/``, ``-``, ``_``,
    ``:`` or a space (dataset names have no other place to break), never inside a word part."""
    parts = re.findall(r"[^/\-_: ]*[/\-_: ]?", text)
    lines, line = [], ""
    for part in filter(None, parts):
        if line and len(line) + len(part) > width:
            lines.append(line.rstrip())
            line = ""
        line += part
    return "\n".join([*lines, line.rstrip()]) if line else "\n".join(lines)


def _legend_below(fig: Figure, labels: Sequence[str], *, title: str | None = None, fontsize: int = 8) -> None:
    """The legend under the chart, in as many columns as the figure's width holds whole labels."""
    longest = max((len(label) for label in labels), default=1)
    inches_per_column = 0.6 + longest * fontsize * 0.0085  # a character is about 0.6 em wide
    ncols = max(1, min(len(labels), int(fig.get_figwidth() // inches_per_column)))
    fig.legend(loc="outside lower center", ncols=ncols, fontsize=fontsize, title=title)


def _palette(n: int) -> list[Any]:
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


# --------------------------------------------------------------------------- curves


def plot_pr_curve(
    result: CocoResult,
    path: str | Path,
    title: str = "Precision-recall",
    iou: float = 0.5,
    *,
    show_mean_iou: bool = True,
    class_names: Mapping[int, str] | None = None,
) -> Path:
    """COCO's interpolated precision at the 101 recall levels (area all, 100 dets), per class.

    A solid line at IoU ``iou``; with ``show_mean_iou`` also a dashed line for the mean over
    IoU 0.50:0.95. Classes without ground truth have no curve.
    """
    hit = np.flatnonzero(np.isclose(IOU_THRESHOLDS, iou, rtol=0.0, atol=1e-9))
    if hit.size == 0:
        raise ValueError(f"iou must be one of 0.50, 0.55, ..., 0.95, got {iou}")
    t = int(hit[0])
    fig = _new_figure(6.4, 5.2)
    ax = fig.add_subplot()
    # Custom area ranges (e.g. tiny-object bins) may move "all" off axis position 0.
    labels = tuple(getattr(result, "area_labels", ("all",)))
    area = labels.index("all") if "all" in labels else 0
    precision = result.precision[:, :, :, area, len(MAX_DETS) - 1]  # (T, R, K)
    colors = _palette(len(result.class_ids))
    for k, cid in enumerate(result.class_ids):
        curve = precision[t, :, k]
        if np.all(curve < 0):
            continue
        name = (class_names or {}).get(cid, f"class {cid}")
        label = f"{name}  AP@{iou:g} = {curve.mean():.3f}"
        ax.plot(RECALL_THRESHOLDS, curve, color=colors[k], lw=2, label=label)
        if show_mean_iou:
            mean_curve = precision[:, :, k].mean(axis=0)
            ax.plot(RECALL_THRESHOLDS, mean_curve, color=colors[k], lw=1.4, ls="--",
                    label=f"{name}  mean over IoU .50:.95, AP = {mean_curve.mean():.3f}")
    if ax.lines:
        ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    else:
        _say_empty(ax, "no ground truth: precision is undefined")
    ax.set(xlim=(0, 1.0), ylim=(0, 1.03), xlabel="Recall", ylabel="Precision (interpolated)", title=title)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_f1_vs_threshold(
    source: ThresholdCurve | CocoResult | tuple[Sequence[ImageGT], Sequence[ImageDets]],
    path: str | Path,
    title: str = "F1 against score threshold",
    iou: float = 0.5,
) -> Path:
    """Precision, recall and F1 when keeping detections with ``score >= threshold``.

    ``source`` is a :class:`ThresholdCurve`, a :class:`CocoResult` (its curve at ``iou``) or the
    ``(gts, dets)`` that :func:`evaluate_coco` takes (then matched at ``iou``). The F1-best
    threshold is marked.
    """
    if isinstance(source, ThresholdCurve):
        curve = source
    elif isinstance(source, CocoResult):
        curve = source.threshold_curve(iou)
    else:
        curve = threshold_curve(*source, iou=iou)
    fig = _new_figure(6.4, 4.6)
    ax = fig.add_subplot()
    right = max(1.0, float(curve.thresholds[0])) if curve.thresholds.size else 1.0
    if curve.thresholds.size:
        # Values hold from one score down to the next: steps, extended to 0 and to the right edge
        # (above the top score nothing is kept: recall and F1 are 0, precision undefined).
        x = np.concatenate([[0.0], curve.thresholds[::-1], [right]])
        lines = ((curve.precision, "precision", "#1f77b4", 1.4), (curve.recall, "recall", "#ff7f0e", 1.4))
        for values, name, color, width in (*lines, (curve.f1, "F1", "#2ca02c", 2.4)):
            after_top = np.nan if name == "precision" else 0.0
            y = np.concatenate([[values[-1]], values[::-1], [after_top]])
            ax.step(x, y, where="pre", color=color, lw=width, label=name)
        best = curve.best()
        ax.axvline(best["threshold"], color="0.35", ls=":", lw=1)
        ax.plot([best["threshold"]], [best["F1"]], "o", color="#2ca02c", ms=7, zorder=5)
        ax.annotate(
            f"best F1 {best['F1']:.3f} at score ≥ {best['threshold']:.3f}\n"
            f"P {best['P']:.3f}   R {best['R']:.3f}",
            xy=(best["threshold"], best["F1"]), xytext=(0.5, 0.04), textcoords="axes fraction",
            ha="center", fontsize=9, bbox={"boxstyle": "round", "fc": "white", "ec": "0.6"},
        )
        # Below the axes: inside, every corner is crossed by some curve.
        fig.legend(loc="outside lower center", ncols=3, fontsize=9)
        if curve.num_gt == 0:
            _say_empty(ax, "no ground truth: every detection is a false positive")
    else:
        _say_empty(ax, "no detections")
    ax.set(xlim=(0, right), ylim=(0, 1.03), xlabel="score threshold", ylabel="value",
           title=f"{title}\n(IoU {curve.iou:g}, {curve.num_gt} ground-truth boxes)")
    ax.grid(alpha=0.3)
    return _save(fig, path)


# --------------------------------------------------------------------------- bar charts


def plot_dataset_bars(
    scores: Mapping[str, Mapping[str, float]],
    path: str | Path,
    metrics: Sequence[str] = ("mAP@0.5", "mAP@0.5:0.95"),
    title: str = "Scores per dataset",
) -> Path:
    """Grouped bars: one cluster per dataset, one bar per metric (missing or -1: n/a)."""
    datasets = list(scores)
    values = np.array(
        [[float(scores[d].get(m, math.nan)) for d in datasets] for m in metrics], dtype=np.float64
    ).reshape(len(metrics), len(datasets))
    label_lines = max((wrap_label(d).count("\n") + 1 for d in datasets), default=1)
    fig = _new_figure(max(5.0, 1.0 + 2.0 * len(datasets)), 4.0 + 0.16 * label_lines)
    ax = fig.add_subplot()
    if datasets:
        _grouped_bars(ax, datasets, list(metrics), values, value_labels=True)
        _legend_below(fig, list(metrics), fontsize=9)  # off the bars
    else:
        _say_empty(ax, "no datasets")
    ax.set(title=title, ylabel="score")
    return _save(fig, path)


def plot_leaderboard(
    rows: Sequence[Mapping[str, Any]], path: str | Path, metric: str, title: str | None = None
) -> Path:
    """Runs × datasets for one metric: a cluster per dataset, a bar per run.

    ``rows`` have keys ``run``, ``model_type``, ``dataset`` and metric values, either at the top
    level or under ``metrics`` (as ``dataclasses.asdict`` of a leaderboard row gives); a ``split``
    key is prefixed to the dataset (``test/name-ver:1``). Rows without ``metric`` are skipped, a
    later row for the same run and dataset wins, and -1 (undefined) shows as n/a. Runs are
    listed best first (mean over the datasets they have a value for).
    """
    table: dict[tuple[str, str], float] = {}
    model_of: dict[str, str] = {}
    for row in rows:
        value = row.get(metric, (row.get("metrics") or {}).get(metric))
        if value is None:
            continue
        run, dataset = str(row["run"]), str(row["dataset"])
        dataset = f"{row['split']}/{dataset}" if row.get("split") else dataset
        table[(run, dataset)] = float(value)
        model_of[run] = str(row.get("model_type", ""))
    datasets = sorted({d for _, d in table})

    def mean_score(run: str) -> float:
        mine = [v for (r, _), v in table.items() if r == run and v >= 0]
        return float(np.mean(mine)) if mine else -1.0

    runs = sorted(model_of, key=lambda r: -mean_score(r))
    values = np.array([[table.get((r, d), math.nan) for d in datasets] for r in runs], dtype=np.float64)
    values = values.reshape(len(runs), len(datasets))
    n_bars = len(runs) * len(datasets)
    labels = [f"{r} ({model_of[r]})" if model_of[r] else r for r in runs]
    # Wide enough for a legend column of whole run names, and for the bars.
    longest = max((len(label) for label in labels), default=10)
    width = min(24.0, max(7.0, 1.5 + 0.45 * n_bars, 1.0 + longest * 8 * 0.0085))
    columns = max(1, int(width // (0.6 + longest * 8 * 0.0085)))
    label_lines = max((wrap_label(d).count("\n") + 1 for d in datasets), default=1)
    fig = _new_figure(width, 4.6 + 0.16 * label_lines + 0.2 * math.ceil(len(runs) / columns))
    ax = fig.add_subplot()
    if n_bars:
        _grouped_bars(ax, datasets, labels, values, value_labels=n_bars <= 48)
        # Below the chart, so many runs do not squeeze the bars.
        _legend_below(fig, labels, title="run (model type)")
    else:
        _say_empty(ax, f"no runs with {metric}")
    ax.set(title=title or f"Leaderboard: {metric}", ylabel=metric)
    return _save(fig, path)


# --------------------------------------------------------------------------- frames


def _visible_boxes(boxes: np.ndarray, min_side: float) -> np.ndarray:
    """xywh of xyxy boxes grown about their centres to at least ``min_side``: a 5 px ball is invisible."""
    centred = xyxy_to_cxcywh(boxes)
    centred[:, 2:] = np.maximum(centred[:, 2:], min_side)
    return cxcywh_to_xywh(centred)


def _read_frame(path: Path) -> tuple[np.ndarray | None, float]:
    """The frame as displayed (EXIF orientation applied, as the trainers read it and as boxes are
    given) in RGB, shrunk to :data:`FRAME_MAX_WIDTH`, and the scale applied to it."""
    # From bytes: cv2.imread gives up on EXIF-rotated TIFFs (OpenCV 4.12+); no warning for a missing file.
    data = np.fromfile(path, np.uint8) if path.is_file() else np.zeros(0, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        return None, 1.0
    scale = min(1.0, FRAME_MAX_WIDTH / image.shape[1])
    if scale < 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), scale


def _short_name(name: str, width: int = 34) -> str:
    """Frame names carry the whole match title; the end (frame number) is what tells them apart."""
    return name if len(name) <= width else "…" + name[-(width - 1) :]


def plot_sample_frames(
    images: Sequence[Path],
    truth_boxes: Sequence[np.ndarray],
    det_boxes: Sequence[np.ndarray],
    det_scores: Sequence[np.ndarray],
    path: str | Path,
    score_threshold: float = 0.25,
    max_frames: int = 8,
    title: str | None = None,
) -> Path:
    """A grid of frames: ground truth in green, detections ``>= score_threshold`` in red with score.

    Boxes are ``x1, y1, x2, y2`` in the frame's pixels. Boxes smaller than 2.5% of the frame's
    width are drawn grown to that size (same centre) so tiny balls stay visible; ground-truth
    boxes are drawn a little larger still, so a hit shows as a red box inside a green one. With
    more than ``max_frames`` frames, evenly spaced ones are shown.
    """
    n = len(images)
    if not (len(truth_boxes) == len(det_boxes) == len(det_scores) == n):
        raise ValueError("images, truth_boxes, det_boxes and det_scores must have the same length")
    picked = np.unique(np.linspace(0, n - 1, min(n, max_frames)).round().astype(int)) if n else []
    cols = min(4, max(len(picked), 1))
    rows = max(1, math.ceil(len(picked) / cols))
    frames = [_read_frame(Path(images[i])) for i in picked]
    aspect = next((f.shape[0] / f.shape[1] for f, _ in frames if f is not None), 9 / 16)
    fig = _new_figure(3.8 * cols, (3.8 * aspect + 0.45) * rows + 0.7)
    if not n:
        _say_empty(fig.add_subplot(), "no frames")
    for slot, (i, (frame, scale)) in enumerate(zip(picked, frames)):
        ax = fig.add_subplot(rows, cols, slot + 1)
        ax.set_axis_off()
        name = _short_name(Path(images[i]).name)
        if frame is None:
            ax.set_title(name, fontsize=8)
            _say_empty(ax, "cannot read this image")
            continue
        ax.imshow(frame)
        min_side = 0.025 * frame.shape[1]
        gt = np.asarray(truth_boxes[i], dtype=np.float64).reshape(-1, 4) * scale
        boxes = np.asarray(det_boxes[i], dtype=np.float64).reshape(-1, 4) * scale
        scores = np.asarray(det_scores[i], dtype=np.float64).reshape(-1)
        shown = scores >= score_threshold
        for x, y, w, h in _visible_boxes(gt, min_side * 1.5):
            ax.add_patch(Rectangle((x, y), w, h, fill=False, ec=GT_COLOR, lw=2.0))
        for (x, y, w, h), score in zip(_visible_boxes(boxes[shown], min_side), scores[shown]):
            ax.add_patch(Rectangle((x, y), w, h, fill=False, ec=DET_COLOR, lw=1.2))
            ax.text(x + w, y, f"{score:.2f}", color="white", fontsize=6.5, va="bottom",
                    bbox={"fc": DET_COLOR, "ec": "none", "pad": 0.8, "alpha": 0.85})
        counts = f"GT {len(gt)} · detections ≥ {score_threshold:g}: {int(shown.sum())}"
        ax.set_title(f"{name}\n{counts}", fontsize=8)
    handles = [Line2D([], [], color=GT_COLOR, lw=2, label="ground truth"),
               Line2D([], [], color=DET_COLOR, lw=2, label=f"detection (score ≥ {score_threshold:g})")]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, path)
