"""Stage 1: load the pipeline config file from the configs root."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel

from balldet.errors import ConfigError


class LoadedConfig(BaseModel):
    """The config exactly as written: its name, where it was read and its full text."""

    config_name: str
    path: Path
    content: str
    sha256: str


def canonical_config_name(config_name: str, configs_root: Path) -> str:
    """The config's path relative to the configs root, also when given as a path from the current
    folder (``configs/aicska/...``, tab-completed) or an absolute one inside the root."""
    root = Path(configs_root).resolve()
    if (root / config_name).is_file():
        return config_name
    given = Path(config_name).expanduser().resolve()
    if given.is_file() and given.is_relative_to(root):
        return given.relative_to(root).as_posix()
    return config_name


def resolve_config_path(config_name: str, configs_root: Path) -> Path:
    """``config_name`` relative to ``configs_root``; names that leave the root are refused."""
    root = Path(configs_root).resolve()
    path = (root / canonical_config_name(config_name, root)).resolve()
    if not path.is_relative_to(root):
        raise ConfigError(
            [("--config_name", f"{config_name!r} points outside the configs root {root}")]
        )
    if not path.is_file():
        hint = "give a path relative to the configs root, e.g. " \
               "aicska/object_detection/ultralytics/ball/<file>.yaml (see `balldet configs list`)"
        raise ConfigError([("--config_name", f"no config file {path}; {hint}")])
    return path


def get_config(config_name: str, configs_root: Path) -> LoadedConfig:
    config_name = canonical_config_name(config_name, configs_root)
    path = resolve_config_path(config_name, configs_root)
    return config_from_text(config_name, path.read_text(encoding="utf-8"), path=path)


def config_from_text(config_name: str, content: str, *, path: Path | None = None) -> LoadedConfig:
    """The config as a run was started with it (on an agent, the text travels with the pipeline)."""
    return LoadedConfig(
        config_name=config_name,
        path=path if path is not None else Path(config_name),
        content=content,
        sha256=hashlib.sha256(content.encode("utf-8")).hexdigest(),
    )
