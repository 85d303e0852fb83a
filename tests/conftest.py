"""Shared fixtures: an isolated balldet workspace (settings overridden by BALLDET_* variables),
tiny synthetic datasets, and a network guard for this process and every subprocess."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from hypothesis import settings as hypothesis_settings

# Property tests draw the same examples on every run: a result must not depend on the run.
hypothesis_settings.register_profile("balldet", derandomize=True)
hypothesis_settings.load_profile("balldet")

REPO = Path(__file__).resolve().parents[1]
NETGUARD = Path(__file__).resolve().parent / "netguard"
SETTINGS_FILE = REPO / "settings.toml"

# Every process of the suite refuses the network; attempts land in this log and fail the session.
_NET_LOG = Path(os.environ.setdefault("NETGUARD_LOG", f"/tmp/balldet-netguard-{os.getpid()}.log"))
if "PYTEST_XDIST_WORKER" not in os.environ:  # test workers share the log their parent started
    _NET_LOG.unlink(missing_ok=True)
else:
    # A test worker is told a terminal of 80 columns; the commands the tests run would wrap their
    # output there (they take the width from COLUMNS when not on a terminal): as when run alone.
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)
runpy.run_path(str(NETGUARD / "sitecustomize.py"))


def pytest_sessionfinish(session, exitstatus):
    if _NET_LOG.is_file() and _NET_LOG.read_text().strip():
        print(f"\nnetwork access attempted during the tests:\n{_NET_LOG.read_text()}", file=sys.stderr)
        session.exitstatus = 1


# How tests are shared between workers (scripts/test.sh: pytest-xdist, --dist loadfile with
# --no-loadscope-reorder): the tests of a file stay together (its module fixtures, a trained run or a
# catalog, are made once), and files go out heaviest first -- by the minutes their `slow` tests say
# they take (unmarked tests count for nothing) -- so the long ones start at once instead of last.
# (pytest-xdist's loadgroup cannot split a file here: with pytest 9 it never sees the group names.)
SLOW_MINUTES = 0.5  # a `slow` test that does not say how long it takes


def pytest_collection_modifyitems(config, items):
    weight: dict[str, float] = {}
    for item in items:
        slow = item.get_closest_marker("slow")
        minutes = slow.kwargs.get("minutes", SLOW_MINUTES) if slow is not None else 0.0
        weight[item.path] = weight.get(item.path, 0.0) + minutes
    first_seen: dict = {}
    for index, item in enumerate(items):
        first_seen.setdefault(item.path, index)
    items.sort(key=lambda item: (-weight[item.path], first_seen[item.path]))


@pytest.fixture(autouse=True)
def _restore_environment():
    """balldet sets ClearML's variables for its process (configure_clearml); tests that call it
    in-process must not hand them to the subprocesses of later tests."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "balldet tests", "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "balldet tests", "GIT_COMMITTER_EMAIL": "tests@example.invalid",
}


def git(*args: str, cwd: Path) -> str:
    """A git command in ``cwd`` (with an identity for commits), its output; failing fails the test."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **GIT_IDENTITY})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def commit_and_publish(work: Path, remote: Path) -> str:
    """Commit everything in the folder ``work`` as a new repository's first commit, clone it bare to
    ``remote`` and make that its ``origin`` (standing in for the team's server); the remote's URL."""
    git("init", "-q", "-b", "main", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "snapshot", cwd=work)
    git("clone", "-q", "--bare", str(work), str(remote), cwd=remote.parent)
    git("remote", "add", "origin", remote.as_uri(), cwd=work)
    git("fetch", "-q", "origin", cwd=work)
    return remote.as_uri()


def without_clearml_task(environ) -> dict[str, str]:
    """``environ`` without the variables a ClearML task sets in its process so that child processes
    report into it: a subprocess started by a test that opened a task must start its own."""
    return {k: v for k, v in environ.items() if k not in ("CLEARML_PROC_MASTER_ID", "TRAINS_PROC_MASTER_ID")}


@dataclass
class Workspace:
    """A configs root, catalog, cache and output folder of its own, and a CLI runner using them."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def configs(self) -> Path:
        return self.root / "configs"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def write_config(self, name: str, content: dict | str) -> str:
        path = self.configs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
        return name

    def cli(self, *args: str, env_name: str = "local_debug", timeout: float = 600, **extra_env: str):
        """``python -m balldet ARGS`` in a subprocess, as a user would run it."""
        env = {**without_clearml_task(os.environ), **self.env, "ENV_FOR_DYNACONF": env_name, **extra_env}
        return subprocess.run(
            [sys.executable, "-m", "balldet", *args],
            cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout,
        )


def make_workspace(root: Path) -> Workspace:
    ws = Workspace(root)
    for folder in (ws.configs, ws.catalog, ws.outputs, ws.cache):
        folder.mkdir()
    ws.env = {
        "BALLDET_SETTINGS_FILE": str(SETTINGS_FILE),
        "BALLDET_CONFIGS_ROOT": str(ws.configs),
        "BALLDET_CATALOG_DIR": str(ws.catalog),
        "BALLDET_CACHE_DIR": str(ws.cache),
        "BALLDET_OUTPUT_DIR": str(ws.outputs),
        "BALLDET_DEVICE": "cpu",
        "PYTHONPATH": os.pathsep.join([str(NETGUARD), os.environ.get("PYTHONPATH", "")]),
        "PYTHONUNBUFFERED": "1",
    }
    return ws


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path)


@pytest.fixture
def settings_env(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The workspace's BALLDET_* variables applied to this process too (for in-process calls)."""
    for key, value in workspace.env.items():
        if key.startswith("BALLDET_"):
            monkeypatch.setenv(key, value)
    return workspace


@pytest.fixture(scope="session")
def tiny_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The synthetic datasets, 12 images each, made once per test session (never modified)."""
    from balldet.datasets.catalog import LocalCatalog
    from balldet.synth.catalog import synthesize

    root = tmp_path_factory.mktemp("tiny-catalog")
    synthesize(LocalCatalog(root), images_per_dataset=12, seed=1)
    return root


@pytest.fixture
def catalog(tiny_catalog: Path, tmp_path: Path):
    """A private copy of the synthetic catalog, safe to modify."""
    import shutil

    from balldet.datasets.catalog import LocalCatalog

    shutil.copytree(tiny_catalog, tmp_path / "catalog")
    return LocalCatalog(tmp_path / "catalog")


def layout_frames(layout_root: Path, split: str) -> set[str]:
    """The frames a trainer reads for ``split`` of a YOLO layout, as paths relative to the layout:
    the lines of a frame list, or every file below an images folder (links followed)."""
    entry = layout_root / yaml.safe_load((layout_root / "data.yaml").read_text())[split]
    if entry.is_file():
        return {str(Path(split, line.removeprefix("./"))) for line in entry.read_text().splitlines()}
    return {
        str(Path(root, name).relative_to(layout_root))
        for root, _, names in os.walk(entry, followlinks=True) for name in names
    }


# Opens of files, counted by an audit hook while a list is given (Python's "open" event: open(),
# io.open, os.open, and so PIL's reads of a path). Hooks cannot be removed: one is added once.
_opens: list[str] | None = None
_hooked = False


def _count_opens(event: str, args: tuple) -> None:
    if _opens is not None and event == "open" and isinstance(args[0], (str, os.PathLike)):
        _opens.append(os.path.realpath(args[0]))


def image_opens(run, image_files: list[Path], monkeypatch) -> tuple[Counter, list[str]]:
    """(opens per image file, OpenCV reads of image files by path) while ``run()`` runs."""
    import cv2

    global _opens, _hooked
    if not _hooked:
        sys.addaudithook(_count_opens)
        _hooked = True
    decoded: list[str] = []
    real_imread = cv2.imread  # reads outside Python's audit: counted by hand
    monkeypatch.setattr(cv2, "imread", lambda path, *a: decoded.append(os.path.realpath(path)) or real_imread(path, *a))
    wanted = {os.path.realpath(p) for p in image_files}
    _opens = []
    try:
        run()
        return Counter(p for p in _opens if p in wanted), [p for p in decoded if p in wanted]
    finally:
        _opens = None
