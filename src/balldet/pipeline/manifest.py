"""``run.json``: a local run as it stands, rewritten after every step (a killed run shows where it
stopped), read back by ``--resume``, ``balldet sync`` and the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from balldet.errors import UsageError
from balldet.files import write_json_atomic
from balldet.pipeline.request import RunRequest

MANIFEST = "run.json"


class StageRecord(BaseModel):
    """One stage of the run: completed, reused (from an earlier run or the resumed one), running
    (or killed while it ran), failed; its ClearML task (id, offline folder) when it ran."""

    index: int
    name: str
    status: str
    seconds: float | None = None
    task: dict[str, Any] | None = None


class RunManifest(BaseModel):
    run_id: str
    run_dir: Path
    clearml_project: str
    status: str
    request: RunRequest
    tags: list[str] = Field(default_factory=list)
    stages: list[StageRecord] = Field(default_factory=list)
    pipeline_task: dict[str, Any] | None = None
    artefacts: dict[str, str] = Field(default_factory=dict)
    seen_in_training: list[str] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)

    def write(self) -> None:
        write_json_atomic(self.run_dir / MANIFEST, self.model_dump(mode="json"))

    def stage(self, name: str) -> StageRecord | None:
        return next((s for s in self.stages if s.name == name), None)

    def offline_folders(self) -> list[Path]:
        """Where ClearML wrote the run's tasks offline: each stage's, then the pipeline task's."""
        tasks = [*(stage.task for stage in self.stages), self.pipeline_task]
        return [Path(task["offline_folder"]) for task in tasks if task and task.get("offline_folder")]


def read_manifest(run_dir: Path, *, option: str = "--resume") -> RunManifest:
    """A run's ``run.json``; one clear error naming ``option`` (exit 2) when there is none or it
    cannot be read."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        raise UsageError([(option, f"{run_dir} is not a run folder (no {MANIFEST}); give a run's folder "
                           "under the output dir")])
    try:
        return RunManifest.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError, ValidationError) as exc:
        reason = f"{exc.error_count()} field(s) wrong" if isinstance(exc, ValidationError) else str(exc)
        what = "the run cannot be continued, start it again without --resume" if option == "--resume" \
            else "the run's records cannot be found from it"
        raise UsageError([(option, f"{path} cannot be read ({reason}); {what}")]) from None


def find_run(runs_root: Path, run: str) -> Path:
    """A run by its folder or its id (under ``<output_dir>/<project>/<mode>/``)."""
    for candidate in (Path(run), Path(runs_root) / run):
        if (candidate / MANIFEST).is_file():
            return candidate.resolve()
    raise UsageError([("--resume", f"no run {run!r} (looked for {MANIFEST} in {run} and {Path(runs_root) / run})")])
