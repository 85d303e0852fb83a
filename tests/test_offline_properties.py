"""A run's user properties survive ClearML's repository-detection thread in offline mode.

``Task.init`` starts a thread that re-reads the offline task.json and writes it back with the script;
``set_user_properties`` writes the same file without that thread's lock. On a loaded machine a
property written between the thread's read and its write was lost (CI: the leaderboard marked no
row "seen in training"). Here the thread is made to dawdle between the two, deterministically, and
the property must still be on the record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from balldet.tracking.offline_records import read_offline_task

SCRIPT = textwrap.dedent(
    """
    import threading, time
    from balldet.settings import load_settings
    from balldet.tracking.session import configure_clearml
    from balldet.tracking.tasks import open_task

    configure_clearml(load_settings("local_debug"))
    from clearml.backend_interface.task.task import Task as BackendTask

    reload = BackendTask._reload

    def slow_off_the_main_thread(self):
        data = reload(self)
        if threading.current_thread() is not threading.main_thread():
            time.sleep(1.5)  # the repository thread, between reading task.json and writing it back
        return data

    BackendTask._reload = slow_off_the_main_thread
    with open_task("t/debug/pipeline/object_detection", "run1 pipeline", task_type="controller",
                   tags=["run:run1"]) as (reporter, record):
        reporter.properties({"seen_in_training": "test/a-ver:1.0.0, test/b-ver:1.0.0"})
    print(record.offline_folder)
    """
)


def test_a_property_written_while_the_repository_is_detected_is_kept(workspace):
    script = workspace.root / "make_task.py"
    script.write_text(SCRIPT)
    env = {**os.environ, **workspace.env, "ENV_FOR_DYNACONF": "local_debug"}
    result = subprocess.run([sys.executable, str(script)], cwd=workspace.root, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    folder = result.stdout.strip().splitlines()[-1]
    task = read_offline_task(folder)
    assert task.parameters["properties"]["seen_in_training"] == "test/a-ver:1.0.0, test/b-ver:1.0.0"
    # and the repository thread did write the record (so the window was there to be hit)
    script = json.loads((Path(folder) / "task.json").read_text())["script"]
    assert script["entry_point"] == "make_task.py"
