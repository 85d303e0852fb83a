"""Every use of ClearML's private attributes in balldet, each with the reason (as yolov5_compat does).

clearml 2.1 has no public way to do these; if an upgrade breaks one, it breaks here.
"""

from __future__ import annotations

import json
from typing import Any


def controller_task(controller: Any) -> Any:
    """The PipelineController's own task: its id and web page are what a user opens, and its
    script is what the services agent runs. (``PipelineController._task``; no public accessor.)"""
    return controller._task


def step_definition(controller: Any, step: str) -> dict[str, Any]:
    """The task definition ClearML stored on the controller task for one function step: the
    rendered script (``script.diff``), repository, commit, working folder, requirements and the
    step's parameters -- exactly what the agent will be given. It is a configuration object named
    after the step (``Task._get_configuration_text``; the public getter returns it parsed as HOCON,
    which mangles the JSON)."""
    return json.loads(controller_task(controller)._get_configuration_text(name=step))


def step_names(controller: Any) -> list[str]:
    """The controller's steps in the order they were added (``PipelineController._nodes``)."""
    return list(controller._nodes)


def step_node(controller: Any, step: str) -> Any:
    """A step's node: its parents, queue, parameters and caching flag (``PipelineController._nodes``)."""
    return controller._nodes[step]


def ensure_pipeline_project(project_name: str) -> None:
    """Create ``<path>/.pipelines/<name>`` on the server as ClearML's PipelineController does (its
    ``_create_pipeline_projects``: the ``.pipelines`` folder hidden, the pipeline's project tagged
    ``pipeline`` and ``hidden``), so that a local run imported into it shows in that pipeline's runs
    table even before any server run made the project. Uses ``clearml.backend_interface.util.
    get_or_create_project`` and ``Task._get_default_session`` (no public API creates project system
    tags). Needs a server."""
    from clearml import Task
    from clearml.backend_interface.util import get_or_create_project

    parent = project_name.rsplit("/", 1)[0]
    session = Task._get_default_session()
    get_or_create_project(session, project_name=parent, system_tags=["hidden"])
    get_or_create_project(session, project_name=project_name, system_tags=["pipeline", "hidden"])
