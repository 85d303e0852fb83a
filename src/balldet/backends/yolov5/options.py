"""yolov5's training options, read from its own train.py and hyp yaml without importing it, and the
checks balldet makes on a config's ``train_config`` before anything runs."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from balldet.backends.options import Problems, did_you_mean, is_local_file
from balldet.backends.yolov5.compat import yolov5_root
from balldet.errors import BackendError

# Options balldet sets itself (see backends/options.py: one rule for every backend).
MANAGED_KEYS = {"data", "project", "name", "exist_ok", "device", "resume", "local_rank", "save_dir"}
# Options that publish runs or datasets elsewhere, or run something else than one training.
UNSUPPORTED_KEYS = {
    "evolve": "hyperparameter evolution runs many trainings; run one balldet config per setting",
    "bucket": "used only by evolve",
    # yolov5 7.0.x (PyPI) crashes after the first epoch it does not validate (`map50s` unset).
    "noval": "yolov5 7.0.x crashes when it skips validation (UnboundLocalError: map50s)",
    "upload_dataset": "balldet records datasets and models in ClearML itself",
    "s3_upload_dir": "balldet records datasets and models in ClearML itself",
    "hf_model_id": "balldet records models in ClearML itself",
    "hf_token": "balldet records models in ClearML itself",
    "hf_private": "balldet records models in ClearML itself",
    "hf_dataset_id": "balldet records models in ClearML itself",
    "roboflow_token": "balldet records models in ClearML itself",
    "roboflow_upload": "balldet records models in ClearML itself",
    "neptune_token": "balldet logs to ClearML itself",
    "neptune_project": "balldet logs to ClearML itself",
    "neptune_resume_id": "balldet logs to ClearML itself",
    "entity": "balldet logs to ClearML itself",
    "bbox_interval": "balldet logs to ClearML itself",
    "artifact_alias": "balldet logs to ClearML itself",
}
DEFAULT_CFG = "yolov5n.yaml"
DEFAULT_HYP = "hyp.scratch-low.yaml"
# How a training from a model yaml is configured (the hint for weights that cannot be downloaded).
FROM_MODEL_YAML = f': weights: "" with cfg: {DEFAULT_CFG} (or another yolov5*.yaml)'

@dataclass(frozen=True)
class TrainOption:
    """One option of yolov5's train.py as its argparse parser declares it."""

    name: str
    type: str | None = None  # "int", "float", "str" or None
    flag: bool = False  # action='store_true'
    choices: tuple[Any, ...] | None = None
    nargs: str | None = None


@lru_cache(maxsize=1)
def yolov5_train_options() -> tuple[dict[str, TrainOption], dict[str, str]]:
    """yolov5 train.py's options (name → option) and their aliases (alias → name), read from the
    ``add_argument`` calls in ``parse_opt`` with ``ast``: no import of yolov5 or torch."""
    source = (yolov5_root() / "train.py").read_text(encoding="utf-8")
    parse_opt = next(
        (n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef) and n.name == "parse_opt"),
        None,
    )
    if parse_opt is None:
        raise BackendError("cannot read yolov5's train options: train.py has no parse_opt()")
    options: dict[str, TrainOption] = {}
    aliases: dict[str, str] = {}
    for node in ast.walk(parse_opt):
        if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument"):
            continue
        flags = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        names = [f.lstrip("-").replace("-", "_") for f in flags if f.startswith("--")]
        if not names:
            continue
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        dest = _literal(keywords.get("dest")) or names[0]
        type_node = keywords.get("type")
        choices = _literal(keywords.get("choices"))
        options[dest] = TrainOption(
            name=dest,
            type=type_node.id if isinstance(type_node, ast.Name) else None,
            flag=_literal(keywords.get("action")) == "store_true",
            choices=tuple(choices) if isinstance(choices, (list, tuple)) else None,
            nargs=_literal(keywords.get("nargs")),
        )
        aliases.update({alias: dest for alias in names[1:]})
    return options, aliases


def _literal(node: ast.AST | None) -> Any:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


@lru_cache(maxsize=1)
def default_hyp() -> dict[str, Any]:
    """yolov5's default hyperparameters (``data/hyps/hyp.scratch-low.yaml``)."""
    return yaml.safe_load((yolov5_root() / "data" / "hyps" / DEFAULT_HYP).read_text(encoding="utf-8"))


def hyp_keys() -> frozenset[str]:
    # `anchors` is commented out in yolov5's hyp files but read by train.py when given.
    return frozenset(default_hyp()) | {"anchors"}


def packaged_file(name: str, folders: Sequence[str]) -> Path | None:
    """A yaml yolov5 finds by bare name in its own package (as its check_file does), if any."""
    root = yolov5_root()
    for folder in folders:
        found = sorted((root / folder).rglob(Path(name).name))
        if found:
            return found[0]
    return None


def model_sources(train_config: dict[str, Any]) -> tuple[str, str]:
    """(weights, cfg): no weights means training from cfg, and yolov5n.yaml when neither is given."""
    weights = train_config.get("weights", "")
    cfg = train_config.get("cfg", "" if weights else DEFAULT_CFG)
    return weights, cfg


def check_option_value(field: str, key: str, value: Any) -> Problems:
    """The value of one of train.py's options: ``hyp`` is balldet's (a file or overrides), the others
    as train.py's parser would take them."""
    if key == "hyp":
        return check_hyp(value)
    options, _ = yolov5_train_options()
    return check_value(field, options[key], value)


def check_value(field: str, option: TrainOption, value: Any) -> Problems:
    if option.nargs is not None or value is None:
        return []
    if option.flag and not isinstance(value, bool):
        return [(field, "must be true or false")]
    if option.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return [(field, "must be an integer")]
    if option.type == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return [(field, "must be a number")]
    if option.type == "str" and not isinstance(value, str):
        return [(field, "must be a string")]
    if option.choices and value not in option.choices:
        return [(field, f"must be one of {', '.join(map(str, option.choices))}")]
    return []


def check_hyp(hyp: Any) -> Problems:
    field = "train_config.hyp"
    if isinstance(hyp, str):
        if is_local_file(hyp) or packaged_file(hyp, ("data",)) is not None:
            return []
        return [(field, f"{hyp!r} is neither a local file nor one of yolov5's hyp files (data/hyps/)")]
    if not isinstance(hyp, dict):
        return [(field, "must be a hyp yaml path or a mapping of hyperparameters")]
    known = hyp_keys()
    problems: Problems = []
    for key, value in hyp.items():
        if key not in known:
            hint = did_you_mean(key, known, otherwise=f"see yolov5's data/hyps/{DEFAULT_HYP}")
            problems.append((f"{field}.{key}", f"unknown yolov5 hyperparameter; {hint}"))
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append((f"{field}.{key}", "must be a number"))
    return problems


def check_cfg(cfg: Any) -> Problems:
    if not isinstance(cfg, str):
        return [("train_config.cfg", "must be a model yaml path or name (e.g. yolov5n.yaml), or \"\"")]
    if not cfg or is_local_file(cfg) or packaged_file(cfg, ("models",)) is not None:
        return []
    return [("train_config.cfg", f"{cfg!r} is neither a local file nor one of yolov5's model yamls")]
