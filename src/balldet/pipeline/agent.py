"""What each step of a server run does on its agent (called from the rendered scripts of steps.py).

An agent runs a step in its own checkout of balldet's repository at the run's commit. Its settings
are that checkout's ``settings.toml`` -- the file as committed at the run's commit -- in the
environment the pipeline passes along (``env``), with the agent's own ``BALLDET_*`` variables on
top: paths (caches, outputs) are the agent's, never the launching machine's. Datasets are resolved
again on every agent, since steps may run on different machines.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from balldet.backends.base_converter import ConvertedData
from balldet.backends.base_model import TrainedModel
from balldet.config import PipelineConfig
from balldet.datasets.catalog import LocalCatalog
from balldet.pipeline.progress import throttled_progress
from balldet.datasets.prepared import PreparedData
from balldet.datasets.resolver import DatasetResolver
from balldet.settings import Settings, load_settings
from balldet.stages.add_tags_to_pipeline import add_tags_to_pipeline
from balldet.stages.convert_data import convert_data
from balldet.stages.get_config import LoadedConfig
from balldet.stages.prepare_data import prepare_data
from balldet.stages.process_config import process_config
from balldet.stages.test_model import TestReport, record_on_pipeline, test_model
from balldet.stages.train_model import train_model
from balldet.tracking.reporter import ClearMLReporter
from balldet.tracking.session import configure_clearml
from balldet.tracking.tasks import artifact_local_copy, current_task, pipeline_task


def agent_settings(env: str) -> Settings:
    """This agent's settings in the run's environment, with ClearML set up for them."""
    settings = load_settings(env)
    configure_clearml(settings)
    return settings


def _resolver(settings: Settings) -> DatasetResolver:
    return DatasetResolver(LocalCatalog(settings.catalog_dir), use_clearml=not settings.clearml_offline)


def _work_dir(settings: Settings, task: Any) -> Path:
    return settings.output_dir / "steps" / task.id


def localize(data: PreparedData, settings: Settings) -> PreparedData:
    """``data`` with its dataset folders on this agent (the step before may have run elsewhere)."""
    refs = [*data.train, *data.val, *data.test]
    if all(ref.path.is_dir() for ref in refs):
        return data
    resolver = _resolver(settings)
    local = {ref.id: resolver.resolve(ref.id) for ref in refs}
    return data.model_copy(update={
        split: [local[ref.id] for ref in getattr(data, split)] for split in ("train", "val", "test")
    })


def get_config_on_agent(config_name: str, config_content: str, env: str) -> LoadedConfig:
    """The config as it was when the run was started: it travels with the run, no configs checkout."""
    load_settings(env)  # an environment this checkout does not know fails here, at the first step
    return LoadedConfig(
        config_name=config_name, path=Path(config_name), content=config_content,
        sha256=hashlib.sha256(config_content.encode("utf-8")).hexdigest(),
    )


def process_config_on_agent(loaded: LoadedConfig, model_type: str, env: str) -> PipelineConfig:
    settings = load_settings(env)
    return process_config(
        loaded, model_type, allow_downloads=settings.allow_downloads, frame_patterns=settings.frame_patterns
    )


def prepare_data_on_agent(config: PipelineConfig, env: str) -> PreparedData:
    settings = agent_settings(env)
    task = current_task()
    report_file = _work_dir(settings, task) / "data_check.json"
    try:
        # printed lines reach the step's console log on the server
        progress = throttled_progress(lambda line: print(f"prepare_data: {line}", flush=True))
        return prepare_data(
            config, _resolver(settings), report_file=report_file, cache_dir=settings.cache_dir, progress=progress
        )
    finally:
        if report_file.is_file():
            task.upload_artifact("data_check", artifact_object=report_file, wait_on_upload=True)


def add_tags_on_agent(config: PipelineConfig, env: str) -> list[str]:
    agent_settings(env)
    return add_tags_to_pipeline(config, pipeline_task())


def convert_data_on_agent(config: PipelineConfig, data: PreparedData, env: str) -> ConvertedData | None:
    settings = agent_settings(env)
    return convert_data(config, localize(data, settings), settings.cache_dir / "layouts")


def train_model_on_agent(
    config: PipelineConfig, data: PreparedData, converted: ConvertedData | None, env: str
) -> TrainedModel:
    settings = agent_settings(env)
    task = current_task()
    if converted is not None and not converted.data_file.is_file():
        # The layout was built on another agent: links are cheap to rebuild from this one's datasets.
        converted = convert_data(config, localize(data, settings), settings.cache_dir / "layouts")
    trained = train_model(
        config, converted, _work_dir(settings, task) / "train", cache_dir=settings.cache_dir,
        device=settings.device, allow_downloads=settings.allow_downloads, report=ClearMLReporter(task),
    )
    # The test step may run on another agent: it fetches the weights from this artifact.
    task.upload_artifact("model", artifact_object=trained.weights, wait_on_upload=True)
    return trained


def test_model_on_agent(
    config: PipelineConfig, data: PreparedData, trained: TrainedModel, train_task_id: str, env: str
) -> TestReport:
    settings = agent_settings(env)
    task = current_task()
    if not Path(trained.weights).is_file() and train_task_id:
        # Trained on another agent: fetch the weights the train step uploaded.
        trained = trained.model_copy(update={"weights": artifact_local_copy(train_task_id, "model")})
    report = test_model(
        config, localize(data, settings), trained, _work_dir(settings, task) / "predictions",
        cache_dir=settings.cache_dir, device=settings.device, allow_downloads=settings.allow_downloads,
        report=ClearMLReporter(task),
    )
    # The results on the pipeline's own task too: the leaderboards are the pipeline's runs table.
    record_on_pipeline(report, trained, ClearMLReporter(pipeline_task()))
    return report
