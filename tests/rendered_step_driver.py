"""Runs one rendered pipeline step the way an agent would, in a fresh interpreter (not a test module).

Usage: ``python rendered_step_driver.py <spec.json>``. The spec names the rendered script (as ClearML
stored it on the controller task, already placed in an agent's checkout), the step function, its
parameters as a server would substitute them, and the artifact files of the earlier steps.

What it does, in the order the rendered script's own ``__main__`` block does it: ``Task.init``
(offline), the script's definitions executed (not imported: balldet's steps module is never
imported), the earlier results unpickled from the artifact files ClearML wrote for them, the
function called, and its result uploaded with ``Task.upload_artifact`` as the script would.

The one stand-in is ClearML's server: offline, ``Task.get_task`` cannot fetch another task, so it
is replaced by a reader of the offline sessions on disk (the parent pipeline task records the tags
it is given; another task's artifacts are the files its session holds).
"""

import json
import pickle
import sys
from pathlib import Path


class _RecordedPipelineTask:
    """The pipeline (controller) task a step writes to, recording what reaches it in a JSON file."""

    def __init__(self, record: Path) -> None:
        self.record = record

    def _update(self, key, value):
        data = json.loads(self.record.read_text()) if self.record.is_file() else {}
        data.setdefault(key, [])
        data[key].append(value)
        self.record.write_text(json.dumps(data))

    def add_tags(self, tags):
        self._update("tags", list(tags))

    def set_user_properties(self, **values):
        self._update("properties", values)

    def get_logger(self):
        return self

    def report_scalar(self, title, series, value, iteration=0):
        self._update("scalars", [title, series, value])

    def report_single_value(self, name, value):
        self._update("single_values", [name, value])


class _OfflineArtifact:
    def __init__(self, path: Path) -> None:
        self.path = path

    def get_local_copy(self, *args, **kwargs):
        return str(self.path)


class _OfflineTask:
    """Another step's task as read back from its offline session folder."""

    def __init__(self, folder: Path) -> None:
        self.artifacts = {
            path.parent.name: _OfflineArtifact(path)
            for path in folder.glob("data/**/artifacts/*/*") if path.is_file()
        }


def _artifact_file(task) -> Path:
    folder = Path(task.get_offline_mode_folder())
    (path,) = [p for p in folder.glob("data/**/artifacts/*/*") if p.is_file() and p.parent.name == SPEC["returns"]]
    return path


SPEC = json.loads(Path(sys.argv[1]).read_text())


def main() -> None:
    from clearml import Task

    # auto_connect_frameworks is off here: offline, clearml 2.1.12 registers every torch.save as an
    # OutputModel and crashes on its DummyModel; on a server the rendered script's default applies.
    task = Task.init(project_name=SPEC["project"], task_name=SPEC["task_name"], auto_connect_frameworks=False)
    if SPEC.get("parent"):
        task.set_parent(SPEC["parent"])
        sessions = Path(SPEC["offline_sessions"])
        record = Path(SPEC["pipeline_record"])

        def get_task(task_id=None, **kwargs):
            if task_id == SPEC["parent"]:
                return _RecordedPipelineTask(record)
            return _OfflineTask(sessions / f"offline-{task_id.removeprefix('offline-')}")

        Task.get_task = staticmethod(get_task)

    script = Path(SPEC["script"])
    namespace = {"__name__": "rendered_step", "__file__": str(script)}
    exec(compile(script.read_text(), str(script), "exec"), namespace)
    function = namespace[SPEC["function"]]

    kwargs = dict(SPEC["kwargs"])
    for name, path in SPEC["inputs"].items():
        with open(path, "rb") as handle:
            kwargs[name] = pickle.load(handle)
    result = function(**kwargs)
    if type(result) in (float, int, bool, str):
        # The rendered script would store it as a parameter, not the artifact later steps read.
        raise TypeError(f"{SPEC['function']} returned a {type(result).__name__}; steps must return objects")
    task.upload_artifact(
        name=SPEC["returns"], artifact_object=result, extension_name=".pkl" if isinstance(result, dict) else None
    )
    task.close()
    Path(SPEC["result_info"]).write_text(json.dumps({
        "task_id": task.id,
        "artifact": str(_artifact_file(task)),
        "steps_module_imported": "balldet.pipeline.steps" in sys.modules,
        "balldet_from": sys.modules["balldet"].__file__,
    }))


if __name__ == "__main__":
    main()
