"""The one place that builds ClearML's PipelineController: a server run's pipeline, step by step.

The controller runs on the services queue as ``python -m balldet.pipeline.controller_agent`` in a
checkout of the run's commit; each step runs on its queue as the script ClearML renders from
``balldet.pipeline.steps`` (see there for the rules that script must keep), in a checkout of the same
commit (see ``balldet.pipeline.step_source``). The config's text and the settings environment are
pipeline parameters: agents need no configs checkout, and read their settings from their checkout.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from balldet import __version__
from balldet.files import write_json_atomic, write_text_atomic
from balldet.pipeline import steps
from balldet.pipeline.spec import BY_NAME, STAGES, Stage
from balldet.pipeline.request import RunRequest
from balldet.pipeline.step_source import StepSource, resolve_step_source
from balldet.settings import Settings
from balldet.stages.get_config import get_config
from balldet.tracking import clearml_compat
from balldet.tracking.run_record import git_state

def step_arguments(stage: Stage) -> dict[str, str]:
    """A step's keyword arguments as ClearML substitutes them: ``${pipeline.<parameter>}``, an
    earlier step's result ``${<stage>.<artifact>}``, an earlier step's task id ``${<stage>.id}``."""
    arguments = {name: "${pipeline.%s}" % name for name in stage.parameters}
    arguments.update({BY_NAME[name].returns: "${%s.%s}" % (name, BY_NAME[name].returns) for name in stage.inputs})
    arguments.update({f"{name}_task_id": "${%s.id}" % name for name in stage.step_ids})
    return arguments


# How the services agent runs the controller, from the checkout's src/ folder.
CONTROLLER_ENTRY_POINT = "-m balldet.pipeline.controller_agent"


def step_source(settings: Settings) -> StepSource:
    """The repository, commit and packages the agents get (the commit checked to be on the remote)."""
    return resolve_step_source(settings.remote.repo, settings.remote.packages)


def build_pipeline_controller(
    settings: Settings, request: RunRequest, *, config_content: str, source: StepSource,
    configs_commit: str | None = None,
) -> Any:
    """A ClearML PipelineController with one function step per stage, queues from settings.

    ``config_content`` is the config file's text: it travels with the run, so agents need no
    configs checkout. ``source`` says which checkout the agents run (see :mod:`step_source`).
    """
    from clearml import PipelineController

    controller = PipelineController(
        # One pipeline per backend, as the team's leaderboards (a pipeline's runs table each) group runs.
        name=settings.pipeline_name(request.model_type),
        project=settings.project_path(request.project),
        version=__version__,
        add_pipeline_tags=False,
        add_run_number=False,
        repo=source.repo,
        repo_commit=source.commit,
        working_dir=source.working_dir,
        packages=source.controller_packages(),
        skip_global_imports=True,
    )
    task = clearml_compat.controller_task(controller)
    task.set_name(Path(request.config_name).stem)  # each run named after its config
    # Not the launching process's script: the services agent runs the controller module of the
    # checkout, which rebuilds this pipeline from the parameters below.
    task.set_script(
        repository=source.repo, commit=source.commit, working_dir=source.working_dir,
        entry_point=CONTROLLER_ENTRY_POINT, diff="",
    )
    controller.set_default_execution_queue(settings.queues.steps)
    controller.add_parameter("config_name", request.config_name, "config path under the configs root")
    controller.add_parameter("model_type", request.model_type, "model type of balldet's registry")
    controller.add_parameter("project", request.project, "ClearML project root")
    controller.add_parameter("env", settings.env, "settings environment on the agents")
    controller.add_parameter("config_content", config_content, "the config file's text, as started")
    if configs_commit is None:
        configs_commit = git_state(settings.configs_root, only_folder=True).get("commit") or ""
    controller.add_parameter("configs_commit", configs_commit, "commit of the configs root")
    controller.add_parameter("balldet_repo", source.repo, "git repository the agents check out")
    controller.add_parameter("balldet_commit", source.commit, "commit the agents run")
    controller.add_parameter("balldet_packages", json.dumps(source.packages), "what the steps pip-install")
    previous: list[str] = []
    for stage in STAGES:
        controller.add_function_step(
            name=stage.name,
            function=getattr(steps, stage.step),
            function_kwargs=step_arguments(stage),
            function_return=[stage.returns],
            # the steps it reads, and the one before it (the stages run in order)
            parents=sorted({*stage.inputs, *stage.step_ids, *previous}),
            execution_queue=settings.queues.for_step(stage.name),
            # pure steps depend on their arguments alone, and their code is pinned to one commit
            cache_executed_step=stage.pure,
            packages=source.packages,
            repo=source.repo,
            repo_commit=source.commit,
            working_dir=source.working_dir,
        )
        previous = [stage.name]
    return controller


class RenderedStep(BaseModel):
    """What an agent is given for one step, as ClearML stored it on the controller task."""

    name: str
    script: str
    entry_point: str
    working_dir: str
    repository: str
    commit: str
    requirements: list[str]
    queue: str
    parameters: dict[str, str]


def rendered_steps(controller: Any) -> list[RenderedStep]:
    rendered = []
    for name in clearml_compat.step_names(controller):
        definition = clearml_compat.step_definition(controller, name)
        script = definition["script"]
        node = clearml_compat.step_node(controller, name)
        rendered.append(RenderedStep(
            name=name, script=script["diff"], entry_point=script["entry_point"],
            working_dir=script.get("working_dir") or ".", repository=script.get("repository") or "",
            commit=script.get("version_num") or "",
            requirements=(script.get("requirements") or {}).get("pip", "").splitlines(),
            queue=node.queue or "", parameters={k: str(v) for k, v in node.parameters.items()},
        ))
    return rendered


def write_rendered_steps(rendered: list[RenderedStep], folder: Path) -> list[tuple[str, str | None]]:
    """Each step's script as ``NN_<step>.py`` plus ``steps.json``; (step, compile error or None)."""
    results = []
    for index, step in enumerate(rendered, start=1):
        path = folder / f"{index:02d}_{step.name}.py"
        write_text_atomic(path, step.script)
        try:
            compile(step.script, str(path), "exec")
            results.append((step.name, None))
        except SyntaxError as exc:
            results.append((step.name, f"{exc.msg} (line {exc.lineno})"))
    write_json_atomic(folder / "steps.json", [step.model_dump(exclude={"script"}) for step in rendered])
    return results


def start_remote(
    settings: Settings, request: RunRequest, *, on_event: Callable[[str, str, str], None] | None = None
) -> None:
    """Enqueue the controller on the services queue. ClearML ends this process once it is queued."""
    loaded = get_config(request.config_name, settings.configs_root)
    source = step_source(settings)
    controller = build_pipeline_controller(
        settings, request, config_content=loaded.content, source=source
    )
    task = clearml_compat.controller_task(controller)
    if on_event is not None:
        if source.uncommitted_changes:
            on_event("pipeline", "warning", f"uncommitted changes stay here: agents run commit {source.commit}")
        on_event("pipeline", "enqueued", f"id {task.id}  {task.get_output_log_web_page()}")
    controller.start(queue=settings.queues.controller)


class DryRun(BaseModel):
    folder: Path
    source: StepSource
    steps: list[RenderedStep]
    errors: dict[str, str]


def dry_run(settings: Settings, request: RunRequest) -> DryRun:
    """Build the controller offline (no server), write each step's rendered script and compile it.

    The scripts go to ``<output_dir>/<project>/<mode>/dry-run/<stamp>-<config>/`` with
    ``steps.json`` (queues, repository, commit, packages, parameters of every step). The offline
    controller task itself is thrown away.
    """
    import tempfile
    from datetime import datetime, timezone

    from balldet.tracking.session import configure_clearml

    loaded = get_config(request.config_name, settings.configs_root)
    source = step_source(settings)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    folder = settings.output_dir / request.project / settings.mode / "dry-run" / f"{stamp}-{Path(request.config_name).stem}"
    with tempfile.TemporaryDirectory(prefix="balldet-dry-run-") as scratch:
        offline = settings.model_copy(update={"clearml_offline": True, "cache_dir": Path(scratch)})
        configure_clearml(offline)
        controller = build_pipeline_controller(settings, request, config_content=loaded.content, source=source)
        try:
            rendered = rendered_steps(controller)
        finally:
            clearml_compat.controller_task(controller).close()
    results = write_rendered_steps(rendered, folder)
    return DryRun(folder=folder, source=source, steps=rendered, errors={n: e for n, e in results if e})
