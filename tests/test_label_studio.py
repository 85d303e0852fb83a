"""Label Studio's round trip, against a real Label Studio server started here (the separate venv that
scripts/test.sh makes; SQLite in a temporary folder, on 127.0.0.1, its telemetry, error reporting and update
checks off, the suite's network guard on in it too): `balldet label push`, annotations made through the
server's API as a labeller's browser makes them, `label pull`, `label import`, and the new dataset holds
exactly the annotated boxes and the batch's images. The file formats without a server, and the errors.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from label_tools_env import FRAMES, LS_VENV, NAMES, dataset_rows, label_studio_python, make_batch, \
    predicted_corners, third_party_env

USER = "labeller@example.invalid"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Server:
    url: str
    token: str
    log: Path

    def api(self):
        import httpx

        return httpx.Client(base_url=self.url, headers={"Authorization": f"Token {self.token}"}, timeout=60)

    def env(self) -> dict[str, str]:
        return {"BALLDET_LABEL_STUDIO_URL": self.url, "BALLDET_LABEL_STUDIO_TOKEN": self.token}


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory) -> Server:
    """A Label Studio server of its own for this module: a fresh SQLite database, one user with an API token."""
    import httpx

    label_studio_python()  # fails with what to run when the venv is missing
    root = tmp_path_factory.mktemp("label-studio")
    (root / "home").mkdir()
    port, token = free_port(), secrets.token_hex(20)
    env = third_party_env(
        HOME=str(root / "home"), LABEL_STUDIO_BASE_DATA_DIR=str(root / "data"), DJANGO_DB="sqlite",
        # nothing may leave the machine: no usage analytics, no error reports to Sentry (its DSN is on by
        # default), no PyPI version check; feature flags stay offline (the default)
        COLLECT_ANALYTICS="false", LATEST_VERSION_CHECK="false", SENTRY_DSN="", FRONTEND_SENTRY_DSN="",
        FEATURE_FLAGS_OFFLINE="true", LOG_LEVEL="WARNING",
    )
    log = root / "server.log"
    command = [str(LS_VENV / "bin" / "label-studio"), "start", "--no-browser", "--internal-host", "127.0.0.1",
               "--port", str(port), "--username", USER, "--password", secrets.token_hex(8), "--user-token", token,
               "--enable-legacy-api-token"]
    with open(log, "w") as handle:
        server = subprocess.Popen(command, cwd=root, env=env, stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if server.poll() is not None:
                pytest.fail(f"Label Studio stopped at start (exit {server.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Label Studio did not answer within 300 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield Server(url=url, token=token, log=log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def region(label: str, x: float, y: float, w: float, h: float, width: int, height: int, rid: str) -> dict:
    """A rectangle as Label Studio's editor saves it."""
    return {"id": rid, "from_name": "label", "to_name": "image", "type": "rectanglelabels", "origin": "manual",
            "original_width": width, "original_height": height, "image_rotation": 0,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]}}


def expected_rows(result: list[dict]) -> np.ndarray:
    """YOLO rows of an annotation's rectangles: percent of the frame to normalised centre and size."""
    rows = [[NAMES.index(r["value"]["rectanglelabels"][0]),
             (r["value"]["x"] + r["value"]["width"] / 2) / 100, (r["value"]["y"] + r["value"]["height"] / 2) / 100,
             r["value"]["width"] / 100, r["value"]["height"] / 100] for r in result]
    return np.array(sorted(rows), dtype=np.float64).reshape(-1, 5)


def accepted(prediction: dict) -> list[dict]:
    """The prediction's rectangles as the labeller accepts them (the editor copies them into the annotation)."""
    return [{**r, "origin": "prediction", "value": dict(r["value"])} for r in prediction["result"]]


@pytest.mark.slow(minutes=1)
def test_push_annotate_pull_import_gives_the_annotated_dataset(workspace, label_studio, tmp_path):
    batch = make_batch(tmp_path / "batch-0007")
    pushed = workspace.cli("label", "push", str(batch), **label_studio.env())
    assert pushed.returncode == 0, pushed.stderr
    assert "6 task(s) added, 0 there already" in pushed.stdout
    assert label_studio.token not in pushed.stdout + pushed.stderr
    record = json.loads((batch / "label_studio.json").read_text())
    assert set(record) == {"url", "project_id", "title"} and record["title"] == "balldet batch-0007"
    again = workspace.cli("label", "push", str(batch), **label_studio.env())
    assert again.returncode == 0 and "0 task(s) added, 6 there already" in again.stdout

    with label_studio.api() as api:
        project = api.get(f"/api/projects/{record['project_id']}").json()
        assert project["model_version"] == "run-0123"  # the batch's boxes are what the labeller starts from
        assert [line.strip() for line in project["label_config"].splitlines()][3:5] == \
            ['<Label value="ball"/>', '<Label value="player"/>']
        listed = api.get("/api/tasks", params={"project": record["project_id"], "fields": "all", "page_size": 100})
        tasks = {t["data"]["stem"]: t for t in listed.json()["tasks"]}
        assert set(tasks) == {spec.stem for spec in FRAMES}
        for spec in FRAMES:
            task = tasks[spec.stem]
            # the image the labeller sees is the batch's file
            image = api.get(task["data"]["image"])
            assert image.status_code == 200 and image.content == (batch / "images" / f"{spec.stem}.png").read_bytes()
            # the model's boxes arrived as its prediction, in percent of the frame
            shown = [r["value"] for r in (task["predictions"][0]["result"] if task["predictions"] else [])]
            want = predicted_corners(batch, spec.stem)
            assert len(shown) == len(want) == len(spec.boxes)
            for value, (cls, x1, y1, x2, y2) in zip(shown, want):
                assert value["rectanglelabels"] == [NAMES[cls]]
                assert np.allclose([value["x"], value["y"], value["width"], value["height"]],
                                   [100 * x1 / spec.width, 100 * y1 / spec.height, 100 * (x2 - x1) / spec.width,
                                    100 * (y2 - y1) / spec.height], atol=1e-9)

        def annotate(spec, result, cancelled=False):
            response = api.post(f"/api/tasks/{tasks[spec.stem]['id']}/annotations",
                                json={"result": result, "was_cancelled": cancelled, "lead_time": 4.2})
            assert response.status_code == 201, response.text

        f0, f1, f2, f3, f4, _f5 = FRAMES
        # f0: the prediction accepted, then corrected: the ball moved and made larger (the latest counts)
        first = accepted(tasks[f0.stem]["predictions"][0])
        annotate(f0, first)
        moved = accepted(tasks[f0.stem]["predictions"][0])
        moved[0]["value"].update(x=moved[0]["value"]["x"] + 1.5, y=moved[0]["value"]["y"] - 0.75, width=2.5,
                                 height=4.25)
        moved[0]["origin"] = "prediction-changed"
        time.sleep(0.05)
        annotate(f0, moved)
        # f1: a player added beside the predicted ball
        added = accepted(tasks[f1.stem]["predictions"][0]) + \
            [region("player", 10.0, 20.0, 8.125, 30.5, f1.width, f1.height, "Xa1b2c3d4e")]
        annotate(f1, added)
        # f2: the second, false ball deleted
        kept = accepted(tasks[f2.stem]["predictions"][0])[:1]
        annotate(f2, kept)
        # f3: no ball in this frame: the predicted one deleted, the annotation submitted empty
        annotate(f3, [])
        # f4: skipped by the labeller; f5: nobody got to it
        annotate(f4, [], cancelled=True)

    export = tmp_path / "export.json"
    pulled = workspace.cli("label", "pull", str(batch), "--out", str(export), **label_studio.env())
    assert pulled.returncode == 0, pulled.stderr
    assert "6 task(s), 4 annotated" in pulled.stdout
    assert len(json.loads(export.read_text())) == 6

    imported = workspace.cli("label", "import", str(export), "--batch", str(batch), "--name",
                             "class:ball-markup:our-005", "--version", "1.0.0", "--tag", "class:ball")
    assert imported.returncode == 0, imported.stderr
    assert "2 of the batch's 6 frames are not labelled" in imported.stderr
    assert "Label Studio: 4 of 6 frame(s) labelled" in imported.stdout
    dataset_id = re.search(r"added ([0-9a-f]{32})", imported.stdout).group(1)
    folder = workspace.catalog / dataset_id
    meta = json.loads((folder / "dataset.json").read_text())
    assert (meta["name"], meta["version"], meta["names"], meta["tags"]) == \
        ("class:ball-markup:our-005", "1.0.0", NAMES, ["class:ball"])
    labelled = {f0.stem: moved, f1.stem: added, f2.stem: kept, f3.stem: []}
    assert sorted(p.name for p in (folder / "images").iterdir()) == sorted(f"{stem}.png" for stem in labelled)
    for stem in labelled:
        assert (folder / "images" / f"{stem}.png").read_bytes() == (batch / "images" / f"{stem}.png").read_bytes()
    rows = dataset_rows(folder)
    assert set(rows) == set(labelled)
    for stem, result in labelled.items():
        got = np.array(sorted(rows[stem].tolist())).reshape(-1, 5)
        assert got.shape == expected_rows(result).shape, stem
        assert np.allclose(got, expected_rows(result), rtol=0, atol=1e-6), stem
    assert not np.allclose(rows[f0.stem], expected_rows(first), atol=1e-3)  # not the first, older annotation


@pytest.mark.slow(minutes=0.2)
def test_a_wrong_token_is_refused_and_never_shown(workspace, label_studio, tmp_path):
    batch = make_batch(tmp_path / "batch")
    wrong = secrets.token_hex(20)
    result = workspace.cli("label", "push", str(batch), BALLDET_LABEL_STUDIO_URL=label_studio.url,
                           BALLDET_LABEL_STUDIO_TOKEN=wrong)
    assert result.returncode == 3, result.stderr
    assert "refused the token" in result.stderr
    assert wrong not in result.stdout + result.stderr
    assert not (batch / "label_studio.json").exists()


def test_push_and_pull_need_the_settings(workspace, tmp_path):
    batch = make_batch(tmp_path / "batch")
    result = workspace.cli("label", "push", str(batch), BALLDET_LABEL_STUDIO_URL="", BALLDET_LABEL_STUDIO_TOKEN="")
    assert result.returncode == 2
    assert "label_studio_url" in result.stderr and "label_studio_token" in result.stderr
    result = workspace.cli("label", "pull", str(tmp_path / "nowhere"), "--out", "x.csv")
    assert result.returncode == 2
    for field in ("TARGET", "--out", "label_studio_url"):
        assert field in result.stderr


def test_a_server_that_is_not_there_is_exit_3(workspace, tmp_path):
    batch = make_batch(tmp_path / "batch")
    token = secrets.token_hex(20)
    result = workspace.cli("label", "push", str(batch), BALLDET_LABEL_STUDIO_URL=f"http://127.0.0.1:{free_port()}",
                           BALLDET_LABEL_STUDIO_TOKEN=token)
    assert result.returncode == 3, result.stderr
    assert "cannot reach Label Studio" in result.stderr and token not in result.stdout + result.stderr


def test_the_token_is_a_secret_in_the_settings(monkeypatch):
    from balldet.labelling import label_studio_api
    from balldet.settings import load_settings
    from conftest import SETTINGS_FILE

    token = secrets.token_hex(20)
    monkeypatch.setenv("BALLDET_LABEL_STUDIO_TOKEN", token)
    monkeypatch.setenv("BALLDET_LABEL_STUDIO_URL", "http://127.0.0.1:8080")
    settings = load_settings("local_debug", settings_file=SETTINGS_FILE)
    assert settings.label_studio_token.get_secret_value() == token
    assert token not in repr(settings) + str(settings) + settings.model_dump_json()
    assert label_studio_api.settings_problems(settings) == []
    monkeypatch.setattr(label_studio_api.importlib.util, "find_spec", lambda name: None)
    assert [f for f, _ in label_studio_api.settings_problems(settings)] == ["balldet[label]"]
    assert "pip install 'balldet[label]'" in label_studio_api.settings_problems(settings)[0][1]


# --------------------------------------------------------------------------- the files, without a server


def test_tasks_file_and_a_json_export_round_trip(workspace, tmp_path):
    batch = make_batch(tmp_path / "batch-0002")
    tasks_file = tmp_path / "tasks.json"
    result = workspace.cli("label", "export", str(batch), "--format", "label-studio", "--out", str(tasks_file),
                           "--image-url", "/data/local-files/?d=frames/")
    assert result.returncode == 0, result.stderr
    config = (tmp_path / "tasks.label_config.xml").read_text()
    assert '<RectangleLabels name="label" toName="image">' in config and '<Label value="player"/>' in config
    tasks = json.loads(tasks_file.read_text())
    assert [t["data"]["stem"] for t in tasks] == [spec.stem for spec in FRAMES]
    assert tasks[0]["data"]["image"] == f"/data/local-files/?d=frames/{FRAMES[0].stem}.png"
    assert tasks[0]["predictions"][0]["model_version"] == "run-0123"
    assert tasks[0]["predictions"][0]["score"] == pytest.approx(0.91)
    assert "predictions" not in tasks[4]  # the frame the model found nothing in

    # Label Studio's JSON export of those tasks after labelling: ids, annotations with times, a skipped one
    export = []
    for number, task in enumerate(tasks, start=1):
        spec = FRAMES[number - 1]
        task = {"id": number, **task, "annotations": []}
        if number == 1:  # labelled, then skipped later: the labelled one counts (a skip is no label)
            task["annotations"] = [
                {"id": 11, "result": [region("ball", 50.0, 50.0, 2.0, 3.5, spec.width, spec.height, "a")],
                 "was_cancelled": False, "created_at": "2025-12-01T10:00:00.000000Z",
                 "updated_at": "2025-12-01T10:00:00.000000Z"},
                {"id": 12, "result": [], "was_cancelled": True, "created_at": "2025-12-01T11:00:00.000000Z",
                 "updated_at": "2025-12-01T11:00:00.000000Z"}]
        elif number == 2:  # two labellers: the later annotation counts, however the list is ordered
            task["annotations"] = [
                {"id": 22, "result": [region("ball", 10.0, 10.0, 2.0, 2.0, spec.width, spec.height, "b")],
                 "was_cancelled": False, "created_at": "2025-12-01T09:00:00Z", "updated_at": "2025-12-02T09:00:00Z"},
                {"id": 21, "result": [region("ball", 90.0, 10.0, 2.0, 2.0, spec.width, spec.height, "c")],
                 "was_cancelled": False, "created_at": "2025-12-01T08:00:00Z", "updated_at": "2025-12-01T08:00:00Z"}]
        elif number == 3:  # a task made from an upload: named only by the uploaded file (Label Studio's prefix)
            task["data"] = {"image": f"/data/upload/7/0a1b2c3d-{spec.stem}.png"}
            task["annotations"] = [{"id": 31, "result": [], "was_cancelled": False}]
        export.append(task)
    (tmp_path / "export.json").write_text(json.dumps(export))
    imported = workspace.cli("label", "import", str(tmp_path / "export.json"), "--batch", str(batch), "--name",
                             "class:ball-markup:our-006", "--version", "2.0.0")
    assert imported.returncode == 0, imported.stderr
    assert "3 of the batch's 6 frames are not labelled" in imported.stderr
    folder = workspace.catalog / re.search(r"added ([0-9a-f]{32})", imported.stdout).group(1)
    rows = dataset_rows(folder)
    assert set(rows) == {FRAMES[0].stem, FRAMES[1].stem, FRAMES[2].stem}
    assert np.allclose(rows[FRAMES[0].stem], [[0, 0.51, 0.5175, 0.02, 0.035]], atol=1e-6)
    assert np.allclose(rows[FRAMES[1].stem], [[0, 0.11, 0.11, 0.02, 0.02]], atol=1e-6)
    assert rows[FRAMES[2].stem].shape == (0, 5)


def test_export_naming_a_task_outside_the_batch_is_refused(workspace, tmp_path):
    batch = make_batch(tmp_path / "batch")
    spec = FRAMES[0]
    export = [{"id": 1, "data": {"image": "/data/upload/1/0a1b2c3d-20240901-Cup-X-vs-Y-01_000001.png"},
               "annotations": [{"id": 1, "result": [region("ball", 1, 1, 1, 1, spec.width, spec.height, "a")],
                                "was_cancelled": False}]},
              {"id": 2, "data": {"image": f"/data/upload/1/0a1b2c3d-{spec.stem}.png"},
               "annotations": [{"id": 2, "result": [region("ball", 1, 1, 1, 1, 1920, 1080, "a")],
                                "was_cancelled": False}]}]
    (tmp_path / "export.json").write_text(json.dumps(export))
    result = workspace.cli("label", "import", str(tmp_path / "export.json"), "--batch", str(batch), "--name", "x",
                           "--version", "1.0.0")
    assert result.returncode == 2, result.stderr
    assert "0a1b2c3d-20240901-Cup-X-vs-Y-01_000001.png' is not a frame of the batch" in result.stderr
    assert "is 1920x1080" in result.stderr  # both problems at once
    assert not any(p.is_dir() and not p.name.startswith(".") for p in workspace.catalog.iterdir())
    (tmp_path / "min.json").write_text(json.dumps([{"image": "x.png", "label": []}]))
    result = workspace.cli("label", "import", str(tmp_path / "min.json"), "--batch", str(batch), "--name", "x",
                           "--version", "1.0.0")
    assert result.returncode == 2 and "JSON-MIN" in result.stderr


def test_without_the_server_venv_the_tests_fail_saying_what_to_run(monkeypatch, tmp_path):
    """Core tests are not skipped: someone running pytest without scripts/test.sh is told to run it."""
    import label_tools_env

    assert label_studio_python() == LS_VENV / "bin" / "python"
    assert os.access(LS_VENV / "bin" / "label-studio", os.X_OK)
    monkeypatch.setattr(label_tools_env, "LS_PYTHON", tmp_path / "missing" / "python")
    with pytest.raises(pytest.fail.Exception, match=r"run \./scripts/test\.sh"):
        label_tools_env.label_studio_python()
    monkeypatch.setattr(label_tools_env, "LS_VENV", tmp_path)
    monkeypatch.setattr(label_tools_env, "LS_PYTHON", Path(label_tools_env.__file__))  # a file, no stamp beside
    with pytest.raises(pytest.fail.Exception, match=r"other pins .* run \./scripts/test\.sh"):
        label_tools_env.label_studio_python()
