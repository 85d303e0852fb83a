"""Running the stages in this process, each recorded as a task (ClearML's, offline or not).

The stages come from the table (``balldet.pipeline.spec``). A stage's output is reused instead of
running it again when it can be: from the run being resumed (``--resume``), or from the stage cache
of an earlier run with the same inputs -- unless ``--force``, or from ``--from-stage`` on. Once a
stage runs, every later one runs too; the pure stages (cheap, side-effect free) always run, since the
cache key of the later ones is made from their outputs.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel

from balldet.backends.base_model import TrainedModel
from balldet.config import PipelineConfig
from balldet.datasets.prepared import PreparedData
from balldet.errors import UsageError
from balldet.pipeline.context import CollectedPipeline, RunContext
from balldet.pipeline.manifest import RunManifest, StageRecord, find_run, read_manifest
from balldet.pipeline.request import RunRequest
from balldet.pipeline.spec import STAGES, Stage
from balldet.pipeline.store import cache_folder, inputs_key, load_output, save_output
from balldet.settings import Settings
from balldet.stages.get_config import LoadedConfig
from balldet.stages.test_model import TestReport, record_on_pipeline
from balldet.tracking.reporter import Reporter
from balldet.tracking.clearml_compat import PIPELINE_SYSTEM_TAG

Event = Callable[[str, str, str], None]


class TaskRecorder(Protocol):
    """Where a run's tasks are recorded: ClearML (:class:`balldet.tracking.tasks.ClearMLTasks`), or
    anything that keeps them the same way (the tests' in-memory recorder)."""

    def prepare(self) -> None: ...

    def open(self, project: str, name: str, *, task_type: str, tags: list[str],
             system_tags: Sequence[str] = ()) -> AbstractContextManager[tuple[Reporter, Any]]: ...


def check_same_run(manifest: RunManifest, request: RunRequest) -> None:
    """``--resume`` continues the run it names, with the config and backend that run was started with."""
    problems = []
    for name in ("config_name", "model_type", "project"):
        started, now = getattr(manifest.request, name), getattr(request, name)
        if started != now:
            problems.append((f"--{name}", f"run {manifest.run_id} was started with {name} {started!r}, not "
                             f"{now!r}; resume it with the same one, or start a new run without --resume"))
    if problems:
        raise UsageError(problems)


class RunResult(BaseModel):
    manifest: RunManifest
    report: TestReport | None = None


def _first(outputs: dict[str, Any], kind: type) -> Any:
    """The output of that type, if a stage made one (the finish reads outputs by what they are)."""
    return next((output for output in outputs.values() if isinstance(output, kind)), None)


def new_run_id(config_name: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{Path(config_name).stem}-{secrets.token_hex(3)}"


class LocalPipeline:
    """The stages in order, in-process; ``on_event`` receives (stage, event, detail) for progress.

    ``stages`` and ``tasks`` are the real table and ClearML unless given (tests give stand-ins);
    ``record_run`` writes the run record and the pipeline task at the end.
    """

    def __init__(
        self,
        settings: Settings,
        request: RunRequest,
        *,
        on_event: Event | None = None,
        checked_config: PipelineConfig | None = None,
        stages: Sequence[Stage] = STAGES,
        tasks: TaskRecorder | None = None,
        record_run: bool = True,
    ) -> None:
        from balldet.tracking.tasks import ClearMLTasks

        self.settings = settings
        self.request = request
        self.stages = tuple(stages)
        self.tasks = tasks if tasks is not None else ClearMLTasks(settings)
        self.record_run = record_run
        self.on_event = on_event or (lambda stage, event, detail: None)
        runs_root = settings.output_dir / request.project / settings.mode
        previous: RunManifest | None = None
        if request.resume:
            run_dir = find_run(runs_root, request.resume)
            previous = read_manifest(run_dir)
            check_same_run(previous, request)
        else:
            run_dir = runs_root / new_run_id(request.config_name)
        self.previous = {s.name: s for s in previous.stages} if previous else {}
        self.manifest = RunManifest(
            run_id=run_dir.name, run_dir=run_dir, clearml_project=settings.project_path(request.project),
            status="running", request=request,
        )
        self.ctx = RunContext.from_settings(settings, request, run_dir, on_event=self.on_event,
                                            checked_config=checked_config, pipeline=CollectedPipeline())
        self.cache_key: str | None = None

    @property
    def run_dir(self) -> Path:
        return self.manifest.run_dir

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    def run(self) -> RunResult:
        self.tasks.prepare()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # Said first: after Ctrl-C, this is what `--resume` takes.
        self.on_event("run", "resume" if self.request.resume else "start", f"{self.run_id}  ({self.run_dir})")
        outputs: dict[str, Any] = {}
        redo_from = (
            [s.name for s in self.stages].index(self.request.from_stage) if self.request.from_stage
            else len(self.stages)
        )
        reusing = not self.request.force
        status = "failed"
        try:
            for index, stage in enumerate(self.stages):
                reusing = reusing and index < redo_from
                found, value = self._reusable(stage) if reusing else (False, None)
                if found:
                    outputs[stage.name] = self._reuse(stage, value)
                else:
                    # A stage that ran makes every later one run too (pure ones aside: they always run,
                    # to find out what the later stages depend on).
                    reusing = reusing and stage.pure and not self.request.resume
                    outputs[stage.name] = self._run_stage(stage, outputs)
                    save_output(self.run_dir / "stages", self.stages, stage, outputs[stage.name])
                    if self.cache_key and not stage.pure:
                        save_output(self._cache_folder(), self.stages, stage, outputs[stage.name])
                if stage.after is not None:
                    stage.after(self.ctx, outputs[stage.name])
                if stage.pure and not any(s.pure for s in self.stages[index + 1:]):
                    pure = [outputs[s.name] for s in self.stages if s.pure]
                    self.cache_key = inputs_key(pure, self.ctx.resolver)
            status = "completed"
        finally:
            result = self._finish(status, outputs)
        return result

    def _cache_folder(self) -> Path:
        return cache_folder(self.settings.cache_dir, str(self.cache_key))

    def _reusable(self, stage: Stage) -> tuple[bool, Any]:
        """A stage output from the resumed run's folder, or from an earlier run with the same inputs."""
        if self.request.resume:
            return load_output(self.run_dir / "stages", self.stages, stage)
        if stage.pure or self.cache_key is None:
            return False, None
        return load_output(self._cache_folder(), self.stages, stage)

    def _record(self, record: StageRecord) -> None:
        self.manifest.stages.append(record)
        self.manifest.write()

    def _reuse(self, stage: Stage, value: Any) -> Any:
        earlier = self.previous.get(stage.name)
        self._record(StageRecord(index=self.stages.index(stage) + 1, name=stage.name, status="reused",
                                 seconds=0.0, task=earlier.task if earlier else None))
        self.on_event(stage.name, "reused", "earlier result, inputs unchanged")
        return value

    def _run_stage(self, stage: Stage, outputs: dict[str, Any]) -> Any:
        index = self.stages.index(stage) + 1
        self.on_event(stage.name, "start", f"{index}/{len(self.stages)}")
        started = time.monotonic()
        record = StageRecord(index=index, name=stage.name, status="running")
        self._record(record)  # a killed run shows where it stopped
        tags = [f"run:{self.run_id}", f"stage:{stage.name}"]
        with self.tasks.open(self.manifest.clearml_project, f"{self.run_id} · {index}. {stage.name}",
                             task_type=stage.task_type, tags=tags) as (reporter, task):
            record.task = task.as_dict()
            self.ctx.reporter = reporter
            try:
                output = stage.run(self.ctx, {name: outputs[name] for name in stage.inputs})
            finally:
                record.seconds = round(time.monotonic() - started, 3)
            if output is not None:
                reporter.artifact("output", output.model_dump(mode="json") if isinstance(output, BaseModel) else output)
            record.status = "completed"
        self.on_event(stage.name, "done", f"{record.seconds:.1f}s")
        self.manifest.write()
        return output

    def _finish(self, status: str, outputs: dict[str, Any]) -> RunResult:
        report: TestReport | None = _first(outputs, TestReport)
        for record in self.manifest.stages:
            if record.status == "running":
                record.status = "failed"
        self.manifest.status = status
        self.manifest.tags = list(self.ctx.pipeline.tags)
        self.manifest.artefacts = self._hold_artefacts(outputs)
        if report is not None:
            self.manifest.seen_in_training = report.seen_in_training()
            self.manifest.metrics = report.scalars()
        if self.record_run:
            self.manifest.pipeline_task = self._pipeline_task(status, outputs, report)
        self.manifest.write()
        return RunResult(manifest=self.manifest, report=report)

    def _pipeline_task(self, status: str, outputs: dict[str, Any], report: TestReport | None) -> dict[str, Any]:
        """The run record beside run.json, and the pipeline's own task: a run of the backend's
        pipeline, as the team's leaderboards (a pipeline's runs table) group them, named after its config."""
        from balldet.tracking.run_record import build_run_record, write_run_record

        loaded = _first(outputs, LoadedConfig)
        config = _first(outputs, PipelineConfig)
        trained = _first(outputs, TrainedModel)
        data = _first(outputs, PreparedData)
        run_record = build_run_record(loaded=loaded, request=self.request, settings=self.settings, data=data,
                                      seed=getattr(config, "seed", None), run_id=self.run_id)
        run_record["artefacts"] = self.manifest.artefacts
        record_file = self.run_dir / "run_record.json"
        write_run_record(record_file, run_record)
        tags = [*self.ctx.pipeline.tags, f"run:{self.run_id}"] + ([] if status == "completed" else ["failed"])
        project = self.settings.pipeline_project(self.request.project, self.request.model_type)
        with self.tasks.open(project, Path(self.request.config_name).stem, task_type="controller", tags=tags,
                             system_tags=[PIPELINE_SYSTEM_TAG]) as (reporter, task):
            reporter.parameters(self.request.model_dump(), section="Args")
            reporter.parameters({"env": self.settings.env, "run_id": self.run_id,
                                 "config_name": self.request.config_name}, section="run")
            if loaded is not None:
                reporter.configuration("pipeline_config", loaded.content)
            if report is not None and trained is not None:
                record_on_pipeline(report, trained, reporter)
            reporter.artifact("stages", [s.model_dump() for s in self.manifest.stages])
            # What explains the run months later: config content, commits, dataset hashes, versions.
            reporter.artifact("run_record", record_file)
            return task.as_dict()

    def _hold_artefacts(self, outputs: dict[str, Any]) -> dict[str, str]:
        """What the run produced, inside its folder: outputs reused from an earlier run with the same
        inputs are linked here (weights, predictions, the data check report)."""
        trained, report, data = _first(outputs, TrainedModel), _first(outputs, TestReport), _first(outputs, PreparedData)
        found: dict[str, Path | None] = {
            "weights": Path(trained.weights) if trained else None,
            "predictions": report.predictions_dir if report else None,
            "data_check": data.check_report if data else None,
        }
        inside = {"weights": self.run_dir / "weights" / (found["weights"].name if found["weights"] else ""),
                  "predictions": self.run_dir / "predictions", "data_check": self.run_dir / "data_check.json"}
        held = {}
        for name, source in found.items():
            if source is None or not Path(source).exists():
                continue
            source = Path(source).resolve()
            if source.is_relative_to(self.run_dir.resolve()):
                held[name] = str(source)
                continue
            link = inside[name]
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(source, target_is_directory=source.is_dir())
            held[name] = str(link)
        return held
