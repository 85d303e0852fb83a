"""Stage 4: the tags of the pipeline's task, so runs can be found and filtered in ClearML (the team's
leaderboards filter by tag). The wiring puts them on the pipeline's task (``balldet.pipeline``)."""

from __future__ import annotations

from balldet.config import PipelineConfig


def add_tags_to_pipeline(config: PipelineConfig) -> list[str]:
    """The config's tags, then the model type, without duplicates."""
    return list(dict.fromkeys([*config.tags, f"model_type:{config.model_type}"]))
