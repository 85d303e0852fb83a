"""The pictures of one scored dataset, saved as PNG with the run (and reported to ClearML)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from balldet.boxes import Detections, xywh_to_xyxy
from balldet.evaluation.coco import CocoResult
from balldet.evaluation.frames import FrameTruth
from balldet.evaluation.plots import plot_f1_vs_threshold, plot_pr_curve, plot_sample_frames


def _file_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label)


def plot_scored_dataset(
    folder: Path,
    label: str,
    images: Sequence[Path],
    truth: Sequence[FrameTruth],
    detections: Sequence[Detections],
    result: CocoResult,
    *,
    class_names: Sequence[str],
) -> dict[str, Path]:
    """PR curve (one line per class, by name), F1 against score threshold, and sample frames with
    ground truth and predictions.

    ``result`` is the COCO evaluation of these frames the dataset was scored with
    (:attr:`~balldet.evaluation.frames.FrameScores.coco_result`): both curves are read from it, so
    they show the very matching the dataset's measures come from.
    """
    stem = Path(folder) / _file_name(label)
    # Frames with a ball first: they show what the model finds and misses.
    order = sorted(range(len(images)), key=lambda i: (len(truth[i].rows) == 0, i))[:8]
    return {
        "PR curve": plot_pr_curve(result, stem.with_name(stem.name + "_pr.png"), title=f"{label}: precision-recall",
                                  class_names=dict(enumerate(class_names))),
        "F1 vs threshold": plot_f1_vs_threshold(
            result, stem.with_name(stem.name + "_f1.png"), title=f"{label}: F1 against score threshold"
        ),
        "sample frames": plot_sample_frames(
            [images[i] for i in order],
            [xywh_to_xyxy(truth[i].to_image_gt().boxes) for i in order],
            [detections[i].boxes for i in order],
            [detections[i].scores for i in order],
            stem.with_name(stem.name + "_samples.png"),
            title=f"{label}: ground truth (green), predictions (red)",
        ),
    }
