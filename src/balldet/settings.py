"""Settings: dynaconf environments from settings.toml, overridable by BALLDET_* variables.

The result is a typed, validated :class:`Settings`; every other module receives it as a value and
never reads dynaconf or the environment itself.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from balldet.frame_patterns import DEFAULT_FRAME_PATTERNS, valid_frame_patterns
from balldet.errors import SettingsError

ENVIRONMENTS = ("default", "local_debug", "local_main", "remote_debug")
ENV_SWITCHER = "ENV_FOR_DYNACONF"
ENVVAR_PREFIX = "BALLDET"
SETTINGS_FILE_VAR = "BALLDET_SETTINGS_FILE"


class NoSettingsFile(SettingsError):
    """No settings.toml where one is looked for (and none named by $BALLDET_SETTINGS_FILE)."""


# Keys dynaconf adds on its own; they are not ours to validate.
_DYNACONF_INTERNAL = {"ENV_FOR_DYNACONF", "SETTINGS_FILE_FOR_DYNACONF", "SETTINGS_FILE"}


class Queues(BaseModel):
    model_config = ConfigDict(extra="forbid")

    controller: str = "services"
    steps: str = "default"
    per_step: dict[str, str] = Field(default_factory=dict)

    def for_step(self, step: str) -> str:
        return self.per_step.get(step, self.steps)


class Remote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repo: str = ""
    packages: list[str] = Field(default_factory=list)


class Settings(BaseModel):
    """Validated settings of one environment. Paths are absolute."""

    model_config = ConfigDict(extra="forbid")

    env: str
    settings_file: Path
    execution: Literal["local", "remote"] = "local"
    mode: Literal["debug", "main"] = "debug"
    clearml_offline: bool = True
    configs_root: Path
    catalog_dir: Path
    cache_dir: Path
    output_dir: Path
    device: str = "auto"
    allow_downloads: bool = False
    clearml_cache_size: int = Field(default=10_000_000, ge=100)
    server_timeout_s: float = Field(default=5.0, gt=0)
    frame_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_FRAME_PATTERNS))
    queues: Queues = Field(default_factory=Queues)
    remote: Remote = Field(default_factory=Remote)
    # ClearML pipeline of each model type (default: the model type): the team's leaderboards are
    # each one pipeline's runs table, so every run of a backend goes into the same pipeline.
    pipeline_names: dict[str, str] = Field(default_factory=dict)
    # Label Studio (`balldet label push` / `label pull`): the server's address and an API token. The token
    # is a SecretStr: printing the settings, or an error about them, shows asterisks, never the token.
    label_studio_url: str = ""
    label_studio_token: SecretStr = SecretStr("")

    _check_patterns = field_validator("frame_patterns")(valid_frame_patterns)

    def project_path(self, project: str) -> str:
        """ClearML project of the pipeline runs: ``<project>/<mode>/pipeline/object_detection``."""
        return f"{project}/{self.mode}/pipeline/object_detection"

    def pipeline_name(self, model_type: str) -> str:
        return self.pipeline_names.get(model_type, model_type)

    def pipeline_project(self, project: str, model_type: str) -> str:
        """Where ClearML keeps a pipeline's runs: ``<project path>/.pipelines/<pipeline name>``."""
        return f"{self.project_path(project)}/.pipelines/{self.pipeline_name(model_type)}"

    @property
    def clearml_dir(self) -> Path:
        return self.cache_dir / "clearml"


def find_settings_file() -> Path:
    """$BALLDET_SETTINGS_FILE, else ./settings.toml, else the settings.toml of the source tree."""
    explicit = os.environ.get(SETTINGS_FILE_VAR)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise SettingsError(
                f"{SETTINGS_FILE_VAR}={explicit} does not exist",
                fix="point it at a settings.toml, or unset it to use ./settings.toml",
            )
        return path.resolve()
    candidates = [Path.cwd() / "settings.toml", Path(__file__).resolve().parents[2] / "settings.toml"]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    raise NoSettingsFile(
        "no settings.toml found (looked in the current folder and the balldet source tree)",
        fix=f"run from the balldet repository, or set {SETTINGS_FILE_VAR}=/path/to/settings.toml",
    )


def load_settings(env: str | None = None, settings_file: Path | None = None) -> Settings:
    """Load one environment of settings.toml with BALLDET_* overrides applied."""
    from dynaconf import Dynaconf  # dynaconf is only needed here

    env = env if env is not None else os.environ.get(ENV_SWITCHER, "default")
    if env not in ENVIRONMENTS:
        raise SettingsError(
            f"unknown settings environment {ENV_SWITCHER}={env!r}",
            fix=f"use one of: {', '.join(ENVIRONMENTS)}",
        )
    path = settings_file or find_settings_file()
    try:
        raw = Dynaconf(
            settings_files=[str(path)],
            environments=True,
            env=env,
            envvar_prefix=ENVVAR_PREFIX,
            merge_enabled=False,
        ).as_dict()
    except Exception as exc:  # dynaconf raises many kinds for a broken TOML file
        raise SettingsError(f"cannot read {path}: {exc}", fix="fix the TOML syntax") from exc

    values = {k.lower(): v for k, v in raw.items() if k.upper() not in _DYNACONF_INTERNAL}
    base = path.parent
    for key in ("configs_root", "catalog_dir", "cache_dir", "output_dir"):
        if key in values and values[key] is not None:
            values[key] = (base / Path(str(values[key])).expanduser()).resolve()
    for section in ("queues", "remote", "pipeline_names"):
        if isinstance(values.get(section), dict):
            values[section] = {k.lower(): v for k, v in values[section].items()}
    try:
        return Settings(env=env, settings_file=path, **values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(
            f"invalid settings in {path} [{env}]: {problems}",
            fix=f"correct settings.toml or the {ENVVAR_PREFIX}_* variable that overrides the key",
        ) from exc
