"""The one rule for options balldet sets itself, the same for every backend.

A ``train_config`` is handed to the backend as it is, except for what balldet decides: where the
data comes from, where outputs go, which device runs, whether a training continues. Giving one of
those in ``train_config`` is refused before anything runs (never silently replaced), with where the
value comes from instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Option -> where balldet takes its value from. Each backend names which of these it has.
SET_BY_BALLDET: dict[str, str] = {
    "data": "the training layout balldet builds from train_data and val_data",
    "project": "the run's folder",
    "name": "the run's folder",
    "exist_ok": "the run's folder",
    "save_dir": "the run's folder",
    "device": "the `device` setting (settings.toml, or BALLDET_DEVICE=cpu / 0 / 0,1 / auto)",
    "resume": "`balldet run --resume <run>`",
    "mode": "the pipeline stage (train_model trains, test_model predicts)",
    "task": "balldet's object detection pipeline",
    "source": "the test datasets (test_data)",
    "local_rank": "the device setting (one process per run)",
}


def set_by_balldet(train_config: Mapping[str, Any], backend_keys: Iterable[str]) -> list[tuple[str, str]]:
    """Problems for the options of ``backend_keys`` (a subset of :data:`SET_BY_BALLDET`) that
    ``train_config`` gives."""
    keys = set(backend_keys)
    return [
        (f"train_config.{key}", f"set by balldet itself from {SET_BY_BALLDET[key]}; remove it from train_config")
        for key in train_config if key in keys
    ]
