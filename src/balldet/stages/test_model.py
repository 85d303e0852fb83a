"""Stage 7: predict on every validation and test dataset and score it with balldet's evaluator."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from balldet.backends.base_model import Detections, TrainedModel
from balldet.config import PipelineConfig
from balldet.data.prepared import PreparedData
from balldet.data.dataset import DatasetRef
from balldet.evaluation.dataset_plots import plot_scored_dataset
from balldet.evaluation.frames import FrameTruth, best_tau, score_frames
from balldet.evaluation.plots import plot_dataset_bars
from balldet.evaluation.predictions import load_truth
from balldet.files import write_text_atomic
from balldet.registry import get_model_wrapper
from balldet.tracking.reporter import Reporter


class DatasetScores(BaseModel):
    split: str
    dataset_id: str
    label: str
    images: int
    metrics: dict[str, float]

    @property
    def prefix(self) -> str:
        """Scalar title as the team's leaderboards name it: ``test/<name>-ver:<version>``."""
        return f"{self.split}/{self.label}"


class TestReport(BaseModel):
    model_type: str
    weights: Path
    datasets: list[DatasetScores]

    def scalars(self) -> dict[str, float]:
        return {f"{d.prefix}/{k}": v for d in self.datasets for k, v in d.metrics.items()}


def test_model(
    config: PipelineConfig,
    data: PreparedData,
    model: TrainedModel,
    out_dir: Path,
    *,
    cache_dir: Path,
    device: str,
    allow_downloads: bool,
    report: Reporter,
) -> TestReport:
    wrapper = get_model_wrapper(config.model_type)(cache_dir, allow_downloads=allow_downloads)
    wrapper.load(model.weights, device=device)

    def predict(ref: DatasetRef, split: str) -> tuple[list[FrameTruth], list[Detections]]:
        # Frames the checks dropped (label_defects: drop) cannot be scored: their labels are broken.
        images, truth = load_truth(ref, frozenset(f.file for f in data.dropped_frames if f.dataset_id == ref.id))
        detections = list(
            wrapper.predict(images, batch_size=config.test_batch_size, image_size=model.image_size)
        )
        save_predictions(Path(out_dir) / split / ref.label, images, truth, detections)
        plots = plot_scored_dataset(
            Path(out_dir) / "plots", f"{split}_{ref.label}", images, truth, detections, num_classes=len(ref.names)
        )
        for name, path in plots.items():
            report.image(f"{split}/{ref.label}", name, path)
        return truth, detections

    def record(split: str, ref: DatasetRef, images: int, metrics: dict[str, float]) -> DatasetScores:
        scores = DatasetScores(split=split, dataset_id=ref.id, label=ref.label, images=images, metrics=metrics)
        for name, value in metrics.items():
            report.scalar(scores.prefix, name, value, 0)
        return scores

    scored = []
    val_truth: list[FrameTruth] = []
    val_detections: list[Detections] = []
    for ref in data.val:
        truth, detections = predict(ref, "val")
        val_truth += truth
        val_detections += detections
        scored.append(record("val", ref, len(truth), score_frames(truth, detections, num_classes=len(ref.names))))
    # The per-frame threshold is chosen on validation frames only, then applied to the test sets.
    tau = best_tau(val_truth, val_detections) if val_truth else None
    for ref in data.test:
        truth, detections = predict(ref, "test")
        metrics = score_frames(truth, detections, num_classes=len(ref.names), tau=tau)
        scored.append(record("test", ref, len(truth), metrics))
    bars = plot_dataset_bars({s.prefix: s.metrics for s in scored}, Path(out_dir) / "plots" / "datasets.png")
    report.image("summary", "scores per dataset", bars)
    return TestReport(model_type=config.model_type, weights=model.weights, datasets=scored)


def save_predictions(
    folder: Path, images: list[Path], truth: list[FrameTruth], detections: list[Detections]
) -> None:
    """One ``.txt`` per image, ultralytics' save_txt+save_conf format: ``class cx cy w h conf``."""
    for image, frame, dets in zip(images, truth, detections):
        w, h = frame.width, frame.height
        lines = []
        for (x1, y1, x2, y2), score, cls in zip(dets.boxes, dets.scores, dets.classes):
            cx, cy, bw, bh = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h
            lines.append(f"{int(cls)} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f} {score:.6f}")
        write_text_atomic(folder / f"{image.stem}.txt", "\n".join(lines) + ("\n" if lines else ""))
