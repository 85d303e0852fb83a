"""The pipeline config: the fixed fields the pipeline needs, plus free-form ``train_config``.

Validation reports every problem at once, each naming its field and the fix, before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator,
)

from balldet.data.dataset import DATASET_ID_PATTERN
from balldet.data.frames import valid_frame_patterns
from balldet.errors import ConfigError

_ID_FIX = "a dataset id is the 32 lower-case hex characters ClearML shows (see `balldet datasets list`)"


DatasetId = Annotated[str, StringConstraints(pattern=DATASET_ID_PATTERN.pattern)]


def check_dataset_ids(ids: list[str]) -> list[str]:
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"listed twice: {', '.join(duplicates)}; list each dataset once")
    return ids


class DataSection(BaseModel):
    """A list of datasets by ClearML id."""

    model_config = ConfigDict(extra="forbid")

    datasets: list[DatasetId] = Field(min_length=1, description="32-hex ClearML dataset ids")

    _check_ids = field_validator("datasets")(lambda ids: check_dataset_ids(ids))


class ValSection(BaseModel):
    """Validation data: its own datasets, or a fraction of the training data split off by recording."""

    model_config = ConfigDict(extra="forbid")

    datasets: list[DatasetId] = Field(default_factory=list, description="32-hex ClearML dataset ids")
    split: float | None = Field(
        default=None, gt=0, lt=1, description="fraction of the training frames held out, by recording"
    )

    _check_ids = field_validator("datasets")(lambda ids: check_dataset_ids(ids))

    @model_validator(mode="after")
    def _datasets_or_split(self) -> "ValSection":
        if not self.datasets and self.split is None:
            raise ValueError("give datasets or split (or leave val_data out: 20% of the recordings are held out)")
        if self.datasets and self.split is not None:
            raise ValueError("give datasets or split, not both")
        return self


class DataChecks(BaseModel):
    """What prepare_data does with what the dataset checks find."""

    model_config = ConfigDict(extra="forbid")

    label_defects: Literal["fail", "drop"] = Field(
        default="fail", description="fail the run on broken labels/images, or drop those frames and report them"
    )
    allow_leakage: bool = Field(
        default=False, description="let train/val frames also appear in the test data (reported, not fatal)"
    )
    images: bool = Field(default=True, description="also check image headers (slower on large data)")
    frame_patterns: list[str] | None = Field(
        default=None,
        description="regular expressions matched against '<dataset name>/<file stem>' that give a frame's "
        "(?P<recording>...) and (?P<frame>...) number, first match wins; omit to use the frame_patterns setting",
    )

    _check_patterns = field_validator("frame_patterns")(valid_frame_patterns)


class PipelineConfig(BaseModel):
    """A pipeline config file (one YAML document in the configs repository)."""

    model_config = ConfigDict(extra="forbid")

    tags: list[str] = Field(default_factory=list, description="tags put on the pipeline task")
    model_type: str = Field(description="a model type from balldet's registry")
    train_data: DataSection | None = Field(
        default=None, description="training datasets; omit to test a pretrained model only"
    )
    val_data: ValSection | None = Field(default=None, description="validation datasets or split")
    test_data: DataSection = Field(description="datasets the model is tested on, each reported apart")
    train_config: dict[str, Any] = Field(
        default_factory=dict, description="free-form options handed to the model backend"
    )
    test_batch_size: int = Field(default=16, ge=1, le=4096, description="batch size of test_model")
    seed: int = Field(default=0, ge=0, description="seed of every random choice balldet makes")
    data_checks: DataChecks = Field(default_factory=DataChecks, description="dataset checks in prepare_data")

    @field_validator("tags")
    @classmethod
    def _tags_are_plain(cls, tags: list[str]) -> list[str]:
        bad = [t for t in tags if not t.strip() or "," in t]
        if bad:
            raise ValueError(f"tags must be non-empty and contain no comma: {bad!r}")
        return tags


def json_schema() -> dict[str, Any]:
    """JSON Schema of a pipeline config, for editors."""
    schema = PipelineConfig.model_json_schema()
    schema["title"] = "balldet pipeline config"
    return schema


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "file"
        raise ConfigError([(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")], source=source)
    except RecursionError:
        raise ConfigError([("<root>", "nested too deeply to be a pipeline config")], source=source) from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise ConfigError([("<root>", f"a value cannot be read: {exc}")], source=source) from None
    if not isinstance(data, dict):
        raise ConfigError(
            [("<root>", f"expected a mapping of config fields, got {type(data).__name__}")],
            source=source,
        )
    return data


def _field_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "<root>"


def _describe(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(PipelineConfig.model_fields)
        return f"unknown field; the fixed fields are: {allowed} (backend options go under train_config)"
    if kind == "string_pattern_mismatch":
        return f"{error['input']!r} is not a dataset id; {_ID_FIX}"
    if kind == "missing":
        return "required field is missing"
    message = error["msg"].removeprefix("Value error, ")
    return message


def validate_config(
    data: dict[str, Any],
    *,
    source: str = "",
    model_type: str | None = None,
    known_model_types: list[str] | None = None,
) -> PipelineConfig:
    """Validate a parsed config; every problem is collected into one :class:`ConfigError`."""
    problems: list[tuple[str, str]] = []
    config: PipelineConfig | None = None
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        problems += [(_field_name(e["loc"]), _describe(e)) for e in exc.errors()]

    declared = data.get("model_type") if isinstance(data, dict) else None
    if known_model_types is not None and isinstance(declared, str) and declared not in known_model_types:
        problems.append(
            ("model_type", f"unknown model type {declared!r}; known: {', '.join(known_model_types)}")
        )
    if model_type is not None and isinstance(declared, str) and declared != model_type:
        problems.append(
            (
                "model_type",
                f"the config says {declared!r} but --model_type is {model_type!r}; "
                "make them agree (or pick the config written for that backend)",
            )
        )
    if config is not None and config.train_data is None and config.val_data is not None:
        problems.append(("val_data", "validation data is only used with train_data; remove it"))
    if problems or config is None:
        raise ConfigError(problems, source=source)
    return config


def load_config_file(path: Path, **kwargs: Any) -> PipelineConfig:
    text = path.read_text(encoding="utf-8")
    return validate_config(parse_yaml(text, str(path)), source=str(path), **kwargs)
