"""`balldet datasets add`: a folder balldet did not make becomes a dataset a config can name.

Offline (the local catalog) everything runs as a user runs it: the CLI in a subprocess, then `datasets
list`, `configs validate` and a short `balldet run` on the printed ids. The server path runs ClearML's
real Dataset API in ClearML's offline mode (create, sync_folder, the dataset task's hyperparameters,
the fingerprint artifact, upload, finalize: offline ClearML writes a session instead of sending it);
what only a server can answer -- listing datasets, `Dataset.get` of an existing one, its status, a
download -- is answered here by replacing those ClearML methods (never balldet's code), as
test_sync.py answers `Task.import_offline_session`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image

from conftest import make_workspace
from foreign_data import BALL, dataset_json, phone_frames, ultralytics_layout

ID_LINE = re.compile(r"^put in a config: ([0-9a-f]{32})$", re.M)
OUR = ("class:ball-markup:our-001", "1.0.0")  # a synthetic dataset named <recording>_<frame>


def digest(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: files by their bytes, links by their target, folders by name."""
    entries = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            entries[rel] = "-> " + str(path.readlink())
        elif path.is_file():
            entries[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            entries[rel] = "dir"
    return entries


def printed_id(result) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    (dataset_id,) = ID_LINE.findall(result.stdout)
    assert f"added {dataset_id}  " in result.stdout
    return dataset_id


def catalog_entries(workspace) -> list[str]:
    return sorted(p.name for p in workspace.catalog.iterdir()) if workspace.catalog.exists() else []


def add(workspace, source, *args: str):
    return workspace.cli("datasets", "add", str(source), *args)


# --------------------------------------------------------------------------- offline, as a user


@pytest.mark.slow(minutes=0.5)
def test_foreign_folders_added_then_listed_validated_and_trained(workspace):
    brought = workspace.root / "brought"
    train = ultralytics_layout(brought / "ul", plain=True, classes=(BALL,))  # a data.yaml of two splits
    test = phone_frames(brought / "phone")  # PNG/JPEG, .JPG, EXIF, gray, CRLF labels
    before = digest(brought)

    added = add(workspace, train.argument, "--name", "class:ball-markup:ul-001", "--version", "1.0.0",
                "--tag", "class:ball")
    train_id = printed_id(added)
    assert "stored in" in added.stdout and "(20 images)" in added.stdout
    # linked, not copied: the run below reads it through the catalog's folder links
    test_id = printed_id(add(workspace, test.root, "--name", "phone_ball_001", "--version", "1.2.0",
                             "--tag", "class:ball", "--tag", "source:phone", "--link"))
    assert (workspace.catalog / test_id / "images").resolve() == test.images.resolve()
    assert train_id != test_id
    assert catalog_entries(workspace) == sorted([train_id, test_id])  # no staging left behind

    # The splits merged into one dataset, every byte as brought, under the same names.
    folder = workspace.catalog / train_id
    meta = json.loads((folder / "dataset.json").read_text())
    assert meta == {"id": train_id, "name": "class:ball-markup:ul-001", "version": "1.0.0", "tags": ["class:ball"],
                    "names": ["ball"], "number_samples": 20}
    for split in ("train", "val"):
        for image in (train.root / "images" / split).iterdir():
            assert (folder / "images" / image.name).read_bytes() == image.read_bytes()
            label = train.root / "labels" / split / f"{image.stem}.txt"
            assert (folder / "labels" / label.name).read_bytes() == label.read_bytes()
    assert sorted(p.name for p in (folder / "images").iterdir()) == sorted(
        p.name for split in ("train", "val") for p in (train.root / "images" / split).iterdir())
    tags = json.loads((workspace.catalog / test_id / "dataset.json").read_text())["tags"]
    assert tags == ["class:ball", "source:phone"]

    listed = workspace.cli("datasets", "list", COLUMNS="250")
    assert listed.returncode == 0
    for dataset_id, name in ((train_id, "class:ball-markup:ul-001"), (test_id, "phone_ball_001")):
        row = next(line for line in listed.stdout.splitlines() if dataset_id in line)
        assert name in row

    config = workspace.write_config("aicska/object_detection/ultralytics/ball/251201_0000_added.yaml", {
        "tags": ["ball", "added"], "model_type": "ultralytics",
        "train_data": {"datasets": [train_id]}, "val_data": {"datasets": [test_id]},
        "test_data": {"datasets": [test_id]},
        "train_config": {"model": "yolov8n.yaml", "epochs": 1, "imgsz": 64, "batch": 4, "workers": 0},
        "test_batch_size": 4,
    })
    validated = workspace.cli("configs", "validate", config, "--model-type", "ultralytics")
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.count("ok ") == 1

    run = workspace.cli("run", "--config_name", config, "--model_type", "ultralytics", "--project", "aicska")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "test/phone_ball_001-ver:1.2.0" in run.stdout
    (run_dir,) = [p for p in (workspace.outputs / "aicska" / "debug").iterdir() if (p / "run.json").is_file()]
    record = json.loads((run_dir / "run_record.json").read_text())
    assert {train_id, test_id} <= set(re.findall(r"[0-9a-f]{32}", json.dumps(record["datasets"])))

    # The same name and version again: refused before anything is read or written.
    catalog_before = digest(workspace.catalog)
    again = add(workspace, train.argument, "--name", "class:ball-markup:ul-001", "--version", "1.0.0")
    assert again.returncode == 2
    assert "--version" in again.stderr and train_id in again.stderr and "Traceback" not in again.stderr
    assert digest(workspace.catalog) == catalog_before
    # the sources were only read, by the adds and by the run (trainers' label caches went into the
    # run's layout, not through the links into the linked folder)
    assert digest(brought) == before


@pytest.fixture
def synth_workspace(tmp_path, tiny_catalog):
    """A workspace whose catalog holds the synthetic datasets (frames named <recording>_<frame>)."""
    (tmp_path / "ws").mkdir()
    workspace = make_workspace(tmp_path / "ws")
    shutil.rmtree(workspace.catalog)
    shutil.copytree(tiny_catalog, workspace.catalog)
    return workspace


def _catalog_folder(workspace, name: str, version: str) -> Path:
    for meta in workspace.catalog.glob("*/dataset.json"):
        data = json.loads(meta.read_text())
        if (data["name"], data["version"]) == (name, version):
            return meta.parent
    raise AssertionError(f"{name} {version} not in the catalog")


def test_leaking_folder_is_refused_with_its_frames_unless_allowed(synth_workspace):
    ws = synth_workspace
    source = phone_frames(ws.root / "brought").root
    known = _catalog_folder(ws, *OUR)
    frames = sorted((known / "images").iterdir())
    copied = [frames[0].name, frames[1].name]  # the same files under the same names
    for name in copied:
        shutil.copy(known / "images" / name, source / "images" / name)
        shutil.copy(known / "labels" / f"{Path(name).stem}.txt", source / "labels")
    reencoded = frames[2].name  # the same frame, other bytes: the same recording and frame number
    Image.open(frames[2]).save(source / "images" / reencoded, quality=70)
    shutil.copy(known / "labels" / f"{frames[2].stem}.txt", source / "labels")
    renamed = "phone_0099.jpg"  # another frame's picture, re-encoded, under another name
    Image.open(frames[3]).save(source / "images" / renamed, quality=70)
    shutil.copy(known / "labels" / f"{frames[3].stem}.txt", source / "labels" / "phone_0099.txt")
    before_source, before_catalog = digest(source), digest(ws.catalog)

    refused = add(ws, source, "--name", "phone_ball_001", "--version", "1.0.0", "--tag", "class:ball")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    message = refused.stderr
    label = f"{OUR[0]}-ver:{OUR[1]}"
    assert "4 frame(s) leak into 1 known dataset(s)" in message and label in message
    for name in copied:
        assert f"identical_image: images/{name}: same bytes as {label}/images/{name}" in message
    recording, frame = frames[2].stem.rsplit("_", 1)
    assert f"same_frame: images/{reencoded}: recording {recording} frame {int(frame)} is also {label}" in message
    assert f"near_duplicate_image: images/{renamed}: looks the same" in message and frames[3].name in message
    assert "--allow-leakage" in message and "Traceback" not in message
    assert digest(ws.catalog) == before_catalog  # nothing registered, no staging folder left

    allowed = add(ws, source, "--name", "phone_ball_001", "--version", "1.0.0", "--tag", "class:ball",
                  "--allow-leakage")
    dataset_id = printed_id(allowed)
    assert "identical_image 2" in allowed.stdout and "same_frame 1" in allowed.stdout
    assert "near_duplicate_image 1" in allowed.stdout
    assert json.loads((ws.catalog / dataset_id / "dataset.json").read_text())["number_samples"] == 16
    assert digest(source) == before_source


def test_a_new_version_of_a_name_is_not_compared_with_its_earlier_versions(synth_workspace):
    ws = synth_workspace
    known = _catalog_folder(ws, *OUR)
    source = ws.root / "our-001-v2"
    shutil.copytree(known / "images", source / "images")
    shutil.copytree(known / "labels", source / "labels")
    refused = add(ws, source, "--name", "elsewhere", "--version", "1.0.0", "--names", "ball")
    assert refused.returncode == 2 and "12 frame(s) leak" in refused.stderr
    added = add(ws, source, "--name", OUR[0], "--version", "1.1.0", "--names", "ball")
    assert printed_id(added)
    assert "accepted" not in added.stdout


def _break(source: Path) -> None:
    """A class id outside the names (one class: ball) and a JPEG cut short."""
    with (source / "labels" / "pitch_0001.txt").open("a") as handle:
        handle.write("3 0.5 0.5 0.1 0.1\n")
    cut = source / "images" / "pitch_0011.jpg"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])


def test_defects_are_refused_unless_allowed(workspace):
    source = phone_frames(workspace.root / "brought").root
    _break(source)
    before = digest(source)
    refused = add(workspace, source, "--name", "phone_ball_001", "--version", "1.0.0")
    assert refused.returncode == 2
    for fragment in ("class_out_of_range", "labels/pitch_0001.txt:", "unreadable_image", "images/pitch_0011.jpg",
                     "--allow-defects", "nothing was written"):
        assert fragment in refused.stderr, refused.stderr
    assert catalog_entries(workspace) == []

    allowed = add(workspace, source, "--name", "phone_ball_001", "--version", "1.0.0", "--allow-defects")
    dataset_id = printed_id(allowed)
    assert "class_out_of_range 1" in allowed.stdout and "unreadable_image 1" in allowed.stdout
    # registered as it is: the checks of a run see the same defects
    checked = workspace.cli("datasets", "check", dataset_id)
    assert checked.returncode == 1 and "class_out_of_range" in checked.stdout
    assert digest(source) == before


def test_bad_arguments_are_listed_at_once(workspace):
    result = workspace.cli("datasets", "add", "no/such/folder", "--name", " ", "--version", "1.0", "--names", ",",
                           "--tag", "", "--against", "abc")
    assert result.returncode == 2
    assert "6 problem(s)" in result.stderr, result.stderr
    for option in ("--name:", "--version:", "--names:", "--tag:", "--against:", "SOURCE:"):
        assert option in result.stderr
    assert "Traceback" not in result.stderr
    assert catalog_entries(workspace) == []


def test_link_points_the_catalog_at_the_folder(workspace):
    source = phone_frames(workspace.root / "brought").root
    before = digest(source)
    dataset_id = printed_id(add(workspace, source, "--name", "phone_ball_001", "--version", "1.0.0", "--link"))
    folder = workspace.catalog / dataset_id
    assert (folder / "images").is_symlink() and (folder / "images").resolve() == (source / "images").resolve()
    assert (folder / "labels").resolve() == (source / "labels").resolve()
    # a folder link is no link leaving the dataset: the dataset checks as clean as its folder
    checked = workspace.cli("datasets", "check", dataset_id)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "path_outside_dataset" not in checked.stdout
    assert digest(source) == before


def test_help_names_every_option(workspace):
    result = workspace.cli("datasets", "add", "--help", COLUMNS="200")
    assert result.returncode == 0
    for option in ("--name", "--version", "--names", "--tag", "--link", "--allow-leakage", "--allow-defects",
                   "--against", "--project", "--frame-pattern"):
        assert option in result.stdout


def test_with_an_unreachable_server_nothing_is_read_or_registered(workspace, tmp_path):
    import socket

    from test_server_check import clearml_env

    source = phone_frames(workspace.root / "brought").root
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there
    env = {"BALLDET_SERVER_TIMEOUT_S": "2", **clearml_env(tmp_path, f"http://127.0.0.1:{port}")}
    result = workspace.cli("datasets", "add", str(source), "--name", "phone_ball_001", "--version", "1.0.0",
                           "--tag", "class:ball", "--project", "aicska/datasets", env_name="local_main", **env)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "connection refused" in result.stderr and "Traceback" not in result.stderr
    # arguments are checked before the server is asked: --link has no meaning there
    linked = workspace.cli("datasets", "add", str(source), "--name", "phone_ball_001", "--version", "1.0.0",
                           "--link", env_name="local_main", **env)
    assert linked.returncode == 2 and "--link: only for the local catalog" in linked.stderr
    assert catalog_entries(workspace) == [] and not (workspace.cache / "add-staging").exists()


# --------------------------------------------------------------------------- the library function


@pytest.fixture
def settings(settings_env):
    from balldet.settings import load_settings

    return load_settings("local_debug")


def test_add_dataset_returns_the_record_and_reports_progress(settings, tmp_path):
    from balldet.datasets.catalog import LocalCatalog
    from balldet.registration import add_dataset

    source = phone_frames(tmp_path / "phone").root
    heard: set[str] = set()
    added = add_dataset(source, name="phone_ball_001", version="1.0.0", settings=settings, tags=["class:ball"],
                        progress=lambda stage, done, total: heard.add(stage))
    assert (added.name, added.version, added.names, added.number_samples) == ("phone_ball_001", "1.0.0", ["ball"], 12)
    assert added.names_from == str(source / "data.yaml") and added.findings == {"extension_case": 3}
    assert Path(added.where) == settings.catalog_dir / added.id
    ref = LocalCatalog(settings.catalog_dir).get(added.id)
    assert ref.tags == ["class:ball"] and ref.label == "phone_ball_001-ver:1.0.0"
    assert "copying" in heard and any(stage.endswith(": labels") for stage in heard)


def test_class_names_come_from_names_then_data_yaml_then_dataset_json(settings, tmp_path):
    from balldet.errors import UsageError
    from balldet.registration import add_dataset

    source = phone_frames(tmp_path / "phone").root
    given = add_dataset(source, name="a", version="1.0.0", settings=settings, names=["ball,spare"])
    assert given.names == ["ball", "spare"] and given.names_from == "--names"
    (source / "data.yaml").write_text(yaml.safe_dump({"nc": 1}))  # nc alone names nothing
    dataset_json(source, ["football"])
    from_json = add_dataset(source, name="b", version="1.0.0", settings=settings, allow_leakage=True)
    assert from_json.names == ["football"] and from_json.names_from.endswith("dataset.json")
    (source / "dataset.json").unlink()
    with pytest.raises(UsageError) as info:
        add_dataset(source, name="c", version="1.0.0", settings=settings)
    assert info.value.fields == ["--names"]
    assert "--names ball" in str(info.value) and "data.yaml" in str(info.value) and "dataset.json" in str(info.value)


def test_splits_that_cannot_be_merged_or_linked(settings, tmp_path):
    from balldet.errors import DatasetError, UsageError
    from balldet.registration import add_dataset

    layout = ultralytics_layout(tmp_path / "ul")
    with pytest.raises(UsageError) as info:
        add_dataset(Path(layout.argument), name="ul", version="1.0.0", settings=settings, link=True)
    assert info.value.fields == ["--link"]
    # a val frame named like a train frame: one images/ folder cannot hold both
    train_image = next((layout.root / "images" / "train").iterdir())
    shutil.copy(train_image, layout.root / "images" / "val" / train_image.name)
    with pytest.raises(DatasetError, match="share file stems") as clash:
        add_dataset(Path(layout.argument), name="ul", version="1.0.0", settings=settings)
    assert f"images/train/{train_image.name} and images/val/{train_image.name}" in str(clash.value)
    assert not settings.catalog_dir.exists() or not any(settings.catalog_dir.iterdir())


def test_a_copy_that_fails_half_way_leaves_the_catalog_as_it_was(settings, tmp_path, monkeypatch):
    from balldet.registration import add_dataset

    source = phone_frames(tmp_path / "phone").root
    first = add_dataset(source, name="first", version="1.0.0", settings=settings)
    before = digest(settings.catalog_dir)
    real_copy, copies = shutil.copyfile, []

    def failing_copy(src, dst, *args, **kwargs):
        copies.append(dst)
        if len(copies) == 5:
            raise OSError(28, "No space left on device")
        return real_copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", failing_copy)
    other = ultralytics_layout(tmp_path / "ul")
    with pytest.raises(OSError, match="No space left"):
        add_dataset(Path(other.argument), name="second", version="1.0.0", settings=settings)
    assert len(copies) == 5
    assert digest(settings.catalog_dir) == before and (settings.catalog_dir / first.id).is_dir()


# --------------------------------------------------------------------------- the server path, up to the server


class Server:
    """Answers ClearML's server queries (``Dataset.list_datasets``, ``Dataset.get``, a finalized status)
    from datasets made here with ClearML's own API in offline mode; everything else is ClearML's."""

    def __init__(self, monkeypatch) -> None:
        from clearml import Dataset

        self.rows: list[dict] = []
        self.objects: dict[str, object] = {}
        self.created: list[object] = []
        self.queries: list[dict] = []
        real_create = Dataset.create.__func__

        def create(cls, *args, **kwargs):
            dataset = real_create(cls, *args, **kwargs)
            # Offline, ClearML fills the new task's script section in a thread of its own (online,
            # create writes it itself) and the dataset's next call appends to it: let the thread end.
            dataset._task._wait_for_repo_detection(timeout=60)
            self.created.append(dataset)
            return dataset

        def list_datasets(cls, dataset_project=None, partial_name=None, tags=None, ids=None, only_completed=True,
                          recursive_project_search=True, include_archived=True):
            self.queries.append({"partial_name": partial_name, "tags": tags, "only_completed": only_completed})
            return [dict(row) for row in self.rows
                    if (partial_name is None or re.search(partial_name, row["name"]))
                    and set(tags or []) <= set(row["tags"])
                    and (not only_completed or row["status"] == "completed")]

        def get(cls, dataset_id=None, **kwargs):
            if dataset_id not in self.objects:
                raise ValueError(f"Could not find Dataset id={dataset_id}")
            return self.objects[dataset_id]

        monkeypatch.setattr(Dataset, "create", classmethod(create))
        monkeypatch.setattr(Dataset, "list_datasets", classmethod(list_datasets))
        monkeypatch.setattr(Dataset, "get", classmethod(get))
        monkeypatch.setattr(Dataset, "is_final", lambda self: True)  # the server's word once finalized

    def holds(self, dataset, *, dataset_id: str | None = None, project: str = "aicska/datasets") -> str:
        """``dataset`` (a ClearML Dataset made here) listed as a finalized dataset of ``project``."""
        dataset_id = dataset_id or dataset.id
        self.objects[dataset_id] = dataset
        self.rows.append({"id": dataset_id, "name": dataset.name, "project": project, "tags": list(dataset.tags),
                          "version": dataset.version, "status": "completed", "created": None})
        return dataset_id


@pytest.fixture
def server(settings, monkeypatch):
    from balldet.tracking.session import configure_clearml

    configure_clearml(settings)  # ClearML offline: sessions under the workspace's cache
    return Server(monkeypatch), settings


def _register(settings, source: Path, **kwargs):
    from balldet.datasets.frames import FrameIdentity
    from balldet.registration.server import register_on_server
    from balldet.registration.source import plan_addition

    options = {"names": None, "tags": ["class:ball"], "link": False, "allow_defects": False, "allow_leakage": False,
               "against": (), "project": "aicska/datasets", **kwargs}
    plan = plan_addition(source, catalog=None, **options)
    return register_on_server(plan, settings, frames=FrameIdentity(settings.frame_patterns), show_progress=False)


def _session(added) -> tuple[dict, dict]:
    """The offline session's task record and the dataset state ClearML wrote for the upload."""
    folder = Path(added.offline_folder)
    task = json.loads((folder / "task.json").read_text())
    (state_file,) = folder.glob("data/**/artifacts/state/state.json")
    return task, json.loads(state_file.read_text())


def test_server_dataset_has_the_team_shape(server, tmp_path):
    from balldet.registration.known import read_pack
    from balldet.tracking.clearml_datasets import dataset_info_from_clearml

    answers, settings = server
    source = ultralytics_layout(tmp_path / "ul", classes=(BALL,))
    added = _register(settings, Path(source.argument), name="class:ball-markup:ul-001", version="1.0.0")
    assert added.where == "ClearML project aicska/datasets" and added.parent is None
    assert {"partial_name": "^class:ball\\-markup:ul\\-001$", "tags": None, "only_completed": False} in answers.queries

    task, state = _session(added)
    assert task["name"] == "class:ball-markup:ul-001" and task["type"] == "data_processing"
    assert task["project_name"].startswith("aicska/datasets/.datasets/")
    assert task["tags"] == ["class:ball"] and "dataset" in task["system_tags"]
    params = {section: {name: entry["value"] for name, entry in values.items()}
              for section, values in task["hyperparams"].items()}
    info = dataset_info_from_clearml("0" * 32, task["name"], "1.0.0", task["tags"], params)
    assert info.names == ["ball"] and info.number_samples == 20
    (dataset,) = answers.created
    assert dataset.version == "1.0.0" and dataset.project == "aicska/datasets"
    # the files as the local catalog would hold them: the splits merged, only images and labels
    files = sorted(entry["relative_path"] for entry in state["dataset_file_entries"])
    expected = sorted(f"{kind}/{p.name}" for kind in ("images", "labels") for split in ("train", "val")
                      for p in (source.root / kind / split).iterdir())
    assert files == expected
    # the fingerprint pack rides along as an artifact, and is remembered by id
    (artifact,) = [a for a in task["execution"]["artifacts"] if a["key"] == "balldet_fingerprints"]
    pack = Path(artifact["uri"].removeprefix("file://"))  # the session folder keeps the quoted name
    known = read_pack(pack.read_bytes(), dataset_id=added.id, label="x")
    assert known is not None and sorted(known.prints.names) == sorted(f.removeprefix("images/") for f in expected
                                                                       if f.startswith("images/"))
    assert all(known.thumb(name) is not None for name in known.prints.names)
    assert list((settings.cache_dir / "server_prints").glob(f"{added.id}-*.npz"))


def test_server_leak_found_from_the_pack_without_downloading(server, tmp_path):
    from balldet.errors import DatasetError

    answers, settings = server
    first = phone_frames(tmp_path / "phone")
    added = _register(settings, first.root, name="phone_ball_001", version="1.0.0")
    answers.holds(answers.created[-1])
    # a second folder holding three of its pictures under other names
    second = ultralytics_layout(tmp_path / "ul", classes=(BALL,))
    for k, name in enumerate(["pitch_0001.jpg", "phone_0005.jpg", "pitch_0011.jpg"]):
        shutil.copy(first.root / "images" / name, second.root / "images" / "val" / f"copy_{k}.jpg")
        (second.root / "labels" / "val" / f"copy_{k}.txt").write_text("")
    shutil.rmtree(settings.cache_dir / "server_prints")  # not remembered here: the artifact is read
    with pytest.raises(DatasetError) as refused:
        _register(settings, Path(second.argument), name="class:ball-markup:ul-001", version="1.0.0")
    message = str(refused.value)
    assert "3 frame(s) leak into 1 known dataset(s) (phone_ball_001-ver:1.0.0)" in message
    assert ("identical_image: images/val/copy_0.jpg: same bytes as phone_ball_001-ver:1.0.0/images/pitch_0001.jpg"
            in message)
    assert {"partial_name": None, "tags": ["class:ball"], "only_completed": True} in answers.queries
    assert len(answers.created) == 1  # nothing was created for the refused one
    # now remembered by id: the artifact is not needed again
    assert list((settings.cache_dir / "server_prints").glob(f"{added.id}-*.npz"))
    from balldet.tracking import clearml_compat

    artifact = clearml_compat.dataset_artifact_file(answers.objects[added.id], "balldet_fingerprints")
    Path(artifact).unlink()  # gone from the "server": the pack remembered by id is used
    with pytest.raises(DatasetError, match="3 frame\\(s\\) leak"):
        _register(settings, Path(second.argument), name="class:ball-markup:ul-001", version="1.0.0")
    allowed = _register(settings, Path(second.argument), name="class:ball-markup:ul-001", version="1.0.0",
                        allow_leakage=True)
    assert allowed.findings["identical_image"] == 3


def test_server_new_version_has_the_last_one_as_parent(server, tmp_path):
    from balldet.errors import UsageError

    answers, settings = server
    source = phone_frames(tmp_path / "phone")
    first = _register(settings, source.root, name="phone_ball_001", version="1.0.0")
    answers.holds(answers.created[-1])

    with pytest.raises(UsageError) as taken:
        _register(settings, source.root, name="phone_ball_001", version="1.0.0", project=None)
    assert taken.value.fields == ["--version"]  # the project is the name's, and earlier versions are not compared
    with pytest.raises(UsageError) as new_name:
        _register(settings, source.root, name="phone_ball_002", version="1.0.0", project=None, tags=["source:phone"])
    assert new_name.value.fields == ["--project", "--tag"]

    # version 1.1.0: one frame dropped, one added
    (source.root / "images" / "pitch_0012.jpg").unlink()
    (source.root / "labels" / "pitch_0012.txt").unlink()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(source.root / "images" / "extra_0013.png")
    (source.root / "labels" / "extra_0013.txt").write_text("")
    second = _register(settings, source.root, name="phone_ball_001", version="1.1.0", project=None)
    assert second.parent == first.id and second.where == "ClearML project aicska/datasets"
    _, state = _session(second)
    entries = {e["relative_path"]: e["parent_dataset_id"] for e in state["dataset_file_entries"]}
    assert "images/pitch_0012.jpg" not in entries and entries["images/extra_0013.png"] == second.id
    assert entries["images/pitch_0001.jpg"] == first.id  # unchanged files stay the parent's: not uploaded again
    assert state["dependency_graph"][second.id] == [first.id]


def test_server_dataset_without_a_pack_is_read_from_its_local_copy(server, tmp_path):
    """A dataset not registered by balldet (no fingerprint pack): its files, through ClearML's download."""
    from clearml import Dataset

    from balldet.errors import DatasetError
    from balldet.tracking import clearml_compat

    answers, settings = server
    legacy_files = phone_frames(tmp_path / "legacy")
    legacy = Dataset.create(dataset_name="soccer_legacy_001", dataset_project="aicska/datasets",
                            dataset_version="1.0.2", dataset_tags=["class:ball"])
    legacy.sync_folder(str(legacy_files.root))
    clearml_compat.set_dataset_parameters(legacy, {"dataset_info/names": ["ball"], "dataset_info/number_samples": 12})
    legacy.upload(show_progress=False)
    clearml_compat.close_dataset_task(legacy)
    legacy_id = answers.holds(legacy, dataset_id="ab" * 16)
    downloads = []
    legacy.get_local_copy = lambda *a, **k: downloads.append(legacy_id) or str(legacy_files.root)

    copy = ultralytics_layout(tmp_path / "ul", classes=(BALL,))
    shutil.copy(legacy_files.root / "images" / "phone_0006.jpg", copy.root / "images" / "train" / "x_1.jpg")
    (copy.root / "labels" / "train" / "x_1.txt").write_text("")
    with pytest.raises(DatasetError) as refused:
        _register(settings, Path(copy.argument), name="class:ball-markup:ul-001", version="1.0.0")
    assert "images/train/x_1.jpg: same bytes as soccer_legacy_001-ver:1.0.2/images/phone_0006.jpg" in str(refused.value)
    assert downloads == [legacy_id]
    assert not list((settings.cache_dir / "server_prints").glob(f"{legacy_id}-*"))  # only balldet's packs are kept
