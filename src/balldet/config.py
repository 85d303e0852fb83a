"""The pipeline config: the fixed fields the pipeline needs, plus free-form ``train_config``.

Validation reports every problem at once, each naming its field and the fix, before anything runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_serializer, field_validator, model_validator,
)

from balldet.errors import ConfigError
from balldet.frame_patterns import valid_frame_patterns

# A ClearML dataset id: 32 lower-case hex characters (the local catalog's ids look the same).
DATASET_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")

# `train_data: pretrained`: no training, the weights named in train_config are tested as they are.
PRETRAINED = "pretrained"

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


# Both backends' networks downsample by up to 32: an image size they train or predict at is a multiple of it.
MAX_STRIDE = 32


class SlicingSection(BaseModel):
    """Train and predict on tiles of the full-resolution frame: a ball of a few pixels on a wide frame
    keeps its pixels instead of shrinking with the frame to the trainer's image size."""

    model_config = ConfigDict(extra="forbid")

    tile: int = Field(description="tile side in full-resolution pixels, a multiple of 32 (e.g. 320, 640)")
    overlap: float = Field(default=0.2, description="fraction of the tile shared with its neighbour, 0 <= overlap < 1")
    train: bool = Field(default=True, description="train on tiles (false: train on whole frames, predict on tiles)")
    full_frame: bool = Field(
        default=False, description="also predict on the whole frame at the model's image size and merge "
        "(catches balls too big for a tile)"
    )
    empty_tiles: float = Field(
        default=0.1, ge=0, description="tiles without any object kept for training, as a fraction of the tiles "
        "that hold one"
    )

    @field_validator("tile")
    @classmethod
    def _tile_the_networks_accept(cls, tile: int) -> int:
        if tile < MAX_STRIDE or tile % MAX_STRIDE:
            raise ValueError(f"{tile} is not a tile side both backends accept; use a positive multiple of "
                             f"{MAX_STRIDE} such as 320 or 640")
        return tile

    @field_validator("overlap")
    @classmethod
    def _overlap_in_range(cls, overlap: float) -> float:
        if not 0 <= overlap < 1:
            raise ValueError(f"{overlap} is outside [0, 1); give the fraction of a tile its neighbour shares, "
                             "e.g. 0.2")
        return overlap


class TrackingSection(BaseModel):
    """How per-frame candidates become one ball position per frame (:mod:`balldet.tracks.filter`
    explains each knob). The same fields are ``balldet track``'s options."""

    model_config = ConfigDict(extra="forbid")

    max_speed: float = Field(default=40.0, gt=0, description="fastest the ball moves, in pixels per frame "
                             "(a 30 m/s shot at 25 fps on a 1920 px frame of a whole pitch is ~20)")
    max_gap: int = Field(default=12, ge=0, description="longest run of frames without a detection bridged by "
                         "interpolation (frames of a hidden or missed ball); longer gaps end the track")
    min_score: float = Field(default=0.01, ge=0, le=1, description="candidates scoring below this are ignored")
    break_even: float = Field(default=0.1, gt=0, lt=1, description="a candidate scoring this is as likely the "
                              "ball as not: above it a detection adds to a track, below it costs (test_model uses "
                              "the validation frames' best top-1 threshold when it has one)")
    score_weight: float = Field(default=1.0, ge=0, description="weight of a detection's log-odds over break_even "
                                "against the motion costs")
    start_cost: float = Field(default=8.0, ge=0, description="cost of starting a track: a run of detections "
                              "must earn more than this to be believed (drops isolated false detections)")
    gap_cost: float = Field(default=0.3, ge=0, description="cost of each frame a track bridges without a detection "
                            "(keep max_gap * gap_cost below start_cost, or long gaps end the track)")
    turn_cost: float = Field(default=2.0, ge=0, description="largest cost of one frame's departure from "
                             "constant velocity (a kick costs at most this)")
    motion_sigma: float = Field(default=3.0, gt=0, description="pixels of departure from constant velocity "
                                "per frame that cost one unit (acceleration noise)")
    static_fraction: float = Field(default=0.1, gt=0, le=1, description="a candidate on the same pixels in at "
                                   "least this fraction of a recording's frames is part of the pitch (the penalty "
                                   "spot) and ignored")
    static_radius: float = Field(default=3.0, gt=0, description="pixels within which candidates count as the "
                                 "same spot for static_fraction")
    static_min_frames: int = Field(default=50, ge=1, description="recordings shorter than this are not searched "
                                   "for static candidates")
    ball_class: int = Field(default=0, ge=0, description="class id of the ball in the predictions")


class PipelineConfig(BaseModel):
    """A pipeline config file (one YAML document in the configs repository)."""

    model_config = ConfigDict(extra="forbid")

    tags: list[str] = Field(
        min_length=1, description="tags put on the pipeline task (the team's leaderboards filter runs by tag)"
    )
    model_type: str = Field(description="a model type from balldet's registry")
    train_data: DataSection | None = Field(
        description="training datasets; or the word `pretrained` to skip training and test the weights "
        "named in train_config as they are",
        json_schema_extra=lambda schema: schema.update(
            anyOf=[s for s in schema["anyOf"] if s.get("type") != "null"] + [{"const": PRETRAINED}]
        ),
    )
    val_data: ValSection | None = Field(default=None, description="validation datasets or split")
    test_data: DataSection = Field(description="datasets the model is tested on, each reported apart")
    train_config: dict[str, Any] = Field(
        default_factory=dict, description="free-form options handed to the model backend"
    )
    test_batch_size: int = Field(default=16, ge=1, le=4096, description="batch size of test_model")
    seed: int = Field(default=0, ge=0, description="seed of every random choice balldet makes")
    data_checks: DataChecks = Field(default_factory=DataChecks, description="dataset checks in prepare_data")
    slicing: SlicingSection | None = Field(
        default=None, description="train and predict on tiles of the full-resolution frames (small balls on "
        "wide frames); leave out to use whole frames"
    )
    tracking: TrackingSection = Field(
        default_factory=TrackingSection, description="the ball track test_model reports for test datasets "
        "whose frames are runs of consecutive frames of a recording"
    )

    @field_validator("tags")
    @classmethod
    def _tags_are_plain(cls, tags: list[str]) -> list[str]:
        bad = [t for t in tags if not t.strip() or "," in t]
        if bad:
            raise ValueError(f"tags must be non-empty and contain no comma: {bad!r}")
        return tags

    @field_validator("train_data", mode="before")
    @classmethod
    def _pretrained_is_said(cls, value: Any) -> Any:
        if value == PRETRAINED:
            return None
        if value is None:
            raise ValueError(f"empty; list the training datasets, or write `train_data: {PRETRAINED}` to only "
                             "test the weights named in train_config")
        if isinstance(value, str):
            raise ValueError(f"{value!r} is neither a mapping with datasets nor the word {PRETRAINED!r}")
        return value

    @field_serializer("train_data")
    def _say_pretrained(self, value: DataSection | None) -> Any:
        return PRETRAINED if value is None else value

    @property
    def trains(self) -> bool:
        """False when the config only tests pretrained weights (``train_data: pretrained``)."""
        return self.train_data is not None

    @property
    def train_ids(self) -> list[str]:
        return self.train_data.datasets if self.train_data is not None else []

    @property
    def val_ids(self) -> list[str]:
        return self.val_data.datasets if self.val_data else []

    @property
    def dataset_ids(self) -> list[str]:
        """Every dataset the run reads, each once, in config order."""
        return list(dict.fromkeys([*self.train_ids, *self.val_ids, *self.test_data.datasets]))

    @property
    def seen_in_training(self) -> list[str]:
        """Test datasets the config also trains or validates on (declared overlap): their test results
        say how well the model fits data it has seen, and are marked so wherever they are shown."""
        fit = {*self.train_ids, *self.val_ids}
        return [i for i in self.test_data.datasets if i in fit]


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
        if error["loc"] == ("train_data",):
            return ("required field is missing: list the training datasets (train_data: {datasets: [...]}), "
                    f"or write `train_data: {PRETRAINED}` to only test the weights named in train_config")
        if error["loc"] == ("tags",):
            return "required field is missing: give at least one tag (the leaderboards find runs by tag)"
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
    if config is not None and not config.trains and config.val_data is not None:
        problems.append(("val_data", "validation data is only used when training; remove it"))
    if problems or config is None:
        raise ConfigError(problems, source=source)
    return config


def load_config_file(path: Path, **kwargs: Any) -> PipelineConfig:
    text = path.read_text(encoding="utf-8")
    return validate_config(parse_yaml(text, str(path)), source=str(path), **kwargs)
