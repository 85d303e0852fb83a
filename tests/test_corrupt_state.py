"""Every file balldet reads back, corrupted in turn: a cache is rebuilt, anything else is one clear
line naming the file and what to do, with exit code 2 -- never a traceback.

One small run (one epoch) makes the files; each case cuts one of them short (or fills it with
garbage), runs the command that reads it, checks the outcome and puts the file back.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from balldet.synth.inventory import synth_dataset_id

CONFIG = "aicska/object_detection/ultralytics/ball/251130_0000_corrupt.yaml"


@dataclass
class Case:
    name: str
    files: list[Path]  # what is corrupted
    command: list[str]
    rebuilt: bool  # True: exit 0 and the file is made again; False: exit 2 naming the file


def _cut(path: Path, garbage: bool) -> None:
    data = path.read_bytes()
    path.write_bytes(b"\x00\xff not what was written" if garbage else data[: max(1, len(data) // 2)])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_catalog):
    from conftest import make_workspace

    ws = make_workspace(tmp_path_factory.mktemp("corrupt"))
    shutil.rmtree(ws.catalog)
    shutil.copytree(tiny_catalog, ws.catalog)
    ws.write_config(CONFIG, {
        "tags": ["ball", "corrupt"],
        "model_type": "ultralytics",
        "train_data": {"datasets": [synth_dataset_id("class:ball-markup:tagme-001-02", "1.0.2")]},
        "test_data": {"datasets": [synth_dataset_id("soccernet_ball_001", "1.0.2")]},
        "train_config": {"model": "yolov8n.yaml", "epochs": 1, "imgsz": 64, "batch": 4, "workers": 0,
                         "plots": False},
        "test_batch_size": 4,
    })
    done = ws.cli("run", "--config_name", CONFIG, "--model_type", "ultralytics", "--project", "aicska")
    assert done.returncode == 0, done.stdout + done.stderr
    (run_json,) = (ws.outputs / "aicska" / "debug").glob("*/run.json")
    return ws, run_json.parent


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert found, f"no {pattern} under {folder}"
    return found[0]


@pytest.mark.slow
@pytest.mark.parametrize("garbage", [False, True], ids=["cut-short", "garbage"])
def test_each_state_file_corrupted_in_turn(finished_run, garbage):
    ws, run_dir = finished_run
    run = ["run", "--config_name", CONFIG, "--model_type", "ultralytics", "--project", "aicska"]
    manifest = json.loads((run_dir / "run.json").read_text())
    pipeline_session = Path(manifest["pipeline_task"]["offline_folder"])
    cases = [
        Case("run.json of a run to resume", [run_dir / "run.json"], [*run, "--resume", run_dir.name], False),
        Case("a stage output of a run to resume", [run_dir / "stages" / "07_test_model.json"],
             [*run, "--resume", run_dir.name], True),
        Case("a stage output in the stage cache", [_one(ws.cache / "stage_cache", "*/05_convert_data.json")],
             run, True),
        Case("remembered dataset checks", sorted((ws.cache / "checks").glob("*.json")), [*run, "--force"], True),
        Case("remembered image fingerprints", sorted((ws.cache / "fingerprints").glob("*.json")),
             [*run, "--force"], True),
        Case("remembered leakage findings", sorted((ws.cache / "leakage").glob("*.json")), [*run, "--force"], True),
        Case("a layout's marker", [_one(ws.cache / "layouts", "*/converted.json")], [*run, "--force"], True),
        Case("a pipeline task's offline record", [pipeline_session / "task.json"],
             ["leaderboard", "--project", "aicska"], False),
        Case("a pipeline task's offline metrics", [pipeline_session / "metrics.jsonl"],
             ["leaderboard", "--project", "aicska"], False),
        Case("a dataset's metadata in the catalog",
             [ws.catalog / synth_dataset_id("soccernet_ball_001", "1.0.2") / "dataset.json"], run, False),
    ]
    if garbage:  # the readers do not tell garbage from a cut: the rebuilt caches are not trained twice more
        cases = [case for case in cases if not case.rebuilt]
    failures = []
    for case in cases:
        assert case.files, case.name
        saved = {path: path.read_bytes() for path in case.files}
        try:
            for path in case.files:
                _cut(path, garbage)
            result = ws.cli(*case.command)
            text = result.stdout + result.stderr
            if "Traceback" in text:
                failures.append(f"{case.name}: traceback\n{text[-2000:]}")
            elif case.rebuilt and result.returncode != 0:
                failures.append(f"{case.name}: expected a rebuilt cache, got exit {result.returncode}\n{text[-1500:]}")
            elif case.rebuilt and any(path.exists() and path.read_bytes() == b"" for path in case.files):
                failures.append(f"{case.name}: left empty")
            elif not case.rebuilt and (result.returncode != 2 or not any(
                    str(path) in text.replace("\n", "") or path.name in text for path in case.files)):
                failures.append(f"{case.name}: expected exit 2 naming the file, got {result.returncode}\n{text[-1500:]}")
        finally:
            for path, data in saved.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_a_checkpoint_cut_short_stops_a_resume_with_one_line(finished_run):
    ws, run_dir = finished_run
    checkpoint = _one(run_dir, "train/*/weights/last.pt")
    saved = checkpoint.read_bytes()
    stages = run_dir / "stages"
    kept = {p: p.read_bytes() for p in stages.glob("0[67]_*.json")}
    try:
        for path in kept:
            path.unlink()  # as if the run had been killed during training
        _cut(checkpoint, garbage=False)
        result = ws.cli("run", "--config_name", CONFIG, "--model_type", "ultralytics", "--project", "aicska",
                        "--resume", run_dir.name)
        assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
        assert "Traceback" not in result.stderr and str(checkpoint) in result.stderr.replace("\n", "")
        assert "cannot be read" in result.stderr
    finally:
        checkpoint.write_bytes(saved)
        for path, data in kept.items():
            path.write_bytes(data)
