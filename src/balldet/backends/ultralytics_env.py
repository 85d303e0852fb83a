"""Making ultralytics run with no network: settings it reads once, at import, and fonts it downloads.

Used by every backend that imports ultralytics (yolov5 imports it too). The environment variables
take effect only if ultralytics has not been imported yet in this process; the settings and fonts
are applied either way.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

# Integrations that log or call home by themselves. balldet logs to ClearML itself.
_INTEGRATIONS_OFF = dict(
    clearml=False, comet=False, dvc=False, mlflow=False, raytune=False, tensorboard=False,
    wandb=False, sync=False, vscode_msg=False, openvino_msg=False,
)
_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


def configure_ultralytics(cache_dir: Path, *, allow_downloads: bool) -> None:
    config_dir = Path(cache_dir) / "ultralytics"
    if "ultralytics" not in sys.modules:
        os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
        if not allow_downloads:
            os.environ["YOLO_OFFLINE"] = "1"
            os.environ["YOLO_AUTOINSTALL"] = "false"
    import ultralytics
    from ultralytics.utils import USER_CONFIG_DIR

    ultralytics.settings.update(
        **_INTEGRATIONS_OFF,
        runs_dir=str(config_dir / "runs"),
        weights_dir=str(config_dir / "weights"),
        datasets_dir=str(config_dir / "datasets"),
    )
    install_fonts(Path(USER_CONFIG_DIR))


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
