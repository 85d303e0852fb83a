"""Choosing how a run executes, after checking everything that can be checked before it starts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from balldet.config import PipelineConfig
from balldet.tracking.clearml_datasets import dataset_resolver
from balldet.errors import ConfigError
from balldet.pipeline.request import RunRequest
from balldet.settings import Settings
from balldet.stages.get_config import get_config
from balldet.stages.process_config import process_config


class Preflight(BaseModel):
    """A config checked before anything runs, and what the user should hear about it."""

    config: PipelineConfig
    notes: list[str] = Field(default_factory=list)


def check_config(
    settings: Settings, config_name: str, model_type: str | None, *, datasets: bool = True, server: bool = True
) -> Preflight:
    """Config, model type and (``datasets``) its dataset ids, checked before any data is fetched or
    task created; every problem at once. With a server (``server``), it is checked first (exit 3)."""
    config = process_config(
        get_config(config_name, settings.configs_root),
        model_type,
        allow_downloads=settings.allow_downloads,
        frame_patterns=settings.frame_patterns,
    )
    if server and not settings.clearml_offline:
        from balldet.tracking.server import check_server

        check_server(settings)
    names: dict[str, str] = {}
    notes = []
    if datasets and not server and not settings.clearml_offline:
        datasets = False  # they live on the server, which is not to be asked here (a dry run)
        notes.append("dataset ids not looked up: they are on the ClearML server, which a dry run does not ask")
    if datasets:
        resolver = dataset_resolver(settings)
        problems = []
        sections = [("train_data", config.train_ids), ("val_data", config.val_ids),
                    ("test_data", config.test_data.datasets)]
        for section, ids in sections:
            for dataset_id, reason in resolver.check_known(ids):
                problems.append(
                    (f"{section}.datasets.{ids.index(dataset_id)}", f"dataset {dataset_id} {reason}; "
                     "run `balldet datasets list` (or `balldet datasets synth` for the synthetic ones)")
                )
        if problems:
            raise ConfigError(problems, source=config_name)
        names = {i: resolver.describe(i) for i in config.seen_in_training}
    if config.seen_in_training:
        listed = ", ".join(names.get(i, i) for i in config.seen_in_training)
        notes.append(f"declared overlap: {listed} also in train_data/val_data; their test results are "
                     "marked \"seen in training\"")
    return Preflight(config=config, notes=notes)


def preflight(settings: Settings, request: RunRequest, *, check_server: bool = True) -> Preflight:
    return check_config(settings, request.config_name, request.model_type, server=check_server)


def run_pipeline(
    settings: Settings, request: RunRequest, *, checked: Preflight | None = None,
    on_event: Callable[[str, str, str], None] | None = None,
) -> Any:
    """A server run is enqueued; a local one runs here (with the config ``checked`` by preflight)."""
    if settings.execution == "remote":
        from balldet.pipeline.remote import start_remote
        from balldet.tracking.session import configure_clearml

        configure_clearml(settings)
        return start_remote(settings, request, on_event=on_event)
    from balldet.pipeline.local import LocalPipeline

    checked_config = checked.config if checked is not None else None
    return LocalPipeline(settings, request, on_event=on_event, checked_config=checked_config).run()


def dry_run_remote(settings: Settings, request: RunRequest) -> Any:
    """What the agents of a server run would be given, built offline: nothing is enqueued."""
    from balldet.pipeline.remote import dry_run

    return dry_run(settings, request)
