"""The team's own example config (MISSION.md) runs: every training set is also a test set (declared
overlap, the config's choice), beside one held-out test set. Its overlapping results are marked
"seen in training" wherever they are shown; a hidden overlap (a test frame copied into a training
set) still fails, with the frames listed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from balldet.synth.inventory import synth_dataset_id
from conftest import REPO

MISSION_EXAMPLE = Path(__file__).parent / "data" / "mission_example.yaml"
YOLOV5_EXAMPLE = REPO / "configs" / "aicska" / "object_detection" / "yolov5" / "ball" / "251125_1230_yolov5n_synth.yaml"
# The four training sets of the example (also tested) and the public held-out set, as synthetic ones.
TRAINING = [
    ("class:ball-markup:our-001", "1.0.0"),
    ("class:ball-markup:tagme-001-02", "1.0.2"),
    ("20240416-Russian_Cup-CSKA_Moscow-vs-Baltika_Kaliningrad-01-001", "1.0.0"),
    ("20240421-Premier_League-CSKA_Moscow-vs-Spartak_Moscow-01-001", "1.0.0"),
]
HELD_OUT = ("soccernet_ball_001", "1.0.2")
CONFIG = "aicska/object_detection/yolov5/ball/251130_0000_team_example.yaml"


def team_config() -> dict:
    """The example as written, its ids swapped for synthetic datasets in the same overlap shape, its
    train_config swapped for the yolov5 example config's (offline, from scratch), one epoch."""
    example = yaml.safe_load(MISSION_EXAMPLE.read_text())
    ids = {old: synth_dataset_id(*new) for old, new in zip(example["train_data"]["datasets"], TRAINING)}
    assert example["test_data"]["datasets"][:4] == example["train_data"]["datasets"]  # the shape we copy
    (public,) = example["test_data"]["datasets"][4:]
    ids[public] = synth_dataset_id(*HELD_OUT)
    config = dict(example)
    config["train_data"] = {"datasets": [ids[i] for i in example["train_data"]["datasets"]]}
    config["test_data"] = {"datasets": [ids[i] for i in example["test_data"]["datasets"]]}
    config["train_config"] = {**yaml.safe_load(YOLOV5_EXAMPLE.read_text())["train_config"], "epochs": 1}
    return config


@pytest.fixture(scope="module")
def team_workspace(tmp_path_factory, tiny_catalog):
    from conftest import make_workspace

    ws = make_workspace(tmp_path_factory.mktemp("team"))
    shutil.rmtree(ws.catalog)
    shutil.copytree(tiny_catalog, ws.catalog)
    ws.write_config(CONFIG, team_config())
    return ws


@pytest.mark.slow
def test_the_team_example_runs_and_marks_what_was_seen_in_training(team_workspace):
    ws = team_workspace
    validated = ws.cli("configs", "validate", CONFIG, "--model-type", "yolov5")
    assert validated.returncode == 0, validated.stderr
    assert "declared overlap" in validated.stdout
    for name, version in TRAINING:
        assert f"{name}-ver:{version}" in validated.stdout.replace("\n", "")

    result = ws.cli("run", "--config_name", CONFIG, "--model_type", "yolov5", "--project", "aicska")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = result.stdout
    for name, version in TRAINING:
        (row,) = [line for line in table.splitlines() if f"test/{name}-ver:{version}" in line]
        assert "seen in training" in row
    (row,) = [line for line in table.splitlines() if f"test/{HELD_OUT[0]}-ver:{HELD_OUT[1]}" in line]
    assert "seen in training" not in row
    # The validation frames held out of training (no val_data in the example) are said and scored.
    assert "validation:" in result.stderr and "held out" in result.stderr
    assert "val/" in table

    (run_json,) = (ws.outputs / "aicska" / "debug").glob("*/run.json")
    manifest = json.loads(run_json.read_text())
    assert sorted(manifest["seen_in_training"]) == sorted(f"test/{n}-ver:{v}" for n, v in TRAINING)

    board = ws.cli("leaderboard", "--project", "aicska", "--tag", "ball", "--csv", str(ws.root / "board.csv"),
                   COLUMNS="250")
    assert board.returncode == 0, board.stderr
    rows = (ws.root / "board.csv").read_text().splitlines()
    assert rows[0].split(",")[-1] == "note"
    marked = {line.split(",")[0] for line in rows[1:] if line.endswith("seen in training")}
    assert marked == {f"test/{n}-ver:{v}" for n, v in TRAINING}


def test_a_hidden_overlap_still_fails_with_the_frames_listed(team_workspace, tmp_path):
    ws = team_workspace
    train = ws.catalog / synth_dataset_id(*TRAINING[0])
    public = ws.catalog / synth_dataset_id(*HELD_OUT)
    frame = sorted((public / "images").iterdir())[0]
    copy = train / "images" / "copied_000001.jpg"
    shutil.copy(frame, copy)
    shutil.copy(public / "labels" / f"{frame.stem}.txt", train / "labels" / "copied_000001.txt")
    try:
        result = ws.cli("run", "--config_name", CONFIG, "--model_type", "yolov5", "--project", "aicska",
                        "--force")
        assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
        assert "leak" in result.stderr and "copied_000001.jpg" in result.stderr and frame.name in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        copy.unlink()
        (train / "labels" / "copied_000001.txt").unlink()
