"""Opening ClearML tasks for a local run: one per stage, then the pipeline's own task.

ClearML allows one open task per process (and offline it cannot create any other way), so a local
run records its stages as consecutive tasks and writes the pipeline task last, with the tags the
add_tags_to_pipeline stage chose and the run's results.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from balldet.tracking import clearml_compat
from balldet.tracking.reporter import ClearMLReporter

# The pipeline task's user property listing the test results on data seen in training.
SEEN_PROPERTY = "seen_in_training"

_TASK_OPTIONS: dict[str, Any] = dict(
    reuse_last_task_id=False,
    auto_connect_frameworks=False,
    auto_resource_monitoring=False,
    auto_connect_arg_parser=False,
    auto_connect_streams=False,
)


class TaskRecord:
    """Where a closed task can be found again: its id and, offline, its session folder."""

    def __init__(self, task: Any) -> None:
        self.id: str = task.id
        folder = task.get_offline_mode_folder() if task.is_offline() else None
        self.offline_folder: Path | None = Path(folder) if folder else None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "offline_folder": str(self.offline_folder) if self.offline_folder else None}


@contextmanager
def open_task(
    project: str, name: str, *, task_type: str, tags: list[str], system_tags: list[str] = ()
) -> Iterator[tuple[ClearMLReporter, TaskRecord]]:
    """A task that is closed whatever happens; a failure is recorded on it before closing."""
    from clearml import Task

    task = Task.init(project_name=project, task_name=name, task_type=task_type, tags=tags, **_TASK_OPTIONS)
    if task.is_offline():
        # offline, what is written while clearml's repository thread runs can be lost (see there)
        clearml_compat.wait_for_repository_detection(task)
    if system_tags:
        task.set_system_tags([*(task.get_system_tags() or []), *system_tags])
    record = TaskRecord(task)
    try:
        yield ClearMLReporter(task), record
    except BaseException as exc:
        task.add_tags(["failed"])
        task.get_logger().report_text(f"failed: {type(exc).__name__}: {exc}", print_console=False)
        raise
    finally:
        task.close()


# Inside a step of a server run: the step's own task (ClearML's agent made it) and its neighbours.


def current_task() -> Any:
    """The task this process runs as (a pipeline step on an agent)."""
    from clearml import Task

    task = Task.current_task()
    if task is None:
        from balldet.errors import TrackingError

        raise TrackingError(
            "no ClearML task is running in this process",
            fix="pipeline steps run on ClearML agents; start runs with `balldet run`",
        )
    return task


def pipeline_task() -> Any:
    """The pipeline (controller) task that launched the current step: the step task's parent."""
    from clearml import Task

    parent = current_task().parent
    if not parent:
        from balldet.errors import TrackingError

        raise TrackingError(
            "this step's task has no parent pipeline task",
            fix="run the step as part of a pipeline started with `balldet run` (ENV_FOR_DYNACONF=remote_debug)",
        )
    return Task.get_task(task_id=parent)


def artifact_local_copy(task_id: str, name: str) -> Path:
    """A local copy of an artifact another task uploaded (e.g. the weights of the train step)."""
    from clearml import Task

    return Path(Task.get_task(task_id=task_id).artifacts[name].get_local_copy())


class ClearMLTasks:
    """A local run's tasks in ClearML (offline or on a server), as the local runner opens them."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def prepare(self) -> None:
        from balldet.tracking.session import configure_clearml

        configure_clearml(self.settings)

    def open(self, project: str, name: str, *, task_type: str, tags: list[str],
             system_tags: Sequence[str] = ()) -> Any:
        return open_task(project, name, task_type=task_type, tags=tags, system_tags=list(system_tags))
