"""The one place that knows ClearML's PipelineController: a server run's pipeline, step by step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from balldet import __version__
from balldet.pipeline import steps
from balldet.pipeline.request import RunRequest
from balldet.settings import Settings

# (step, function, keyword arguments, returned artifact name). ${pipeline.x} are pipeline
# parameters; ${step.name} is what an earlier step returned.
STEP_SPECS: list[tuple[str, Any, dict[str, str], str]] = [
    ("get_config", steps.get_config_step,
     {"config_name": "${pipeline.config_name}", "env": "${pipeline.env}"}, "loaded"),
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


def build_pipeline_controller(settings: Settings, request: RunRequest) -> Any:
    """A ClearML PipelineController with one function step per stage, queues from settings."""
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
    previous = None
    for name, function, kwargs, returned in STEP_SPECS:
        controller.add_function_step(
            name=name,
            function=function,
            function_kwargs=kwargs,
            function_return=[returned],
            parents=_parents(kwargs, previous),
            execution_queue=settings.queues.for_step(name),
            cache_executed_step=False,
        )
        previous = name
    return controller


def start_remote(
    settings: Settings, request: RunRequest, *, on_event: Callable[[str, str, str], None] | None = None
) -> None:
    """Enqueue the controller on the services queue. ClearML ends this process once it is queued."""
    controller = build_pipeline_controller(settings, request)
    task = controller._task  # the controller's own task: its id and web page are what users open
    if on_event is not None:
        on_event("pipeline", "enqueued", f"id {task.id}  {task.get_output_log_web_page()}")
    controller.start(queue=settings.queues.controller)
