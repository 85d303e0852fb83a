"""Where the agents of a server run get balldet's code: a git checkout at the run's commit.

Every step (and the controller) is given ``repo=<git URL>`` and ``repo_commit=<commit>``: the agent
clones the repository with its own git credentials -- the same ones it uses for every task, an
``agent.git_user``/``agent.git_pass`` pair for https URLs or its SSH key for ssh URLs -- checks the
commit out and runs the step's rendered script from the checkout's ``src/`` folder, so
``import balldet`` finds the checkout's package and ``settings.toml`` is the checkout's. The agent
pip-installs balldet's own dependencies (read from ``pyproject.toml`` at that commit; no
machine-specific pins) plus ``remote.packages``.

Why not ``pip install balldet @ git+<repo>@<commit>`` on every step: pip clones with whatever
credentials the agent's shell has. clearml-agent only rewrites such a requirement line with its
configured git user/password since 2024 (the ``name @ git+`` parser fix), never for ssh URLs, and
older agents need a ``.git-credentials`` file on every machine (clearml-agent issue #22). The
installed package would also lack ``settings.toml``. Cloning the task's repository is what every
agent version does with its ordinary credentials.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

from pydantic import BaseModel

import balldet
from balldet.errors import SettingsError

# Working folder of the steps inside the checkout: the rendered script sits beside the package.
WORKING_DIR = "src"
# What the controller (on the services queue) imports: none of the training stack.
CONTROLLER_REQUIREMENTS = ("clearml", "dynaconf", "pydantic", "pyyaml")
GIT_TIMEOUT_S = 30.0

_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_USERINFO = re.compile(r"^[a-z+]+://[^/@]*:[^/@]*@", re.IGNORECASE)


class StepSource(BaseModel):
    """The code every agent of a run checks out and what it installs beside it."""

    repo: str
    commit: str
    packages: list[str]
    working_dir: str = WORKING_DIR
    # the launching checkout had uncommitted changes to tracked files (they do not travel)
    uncommitted_changes: bool = False

    def controller_packages(self) -> list[str]:
        keep = []
        for line in self.packages:
            match = _REQUIREMENT_NAME.match(line)
            if match and match.group(1).lower().replace("_", "-") in CONTROLLER_REQUIREMENTS:
                keep.append(line)
        return keep


def _git(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},  # fail instead of asking for a password
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return subprocess.CompletedProcess(args, 1, "", str(exc))


def source_checkout() -> Path:
    """The git checkout balldet runs from (a server run starts from one)."""
    package_dir = Path(balldet.__file__).resolve().parent
    top = _git(["rev-parse", "--show-toplevel"], cwd=package_dir)
    tracked = _git(["ls-files", "--error-unmatch", "__init__.py"], cwd=package_dir)
    if top.returncode != 0 or tracked.returncode != 0:
        raise SettingsError(
            f"balldet at {package_dir} is not a git checkout, so agents cannot be given its code",
            fix="start server runs from a clone of balldet's repository (pip install -e <clone>)",
        )
    return Path(top.stdout.strip())


def resolve_step_source(repo: str, extra_packages: list[str], checkout: Path | None = None) -> StepSource:
    """The repository URL, this checkout's commit, checked to exist there, and the packages.

    ``repo`` empty means the checkout's ``origin`` remote.
    """
    checkout = checkout or source_checkout()
    repo = repo or _origin_url(checkout)
    if not repo:
        raise SettingsError(
            "agents cannot get balldet's code: the checkout has no `origin` remote and remote.repo is empty",
            fix="set remote.repo in settings.toml (or BALLDET_REMOTE__REPO=<git url>)",
        )
    if _USERINFO.match(repo):
        raise SettingsError(
            f"remote.repo carries a password: {_USERINFO.sub('<user:password>@', repo)}",
            fix="give the plain URL: agents clone with their own git credentials "
            "(agent.git_user/agent.git_pass or an SSH key in their clearml.conf)",
        )
    head = _git(["rev-parse", "--verify", "HEAD"], cwd=checkout)
    if head.returncode != 0:
        raise SettingsError(f"{checkout} has no commit yet", fix="commit and push, then start the run")
    commit = head.stdout.strip()
    dirty = bool(_git(["status", "--porcelain", "--untracked-files=no"], cwd=checkout).stdout.strip())
    check_commit_on_remote(repo, commit, checkout)
    return StepSource(
        repo=repo, commit=commit, packages=[*dependencies_at(checkout, commit), *extra_packages],
        uncommitted_changes=dirty,
    )


def _origin_url(checkout: Path) -> str:
    done = _git(["remote", "get-url", "origin"], cwd=checkout)
    return done.stdout.strip() if done.returncode == 0 else ""


def check_commit_on_remote(repo: str, commit: str, checkout: Path) -> None:
    """The commit is a branch or tag head of ``repo`` or an ancestor of one (``git ls-remote``)."""
    listed = _git(["ls-remote", repo])
    if listed.returncode != 0:
        raise SettingsError(
            f"cannot list the repository agents would clone ({repo}): {listed.stderr.strip()[-300:]}",
            fix="check remote.repo and that your git credentials can read it",
        )
    heads = {line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    if commit in heads:
        return
    for head in heads:
        known = _git(["cat-file", "-e", f"{head}^{{commit}}"], cwd=checkout).returncode == 0
        if known and _git(["merge-base", "--is-ancestor", commit, head], cwd=checkout).returncode == 0:
            return
    raise SettingsError(
        f"commit {commit[:12]} of this checkout is not on {repo}, so agents cannot check it out",
        fix="push it (git push), then start the run again",
    )


def dependencies_at(checkout: Path, commit: str) -> list[str]:
    """balldet's requirements as ``pyproject.toml`` lists them at ``commit``."""
    shown = _git(["show", f"{commit}:pyproject.toml"], cwd=checkout)
    if shown.returncode != 0:
        raise SettingsError(
            f"no pyproject.toml at commit {commit[:12]} of {checkout}",
            fix="start server runs from a clone of balldet's repository",
        )
    return list(tomllib.loads(shown.stdout)["project"]["dependencies"])
