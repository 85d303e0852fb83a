"""One step of a server run on its agent: the stage of the table, run in the agent's own context.

An agent runs a step in its own checkout of balldet's repository at the run's commit. Its settings
are that checkout's ``settings.toml`` -- the file as committed at the run's commit -- in the
environment the pipeline passes along (``env``), with the agent's own ``BALLDET_*`` variables on
top: paths (caches, outputs) are the agent's, never the launching machine's. Datasets are resolved
again on every agent, since steps may run on different machines; the weights come from the train
step's artifact when the test step runs elsewhere. The step's results go to the pipeline's own task
(the step task's parent) too: the leaderboards are the pipeline's runs table.
"""

from __future__ import annotations

from typing import Any

from balldet.pipeline.context import RunContext
from balldet.pipeline.request import RunRequest
from balldet.pipeline.spec import BY_NAME
from balldet.settings import load_settings
from balldet.stages.test_model import record_on_pipeline
from balldet.tracking.reporter import ClearMLReporter
from balldet.tracking.session import configure_clearml
from balldet.tracking.tasks import artifact_local_copy, current_task, pipeline_task

# Pipeline parameters a step may be given besides ``env`` (they make the run's request).
_REQUEST_PARAMETERS = ("config_name", "model_type", "project")


class ParentPipeline:
    """The pipeline (controller) task that launched this step, as the stages see it."""

    def add_tags(self, tags: list[str]) -> None:
        pipeline_task().add_tags(tags)

    def record_results(self, report: Any, trained: Any) -> None:
        record_on_pipeline(report, trained, ClearMLReporter(pipeline_task()))


def run_step(stage_name: str, env: str, **arguments: Any) -> Any:
    """The stage ``stage_name`` with the arguments its rendered step was given: pipeline parameters,
    the earlier steps' results (by their artifact names) and task ids (``<stage>_task_id``)."""
    stage = BY_NAME[stage_name]
    settings = load_settings(env)  # an environment this checkout does not know fails here
    configure_clearml(settings)
    task = current_task()
    request = RunRequest(**{name: str(arguments.get(name, "")) for name in _REQUEST_PARAMETERS})
    ctx = RunContext.from_settings(
        settings, request, settings.output_dir / "steps" / task.id,
        pipeline=ParentPipeline(), reporter=ClearMLReporter(task),
        # printed lines reach the step's console log on the server
        on_event=lambda where, event, detail: print(f"{where}: {detail}", flush=True),
        config_content=arguments.get("config_content"), fetch_artifact=artifact_local_copy,
        step_ids={name: arguments[f"{name}_task_id"] for name in stage.step_ids},
    )
    inputs = {name: arguments[BY_NAME[name].returns] for name in stage.inputs}
    output = stage.run(ctx, inputs)
    if stage.after is not None:
        stage.after(ctx, output)
    return output
