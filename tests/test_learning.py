"""Does it learn? Each backend trains on synthetic ball frames for about three minutes of 2 CPU cores
and must reach mAP@0.5 > 0.3 on a held-out dataset, scored by balldet's own evaluator."""

from __future__ import annotations

from pathlib import Path

import pytest

from balldet.config import PipelineConfig
from balldet.datasets.catalog import LocalCatalog
from balldet.datasets.prepared import PreparedData
from balldet.synth.catalog import synthesize
from balldet.synth.inventory import synth_dataset_id
from balldet.stages.convert_data import convert_data
from balldet.stages.test_model import test_model as run_test_stage
from balldet.stages.train_model import train_model
from balldet.tracking.reporter import Reporter

TRAIN = [
    ("20240416-Russian_Cup-CSKA_Moscow-vs-Baltika_Kaliningrad-01-001", "1.0.0"),
    ("20240421-Premier_League-CSKA_Moscow-vs-Spartak_Moscow-01-001", "1.0.0"),
]
VAL = ("class:ball-markup:tagme-001-02", "1.0.2")
TEST = ("class:ball-markup:our-001", "1.0.0")

# Settings found to learn fast from scratch on 2 CPU cores (no pretrained weights offline).
TRAIN_CONFIGS = {
    "ultralytics": {
        "model": "yolov8n.yaml", "epochs": 15, "imgsz": 320, "batch": 8, "nbs": 8, "optimizer": "AdamW",
        "lr0": 0.002, "warmup_epochs": 1, "mosaic": 0.0, "workers": 0, "val": False,
    },
    # yolov5 accumulates gradients up to 64 images after a warmup of at least 100 iterations; a
    # long warmup keeps the accumulation low (more optimizer steps), so lr0 is high while it ramps.
    # The ramp is multiplied by the schedule (linear from 1 to lrf): with lrf 0.1 the rate climbs to
    # ~0.003 by epoch 10 and falls to half that by the end, so the last epochs settle. With a rate
    # still climbing at the end (lrf 1.0, 20 epochs) the run ended anywhere between mAP@0.5 0.20 and
    # 0.35 depending on the seed and on torch's thread count; these settings gave 0.79-0.86 (seeds
    # 0, 1 and 2, with 1 or 2 threads).
    "yolov5": {
        "cfg": "yolov5n.yaml", "weights": "", "imgsz": 320, "batch_size": 4, "epochs": 30, "rect": True,
        "optimizer": "AdamW", "cache": "ram", "workers": 0,
        "hyp": {"lr0": 0.04, "lrf": 0.1, "mosaic": 0.0, "scale": 0.2, "warmup_epochs": 100,
                "warmup_bias_lr": 0.0},
    },
}


@pytest.fixture(scope="module")
def learning_catalog(tmp_path_factory) -> LocalCatalog:
    catalog = LocalCatalog(tmp_path_factory.mktemp("learning-catalog"))
    synthesize(catalog, images_per_dataset=48, seed=0)
    return catalog


def learned_map50(model_type: str, catalog: LocalCatalog, tmp_path: Path) -> float:
    """mAP@0.5 on the held-out test dataset of ``model_type`` trained on the synthetic frames."""
    train = [catalog.get(synth_dataset_id(*d)) for d in TRAIN]
    val = [catalog.get(synth_dataset_id(*VAL))]
    test = [catalog.get(synth_dataset_id(*TEST))]
    config = PipelineConfig(
        tags=["ball"],
        model_type=model_type,
        train_data={"datasets": [r.id for r in train]},
        val_data={"datasets": [val[0].id]},
        test_data={"datasets": [test[0].id]},
        train_config=TRAIN_CONFIGS[model_type],
        test_batch_size=16,
    )
    data = PreparedData(train=train, val=val, test=test, class_names=["ball"])
    backend = dict(cache_dir=tmp_path / "cache", device="cpu", allow_downloads=False)
    converted = convert_data(config, data, tmp_path / "layout")
    trained = train_model(config, converted, tmp_path / "train", report=Reporter(), **backend)
    assert Path(trained.weights).is_file()
    # Only the test dataset is scored: the test is about generalising to frames never seen.
    report = run_test_stage(
        config, data.model_copy(update={"val": []}), trained, tmp_path / "predictions",
        report=Reporter(), **backend,
    )
    (scores,) = report.datasets
    return scores.metrics["mAP@0.5"]


# One backend a file: the test workers train the two side by side (tests/test_learning_yolov5.py).
@pytest.mark.slow(minutes=1.6)
def test_ultralytics_learns_to_find_the_ball(learning_catalog, tmp_path):
    assert learned_map50("ultralytics", learning_catalog, tmp_path) > 0.3
