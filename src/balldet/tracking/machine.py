"""What a run ran on: package versions (read without importing them), CPU, memory and GPUs."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any


SUBPROCESS_TIMEOUT_S = 5.0

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
        out = run_command(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"])
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


def run_command(args: list[str], cwd: Path | None = None) -> str | None:
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
