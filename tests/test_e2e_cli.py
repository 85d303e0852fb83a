"""End to end through the CLI, for each backend: `balldet run` with ENV_FOR_DYNACONF=local_debug on
tiny synthetic data, one epoch, ClearML offline. The records are read back from ClearML's offline sessions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from balldet.synth.inventory import synth_dataset_id
from balldet.pipeline.spec import STAGE_NAMES
from balldet.tracking.offline_records import read_offline_task
from conftest import make_workspace

TRAIN = ["20240416-Russian_Cup-CSKA_Moscow-vs-Baltika_Kaliningrad-01-001", "1.0.0"]
VAL = ["class:ball-markup:tagme-001-02", "1.0.2"]
TESTS = [["class:ball-markup:our-001", "1.0.0"], ["soccernet_ball_001", "1.0.2"]]


def tiny_config(model_type: str, train_config: dict) -> dict:
    return {
        "tags": ["ball", "e2e"],
        "model_type": model_type,
        "train_data": {"datasets": [synth_dataset_id(*TRAIN)]},
        "val_data": {"datasets": [synth_dataset_id(*VAL)]},
        "test_data": {"datasets": [synth_dataset_id(*t) for t in TESTS]},
        "train_config": train_config,
        "test_batch_size": 4,
    }


def manifest_metric(manifest: dict, key: str) -> float:
    run_json = json.loads((Path(manifest["run_dir"]) / "run.json").read_text())
    return run_json["metrics"][key]


def title_series_pairs(session: Path) -> set[tuple[str, str]]:
    """The (title, series) of every scalar in an offline session, as ClearML stores them."""
    pairs = set()
    for line in (session / "metrics.jsonl").read_text().splitlines():
        for event in json.loads(line) if line.strip() else []:
            if event.get("type") == "training_stats_scalar":
                pairs.add((event["metric"], event["variant"]))
    return pairs


def tree_digest(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def e2e_workspace(tmp_path_factory, tiny_catalog):
    """One workspace for the runs of both backends, so the leaderboard sees them side by side."""
    workspace = make_workspace(tmp_path_factory.mktemp("e2e"))
    shutil.rmtree(workspace.catalog)
    shutil.copytree(tiny_catalog, workspace.catalog)
    return workspace


def run_and_check(ws, model_type: str, train_config: dict) -> dict:
    name = ws.write_config(
        f"aicska/object_detection/{model_type}/ball/251125_0000_e2e.yaml", tiny_config(model_type, train_config)
    )
    before = tree_digest(ws.catalog)
    result = ws.cli("run", "--config_name", name, "--model_type", model_type, "--project", "aicska")
    assert result.returncode == 0, result.stdout + result.stderr

    # The table printed at the end names every test dataset.
    for dataset, version in TESTS:
        assert f"test/{dataset}-ver:{version}" in result.stdout

    runs = [p for p in (ws.outputs / "aicska" / "debug").iterdir() if (p / "run.json").is_file()]
    manifests = [json.loads((run / "run.json").read_text()) for run in runs]
    (manifest,) = [m for m in manifests if m["request"]["model_type"] == model_type]
    assert manifest["status"] == "completed"

    # Seven stage records, in order, each a ClearML offline task under the project path.
    assert [s["name"] for s in manifest["stages"]] == list(STAGE_NAMES)
    stage_tasks = [read_offline_task(Path(s["task"]["offline_folder"])) for s in manifest["stages"]]
    for index, (stage, task) in enumerate(zip(STAGE_NAMES, stage_tasks), start=1):
        assert task.project == "aicska/debug/pipeline/object_detection"
        assert task.name.endswith(f"{index}. {stage}")
        assert f"stage:{stage}" in task.tags
    assert stage_tasks[0].configuration["pipeline_config"].startswith("tags:")

    # Scalars with the team's names for every test dataset, on the test stage and the pipeline.
    pipeline = read_offline_task(Path(manifest["pipeline_task"]["offline_folder"]))
    for dataset, version in TESTS:
        for metric in ("mAP@0.5", "mAP@0.5:0.95", "P", "R", "AP_dist@4px", "top1@0.5/F1", "top1@tau/tau",
                       "loc/RMSE_px", "AP_tiny", "FP_rate_ballfree@0.5"):
            key = f"test/{dataset}-ver:{version}/{metric}"
            assert key in stage_tasks[-1].scalars, key
            assert key in pipeline.scalars, key
            if metric in ("mAP@0.5", "mAP@0.5:0.95", "P", "R"):
                assert 0.0 <= pipeline.scalars[key] <= 1.0 or pipeline.scalars[key] == -1.0
    assert f"val/{VAL[0]}-ver:{VAL[1]}/mAP@0.5" in pipeline.scalars
    # Exactly the (title, series) pairs the team's saved leaderboard columns are hashes of.
    pairs = title_series_pairs(Path(manifest["pipeline_task"]["offline_folder"]))
    for dataset, version in TESTS:
        for measure in ("mAP@0.5", "mAP@0.5:0.95"):
            assert ("test", f"{dataset}-ver:{version}/{measure}") in pairs
    assert ("val", f"{VAL[0]}-ver:{VAL[1]}/mAP@0.5") in pairs
    assert not any(title.startswith(("test/", "val/")) for title, _ in pairs)
    # A run of the backend's pipeline (one per backend, as the boards group runs), named after its config.
    assert pipeline.project == f"aicska/debug/pipeline/object_detection/.pipelines/{model_type}"
    assert pipeline.name == Path(name).stem and "pipeline" in pipeline.system_tags

    # The config's tags on the pipeline record (added by the add_tags_to_pipeline stage).
    assert {"ball", "e2e", f"model_type:{model_type}"} <= set(pipeline.tags)
    assert pipeline.type == "controller"

    # A model file, registered on the train stage's task as an artifact.
    model_uri = stage_tasks[STAGE_NAMES.index("train_model")].artifacts["model"]
    assert Path(model_uri).is_file() and Path(model_uri).stat().st_size > 10_000
    assert model_uri.endswith(".pt")

    # The run record: config content, dataset versions and hashes, packages, on the pipeline task too.
    record = json.loads((Path(manifest["run_dir"]) / "run_record.json").read_text())
    assert record["config"]["content"] == (ws.configs / name).read_text()
    assert {d["name"] for d in record["datasets"]} >= {dataset for dataset, _ in TESTS}
    assert all(len(d["content_hash"]) == 64 for d in record["datasets"])
    assert record["packages"]["torch"] and record["seeds"]["config_seed"] == 0
    assert "run_record" in pipeline.artifacts

    # Plots saved with the run: per-dataset bars, and PR / F1 / sample frames for every test dataset.
    plots = Path(manifest["run_dir"]) / "predictions" / "plots"
    assert (plots / "datasets.png").read_bytes()[:4] == b"\x89PNG"
    assert len(list(plots.glob("test_*_samples.png"))) == len(TESTS)

    # Source datasets untouched: no label caches or anything else written next to them.
    assert tree_digest(ws.catalog) == before
    return manifest


TRAIN_CONFIGS = {
    "ultralytics": {"model": "yolov8n.yaml", "epochs": 1, "imgsz": 160, "batch": 4, "workers": 0},
    "yolov5": {"cfg": "yolov5n.yaml", "weights": "", "epochs": 1, "imgsz": 160, "batch_size": 4, "workers": 0},
}


@pytest.fixture(scope="module")
def completed_run(e2e_workspace):
    """Runs (and checks) a backend's pipeline once per module; later callers get the same run."""
    done: dict[str, dict] = {}

    def get(model_type: str) -> dict:
        if model_type not in done:
            done[model_type] = run_and_check(e2e_workspace, model_type, TRAIN_CONFIGS[model_type])
        return done[model_type]

    return get


@pytest.mark.slow
def test_ultralytics_run_end_to_end(completed_run):
    assert completed_run("ultralytics")["status"] == "completed"


@pytest.mark.slow
def test_yolov5_run_end_to_end(completed_run):
    manifest = completed_run("yolov5")
    # yolov5's own figures, as the team's yolov5 leaderboard has them, on the pipeline record.
    pipeline = read_offline_task(Path(manifest["pipeline_task"]["offline_folder"]))
    for name in ("P", "R", "mAP50", "mAP50-95"):
        assert f"backend/{name}" in pipeline.scalars
    # The board's single values (title Summary): yolov5's own validation of each test dataset, balldet's
    # mAP beside them, and the trainer's last precision and recall.
    pairs = title_series_pairs(Path(manifest["pipeline_task"]["offline_folder"]))
    for dataset, version in TESTS:
        for name in ("P", "R", "mAP50", "mAP50-95", "mAP@0.5", "mAP@0.5:0.95"):
            assert ("Summary", f"test/{dataset}-ver:{version}/{name}") in pairs, name
        key = f"Summary/test/{dataset}-ver:{version}/mAP@0.5"
        assert pipeline.scalars[key] == manifest_metric(manifest, f"test/{dataset}-ver:{version}/mAP@0.5")
    assert {("Summary", "metrics/precision"), ("Summary", "metrics/recall")} <= pairs


@pytest.mark.slow
def test_leaderboard_ranks_runs_of_both_backends(e2e_workspace, completed_run, tmp_path):
    """Built from the offline records of one run of each backend."""
    for model_type in TRAIN_CONFIGS:
        completed_run(model_type)
    ws = e2e_workspace
    csv_file, md_file, png_file = tmp_path / "board.csv", tmp_path / "board.md", tmp_path / "board.png"
    result = ws.cli(
        "leaderboard", "--project", "aicska", "--tag", "e2e", "--csv", str(csv_file),
        "--markdown", str(md_file), "--png", str(png_file), COLUMNS="250",
    )
    assert result.returncode == 0, result.stderr
    lines = csv_file.read_text().splitlines()
    header = lines[0].split(",")
    assert header[:5] == ["dataset", "run", "model_type", "mAP@0.5", "mAP@0.5:0.95"]
    body = [line for line in lines[1:] if line]
    # 2 runs x 2 test datasets, each row naming its backend.
    assert len(body) == 4
    assert sorted({row.split(",")[2] for row in body}) == ["ultralytics", "yolov5"]
    for dataset, version in TESTS:
        assert sum(f"test/{dataset}-ver:{version}" in row for row in body) == 2
    assert md_file.read_text().startswith("| dataset | run | model_type |")
    assert png_file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ultralytics" in result.stdout and "yolov5" in result.stdout

    # Filters: a tag no run has, and another project, find nothing.
    assert "no runs found" in ws.cli("leaderboard", "--tag", "nope").stdout
    assert "no runs found" in ws.cli("leaderboard", "--project", "other").stdout
