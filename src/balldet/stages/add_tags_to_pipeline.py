"""Stage 4: tag the pipeline's task, so runs can be found and filtered in ClearML."""

from __future__ import annotations

from balldet.config import PipelineConfig
from balldet.tracking.reporter import PipelineHandle


def pipeline_tags(config: PipelineConfig) -> list[str]:
    """The config's tags, then the model type, without duplicates."""
    tags = [*config.tags, f"model_type:{config.model_type}"]
    return list(dict.fromkeys(tags))


def add_tags_to_pipeline(config: PipelineConfig, pipeline: PipelineHandle) -> list[str]:
    tags = pipeline_tags(config)
    pipeline.add_tags(tags)
    return tags
