"""Where agents get balldet's code, checked before anything is enqueued: a git remote (a local bare
repository here, standing in for the team's private one), the commit on it, the packages at it;
and `balldet run --dry-run`, which shows what the agents would run without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from balldet.errors import SettingsError
from balldet.pipeline.step_source import check_commit_on_remote, resolve_step_source
from conftest import REPO, commit_and_publish, git




@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Path, str]:
    """A checkout with one pushed commit, and its bare remote's URL."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "pyproject.toml").write_text('[project]\nname = "balldet"\ndependencies = ["clearml>=2.1", "torch>=2.2"]\n')
    return work, commit_and_publish(work, tmp_path / "remote.git")


def commit_file(work: Path, name: str) -> str:
    (work / name).write_text(name)
    git("add", name, cwd=work)
    git("commit", "-q", "-m", name, cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def test_pushed_commit_gives_repo_commit_and_packages(checkout):
    work, url = checkout
    source = resolve_step_source("", ["extra==1"], checkout=work)  # "" means the origin remote
    assert (source.repo, source.commit) == (url, git("rev-parse", "HEAD", cwd=work))
    assert source.packages == ["clearml>=2.1", "torch>=2.2", "extra==1"]
    assert source.controller_packages() == ["clearml>=2.1"]


def test_unpushed_commit_is_refused_with_the_fix(checkout):
    work, url = checkout
    commit = commit_file(work, "new.txt")
    with pytest.raises(SettingsError) as caught:
        resolve_step_source(url, [], checkout=work)
    assert commit[:12] in str(caught.value) and "git push" in str(caught.value)
    git("push", "-q", "origin", "main", cwd=work)
    git("fetch", "-q", "origin", cwd=work)
    assert resolve_step_source(url, [], checkout=work).commit == commit


def test_an_older_commit_of_a_pushed_branch_is_on_the_remote(checkout):
    work, url = checkout
    first = git("rev-parse", "HEAD", cwd=work)
    commit_file(work, "second.txt")
    git("push", "-q", "origin", "main", cwd=work)
    git("fetch", "-q", "origin", cwd=work)
    check_commit_on_remote(url, first, work)  # an ancestor of the remote's main: no error


def test_unreachable_remote_and_credentials_in_the_url_are_refused(checkout, tmp_path):
    work, _ = checkout
    with pytest.raises(SettingsError, match="cannot list the repository"):
        resolve_step_source((tmp_path / "missing.git").as_uri(), [], checkout=work)
    with pytest.raises(SettingsError, match="carries a password") as caught:
        resolve_step_source("https://user:s3cret@example.invalid/balldet.git", [], checkout=work)
    assert "s3cret" not in str(caught.value)


def test_packages_are_the_projects_own_requirements_without_machine_pins():
    import tomllib

    requirements = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(line.startswith("clearml") for line in requirements)
    torch = [line for line in requirements if line.split(">")[0].split("=")[0].strip() in ("torch", "torchvision")]
    assert torch and not any("==" in line for line in torch), torch
    # The development machines' pins live in constraints.txt, which the set-up script applies.
    assert "torch==" in (REPO / "constraints.txt").read_text()
    assert "-c \"$root/constraints.txt\"" in (REPO / "scripts" / "ensure_env.sh").read_text()


@pytest.fixture
def pushed_repo_url(tmp_path: Path) -> str:
    """A bare remote that holds this checkout's HEAD (what `balldet run` pins the agents to)."""
    git("clone", "-q", "--bare", str(REPO), str(tmp_path / "balldet.git"), cwd=tmp_path)
    return (tmp_path / "balldet.git").as_uri()


def test_dry_run_writes_and_compiles_every_step_without_a_server(workspace, pushed_repo_url, tmp_path):
    from balldet.synth.inventory import synth_dataset_id

    dataset = synth_dataset_id("20240416-Russian_Cup-CSKA_Moscow-vs-Baltika_Kaliningrad-01-001", "1.0.0")
    workspace.write_config("c.yaml", {
        "tags": ["ball"], "model_type": "ultralytics", "train_data": {"datasets": [dataset]},
        "test_data": {"datasets": [dataset]}, "train_config": {"model": "yolov8n.yaml", "epochs": 1},
    })
    # No clearml.conf and no server: the dry run needs neither.
    home = tmp_path / "home"
    home.mkdir()
    result = workspace.cli(
        "run", "--config_name", "c.yaml", "--model_type", "ultralytics", "--project", "aicska", "--dry-run",
        env_name="remote_debug", HOME=str(home), BALLDET_REMOTE__REPO=pushed_repo_url,
        CLEARML_CONFIG_FILE=str(home / "none.conf"), timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (folder,) = (workspace.outputs / "aicska" / "debug" / "dry-run").iterdir()
    scripts = sorted(folder.glob("*.py"))
    assert [p.name for p in scripts] == [
        "01_get_config.py", "02_process_config.py", "03_prepare_data.py", "04_add_tags_to_pipeline.py",
        "05_convert_data.py", "06_train_model.py", "07_test_model.py",
    ]
    for script in scripts:
        compile(script.read_text(), str(script), "exec")
    assert str(folder) in result.stdout.replace("\n", "")
    assert git("rev-parse", "HEAD", cwd=REPO) in result.stdout
    assert "Traceback" not in result.stderr
    # Nothing was recorded for upload: the offline controller was thrown away.
    assert not (workspace.cache / "clearml").exists() or not any((workspace.cache / "clearml").rglob("task.json"))


def test_dry_run_is_only_for_remote_environments(workspace):
    result = workspace.cli("run", "--config_name", "x.yaml", "--model_type", "ultralytics", "--project", "a",
                           "--dry-run")
    assert result.returncode == 2
    assert "--dry-run" in result.stderr and "remote" in result.stderr
