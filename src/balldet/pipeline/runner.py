"""Choosing how a run executes, after checking everything that can be checked before it starts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from balldet.data.catalog import LocalCatalog
from balldet.data.resolver import DatasetResolver
from balldet.errors import ConfigError
from balldet.pipeline.request import RunRequest
from balldet.settings import Settings
from balldet.stages.get_config import get_config
from balldet.stages.process_config import process_config


def preflight(settings: Settings, request: RunRequest, *, check_server: bool = True) -> None:
    """Config, model type and dataset ids, checked before any data is fetched or task created."""
    config = process_config(
        get_config(request.config_name, settings.configs_root),
        request.model_type,
        allow_downloads=settings.allow_downloads,
        frame_patterns=settings.frame_patterns,
    )
    resolver = DatasetResolver(LocalCatalog(settings.catalog_dir), use_clearml=not settings.clearml_offline)
    problems = []
    sections = [("train_data", config.train_data), ("val_data", config.val_data), ("test_data", config.test_data)]
    for section, spec in sections:
        if spec is None:
            continue
        for dataset_id, reason in resolver.check_known(spec.datasets):
            position = spec.datasets.index(dataset_id)
            problems.append(
                (f"{section}.datasets.{position}", f"dataset {dataset_id} {reason}; "
                 "run `balldet datasets list` (or `balldet datasets synth` for the synthetic ones)")
            )
    if problems:
        raise ConfigError(problems, source=request.config_name)
    if check_server and not settings.clearml_offline:
        from balldet.tracking.server import check_server as check_clearml_server

        check_clearml_server(settings)


def run_pipeline(
    settings: Settings, request: RunRequest, *, on_event: Callable[[str, str, str], None] | None = None
) -> Any:
    if settings.execution == "remote":
        from balldet.pipeline.remote import start_remote
        from balldet.tracking.session import configure_clearml

        configure_clearml(settings)
        return start_remote(settings, request, on_event=on_event)
    from balldet.pipeline.local import LocalPipeline

    return LocalPipeline(settings, request, on_event=on_event).run()


def dry_run_remote(settings: Settings, request: RunRequest) -> Any:
    """What the agents of a server run would be given, built offline: nothing is enqueued."""
    from balldet.pipeline.remote import dry_run

    return dry_run(settings, request)
