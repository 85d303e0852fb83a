"""The run record: what a run was made of, written beside run.json to explain the run months later.

It holds the config (text, hash, commit of the configs repository), balldet's own version and commit,
the datasets (ids, versions, a content hash), package versions, seeds, hardware and the settings
environment. Building it never fails the run: a section that cannot be found out records ``None``
or an ``error`` entry instead. Credentials are never recorded (see :func:`redact`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import balldet
from balldet.files import write_json_atomic
from balldet.checks.content_hash import content_hash
from balldet.tracking.machine import hardware, package_versions, run_command

# 2: datasets' content hashes follow recipe 2 of balldet.checks.content_hash (image digests from
# the checks' one read of each image)
RECORD_VERSION = 2

# Any variable (or key) whose name contains one of these, in any case, is never recorded.
SECRET_MARKERS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")


_URL_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


# --------------------------------------------------------------------------------------------------
# Credentials


def is_secret_name(name: str) -> bool:
    upper = str(name).upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return _URL_USERINFO.sub(r"\1<redacted>@", value)
    return value


def redact(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``values`` without any entry whose name looks like a credential, at any depth.

    Entries are dropped, not masked; user:password parts of URLs in string values are replaced.
    """
    out: dict[str, Any] = {}
    for key, value in values.items():
        if is_secret_name(key):
            continue
        if isinstance(value, Mapping):
            out[str(key)] = redact(value)
        elif isinstance(value, (list, tuple)):
            out[str(key)] = [redact(v) if isinstance(v, Mapping) else _scrub_value(v) for v in value]
        else:
            out[str(key)] = _scrub_value(value)
    return out


# --------------------------------------------------------------------------------------------------
# Git


def git_state(folder: Path | None, *, only_folder: bool = False) -> dict[str, Any]:
    """``{"commit", "dirty"}`` of the git repository holding ``folder``; both None outside of one.

    ``only_folder`` counts only changes (including untracked files) below ``folder`` as dirty.
    """
    state: dict[str, Any] = {"commit": None, "dirty": None}
    if folder is None or shutil.which("git") is None:
        return state
    folder = Path(folder)
    if not folder.is_dir():
        return state
    commit = run_command(["git", "-C", str(folder), "rev-parse", "--verify", "-q", "HEAD"])
    if commit is None:
        return state
    state["commit"] = commit.strip() or None
    status_args = ["git", "-C", str(folder), "status", "--porcelain"]
    if only_folder:
        status_args += ["--", "."]
    status = run_command(status_args)
    state["dirty"] = None if status is None else bool(status.strip())
    return state


def _file_git_status(path: Path) -> str | None:
    """The porcelain status of one file: "" when committed as is, "??" untracked, " M" modified."""
    if shutil.which("git") is None or not path.is_file():
        return None
    out = run_command(["git", "-C", str(path.parent), "status", "--porcelain", "--", path.name])
    if out is None:
        return None
    return out[:2] if out else ""


def balldet_source_state() -> dict[str, Any]:
    """Version of balldet and the commit of the repository its source files are tracked in, if any."""
    package_dir = Path(balldet.__file__).resolve().parent
    state: dict[str, Any] = {"version": balldet.__version__, "commit": None, "dirty": None}
    init = package_dir / "__init__.py"
    # Only a repository that tracks balldet's own files counts (not one that merely holds a venv).
    if shutil.which("git") is None or run_command(
        ["git", "-C", str(package_dir), "ls-files", "--error-unmatch", init.name]
    ) is None:
        return state
    toplevel = run_command(["git", "-C", str(package_dir), "rev-parse", "--show-toplevel"])
    state.update(git_state(Path(toplevel.strip()) if toplevel else package_dir))
    return state


# --------------------------------------------------------------------------------------------------
# Dataset content hash


def _dataset_roles(data: Any) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {}
    for role in ("train", "val", "test"):
        for ref in getattr(data, role, None) or []:
            roles.setdefault(ref.id, [])
            if role not in roles[ref.id]:
                roles[ref.id].append(role)
    return roles


def datasets_section(data: Any, cache_dir: Path | None) -> list[dict[str, Any]]:
    if data is None:
        return []
    roles = _dataset_roles(data)
    out = []
    for ref in data.all_datasets():
        entry: dict[str, Any] = {
            "id": ref.id,
            "name": ref.name,
            "version": ref.version,
            "roles": roles.get(ref.id, []),
            "tags": list(ref.tags),
            "names": list(ref.names),
            "path": str(ref.path),
        }
        try:
            entry["number_images"] = len(ref.image_names())
            entry["content_hash"] = content_hash(ref, cache_dir)
        except OSError as exc:
            entry.setdefault("number_images", None)
            entry["content_hash"] = None
            entry["error"] = f"{type(exc).__name__}: {exc}"
        out.append(entry)
    return out


# --------------------------------------------------------------------------------------------------
# Packages, hardware, environment


def environment_section(settings: Any) -> dict[str, Any]:
    section: dict[str, Any] = {"ENV_FOR_DYNACONF": os.environ.get("ENV_FOR_DYNACONF")}
    for name in ("env", "execution", "mode", "clearml_offline", "device", "allow_downloads"):
        value = getattr(settings, name, None)
        section[name] = value if isinstance(value, (str, bool, int, float, type(None))) else str(value)
    # BALLDET_* overrides change what a run does; credential-like names are dropped by redact().
    section["balldet_variables"] = redact(
        {k: v for k, v in sorted(os.environ.items()) if k.startswith("BALLDET_")}
    )
    return section


# --------------------------------------------------------------------------------------------------
# The record


def config_section(loaded: Any, settings: Any) -> dict[str, Any]:
    configs_root = getattr(settings, "configs_root", None)
    section: dict[str, Any] = {
        "name": getattr(loaded, "config_name", None),
        "path": str(loaded.path) if loaded is not None else None,
        "content": getattr(loaded, "content", None),
        "sha256": getattr(loaded, "sha256", None),
        "configs_root": str(configs_root) if configs_root is not None else None,
    }
    state = git_state(Path(configs_root), only_folder=True) if configs_root is not None else git_state(None)
    section["configs_commit"] = state["commit"]
    section["configs_dirty"] = state["dirty"]
    section["file_git_status"] = (
        _file_git_status(Path(loaded.path)) if loaded is not None and state["commit"] else None
    )
    return section


def _guarded(build: Any, *args: Any) -> Any:
    try:
        return build(*args)
    except Exception as exc:  # noqa: BLE001 - the record must never fail the run
        return {"error": f"{type(exc).__name__}: {exc}"}


def build_run_record(
    *,
    loaded: Any | None,
    request: Any,
    settings: Any,
    data: Any | None,
    seed: int | None,
    cache_dir: Path | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Everything needed to explain a run later, as a JSON-ready dict.

    ``cache_dir`` is the cache folder (by default ``settings.cache_dir``): the datasets' content hashes
    are remembered there, and made from the image fingerprints the dataset checks remembered there.
    """
    if cache_dir is None and getattr(settings, "cache_dir", None) is not None:
        cache_dir = Path(settings.cache_dir)
    return {
        "record_version": RECORD_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "run_id": run_id,
        "request": {
            "config_name": getattr(request, "config_name", None),
            "model_type": getattr(request, "model_type", None),
            "project": getattr(request, "project", None),
        },
        "config": _guarded(config_section, loaded, settings),
        "balldet": _guarded(balldet_source_state),
        "datasets": _guarded(datasets_section, data, cache_dir),
        "packages": _guarded(package_versions),
        "seeds": {"config_seed": seed, "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED")},
        "hardware": _guarded(hardware),
        "environment": _guarded(environment_section, settings),
    }


def write_run_record(path: Path, record: Mapping[str, Any]) -> None:
    """Write the record as JSON, atomically."""
    write_json_atomic(Path(path), dict(record))

