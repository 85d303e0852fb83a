"""Making ultralytics run with no network (settings it reads once, at import, and fonts it
downloads), and without changing the process for whatever runs after it (:func:`ultralytics_call`).

ultralytics never pip-installs anything here, downloads allowed or not: it would install a missing
package (an exporter's ``onnx``, ``onnxslim``) into the environment of a running pipeline, on a
machine with no network it waits for pip to fail. balldet's requirements (and its ``export`` extra)
hold what it needs; a missing one is ultralytics' warning, or balldet's own error before it runs.

Used by every backend that imports ultralytics (yolov5 imports it too). The environment variables
take effect only if ultralytics has not been imported yet in this process; the settings and fonts
are applied either way.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from balldet.backends.process_state import process_state_kept

# Integrations that log or call home by themselves. balldet logs to ClearML itself.
_INTEGRATIONS_OFF = dict(
    clearml=False, comet=False, dvc=False, mlflow=False, raytune=False, tensorboard=False,
    wandb=False, sync=False, vscode_msg=False, openvino_msg=False,
)
_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
# Environment variables ultralytics sets for the whole process: thread counts at import (torch's
# OMP_NUM_THREADS only when unset), the deterministic-training ones in init_seeds (set, or removed
# for a non-deterministic training). Its log-level variables stay (see process_state).
_ENV_SET_BY_ULTRALYTICS = (
    "OMP_NUM_THREADS", "NUMEXPR_MAX_THREADS", "CUBLAS_WORKSPACE_CONFIG", "PYTHONHASHSEED",
)


def configure_ultralytics(cache_dir: Path, *, allow_downloads: bool) -> None:
    """ultralytics offline (unless ``allow_downloads``), its settings (unless YOLO_CONFIG_DIR says
    otherwise), runs, weights and datasets under ``<cache_dir>/ultralytics`` rather than the user's
    home, its integrations off, and its fonts in place."""
    config_dir = Path(cache_dir) / "ultralytics"
    if "ultralytics" not in sys.modules:
        os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
        os.environ["YOLO_AUTOINSTALL"] = "false"
        if not allow_downloads:
            os.environ["YOLO_OFFLINE"] = "1"
    # torch is imported (by process_state) before ultralytics, whose import would otherwise choose
    # torch's thread count for the whole process; its process-wide settings are put back after.
    with process_state_kept(_ENV_SET_BY_ULTRALYTICS):
        import ultralytics
        import ultralytics.utils.checks
        from ultralytics.utils import USER_CONFIG_DIR

    # Read from the variable once, at import: also off when ultralytics was imported before balldet.
    ultralytics.utils.checks.AUTOINSTALL = False

    ultralytics.settings.update(
        **_INTEGRATIONS_OFF,
        runs_dir=str(config_dir / "runs"),
        weights_dir=str(config_dir / "weights"),
        datasets_dir=str(config_dir / "datasets"),
    )
    install_fonts(Path(USER_CONFIG_DIR))


class _OwnThreads:
    """The torch thread count ultralytics chose for itself when it was last called."""

    count: int | None = None


@contextlib.contextmanager
def ultralytics_call() -> Iterator[None]:
    """Around every import of and call into ultralytics.

    Inside, torch runs with the thread count ultralytics chose for itself the last time (it chooses
    one only when it sets up a trainer or predictor, ``select_device``: a predictor reused for later
    batches would otherwise run them with the caller's count). Afterwards the thread count, the
    deterministic-algorithm switches and the variables ultralytics sets are as they were, so that
    a yolov5 training after an ultralytics one trains as it would in a process of its own (see
    :mod:`balldet.backends.process_state`).
    """
    with process_state_kept(_ENV_SET_BY_ULTRALYTICS):
        import torch

        if _OwnThreads.count is not None:
            torch.set_num_threads(_OwnThreads.count)
        try:
            yield
        finally:
            _OwnThreads.count = torch.get_num_threads()


def install_fonts(folder: Path) -> None:
    """ultralytics asks for Arial from the internet for its plots; any TTF serves, matplotlib's will do."""
    missing = [folder / name for name in _FONT_NAMES if not (folder / name).exists()]
    if not missing:
        return
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    folder.mkdir(parents=True, exist_ok=True)
    for target in missing:
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
