"""Stage 2: validate and structure the config, the backend's train_config included."""

from __future__ import annotations

from collections.abc import Sequence

from balldet.config import PipelineConfig, parse_yaml, validate_config
from balldet.frame_patterns import DEFAULT_FRAME_PATTERNS
from balldet.errors import ConfigError
from balldet.backends.registry import get_model_wrapper, model_types
from balldet.slicing.conflicts import slicing_conflicts
from balldet.stages.get_config import LoadedConfig


def process_config(
    loaded: LoadedConfig, model_type: str | None = None, *, allow_downloads: bool = False,
    frame_patterns: Sequence[str] = DEFAULT_FRAME_PATTERNS,
) -> PipelineConfig:
    """Every problem is reported at once in one :class:`ConfigError`, each naming its field.

    ``frame_patterns`` (the setting) fill ``data_checks.frame_patterns`` when the config gives none,
    so the processed config says how frames were identified."""
    source = loaded.config_name
    data = parse_yaml(loaded.content, source)
    problems: list[tuple[str, str]] = []
    config = None
    try:
        config = validate_config(
            data, source=source, model_type=model_type, known_model_types=model_types()
        )
    except ConfigError as exc:
        problems += exc.problems
    declared = data.get("model_type")
    train_config = data.get("train_config")
    if declared in model_types() and isinstance(train_config, dict):
        wrapper = get_model_wrapper(declared)
        problems += wrapper.check_train_config(train_config, allow_downloads=allow_downloads)
        problems += slicing_conflicts(data.get("slicing"), train_config, image_size_option=wrapper.image_size_option)
    if problems or config is None:
        raise ConfigError(problems, source=source)
    if config.data_checks.frame_patterns is None:
        config.data_checks.frame_patterns = list(frame_patterns)
    return config
