"""Stage 7: predict on every validation and test dataset and score it with balldet's evaluator."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from pydantic import BaseModel

from balldet.backends.base_model import ModelWrapper, TrainedModel
from balldet.boxes import Detections
from balldet.config import PipelineConfig
from balldet.datasets.prepared import PreparedData
from balldet.datasets.dataset import DatasetRef
from balldet.evaluation.dataset_plots import plot_scored_dataset
from balldet.evaluation.frames import FrameTruth, best_tau, evaluate_frames
from balldet.evaluation.plots import plot_dataset_bars
from balldet.evaluation.predictions import load_truth, save_predictions
from balldet.backends.registry import get_model_wrapper
from balldet.slicing.predict import predict_sliced
from balldet.datasets.frames import FrameIdentity
from balldet.frame_patterns import DEFAULT_FRAME_PATTERNS
from balldet.tracking.reporter import Reporter
from balldet.tracks.on_dataset import clip_recordings, track_metrics
from balldet.tracking.tasks import SEEN_PROPERTY


SEEN_IN_TRAINING = "seen in training"


class DatasetScores(BaseModel):
    split: str
    dataset_id: str
    label: str
    images: int
    metrics: dict[str, float]
    # a test dataset the config also trains or validates on (declared overlap)
    seen_in_training: bool = False
    # validation frames held out of this training dataset (no val_data given), not the whole dataset
    held_out: bool = False

    @property
    def prefix(self) -> str:
        """``test/<name>-ver:<version>``: what the team's leaderboards show before each measure."""
        return f"{self.split}/{self.label}"

    @property
    def shown_as(self) -> str:
        """How a person reads the row's name: the prefix, marked when the data was seen in training."""
        notes = [SEEN_IN_TRAINING] * self.seen_in_training + ["held-out frames"] * self.held_out
        return self.prefix + (f" ({', '.join(notes)})" if notes else "")


class TestReport(BaseModel):
    model_type: str
    weights: Path
    datasets: list[DatasetScores]
    predictions_dir: Path | None = None
    # Single values (ClearML title ``Summary``) for the boards that read them (the yolov5 one):
    # ``test/<dataset>/P``, ``R``, ``mAP50``, ``mAP50-95`` from the backend's own validation,
    # ``mAP@0.5``, ``mAP@0.5:0.95`` from balldet's evaluator, ``metrics/precision``, ``metrics/recall``
    # from the trainer's last validation.
    summary: dict[str, float] = {}

    def scalars(self) -> dict[str, float]:
        """``<split>/<dataset label>/<measure>``: ClearML title ``<split>``, series the rest."""
        return {f"{d.prefix}/{k}": v for d in self.datasets for k, v in d.metrics.items()}

    def seen_in_training(self) -> list[str]:
        return [d.prefix for d in self.datasets if d.seen_in_training]


def record_on_pipeline(report: TestReport, model: TrainedModel, pipeline: Reporter) -> None:
    """What the team's leaderboards read on a pipeline's run: every result scalar, the backend's own
    figures apart (``backend``), and which test datasets were seen in training (a user property)."""
    for key, value in report.scalars().items():
        report_scalar(pipeline, key, value)
    for name, value in report.summary.items():
        pipeline.single_value(name, value)
    for name, value in model.backend_metrics.items():
        pipeline.scalar("backend", name, value, 0)
    pipeline.properties({SEEN_PROPERTY: ", ".join(report.seen_in_training())})


def report_scalar(report: Reporter, key: str, value: float) -> None:
    """A ``<split>/<dataset>/<measure>`` scalar under the names the team's leaderboards read: title
    ``test`` (or ``val``), series ``<dataset>-ver:<version>/<measure>``."""
    title, _, series = key.partition("/")
    report.scalar(title, series, value, 0)


def ball_class(names: Sequence[str]) -> int:
    """The class id of the ball: the class named ``ball``, else the first."""
    return list(names).index("ball") if "ball" in names else 0


def frame_predictions(wrapper: ModelWrapper, images: Sequence[Path], config: PipelineConfig, *,
                      image_size: int | None) -> Iterator[Detections]:
    """Detections of whole frames in frame pixels: predicted tile by tile and merged when the config
    slices, else on the frames as they are."""
    if config.slicing is None:
        return wrapper.predict(images, batch_size=config.test_batch_size, image_size=image_size)
    return predict_sliced(
        wrapper, images, tile=config.slicing.tile, overlap=config.slicing.overlap,
        full_frame=config.slicing.full_frame, image_size=image_size, batch_size=config.test_batch_size,
    )


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

    identity = FrameIdentity(config.data_checks.frame_patterns or DEFAULT_FRAME_PATTERNS)

    def predict(ref: DatasetRef, split: str, only: frozenset[str] | None = None, tau: float | None = None
                ) -> tuple[list[FrameTruth], list[Detections], dict[str, float]]:
        # Frames the checks dropped (label_defects: drop) cannot be scored: their labels are broken.
        left_out = {f.file for f in data.dropped_frames if f.dataset_id == ref.id}
        if only is not None:
            left_out |= set(ref.image_names()) - only
        images, truth = load_truth(ref, frozenset(left_out))
        detections = list(frame_predictions(wrapper, images, config, image_size=model.image_size))
        save_predictions(Path(out_dir) / split / ref.label, images, truth, detections)
        scores = evaluate_frames(truth, detections, num_classes=len(ref.names), tau=tau)
        metrics = dict(scores.metrics)
        if split == "test":
            clips = clip_recordings(ref, images, truth, detections, identity, ball_class(ref.names))
            metrics.update(track_metrics(clips, config.tracking, tau))
        plots = plot_scored_dataset(
            Path(out_dir) / "plots", f"{split}_{ref.label}", images, truth, detections, scores.coco_result,
            class_names=ref.names,
        )
        for name, path in plots.items():
            report.image(f"{split}/{ref.label}", name, path)
        return truth, detections, metrics

    def record(split: str, ref: DatasetRef, images: int, metrics: dict[str, float], **flags: bool) -> DatasetScores:
        scores = DatasetScores(split=split, dataset_id=ref.id, label=ref.label, images=images, metrics=metrics,
                               **flags)
        for name, value in metrics.items():
            report_scalar(report, f"{scores.prefix}/{name}", value)
        return scores

    scored = []
    val_truth: list[FrameTruth] = []
    val_detections: list[Detections] = []
    held_out: dict[str, set[str]] = {}
    for frame in data.val_frames:
        held_out.setdefault(frame.dataset_id, set()).add(frame.file)
    val_sets = [(ref, None) for ref in data.val] + [
        (ref, frozenset(held_out[ref.id])) for ref in data.train if ref.id in held_out
    ]
    for ref, only in val_sets:
        truth, detections, metrics = predict(ref, "val", only)
        val_truth += truth
        val_detections += detections
        scored.append(record("val", ref, len(truth), metrics, held_out=only is not None))
    # The per-frame threshold is chosen on validation frames only, then applied to the test sets.
    tau = best_tau(val_truth, val_detections) if val_truth else None
    summary: dict[str, float] = {}
    for ref in data.test:
        truth, _, metrics = predict(ref, "test", tau=tau)
        scores = record("test", ref, len(truth), metrics, seen_in_training=ref.id in data.seen_in_training)
        scored.append(scores)
        # the backend's own validation sees whole frames only: no figure of a sliced model
        own = None if config.slicing is not None else wrapper.own_scores(
            ref, {f.file for f in data.dropped_frames if f.dataset_id == ref.id}, weights=Path(model.weights),
            image_size=model.image_size, batch_size=config.test_batch_size, device=device,
            work_dir=Path(out_dir) / "backend_val" / ref.label,
        )
        if own is not None:
            ours = {"mAP@0.5": metrics["mAP@0.5"], "mAP@0.5:0.95": metrics["mAP@0.5:0.95"]}
            summary.update({f"{scores.prefix}/{name}": value for name, value in {**own, **ours}.items()})
    if summary:
        trainer = {"metrics/precision": "P", "metrics/recall": "R"}
        summary.update({name: model.backend_metrics[key] for name, key in trainer.items()
                        if key in model.backend_metrics})
    for name, value in summary.items():
        report.single_value(name, value)
    bars = plot_dataset_bars({s.shown_as: s.metrics for s in scored}, Path(out_dir) / "plots" / "datasets.png")
    report.image("summary", "scores per dataset", bars)
    return TestReport(model_type=config.model_type, weights=model.weights, datasets=scored,
                      predictions_dir=Path(out_dir), summary=summary)

