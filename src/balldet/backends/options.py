"""The rules every backend applies to a config's ``train_config``, said once.

A ``train_config`` is handed to the backend as it is, except for what balldet decides: where the
data comes from, where outputs go, which device runs, whether a training continues. Giving one of
those in ``train_config`` is refused before anything runs (never silently replaced), with where the
value comes from instead. Every other option must be one the framework knows (a typo gets a "did you
mean"), and weights that would be downloaded are refused where downloads are off.

Nothing here imports a training framework: a config is checked in milliseconds.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

# (field, message): what every check here returns, the form config errors are reported in.
Problems = list[tuple[str, str]]
# A backend's check of one known option's value: (field, option name, value) -> problems.
ValueCheck = Callable[[str, str, Any], Problems]

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


def set_by_balldet(train_config: Mapping[str, Any], backend_keys: Iterable[str]) -> Problems:
    """Problems for the options of ``backend_keys`` (a subset of :data:`SET_BY_BALLDET`) that
    ``train_config`` gives."""
    keys = set(backend_keys)
    return [
        (f"train_config.{key}", f"set by balldet itself from {SET_BY_BALLDET[key]}; remove it from train_config")
        for key in train_config if key in keys
    ]


def check_options(
    train_config: Mapping[str, Any],
    *,
    framework: str,
    known: Collection[str],
    documented_in: str,
    balldet_sets: Iterable[str],
    aliases: Mapping[str, str] | None = None,
    unsupported: Mapping[str, str] | None = None,
    check_value: ValueCheck | None = None,
) -> Problems:
    """Every problem with the option names of ``train_config`` (and, with ``check_value``, with the
    values of known options): first the options balldet sets itself (``balldet_sets``), then in the
    config's order an option balldet refuses (``unsupported``: option -> why), an alias of the
    framework's command line (``aliases``: alias -> option name; configs use option names so that
    one option is not given twice), or an option ``framework`` does not know, with the closest known
    name or else where its options are listed (``documented_in``)."""
    managed = set(balldet_sets)
    aliases = aliases or {}
    unsupported = unsupported or {}
    problems = set_by_balldet(train_config, managed)
    for key, value in train_config.items():
        field = f"train_config.{key}"
        if key in managed:
            continue
        if key in unsupported:
            problems.append((field, f"not supported by balldet: {unsupported[key]}"))
        elif key in aliases:
            problems.append((field, f"write it as {aliases[key]!r} ({framework}'s option name)"))
        elif key not in known:
            hint = did_you_mean(key, {*known, *aliases}, aliases=aliases, otherwise=f"see {documented_in}")
            problems.append((field, f"unknown {framework} option; {hint}"))
        elif check_value is not None:
            problems += check_value(field, key, value)
    return problems


def did_you_mean(
    key: Any, names: Collection[str], *, otherwise: str, aliases: Mapping[str, str] | None = None
) -> str:
    """"did you mean '<the closest of names>'?" (an alias said as the name it stands for), else ``otherwise``."""
    close = difflib.get_close_matches(str(key), sorted(names), n=1)
    if not close:
        return otherwise
    return f"did you mean {(aliases or {}).get(close[0], close[0])!r}?"


def is_local_file(value: str) -> bool:
    return bool(value) and Path(value).expanduser().is_file()


def check_weights_name(field: str, value: str, *, allow_downloads: bool, from_model_yaml: str) -> Problems:
    """Where downloads are off, weights must be a local file: both frameworks fetch any other name
    (a release asset such as ``yolov8n.pt`` or ``yolov5s.pt``, a name without suffix they complete
    to one, a hub id, a URL), which offline fails deep inside the training.

    An empty name and a model yaml (``.yaml``/``.yml``: the network is built from it) name no
    weights. ``from_model_yaml`` says how the backend trains from a model yaml instead (appended to
    "train from a model yaml")."""
    if not value or Path(value).suffix in (".yaml", ".yml") or is_local_file(value) or allow_downloads:
        return []
    return [
        (
            field,
            f"weights {value!r} are not a local file and downloads are off here; give the path of a "
            f"local .pt file, or train from a model yaml{from_model_yaml}",
        )
    ]


def framework_device(device: str, *, auto: str | None) -> str | None:
    """balldet's ``device`` setting as a framework's ``device`` option. ``"auto"`` (and ``""``)
    become ``auto``, the framework's own default, with which it takes a GPU when there is one; any
    other value (``cpu``, ``0``, ``0,1``) goes on as it is.

    Each framework is given its own default rather than one value for both, so that the options
    it records (ultralytics' args.yaml, yolov5's opt.yaml, both read back on resume) hold what its
    own runs hold: ultralytics' is ``None`` (``device:`` is empty in its default.yaml), yolov5's is
    ``""`` (train.py's ``--device`` default, a string option)."""
    return auto if device in ("", "auto") else device
