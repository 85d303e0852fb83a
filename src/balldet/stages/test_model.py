"""Stage 7: predict on every validation and test dataset and score it with balldet's evaluator."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from balldet.backends.base_model import Detections, TrainedModel
from balldet.config import PipelineConfig
from balldet.data.prepared import PreparedData
from balldet.data.yolo import image_size, read_labels
from balldet.evaluation.frames import FrameTruth, score_frames
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
    scored = []
    for split, refs in (("val", data.val), ("test", data.test)):
        for ref in refs:
            images = ref.image_files()
            detections = list(
                wrapper.predict(images, batch_size=config.test_batch_size, image_size=model.image_size)
            )
            truth = [FrameTruth(read_labels(ref.label_file(i)), *image_size(i)) for i in images]
            save_predictions(Path(out_dir) / split / ref.label, images, truth, detections)
            metrics = score_frames(truth, detections, num_classes=len(ref.names))
            scores = DatasetScores(
                split=split, dataset_id=ref.id, label=ref.label, images=len(images), metrics=metrics
            )
            for name, value in metrics.items():
                report.scalar(scores.prefix, name, value, 0)
            scored.append(scores)
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
