"""The run record: what a run was made of, written beside run.json to explain the run months later.

It holds the config (text, hash, commit of the configs repository), balldet's own version and commit,
the datasets (ids, versions, a content hash), package versions, seeds, hardware and the settings
environment. Building it never fails the run: a section that cannot be found out records ``None``
or an ``error`` entry instead. Credentials are never recorded (see :func:`redact`).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import balldet
from balldet.data.dataset import DatasetRef
from balldet.files import write_json_atomic

RECORD_VERSION = 1
SUBPROCESS_TIMEOUT_S = 5.0
HASH_CHUNK = 1 << 20

# Any variable (or key) whose name contains one of these, in any case, is never recorded.
SECRET_MARKERS = ("KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")

# Distribution names looked up with importlib.metadata; the first one installed gives the version.
PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "torchvision": ("torchvision",),
    "ultralytics": ("ultralytics",),
    "yolov5": ("yolov5",),
    "clearml": ("clearml",),
    "numpy": ("numpy",),
    "dynaconf": ("dynaconf",),
    "pydantic": ("pydantic",),
    "typer": ("typer",),
    "opencv": (
        "opencv-python",
        "opencv-python-headless",
        "opencv-contrib-python",
        "opencv-contrib-python-headless",
    ),
}

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


def _run(args: list[str], cwd: Path | None = None) -> str | None:
    """stdout of a short command, or None when it is missing, fails or takes too long."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            args, cwd=cwd, env=env, capture_output=True, text=True,
            timeout=SUBPROCESS_TIMEOUT_S, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return done.stdout if done.returncode == 0 else None


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
    commit = _run(["git", "-C", str(folder), "rev-parse", "--verify", "-q", "HEAD"])
    if commit is None:
        return state
    state["commit"] = commit.strip() or None
    status_args = ["git", "-C", str(folder), "status", "--porcelain"]
    if only_folder:
        status_args += ["--", "."]
    status = _run(status_args)
    state["dirty"] = None if status is None else bool(status.strip())
    return state


def _file_git_status(path: Path) -> str | None:
    """The porcelain status of one file: "" when committed as is, "??" untracked, " M" modified."""
    if shutil.which("git") is None or not path.is_file():
        return None
    out = _run(["git", "-C", str(path.parent), "status", "--porcelain", "--", path.name])
    if out is None:
        return None
    return out[:2] if out else ""


def balldet_source_state() -> dict[str, Any]:
    """Version of balldet and the commit of the repository its source files are tracked in, if any."""
    package_dir = Path(balldet.__file__).resolve().parent
    state: dict[str, Any] = {"version": balldet.__version__, "commit": None, "dirty": None}
    init = package_dir / "__init__.py"
    # Only a repository that tracks balldet's own files counts (not one that merely holds a venv).
    if shutil.which("git") is None or _run(
        ["git", "-C", str(package_dir), "ls-files", "--error-unmatch", init.name]
    ) is None:
        return state
    toplevel = _run(["git", "-C", str(package_dir), "rev-parse", "--show-toplevel"])
    state.update(git_state(Path(toplevel.strip()) if toplevel else package_dir))
    return state


# --------------------------------------------------------------------------------------------------
# Dataset content hash


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_files(ref: DatasetRef) -> list[Path]:
    """The files the content hash covers: the images and everything under labels/."""
    files = list(ref.image_files()) if ref.images_dir.is_dir() else []
    if ref.labels_dir.is_dir():
        files += [p for p in ref.labels_dir.rglob("*") if p.is_file()]
    return sorted(set(files))


def _cache_file(cache_dir: Path, ref: DatasetRef) -> Path:
    return Path(cache_dir) / f"{ref.id}.json"


def _cache_key(ref: DatasetRef) -> dict[str, Any]:
    return {"id": ref.id, "version": ref.version, "folder_state": list(ref.folder_state())}


def _read_cache(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def content_hash(ref: DatasetRef, cache_dir: Path | None = None) -> str:
    """sha256 over the sorted (relative path, size, sha256 of bytes) of the dataset's images and labels.

    With ``cache_dir``, the result is kept in ``<cache_dir>/<dataset id>.json`` keyed by
    (id, version, folder_state()): a later call with the same key reads no file. When the key
    changed, files whose size and mtime are unchanged keep their cached digest, so only new or
    changed files are read. Like folder_state(), the key does not see a file edited in place.
    """
    key = _cache_key(ref)
    cached = _read_cache(_cache_file(cache_dir, ref)) if cache_dir is not None else None
    if cached and cached.get("key") == key and isinstance(cached.get("hash"), str):
        return cached["hash"]

    known: dict[str, Any] = {}
    if cached and isinstance(cached.get("files"), dict):
        known = cached["files"]
    root = Path(ref.path)
    entries: dict[str, list[Any]] = {}
    for path in dataset_files(ref):
        rel = path.relative_to(root).as_posix()
        stat = path.stat()
        previous = known.get(rel)
        unchanged = isinstance(previous, list) and len(previous) == 3
        if unchanged and previous[:2] == [stat.st_size, stat.st_mtime_ns]:
            digest = previous[2]
        else:
            digest = file_sha256(path)
        entries[rel] = [stat.st_size, stat.st_mtime_ns, digest]

    total = hashlib.sha256()
    for rel in sorted(entries):
        size, _, digest = entries[rel]
        total.update(f"{rel}\0{size}\0{digest}\n".encode("utf-8"))
    result = total.hexdigest()

    if cache_dir is not None:
        try:
            write_json_atomic(
                _cache_file(cache_dir, ref),
                {"key": key, "hash": result, "number_files": len(entries), "files": entries},
            )
        except OSError:
            pass  # a cache that cannot be written only costs time
    return result


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
            entry["number_images"] = len(ref.image_files())
            entry["content_hash"] = content_hash(ref, cache_dir)
        except OSError as exc:
            entry.setdefault("number_images", None)
            entry["content_hash"] = None
            entry["error"] = f"{type(exc).__name__}: {exc}"
        out.append(entry)
    return out


# --------------------------------------------------------------------------------------------------
# Packages, hardware, environment


def package_versions() -> dict[str, Any]:
    """Versions of the packages that shape a result, from their metadata (nothing is imported)."""
    versions: dict[str, Any] = {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }
    for label, dists in PACKAGES.items():
        versions[label] = None
        for dist in dists:
            try:
                versions[label] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
            if label == "opencv":
                versions["opencv_distribution"] = dist
            break
    return versions


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() in ("model name", "hardware", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or None


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def _gpus() -> dict[str, Any]:
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available():
                names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
                return {"gpus": names, "gpu_source": "torch"}
        except Exception:  # noqa: BLE001 - a broken CUDA set-up must not fail the run
            pass
    if shutil.which("nvidia-smi"):
        out = _run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"])
        if out is not None:
            return {"gpus": [line.strip() for line in out.splitlines() if line.strip()],
                    "gpu_source": "nvidia-smi"}
    if torch is not None:
        return {"gpus": [], "gpu_source": "torch"}
    return {"gpus": None, "gpu_source": "not probed"}


def hardware() -> dict[str, Any]:
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = None
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_usable": usable,
        "machine": platform.machine(),
        "memory_total_bytes": _memory_bytes(),
        **_gpus(),
    }


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

    ``cache_dir`` keeps dataset content hashes; by default ``<settings.cache_dir>/content_hash``.
    """
    if cache_dir is None and getattr(settings, "cache_dir", None) is not None:
        cache_dir = Path(settings.cache_dir) / "content_hash"
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

