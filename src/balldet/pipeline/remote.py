"""The one place that knows ClearML's PipelineController: a server run's pipeline, step by step."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from balldet import __version__
from balldet.errors import SettingsError
from balldet.pipeline import steps
from balldet.pipeline.request import RunRequest
from balldet.settings import Settings
from balldet.stages.get_config import get_config
from balldet.tracking.run_record import balldet_source_state, git_state

# (step, function, keyword arguments, returned artifact name). ${pipeline.x} are pipeline
# parameters; ${step.name} is what an earlier step returned.
STEP_SPECS: list[tuple[str, Any, dict[str, str], str]] = [
    ("get_config", steps.get_config_step,
     {"config_name": "${pipeline.config_name}", "config_content": "${pipeline.config_content}",
      "env": "${pipeline.env}"}, "loaded"),
    ("process_config", steps.process_config_step,
     {"loaded": "${get_config.loaded}", "model_type": "${pipeline.model_type}", "env": "${pipeline.env}"},
     "config"),
    ("prepare_data", steps.prepare_data_step,
     {"config": "${process_config.config}", "env": "${pipeline.env}"}, "data"),
    ("add_tags_to_pipeline", steps.add_tags_to_pipeline_step,
     {"config": "${process_config.config}"}, "tags"),
    ("convert_data", steps.convert_data_step,
     {"config": "${process_config.config}", "data": "${prepare_data.data}", "env": "${pipeline.env}"},
     "converted"),
    ("train_model", steps.train_model_step,
     {"config": "${process_config.config}", "data": "${prepare_data.data}",
      "converted": "${convert_data.converted}", "env": "${pipeline.env}"}, "trained"),
    ("test_model", steps.test_model_step,
     {"config": "${process_config.config}", "data": "${prepare_data.data}",
      "trained": "${train_model.trained}", "train_task_id": "${train_model.id}",
      "env": "${pipeline.env}"}, "report"),
]


def _parents(kwargs: dict[str, str], previous: str | None) -> list[str]:
    """Steps whose results this one reads, plus the step before it (the stages run in order)."""
    referenced = {v[2:-1].split(".")[0] for v in kwargs.values() if v.startswith("${")}
    referenced.discard("pipeline")
    if previous:
        referenced.add(previous)
    return sorted(referenced)


# Steps whose result depends only on their parameters (no side effects, no data): ClearML may
# reuse an earlier execution. The steps' code is pinned to one commit, which caching needs.
CACHED_STEPS = {"get_config", "process_config"}


def step_packages(settings: Settings) -> list[str]:
    """What an agent installs for every step: balldet at the commit this run starts from."""
    source = balldet_source_state()
    repo = settings.remote.repo or _origin_url()
    if not repo or not source.get("commit"):
        raise SettingsError(
            "agents cannot install balldet: no git repository URL or commit for this checkout",
            fix="run from a git checkout with an `origin` remote, or set BALLDET_REMOTE__REPO=<git url>",
        )
    if source.get("dirty"):
        logging.getLogger(__name__).warning(
            "the checkout has uncommitted changes; agents run commit %s without them", source["commit"]
        )
    return [f"balldet @ git+{repo}@{source['commit']}", *settings.remote.packages]


def _origin_url() -> str:
    import subprocess

    package_dir = Path(__file__).resolve().parent
    try:
        done = subprocess.run(
            ["git", "-C", str(package_dir), "remote", "get-url", "origin"],
            capture_output=True, text=True, timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def build_pipeline_controller(
    settings: Settings, request: RunRequest, *, config_content: str, packages: list[str]
) -> Any:
    """A ClearML PipelineController with one function step per stage, queues from settings.

    ``config_content`` is the config file's text: it travels with the run, so agents need no
    configs checkout. ``packages`` is what each step installs (see :func:`step_packages`).
    """
    from clearml import PipelineController

    controller = PipelineController(
        name=Path(request.config_name).stem,
        project=settings.project_path(request.project),
        version=__version__,
        add_pipeline_tags=False,
    )
    controller.set_default_execution_queue(settings.queues.steps)
    controller.add_parameter("config_name", request.config_name, "config path under the configs root")
    controller.add_parameter("model_type", request.model_type, "model type of balldet's registry")
    controller.add_parameter("project", request.project, "ClearML project root")
    controller.add_parameter("env", settings.env, "settings environment on the agents")
    controller.add_parameter("config_content", config_content, "the config file's text, as started")
    configs = git_state(settings.configs_root, only_folder=True)
    controller.add_parameter("configs_commit", configs.get("commit") or "", "commit of the configs root")
    previous = None
    for name, function, kwargs, returned in STEP_SPECS:
        controller.add_function_step(
            name=name,
            function=function,
            function_kwargs=kwargs,
            function_return=[returned],
            parents=_parents(kwargs, previous),
            execution_queue=settings.queues.for_step(name),
            cache_executed_step=name in CACHED_STEPS,
            packages=packages,
        )
        previous = name
    return controller


def start_remote(
    settings: Settings, request: RunRequest, *, on_event: Callable[[str, str, str], None] | None = None
) -> None:
    """Enqueue the controller on the services queue. ClearML ends this process once it is queued."""
    loaded = get_config(request.config_name, settings.configs_root)
    controller = build_pipeline_controller(
        settings, request, config_content=loaded.content, packages=step_packages(settings)
    )
    task = controller._task  # the controller's own task: its id and web page are what users open
    if on_event is not None:
        on_event("pipeline", "enqueued", f"id {task.id}  {task.get_output_log_web_page()}")
    controller.start(queue=settings.queues.controller)
