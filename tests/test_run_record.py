"""The run record: sections, dataset content hash and its cache, git state, no credentials."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from balldet.datasets.catalog import LocalCatalog
from balldet.datasets.prepared import PreparedData
from balldet.settings import Settings
from balldet.stages.get_config import get_config
from balldet.checks import content_hash as content_hash_module
from balldet.tracking import run_record
from balldet.tracking.run_record import (
    build_run_record,
    content_hash,
    git_state,
    redact,
    write_run_record,
)

SECTIONS = ("config", "balldet", "datasets", "packages", "seeds", "hardware", "environment", "created")

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture(autouse=True)
def _no_outer_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # git must not find a repository above tmp_path, whatever the machine's layout.
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))


def _git(folder: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=test", "-c", "user.email=test@example.invalid",
         "-c", "commit.gpgsign=false", *args],
        check=True, capture_output=True, timeout=30,
    )


def _settings(tmp_path: Path, configs_root: Path) -> Settings:
    return Settings(
        env="local_debug",
        settings_file=tmp_path / "settings.toml",
        configs_root=configs_root,
        catalog_dir=tmp_path / "catalog",
        cache_dir=tmp_path / "cache",
        output_dir=tmp_path / "outputs",
    )


def _record(tmp_path: Path, catalog: LocalCatalog, configs_root: Path | None = None) -> dict:
    refs = catalog.list()
    assert len(refs) >= 2
    configs_root = configs_root or tmp_path / "configs"
    config = configs_root / "ball" / "run.yaml"
    if not config.is_file():
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("seed: 7\nmodel: tiny\n")
    loaded = get_config("ball/run.yaml", configs_root)
    data = PreparedData(train=refs[:1], val=refs[:1], test=refs[1:], class_names=list(refs[0].names))
    request = SimpleNamespace(config_name="ball/run.yaml", model_type="yolov5", project="proj")
    return build_run_record(
        loaded=loaded, request=request, settings=_settings(tmp_path, configs_root), data=data, seed=7
    )


def test_record_has_every_section(catalog: LocalCatalog, tmp_path: Path) -> None:
    record = _record(tmp_path, catalog)
    for section in SECTIONS:
        assert section in record, section
        assert not (isinstance(record[section], dict) and "error" in record[section]), record[section]

    config = record["config"]
    assert config["name"] == "ball/run.yaml"
    assert config["content"] == "seed: 7\nmodel: tiny\n"
    assert len(config["sha256"]) == 64
    assert record["balldet"]["version"]
    assert record["seeds"]["config_seed"] == 7
    assert record["packages"]["python"]
    assert "pydantic" in record["packages"] and record["packages"]["pydantic"]
    hw = record["hardware"]
    assert hw["cpu_count"] and hw["gpu_source"] in ("torch", "nvidia-smi", "not probed")
    assert record["environment"]["env"] == "local_debug"
    assert record["environment"]["mode"] == "debug"

    refs = catalog.list()
    by_id = {d["id"]: d for d in record["datasets"]}
    assert by_id[refs[0].id]["roles"] == ["train", "val"]
    assert by_id[refs[1].id]["roles"] == ["test"]
    for entry in record["datasets"]:
        assert entry["number_images"] == 12
        assert len(entry["content_hash"]) == 64
        assert entry["names"] and entry["version"]

    out = tmp_path / "run" / "run_record.json"
    write_run_record(out, record)
    assert json.loads(out.read_text())["config"]["sha256"] == config["sha256"]


def test_content_hash_follows_the_bytes(catalog: LocalCatalog) -> None:
    ref = catalog.list()[0]
    first = content_hash(ref)
    assert content_hash(ref) == first

    label = next(p for p in sorted(ref.labels_dir.iterdir()) if p.stat().st_size > 0)
    raw = bytearray(label.read_bytes())
    raw[0] = ord("1") if raw[0] != ord("1") else ord("0")
    label.write_bytes(bytes(raw))
    assert content_hash(ref) != first


def test_content_hash_cache_is_used(catalog: LocalCatalog, tmp_path: Path, monkeypatch) -> None:
    from balldet.checks import fingerprints

    ref = catalog.list()[0]
    images: list[Path] = []
    labels: list[Path] = []
    real_read, real_labels = fingerprints.read_image, content_hash_module._label_lines
    monkeypatch.setattr(fingerprints, "read_image", lambda path: images.append(path) or real_read(path))
    monkeypatch.setattr(content_hash_module, "_label_lines",
                        lambda ref: labels.append(ref.labels_dir) or real_labels(ref))
    cache = tmp_path / "cache"
    first = content_hash(ref, cache)
    assert sorted(images) == ref.image_files() and len(labels) == 1  # each image read once
    assert len(list((cache / "content_hash").glob(f"{ref.id}-*.json"))) == 1
    assert len(list((cache / "fingerprints").glob(f"{ref.id}-*.json"))) == 1  # shared with the checks

    images.clear()
    labels.clear()
    assert content_hash(ref, cache) == first
    assert images == labels == []  # nothing read again

    # A new label file changes folder_state(): the labels are read again, the images are not (their
    # folder is unchanged), and the hash follows; the old state's entry is replaced.
    (ref.labels_dir / "zz_extra.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    images.clear()
    second = content_hash(ref, cache)
    assert images == [] and len(labels) == 1
    assert second != first
    assert second == content_hash(ref)  # same as hashing from scratch
    assert len(list((cache / "content_hash").glob(f"{ref.id}-*.json"))) == 1


def test_content_hash_recipe(catalog: LocalCatalog) -> None:
    """Recipe 2: sha256 over sorted lines `<path>\\0<size>\\0<blake2b-128>`, images and label files."""
    import hashlib

    ref = catalog.list()[0]
    lines = []
    for path in [*ref.image_files(), *ref.labels_dir.rglob("*")]:
        data = path.read_bytes()
        rel = f"{path.parent.name}/{path.name}"
        lines.append(f"{rel}\0{len(data)}\0{hashlib.blake2b(data, digest_size=16).hexdigest()}\n")
    expected = hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()
    assert content_hash(ref) == expected
    assert run_record.RECORD_VERSION == 2


@needs_git
def test_configs_commit_and_dirty_flag(catalog: LocalCatalog, tmp_path: Path) -> None:
    plain = tmp_path / "plain-configs"
    record = _record(tmp_path, catalog, plain)
    assert record["config"]["configs_commit"] is None
    assert record["config"]["configs_dirty"] is None

    repo = tmp_path / "configs-repo"
    config = repo / "ball" / "run.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("seed: 7\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "configs")
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()

    record = _record(tmp_path, catalog, repo)
    assert record["config"]["configs_commit"] == head
    assert record["config"]["configs_dirty"] is False
    assert record["config"]["file_git_status"] == ""

    config.write_text("seed: 8\n")
    record = _record(tmp_path, catalog, repo)
    assert record["config"]["configs_commit"] == head
    assert record["config"]["configs_dirty"] is True
    assert record["config"]["file_git_status"].strip() == "M"


def test_git_state_without_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_record.shutil, "which", lambda name: None)
    assert git_state(tmp_path) == {"commit": None, "dirty": None}
    assert git_state(tmp_path / "missing") == {"commit": None, "dirty": None}


def test_redact() -> None:
    values = {
        "CLEARML_API_SECRET_KEY": "a",
        "MY_TOKEN": "b",
        "db_password": "c",
        "AWS_CREDENTIALS_FILE": "d",
        "api_key": "e",
        "BALLDET_MODE": "debug",
        "nested": {"access_key": "f", "keep": 1, "url": "https://user:pw@host.example/x"},
    }
    clean = redact(values)
    assert clean == {
        "BALLDET_MODE": "debug",
        "nested": {"keep": 1, "url": "https://<redacted>@host.example/x"},
    }
    assert values["CLEARML_API_SECRET_KEY"] == "a"  # the input is left alone


def test_credentials_never_recorded(catalog: LocalCatalog, tmp_path: Path, monkeypatch) -> None:
    secrets = {
        "CLEARML_API_SECRET_KEY": "s3cr3t-cl34rml",
        "CLEARML_API_ACCESS_KEY": "acc3ss-k3y-zz",
        "MY_TOKEN": "tok-abc-9f8e7d",
        "BALLDET_API_KEY": "b4ll-k3y-qq",
        "BALLDET_DB_PASSWORD": "pa55-w0rd-xx",
        "BALLDET_CREDENTIAL_FILE": "cr3d-f1le-yy",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BALLDET_SERVER_URL", "https://someone:urlp4ss-ww@server.example")
    monkeypatch.setenv("ENV_FOR_DYNACONF", "local_debug")

    record = _record(tmp_path, catalog)
    out = tmp_path / "record.json"
    write_run_record(out, record)
    text = out.read_text()
    for name, value in secrets.items():
        assert value not in text
        assert name not in text
    assert "urlp4ss-ww" not in text
    assert record["environment"]["ENV_FOR_DYNACONF"] == "local_debug"
    assert "BALLDET_SERVER_URL" in record["environment"]["balldet_variables"]
