"""The pipeline controller on the services agent: ``python -m balldet.pipeline.controller_agent``.

`balldet run` (remote environments) stores this module as the controller task's entry point, with
the repository and commit of the run. On the agent it attaches to that task, reads the pipeline's
parameters, rebuilds the same pipeline (ClearML's pipelines are constructed from code on every
execution) and runs it: each step is enqueued on its queue and its results handed to the next.
It imports none of the training stack.
"""

from __future__ import annotations

import json
from typing import Any

from balldet.pipeline.request import RunRequest
from balldet.pipeline.step_source import StepSource


def parameters_to_run(parameters: dict[str, Any]) -> tuple[RunRequest, StepSource, str, str, str]:
    """(request, step source, settings environment, config text, configs commit) from the pipeline's
    parameters, as ``build_pipeline_controller`` stored them (section ``Pipeline``)."""
    values = {k.split("/", 1)[-1]: v for k, v in parameters.items()}
    request = RunRequest(config_name=values["config_name"], model_type=values["model_type"], project=values["project"])
    source = StepSource(
        repo=values["balldet_repo"], commit=values["balldet_commit"], packages=json.loads(values["balldet_packages"])
    )
    return request, source, values["env"], values["config_content"], values.get("configs_commit", "")


def main() -> None:
    from clearml import Task

    from balldet.pipeline.remote import build_pipeline_controller
    from balldet.settings import load_settings
    from balldet.tracking.session import configure_clearml

    task = Task.init()  # the controller task this agent was given
    pipeline = {k: v for k, v in task.get_parameters().items() if k.startswith("Pipeline/")}
    request, source, env, config_content, configs_commit = parameters_to_run(pipeline)
    settings = load_settings(env)
    configure_clearml(settings)
    controller = build_pipeline_controller(
        settings, request, config_content=config_content, source=source, configs_commit=configs_commit
    )
    controller.start(queue=settings.queues.controller)  # running remotely: this runs the steps


if __name__ == "__main__":
    main()
