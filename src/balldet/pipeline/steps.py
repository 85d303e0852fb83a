"""The stages as ClearML function steps for a server run.

ClearML renders each function into a standalone script on an agent, so every import happens inside
the function, and settings are loaded from the environment name the pipeline passes along.
"""

from __future__ import annotations

from typing import Any


def get_config_step(config_name: str, config_content: str, env: str) -> Any:
    """The config as it was when the run was started (it travels with the run: no configs checkout)."""
    import hashlib

    from balldet.stages.get_config import LoadedConfig

    return LoadedConfig(
        config_name=config_name, path=config_name, content=config_content,
        sha256=hashlib.sha256(config_content.encode("utf-8")).hexdigest(),
    )


def localize(data: Any, env: str) -> Any:
    """PreparedData with dataset folders on this agent (a step before may have run elsewhere)."""
    from balldet.data.catalog import LocalCatalog
    from balldet.data.resolver import DatasetResolver
    from balldet.settings import load_settings
    from balldet.tracking.session import configure_clearml

    refs = [*data.train, *data.val, *data.test]
    if all(ref.path.is_dir() for ref in refs):
        return data
    settings = load_settings(env)
    configure_clearml(settings)
    resolver = DatasetResolver(LocalCatalog(settings.catalog_dir), use_clearml=not settings.clearml_offline)
    local = {ref.id: resolver.resolve(ref.id) for ref in refs}
    return data.model_copy(update={
        split: [local[ref.id] for ref in getattr(data, split)] for split in ("train", "val", "test")
    })


def process_config_step(loaded: Any, model_type: str, env: str) -> Any:
    from balldet.settings import load_settings
    from balldet.stages.process_config import process_config

    settings = load_settings(env)
    return process_config(
        loaded, model_type, allow_downloads=settings.allow_downloads, frame_patterns=settings.frame_patterns
    )


def prepare_data_step(config: Any, env: str) -> Any:
    from balldet.data.catalog import LocalCatalog
    from balldet.data.checks import throttled_progress
    from balldet.data.resolver import DatasetResolver
    from balldet.settings import load_settings
    from balldet.stages.prepare_data import prepare_data
    from balldet.tracking.session import configure_clearml

    from clearml import Task

    settings = load_settings(env)
    configure_clearml(settings)
    resolver = DatasetResolver(LocalCatalog(settings.catalog_dir), use_clearml=not settings.clearml_offline)
    task = Task.current_task()
    report_file = settings.output_dir / "steps" / task.id / "data_check.json"
    try:
        # printed lines reach the step's console log on the server
        progress = throttled_progress(lambda line: print(f"prepare_data: {line}", flush=True))
        return prepare_data(
            config, resolver, report_file=report_file, cache_dir=settings.cache_dir, progress=progress
        )
    finally:
        if report_file.is_file():
            task.upload_artifact("data_check", artifact_object=report_file, wait_on_upload=True)


def add_tags_to_pipeline_step(config: Any) -> Any:
    from clearml import Task

    from balldet.stages.add_tags_to_pipeline import add_tags_to_pipeline

    pipeline_task = Task.get_task(task_id=Task.current_task().parent)
    return add_tags_to_pipeline(config, pipeline_task)


def convert_data_step(config: Any, data: Any, env: str) -> Any:
    from balldet.pipeline.steps import localize
    from balldet.settings import load_settings
    from balldet.stages.convert_data import convert_data

    return convert_data(config, localize(data, env), load_settings(env).cache_dir / "layouts")


def train_model_step(config: Any, data: Any, converted: Any, env: str) -> Any:
    from clearml import Task

    from balldet.settings import load_settings
    from balldet.stages.convert_data import convert_data
    from balldet.stages.train_model import train_model
    from balldet.tracking.reporter import ClearMLReporter

    settings = load_settings(env)
    task = Task.current_task()
    work = settings.output_dir / "steps" / task.id
    if converted is not None and not converted.data_file.is_file():
        # The layout was built on another agent: links are cheap to rebuild from the dataset cache.
        from balldet.pipeline.steps import localize

        converted = convert_data(config, localize(data, env), settings.cache_dir / "layouts")
    trained = train_model(
        config, converted, work / "train", cache_dir=settings.cache_dir, device=settings.device,
        allow_downloads=settings.allow_downloads, report=ClearMLReporter(task),
    )
    task.upload_artifact("model", artifact_object=trained.weights, wait_on_upload=True)
    return trained


def test_model_step(config: Any, data: Any, trained: Any, train_task_id: str, env: str) -> Any:
    from pathlib import Path

    from clearml import Task

    from balldet.settings import load_settings
    from balldet.stages.test_model import test_model
    from balldet.tracking.reporter import ClearMLReporter

    settings = load_settings(env)
    task = Task.current_task()
    if not Path(trained.weights).is_file() and train_task_id:
        # Trained on another agent: fetch the weights the train step uploaded.
        local = Task.get_task(task_id=train_task_id).artifacts["model"].get_local_copy()
        trained = trained.model_copy(update={"weights": Path(local)})
    from balldet.pipeline.steps import localize

    return test_model(
        config, localize(data, env), trained, settings.output_dir / "steps" / task.id / "predictions",
        cache_dir=settings.cache_dir, device=settings.device, allow_downloads=settings.allow_downloads,
        report=ClearMLReporter(task),
    )
