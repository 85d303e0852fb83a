"""Every use of ClearML's private attributes and internal modules in balldet, each with the reason
(as backends/yolov5/compat.py does for yolov5).

clearml 2.1 has no public way to do these. Nothing else in balldet reaches into clearml's objects:
if an upgrade breaks one of them, it breaks here, and the docstring says what it was for.
"""

from __future__ import annotations

import json
from typing import Any

# The system tag ClearML gives a pipeline's runs (``PipelineController._tag``): a pipeline's runs
# table lists the controller tasks that carry it in ``<project>/.pipelines/<pipeline name>``.
PIPELINE_SYSTEM_TAG = "pipeline"
# The system tag that hides a project from the projects page (``.pipelines`` and what is under it).
HIDDEN_SYSTEM_TAG = "hidden"


# -- the PipelineController (pipeline/remote.py builds it) --------------------------------------------


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


# -- projects and datasets on a server ----------------------------------------------------------------


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
    get_or_create_project(session, project_name=parent, system_tags=[HIDDEN_SYSTEM_TAG])
    get_or_create_project(session, project_name=project_name, system_tags=[PIPELINE_SYSTEM_TAG, HIDDEN_SYSTEM_TAG])


def dataset_parameters(dataset: Any) -> dict[str, Any]:
    """The hyperparameters of a ClearML dataset's task (``dataset_info.names`` and
    ``dataset_info.number_samples`` are the team's class names and frame count), by section.
    (``Dataset._task``: a Dataset does not expose its task's parameters; ``Task.get_task`` on the
    dataset's id would fetch the same task from the server a second time.)"""
    return dataset._task.get_parameters_as_dict()


def set_dataset_parameters(dataset: Any, parameters: dict[str, Any]) -> None:
    """Set hyperparameters (``"<section>/<name>": value``) on a ClearML dataset's task, where the
    team's datasets keep ``dataset_info.names`` and ``dataset_info.number_samples``. (``Dataset._task``:
    a Dataset has no public setter for its task's parameters; ``Task.get_task`` on its id would need
    the server, and a dataset being created is not on it yet.)"""
    dataset._task.set_parameters(parameters)


def dataset_artifact_file(dataset: Any, name: str) -> str | None:
    """The local copy of the file artifact ``name`` of a ClearML dataset's task (downloaded into
    ClearML's cache), or None when the task has no such artifact. (``Dataset._task``: the public
    ``Dataset.get_metadata`` logs "Cannot find metadata" on the dataset's task when it is missing,
    writing to a finalized dataset's log.)"""
    artifact = dataset._task.artifacts.get(name)
    return None if artifact is None else artifact.get_local_copy()


def close_dataset_task(dataset: Any) -> None:
    """Close the task of a dataset created in ClearML's offline mode: there ``Dataset.finalize`` does
    nothing and leaves the task open, and one process cannot hold two open tasks. The closed session
    can be imported later (``Dataset.import_offline_session``). (``Dataset._task``.)"""
    dataset._task.close()


def wait_for_repository_detection(task: Any, timeout: float = 300.0) -> None:
    """Let the thread ``Task.init`` starts to detect the repository finish before writing to the task.

    Offline, that thread re-reads task.json and writes it back with the script; ``set_user_properties``
    writes the same file without taking the lock the thread holds, so a property written while the
    thread is between its read and its write is lost (seen on a loaded machine: a run's
    ``seen_in_training`` property missing from its record). ``Task.close`` waits for the thread
    anyway, so waiting earlier costs little: the detection no longer overlaps the task's work.
    (``Task._wait_for_repo_detection``; the public ``Task.get_requirements`` waits too, but also
    reads the requirements.)"""
    task._wait_for_repo_detection(timeout=timeout)


# -- clearml's configuration, read and set for this process -------------------------------------------


def read_config() -> Any:
    """clearml's configuration as a task would use it (clearml.conf over clearml's defaults, with
    the overrides set so far), loaded without opening a session, so without any network access.
    (``ConfigWrapper._init``: the public ``ConfigWrapper.get`` answers one key at a time, and
    :func:`api_server_host` needs the configuration object itself.)"""
    from clearml.config import ConfigWrapper

    return ConfigWrapper._init()


def api_variables() -> dict[str, str]:
    """The api host and credentials set in the environment, as clearml's session reads them
    (``CLEARML_API_HOST``, ``CLEARML_API_ACCESS_KEY``, ``CLEARML_API_SECRET_KEY``,
    ``CLEARML_AUTH_TOKEN`` and their older ``TRAINS_*`` names); "" where unset or empty.
    (``clearml.backend_api.session.defs``: clearml's own entries, so the names and their order of
    precedence stay clearml's.)"""
    from clearml.backend_api.session.defs import ENV_ACCESS_KEY, ENV_AUTH_TOKEN, ENV_HOST, ENV_SECRET_KEY

    entries = {"host": ENV_HOST, "access_key": ENV_ACCESS_KEY, "secret_key": ENV_SECRET_KEY, "auth_token": ENV_AUTH_TOKEN}
    return {name: str(entry.get(default="") or "") for name, entry in entries.items()}


def api_server_host(config: Any) -> str:
    """The api server clearml connects to with ``config`` (the environment first, then
    ``api.api_server``, ``api.host``, else clearml's default, as its session resolves it).
    (``clearml.backend_api.session.session.Session.get_api_server_host``: the session class is
    internal, and opening a session would contact the server.)"""
    from clearml.backend_api.session.session import Session

    return str(Session.get_api_server_host(config))


def skip_update_check() -> None:
    """Mark clearml's check for a newer release as done for this process: ``Task.init`` asks
    clearml's update server on every call, offline too, which cannot answer offline (and the test
    suite refuses any network access). (``CheckPackageUpdates._package_version_checked``: clearml
    has no setting for it.)"""
    from clearml.utilities.check_updates import CheckPackageUpdates

    CheckPackageUpdates._package_version_checked = True
