"""Local runs are resumable and cheap to repeat: completed stages are reused, an interrupted training
continues from its checkpoint, and the source datasets are never touched."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from balldet.synth.inventory import synth_dataset_id
from balldet.pipeline.spec import STAGE_NAMES
from test_e2e_cli import tree_digest

CONFIG = "aicska/object_detection/ultralytics/ball/251125_0000_resume.yaml"


TRAIN_CONFIGS = {
    "ultralytics": {"model": "yolov8n.yaml", "imgsz": 160, "batch": 4, "workers": 0},
    "yolov5": {"cfg": "yolov5n.yaml", "weights": "", "imgsz": 160, "batch_size": 4, "workers": 0},
}


def write_config(ws, epochs: int, model_type: str = "ultralytics") -> str:
    return ws.write_config(CONFIG, {
        "tags": ["ball"],
        "model_type": model_type,
        "train_data": {"datasets": [synth_dataset_id("20240416-Russian_Cup-CSKA_Moscow-vs-Baltika_Kaliningrad-01-001", "1.0.0")]},
        "val_data": {"datasets": [synth_dataset_id("class:ball-markup:tagme-001-02", "1.0.2")]},
        "test_data": {"datasets": [synth_dataset_id("soccernet_ball_001", "1.0.2")]},
        "train_config": {**TRAIN_CONFIGS[model_type], "epochs": epochs},
        "test_batch_size": 4,
    })


@pytest.fixture
def ws(workspace, tiny_catalog):
    shutil.rmtree(workspace.catalog)
    shutil.copytree(tiny_catalog, workspace.catalog)
    return workspace


def run_args(*extra: str, model_type: str = "ultralytics") -> list[str]:
    return ["run", "--config_name", CONFIG, "--model_type", model_type, "--project", "aicska", *extra]


def manifests(ws) -> list[dict]:
    runs = sorted((ws.outputs / "aicska" / "debug").iterdir(), key=lambda p: p.stat().st_mtime)
    return [json.loads((run / "run.json").read_text()) for run in runs if (run / "run.json").is_file()]


def whole_checkpoint(path) -> bool:
    """The trainers write last.pt in place after every epoch: a kill while one is written leaves a
    file cut short, from which no training can continue (balldet says so, see test_corrupt_state)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None
    except (OSError, zipfile.BadZipFile):
        return False


def statuses(manifest: dict) -> dict[str, str]:
    return {stage["name"]: stage["status"] for stage in manifest["stages"]}


@pytest.mark.slow
def test_repeated_run_reuses_completed_stages(ws):
    write_config(ws, epochs=1)
    assert ws.cli(*run_args()).returncode == 0
    first = manifests(ws)[-1]

    again = ws.cli(*run_args())
    assert again.returncode == 0, again.stderr
    second = manifests(ws)[-1]
    assert second["run_id"] != first["run_id"]
    expected = {name: "reused" for name in STAGE_NAMES} | {"get_config": "completed", "process_config": "completed"}
    assert statuses(second) == expected
    assert second["metrics"] == first["metrics"]  # the same results, reported again
    assert "test/soccernet_ball_001-ver:1.0.2" in again.stdout
    # The reused run's folder holds what it reports (links to the run that made them) and says so.
    run_dir = Path(second["run_dir"])
    weights = Path(second["artefacts"]["weights"])
    assert weights.is_relative_to(run_dir) and weights.is_file()
    assert weights.resolve() == Path(first["artefacts"]["weights"]).resolve()
    assert any((run_dir / "predictions").rglob("*.txt")) and (run_dir / "data_check.json").is_file()
    record = json.loads((run_dir / "run_record.json").read_text())
    assert record["artefacts"] == second["artefacts"]
    # The run id is said first: after Ctrl-C it is what --resume takes.
    assert again.stderr.index(f"run {second['run_id']}") < again.stderr.index("get_config")

    partial = ws.cli(*run_args("--from-stage", "test_model"))
    assert partial.returncode == 0, partial.stderr
    assert statuses(manifests(ws)[-1])["train_model"] == "reused"
    assert statuses(manifests(ws)[-1])["test_model"] == "completed"

    forced = ws.cli(*run_args("--force"))
    assert forced.returncode == 0, forced.stderr
    assert set(statuses(manifests(ws)[-1]).values()) == {"completed"}


@pytest.mark.slow
def test_changed_dataset_redoes_the_stages_after_it(ws):
    write_config(ws, epochs=1)
    assert ws.cli(*run_args()).returncode == 0
    train = ws.catalog / synth_dataset_id("20240416-Russian_Cup-CSKA_Moscow-vs-Baltika_Kaliningrad-01-001", "1.0.0")
    image = next((train / "images").iterdir())
    image.unlink()
    (train / "labels" / f"{image.stem}.txt").unlink()
    assert ws.cli(*run_args()).returncode == 0
    assert statuses(manifests(ws)[-1])["prepare_data"] == "completed"


def test_unknown_stage_and_unknown_run_are_input_errors(ws):
    write_config(ws, epochs=1)
    bad_stage = ws.cli(*run_args("--from-stage", "train"))
    assert bad_stage.returncode == 2 and "--from-stage" in bad_stage.stderr
    bad_run = ws.cli(*run_args("--resume", "no-such-run"))
    assert bad_run.returncode == 2 and "--resume" in bad_run.stderr


def test_resume_with_another_config_is_refused_naming_both(ws):
    run_dir = ws.outputs / "aicska" / "debug" / "20261130-000000-other-abcdef"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({
        "run_id": run_dir.name, "run_dir": str(run_dir), "clearml_project": "aicska/debug/pipeline/object_detection",
        "status": "failed", "stages": [], "request": {
            "config_name": "aicska/object_detection/ultralytics/ball/other.yaml", "model_type": "ultralytics",
            "project": "aicska"}}))
    write_config(ws, epochs=1)
    result = ws.cli(*run_args("--resume", run_dir.name))
    assert result.returncode == 2, result.stdout + result.stderr
    message = result.stderr.replace("\n", " ")
    assert "other.yaml" in message and CONFIG in message and "without --resume" in message
    assert "Traceback" not in result.stderr
    assert json.loads((run_dir / "run.json").read_text())["stages"] == []  # untouched


@pytest.mark.slow
@pytest.mark.parametrize("model_type", sorted(TRAIN_CONFIGS))
def test_run_killed_during_training_resumes_from_its_checkpoint(ws, model_type):
    write_config(ws, epochs=12, model_type=model_type)
    before = tree_digest(ws.catalog)
    env = {**os.environ, **ws.env, "ENV_FOR_DYNACONF": "local_debug"}
    process = subprocess.Popen(
        [sys.executable, "-m", "balldet", *run_args(model_type=model_type)], cwd=ws.root, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    runs_root = ws.outputs / "aicska" / "debug"
    checkpoint = None
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and process.poll() is None:
            found = list(runs_root.glob("*/train/train/weights/last.pt")) if runs_root.is_dir() else []
            if found and whole_checkpoint(found[0]):
                checkpoint = found[0]  # killed right after a checkpoint was written whole
                break
            time.sleep(0.1)
        assert checkpoint is not None, "training never saved a checkpoint"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    run_dir = checkpoint.parents[3]
    killed = json.loads((run_dir / "run.json").read_text())
    assert statuses(killed)["train_model"] == "running"

    resumed = ws.cli(*run_args("--resume", str(run_dir), model_type=model_type))
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "completed"
    states = statuses(manifest)
    for stage in STAGE_NAMES[:5]:
        assert states[stage] == "reused", f"{stage} was redone"
    assert states["train_model"] == states["test_model"] == "completed"
    trained = json.loads((run_dir / "stages" / "06_train_model.json").read_text())
    assert trained["resumed_from_epoch"] >= 1, "training started again instead of resuming"
    assert trained["epochs"] == 12
    assert "test/soccernet_ball_001-ver:1.0.2/mAP@0.5" in manifest["metrics"]
    assert tree_digest(ws.catalog) == before  # source datasets byte-identical
    # One leaderboard row per run and dataset, however often the run was continued.
    board = ws.cli("leaderboard", "--project", "aicska", "--csv", str(ws.root / "board.csv"))
    assert board.returncode == 0, board.stderr
    rows = [line for line in (ws.root / "board.csv").read_text().splitlines()[1:] if run_dir.name in line]
    assert len(rows) == 1, rows
