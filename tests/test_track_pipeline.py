"""test_model's ball-track measures: reported for a test dataset of consecutive frames (the
synthetic clips) and not for one of scattered frames, and equal to what `balldet track`'s code
makes of the prediction files the run saved."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from balldet.config import TrackingSection
from balldet.datasets.catalog import LocalCatalog
from balldet.synth.catalog import synthesize, synthesize_clips
from balldet.synth.inventory import CLIP_TEST_IDS, SYNTH_DATASET_IDS
from balldet.stages.track import Sizes, read_predictions, track_all
from balldet.tracks.measures import Truth, best_top1_threshold, measure, read_truth
from test_slicing_predict import ultralytics_weights  # noqa: F401  (the fixture)

SCATTERED = SYNTH_DATASET_IDS["class:ball-markup:our-001"]


@pytest.mark.slow(minutes=0.5)
def test_track_measures_of_a_run_equal_those_of_its_saved_predictions(workspace, ultralytics_weights):
    catalog = LocalCatalog(workspace.catalog)
    synthesize_clips(catalog, frames_per_clip=40, seed=0)
    synthesize(catalog, images_per_dataset=6, seed=0)
    config = {
        "tags": ["ball"], "model_type": "ultralytics", "train_data": "pretrained",
        "test_data": {"datasets": [*CLIP_TEST_IDS, SCATTERED]},
        "train_config": {"model": str(ultralytics_weights), "imgsz": 320},
        "tracking": {"max_speed": 30, "max_gap": 8},
    }
    path = workspace.configs / "clips.yaml"
    path.write_text(yaml.safe_dump(config))
    result = workspace.cli("run", "--config_name", "clips.yaml", "--model_type", "ultralytics", "--project", "t")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = next(workspace.outputs.glob("t/*/*/run.json")).parent
    metrics = json.loads((run_dir / "run.json").read_text())["metrics"]

    clips = catalog.get(CLIP_TEST_IDS[0])
    scattered = catalog.get(SCATTERED)
    prefix = f"test/{clips.label}"
    assert metrics[f"{prefix}/track/frames"] == 80  # two clips of 40 frames
    assert not any(k.startswith(f"test/{scattered.label}/track") for k in metrics)
    assert not any("/track/" in k for k in metrics if k.startswith("val/"))

    # the same from the files: the run's predictions, read and tracked as `balldet track` does (no
    # validation frames: the default break-even score)
    params = TrackingSection(max_speed=30, max_gap=8)
    predictions = run_dir / "predictions" / "test" / clips.label
    recordings = read_predictions(predictions, Sizes(size=(640, 384)), params)
    assert len(recordings) == 2
    tracks = track_all(recordings, params)
    truths = [read_truth(clips.path, rec, 0)[0] for rec in recordings]
    pooled = measure(np.concatenate([t.x for t in tracks]), np.concatenate([t.y for t in tracks]),
                     Truth(*(np.concatenate([getattr(t, f) for t in truths]) for f in ("x", "y", "diameter"))))
    assert metrics[f"{prefix}/track/accuracy"] == pytest.approx(pooled.accuracy, abs=0.02)
    assert metrics[f"{prefix}/track/within_8px"] == pytest.approx(pooled.within["8px"], abs=0.02)
    threshold = metrics[f"{prefix}/track_top1/threshold"]
    assert best_top1_threshold(recordings, truths) == pytest.approx(threshold, abs=1e-5)
    # the truth the run used is the clips' own: labels exactly where truth.csv has a ball in the frame
    truth_rows = (clips.path / "truth.csv").read_text().splitlines()[1:]
    in_frame = sum(1 for row in truth_rows if row.split(",")[2] != "")
    assert sum(int(t.has_ball.sum()) for t in truths) == in_frame
