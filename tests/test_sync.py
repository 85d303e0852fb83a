"""`balldet sync`: finding offline sessions, the dry run, skipping synced ones, failing fast.

The real upload (``Task.import_offline_session``) needs a ClearML server, which cannot run here
(it needs MongoDB, Elasticsearch and Redis). These tests go up to that boundary: the sessions are
found, listed and filtered, and without a reachable server the command stops with exit code 3 before
clearml is asked to upload anything.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from test_server_check import clearml_env

MAKE_TASKS = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from balldet.settings import load_settings
    from balldet.tracking.session import configure_clearml
    from balldet.tracking.tasks import open_task

    settings = load_settings("local_debug")
    configure_clearml(settings)
    records = []
    for index, name in enumerate(["get_config", "train_model", "pipeline"]):
        with open_task("t/debug/pipeline/object_detection", f"run1 {name}", task_type="training",
                       tags=["run:run1"]) as (reporter, record):
            reporter.scalar("m", "v", 1.0, 0)
            records.append(record.as_dict())
    print(json.dumps(records))
    """
)


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory) -> tuple:
    """A workspace with three offline tasks and a run folder whose run.json names them."""
    from conftest import make_workspace

    ws = make_workspace(tmp_path_factory.mktemp("sync"))
    import os

    env = {**os.environ, **ws.env, "ENV_FOR_DYNACONF": "local_debug"}
    result = subprocess.run([sys.executable, "-c", MAKE_TASKS], cwd=ws.root, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout.strip().splitlines()[-1])
    run_dir = ws.outputs / "t" / "debug" / "run1"
    run_dir.mkdir(parents=True)
    manifest = {
        "run_id": "run1", "run_dir": str(run_dir), "clearml_project": "t/debug/pipeline/object_detection",
        "status": "completed",
        "request": {"config_name": "c.yaml", "model_type": "ultralytics", "project": "t"},
        "stages": [{"index": i + 1, "name": n, "status": "completed", "task": r}
                   for i, (n, r) in enumerate(zip(["get_config", "train_model"], records))],
        "pipeline_task": records[-1],
    }
    (run_dir / "run.json").write_text(json.dumps(manifest))
    return ws, run_dir, [r["id"] for r in records]


def _refusing_port() -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_dry_run_lists_sessions(offline_run, tmp_path: Path) -> None:
    ws, run_dir, ids = offline_run
    result = ws.cli("sync", "--dry-run", timeout=60, CLEARML_CONFIG_FILE=str(tmp_path / "none.conf"))
    assert result.returncode == 0, result.stderr
    # Each session said as a person recognises it: what kind of task, which project and name.
    for task_id, name in zip(ids, ["get_config", "train_model", "pipeline"]):
        (line,) = [line for line in result.stdout.splitlines() if task_id in line]
        assert line.startswith("would upload: training task") and f"'run1 {name}'" in line
        assert "t/debug/pipeline/object_detection" in line
    assert "3 session(s) to upload" in result.stdout

    only_run = ws.cli("sync", "--run", str(run_dir), "--dry-run", timeout=60,
                      CLEARML_CONFIG_FILE=str(tmp_path / "none.conf"))
    assert only_run.returncode == 0, only_run.stderr
    assert all(task_id in only_run.stdout for task_id in ids)


def test_no_server_configured_fails_fast(offline_run, tmp_path: Path) -> None:
    ws, _, _ = offline_run
    started = time.monotonic()
    result = ws.cli("sync", timeout=60, CLEARML_CONFIG_FILE=str(tmp_path / "none.conf"))
    assert time.monotonic() - started < 10
    assert result.returncode == 3, result.stdout + result.stderr
    assert "ClearML is not configured" in result.stderr and "clearml-init" in result.stderr
    # no advice to run offline: sync needs a server whatever the settings environment is
    assert "ENV_FOR_DYNACONF=local_debug" not in result.stderr and "sync needs a ClearML server" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(ws.cache.rglob("*.synced"))


def test_unreachable_server_fails_fast(offline_run, tmp_path: Path) -> None:
    ws, _, _ = offline_run
    port = _refusing_port()
    started = time.monotonic()
    result = ws.cli("sync", timeout=60, BALLDET_SERVER_TIMEOUT_S="2",
                    **clearml_env(tmp_path, f"http://127.0.0.1:{port}"))
    assert time.monotonic() - started < 10
    assert result.returncode == 3, result.stdout + result.stderr
    assert "connection refused" in result.stderr and "Traceback" not in result.stderr
    assert "Importing offline session" not in result.stdout


def test_synced_sessions_are_skipped(offline_run, tmp_path: Path) -> None:
    ws, run_dir, ids = offline_run
    from balldet.pipeline.manifest import read_manifest
    from balldet.tracking.offline_sessions import sessions_at

    sessions = {s.local_id: s for s in sessions_at(read_manifest(run_dir).offline_folders(), str(run_dir))}
    assert set(sessions) == set(ids)
    marker = sessions[ids[0]].marker
    marker.write_text(json.dumps({"local_id": ids[0], "server_id": "srv123"}))
    try:
        result = ws.cli("sync", "--dry-run", timeout=60, CLEARML_CONFIG_FILE=str(tmp_path / "none.conf"))
        assert result.returncode == 0, result.stderr
        assert ids[0] not in result.stdout
        assert f"already synced: {ids[0]} → srv123" in result.stderr
        assert "2 session(s) to upload" in result.stdout

        for task_id in ids[1:]:
            sessions[task_id].marker.write_text(json.dumps({"local_id": task_id, "server_id": "x"}))
        # everything synced: nothing to do, and no server is needed for that
        done = ws.cli("sync", timeout=60, CLEARML_CONFIG_FILE=str(tmp_path / "none.conf"))
        assert done.returncode == 0, done.stderr
        assert "nothing to sync" in done.stdout
    finally:
        for session in sessions.values():
            session.marker.unlink(missing_ok=True)


def test_run_folder_without_manifest(workspace) -> None:
    result = workspace.cli("sync", "--run", str(workspace.outputs), "--dry-run", timeout=60)
    assert result.returncode == 2
    assert "no run.json" in result.stderr and "Traceback" not in result.stderr


def test_upload_marks_each_session_and_stops_at_the_first_failure(offline_run, monkeypatch) -> None:
    """Up to ClearML's import itself (answered here): sessions in order, each marked as it is done."""
    from clearml import Task

    from balldet.errors import TrackingError
    from balldet.pipeline.manifest import read_manifest
    from balldet.tracking.offline_sessions import sessions_at, upload_sessions
    from balldet.tracking.server import ServerConfig

    _, run_dir, ids = offline_run
    sessions = sessions_at(read_manifest(run_dir).offline_folders(), str(run_dir))
    server = ServerConfig("http://clearml.invalid:8008", "key", "secret", "", configured=True)
    imported: list[str] = []

    def import_offline_session(path: str) -> str:
        if len(imported) == 1:
            raise ValueError("server went away")
        imported.append(path)
        return f"srv{len(imported)}"

    monkeypatch.setattr(Task, "import_offline_session", staticmethod(import_offline_session))
    heard: list[tuple[str, str]] = []
    try:
        with pytest.raises(TrackingError, match="failed after 1 of 3: ValueError: server went away"):
            upload_sessions(sessions, server, on_uploaded=lambda s, server_id: heard.append((s.local_id, server_id)))
        assert heard == [(ids[0], "srv1")] and imported == [str(sessions[0].path)]
        assert sessions[0].synced and sessions[0].server_id() == "srv1"
        assert not sessions[1].synced and not sessions[2].synced
    finally:
        for session in sessions:
            session.marker.unlink(missing_ok=True)
