"""Running the seven stages in this process, each recorded as a ClearML task (offline or not)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from balldet.datasets.catalog import LocalCatalog
from balldet.pipeline.progress import throttled_progress
from balldet.datasets.resolver import DatasetResolver
from balldet.errors import UsageError
from balldet.files import write_json_atomic
from balldet.pipeline.request import RunRequest
from balldet.pipeline.store import inputs_key, load_output, save_output
from balldet.settings import Settings
from balldet.stages import STAGE_NAMES
from balldet.stages.add_tags_to_pipeline import add_tags_to_pipeline
from balldet.stages.convert_data import convert_data
from balldet.stages.get_config import get_config
from balldet.stages.prepare_data import prepare_data
from balldet.stages.process_config import process_config
from balldet.stages.test_model import TestReport, record_on_pipeline, test_model
from balldet.stages.train_model import train_model
from balldet.tracking.reporter import Reporter
from balldet.tracking.run_record import build_run_record, write_run_record
from balldet.tracking.session import configure_clearml
from balldet.tracking.tasks import PIPELINE_SYSTEM_TAG, open_task

# ClearML task types of the stages' tasks.
_TASK_TYPES = {
    "get_config": "data_processing",
    "process_config": "data_processing",
    "prepare_data": "data_processing",
    "add_tags_to_pipeline": "data_processing",
    "convert_data": "data_processing",
    "train_model": "training",
    "test_model": "testing",
}


# Cheap, and what the cache key of the later stages is computed from.
ALWAYS_RUN = ("get_config", "process_config")


def find_run(runs_root: Path, run: str) -> Path:
    """A run to resume, by its folder or its id (under ``<output_dir>/<project>/<mode>/``)."""
    for candidate in (Path(run), runs_root / run):
        if (candidate / "run.json").is_file():
            return candidate.resolve()
    raise UsageError(
        [("--resume", f"no run {run!r} (looked for run.json in {run} and {runs_root / run})")],
    )


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """A run's ``run.json``; one clear error (exit 2) when it cannot be read."""
    path = run_dir / "run.json"
    try:
        manifest = json.loads(path.read_text())
        if not isinstance(manifest, dict) or not isinstance(manifest.get("request"), dict):
            raise ValueError("not a run record")
        return manifest
    except (OSError, ValueError) as exc:
        raise UsageError([("--resume", f"{path} cannot be read ({exc}); the run cannot be continued, start "
                           "it again without --resume")]) from None


def check_same_run(manifest: dict[str, Any], request: RunRequest, run_dir: Path) -> None:
    """``--resume`` continues the run it names, with the config and backend that run was started with."""
    started = manifest["request"]
    problems = []
    for field in ("config_name", "model_type", "project"):
        if started.get(field) != getattr(request, field):
            problems.append((f"--{field}", f"run {run_dir.name} was started with {field} {started.get(field)!r}, "
                             f"not {getattr(request, field)!r}; resume it with the same one, or start a new run "
                             "without --resume"))
    if problems:
        raise UsageError(problems)


class RunResult(BaseModel):
    run_id: str
    run_dir: Path
    clearml_project: str
    status: str
    tags: list[str]
    stages: list[dict[str, Any]]
    pipeline_task: dict[str, Any] | None
    artefacts: dict[str, str] = {}
    seen_in_training: list[str] = []
    report: TestReport | None = None


class CollectedTags:
    """The pipeline task's tags, gathered while the stages run and written with that task."""

    def __init__(self) -> None:
        self.tags: list[str] = []

    def add_tags(self, tags: list[str]) -> None:
        self.tags = list(dict.fromkeys([*self.tags, *tags]))


def new_run_id(config_name: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{Path(config_name).stem}-{secrets.token_hex(3)}"


class LocalPipeline:
    """The stages in order, in-process; ``on_event`` receives (stage, event, detail) for progress."""

    def __init__(
        self,
        settings: Settings,
        request: RunRequest,
        *,
        on_event: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.request = request
        self.on_event = on_event or (lambda stage, event, detail: None)
        self.clearml_project = settings.project_path(request.project)
        runs_root = settings.output_dir / request.project / settings.mode
        self.previous_stages: dict[str, dict[str, Any]] = {}
        if request.resume:
            self.run_dir = find_run(runs_root, request.resume)
            self.run_id = self.run_dir.name
            manifest = read_manifest(self.run_dir)
            check_same_run(manifest, request, self.run_dir)
            self.previous_stages = {e["name"]: e for e in manifest.get("stages", []) if isinstance(e, dict)}
        else:
            self.run_id = new_run_id(request.config_name)
            self.run_dir = runs_root / self.run_id
        self.pipeline = CollectedTags()
        self.stage_records: list[dict[str, Any]] = []
        self.cache_key: str | None = None

    def _stage_functions(self) -> dict[str, Callable[[Reporter, dict[str, Any]], Any]]:
        s, req, work = self.settings, self.request, self.run_dir
        resolver = DatasetResolver(LocalCatalog(s.catalog_dir), use_clearml=not s.clearml_offline)
        backend = dict(cache_dir=s.cache_dir, device=s.device, allow_downloads=s.allow_downloads)

        def _get_config(rep: Reporter, out: dict[str, Any]) -> Any:
            loaded = get_config(req.config_name, s.configs_root)
            rep.configuration("pipeline_config", loaded.content)
            return loaded

        def _process_config(rep: Reporter, out: dict[str, Any]) -> Any:
            config = process_config(
                out["get_config"], req.model_type, allow_downloads=s.allow_downloads, frame_patterns=s.frame_patterns
            )
            rep.parameters(config.model_dump(mode="json"), section="config")
            return config

        def _train_model(rep: Reporter, out: dict[str, Any]) -> Any:
            return train_model(
                out["process_config"], out["convert_data"], work / "train", report=rep,
                resume=bool(req.resume), **backend,
            )

        return {
            "get_config": _get_config,
            "process_config": _process_config,
            "prepare_data": lambda rep, out: self._prepare_data(rep, out["process_config"], resolver),
            "add_tags_to_pipeline": lambda rep, out: add_tags_to_pipeline(out["process_config"], self.pipeline),
            "convert_data": lambda rep, out: convert_data(
                out["process_config"], out["prepare_data"], s.cache_dir / "layouts"
            ),
            "train_model": _train_model,
            "test_model": lambda rep, out: test_model(
                out["process_config"], out["prepare_data"], out["train_model"], work / "predictions",
                report=rep, **backend,
            ),
        }

    def _prepare_data(self, rep: Reporter, config: Any, resolver: DatasetResolver) -> Any:
        report_file = self.run_dir / "data_check.json"
        try:
            progress = throttled_progress(lambda line: self.on_event("prepare_data", "progress", line))
            return prepare_data(
                config, resolver, report_file=report_file, cache_dir=self.settings.cache_dir, progress=progress
            )
        finally:
            if report_file.is_file():
                rep.artifact("data_check", report_file)

    def run(self) -> RunResult:
        configure_clearml(self.settings)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # Said first: after Ctrl-C, this is what `--resume` takes.
        self.on_event("run", "resume" if self.request.resume else "start", f"{self.run_id}  ({self.run_dir})")
        outputs: dict[str, Any] = {}
        functions = self._stage_functions()
        status = "failed"
        resolver = DatasetResolver(LocalCatalog(self.settings.catalog_dir), use_clearml=not self.settings.clearml_offline)
        redo_from = STAGE_NAMES.index(self.request.from_stage) if self.request.from_stage else len(STAGE_NAMES)
        reusing = not self.request.force
        try:
            for index, name in enumerate(STAGE_NAMES, start=1):
                reusing = reusing and index - 1 < redo_from
                found, value = self._reusable(name, outputs) if reusing else (False, None)
                if found:
                    outputs[name] = self._reuse(index, name, value)
                else:
                    # A stage that ran makes every later one run too (the cheap first two aside:
                    # they always run, to find out what the later stages depend on).
                    reusing = reusing and name in ALWAYS_RUN and not self.request.resume
                    outputs[name] = self._run_stage(index, name, functions[name], outputs)
                    save_output(self.run_dir / "stages", name, outputs[name])
                    if self.cache_key and name not in ALWAYS_RUN:
                        save_output(self._cache_folder(), name, outputs[name])
                if name == "prepare_data":
                    for note in outputs[name].notes:
                        self.on_event(name, "note", note)
                if name == "process_config":
                    self.cache_key = inputs_key(
                        outputs["get_config"].content, self.request.model_type, outputs[name], resolver
                    )
            status = "completed"
        finally:
            result = self._finish(status, outputs)
        return result

    def _cache_folder(self) -> Path:
        return self.settings.cache_dir / "stage_cache" / str(self.cache_key)

    def _reusable(self, name: str, outputs: dict[str, Any]) -> tuple[bool, Any]:
        """A stage output from the resumed run's folder, or from an earlier run with the same inputs."""
        if self.request.resume:
            return load_output(self.run_dir / "stages", name)
        if name in ALWAYS_RUN or self.cache_key is None:
            return False, None
        return load_output(self._cache_folder(), name)

    def _reuse(self, index: int, name: str, value: Any) -> Any:
        entry: dict[str, Any] = {"index": index, "name": name, "status": "reused", "seconds": 0.0}
        earlier = self.previous_stages.get(name, {})
        if "task" in earlier:
            entry["task"] = earlier["task"]
        self.stage_records.append(entry)
        if name == "add_tags_to_pipeline":
            self.pipeline.add_tags(value)
        self.on_event(name, "reused", "earlier result, inputs unchanged")
        self._write_manifest("running", None)
        return value

    def _run_stage(self, index: int, name: str, function: Callable[..., Any], outputs: dict[str, Any]) -> Any:
        self.on_event(name, "start", f"{index}/{len(STAGE_NAMES)}")
        started = time.monotonic()
        entry: dict[str, Any] = {"index": index, "name": name, "status": "running"}
        self.stage_records.append(entry)
        self._write_manifest("running", None)  # a killed run shows where it stopped
        tags = [f"run:{self.run_id}", f"stage:{name}"]
        with open_task(
            self.clearml_project, f"{self.run_id} · {index}. {name}", task_type=_TASK_TYPES[name], tags=tags
        ) as (reporter, record):
            entry["task"] = record.as_dict()
            try:
                output = function(reporter, outputs)
            finally:
                entry["seconds"] = round(time.monotonic() - started, 3)
            if isinstance(output, BaseModel):
                reporter.artifact("output", output.model_dump(mode="json"))
            elif output is not None:
                reporter.artifact("output", output)
            if name == "train_model" and output is not None and Path(output.weights).is_file():
                # clearml's OutputModel is broken offline: the model is registered as an artifact.
                reporter.artifact("model", Path(output.weights))
            entry["status"] = "completed"
        self.on_event(name, "done", f"{entry['seconds']:.1f}s")
        self._write_manifest("running", None)
        return output

    def _finish(self, status: str, outputs: dict[str, Any]) -> RunResult:
        report: TestReport | None = outputs.get("test_model")
        loaded = outputs.get("get_config")
        trained = outputs.get("train_model")
        for entry in self.stage_records:
            if entry["status"] == "running":
                entry["status"] = "failed"
        config = outputs.get("process_config")
        artefacts = self._hold_artefacts(outputs)
        record = build_run_record(
            loaded=outputs.get("get_config"), request=self.request, settings=self.settings,
            data=outputs.get("prepare_data"), seed=getattr(config, "seed", None), run_id=self.run_id,
        )
        record["artefacts"] = artefacts
        record_file = self.run_dir / "run_record.json"
        write_run_record(record_file, record)
        tags = [*self.pipeline.tags, f"run:{self.run_id}"] + ([] if status == "completed" else ["failed"])
        # A run of the backend's pipeline, as the team's leaderboards (a pipeline's runs table) group
        # them; named after its config.
        project = self.settings.pipeline_project(self.request.project, self.request.model_type)
        with open_task(
            project, Path(self.request.config_name).stem, task_type="controller", tags=tags,
            system_tags=[PIPELINE_SYSTEM_TAG],
        ) as (reporter, record):
            reporter.parameters(self.request.model_dump(), section="Args")
            reporter.parameters({"env": self.settings.env, "run_id": self.run_id,
                                 "config_name": self.request.config_name}, section="run")
            if loaded is not None:
                reporter.configuration("pipeline_config", loaded.content)
            if report is not None and trained is not None:
                record_on_pipeline(report, trained, reporter)
            reporter.artifact("stages", self.stage_records)
            # What explains the run months later: config content, commits, dataset hashes, versions.
            reporter.artifact("run_record", record_file)
            pipeline_task = record.as_dict()
        manifest = self._write_manifest(status, pipeline_task, report, artefacts)
        manifest.pop("metrics")
        return RunResult(**manifest, report=report)

    def _hold_artefacts(self, outputs: dict[str, Any]) -> dict[str, str]:
        """What the run produced, inside its folder: outputs reused from an earlier run with the same
        inputs are linked here (weights, predictions, the data check report)."""
        trained, report, data = outputs.get("train_model"), outputs.get("test_model"), outputs.get("prepare_data")
        weights = Path(trained.weights) if trained is not None else None
        wanted = [
            ("weights", weights, self.run_dir / "weights" / (weights.name if weights else "")),
            ("predictions", report.predictions_dir if report is not None else None, self.run_dir / "predictions"),
            ("data_check", data.check_report if data is not None else None, self.run_dir / "data_check.json"),
        ]
        held = {}
        for name, source, inside in wanted:
            if source is None or not Path(source).exists():
                continue
            source = Path(source).resolve()
            if not source.is_relative_to(self.run_dir.resolve()):
                inside.parent.mkdir(parents=True, exist_ok=True)
                if inside.is_symlink() or inside.exists():
                    inside.unlink()
                inside.symlink_to(source, target_is_directory=source.is_dir())
                held[name] = str(inside)
            else:
                held[name] = str(source)
        return held

    def _write_manifest(
        self, status: str, pipeline_task: dict[str, Any] | None, report: TestReport | None = None,
        artefacts: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        manifest = {
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            "clearml_project": self.clearml_project,
            "status": status,
            "tags": self.pipeline.tags,
            "stages": self.stage_records,
            "pipeline_task": pipeline_task,
            "artefacts": artefacts or {},
            "seen_in_training": report.seen_in_training() if report else [],
            "metrics": report.scalars() if report else {},
        }
        write_json_atomic(self.run_dir / "run.json", {**manifest, "request": self.request.model_dump()})
        return manifest
