"""The one table of stages. The local runner, the server pipeline and the stage store all read it:
adding a stage is one entry here, its module under ``balldet.stages``, and its step in ``steps.py``.

Each entry says what the stage reads (the outputs of earlier stages), what it returns (its type:
what the store keeps and reads back, and the artifact name a server run passes on), its ClearML task
type, whether it is *pure* (no side effects, cheap: locally it always runs, since the later stages'
cache key is made from its output; on a server ClearML may reuse an earlier execution), and the
function ClearML renders for an agent (named: an agent runs the rendered copy, never the module). ``run`` is the stage with its inputs taken from a
:class:`~balldet.pipeline.context.RunContext`; ``after`` is what its output does to the run whether
it ran or was reused (the pipeline's tags, lines said to the user).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from balldet.backends.base_converter import ConvertedData
from balldet.backends.base_model import TrainedModel
from balldet.config import PipelineConfig
from balldet.datasets.prepared import PreparedData
from balldet.pipeline.context import RunContext
from balldet.pipeline.progress import throttled_progress
from balldet.stages.add_tags_to_pipeline import add_tags_to_pipeline
from balldet.stages.convert_data import convert_data
from balldet.stages.get_config import LoadedConfig, config_from_text, get_config
from balldet.stages.prepare_data import prepare_data
from balldet.stages.process_config import process_config
from balldet.stages.test_model import TestReport, test_model
from balldet.stages.train_model import train_model

Inputs = dict[str, Any]


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[RunContext, Inputs], Any]
    output: Any  # the output's type
    returns: str  # its name as a server run's artifact (and the next steps' argument)
    task_type: str
    step: str  # the function of balldet.pipeline.steps ClearML renders into an agent's script
    inputs: tuple[str, ...] = ()  # earlier stages whose outputs it reads
    parameters: tuple[str, ...] = ("env",)  # pipeline parameters its step takes
    step_ids: tuple[str, ...] = ()  # earlier steps whose task id its step takes (``<stage>_task_id``)
    pure: bool = False
    after: Callable[[RunContext, Any], None] | None = None
    usable: Callable[[Any], bool] = field(default=lambda output: True)  # a kept output still usable?


def _get_config(ctx: RunContext, inputs: Inputs) -> LoadedConfig:
    if ctx.config_content is not None:  # an agent: the text the run was started with travels along
        loaded = config_from_text(ctx.request.config_name, ctx.config_content)
    else:
        loaded = get_config(ctx.request.config_name, ctx.settings.configs_root)
    ctx.reporter.configuration("pipeline_config", loaded.content)
    return loaded


def _process_config(ctx: RunContext, inputs: Inputs) -> PipelineConfig:
    config = ctx.checked_config or process_config(
        inputs["get_config"], ctx.request.model_type, allow_downloads=ctx.settings.allow_downloads,
        frame_patterns=ctx.settings.frame_patterns,
    )
    ctx.reporter.parameters(config.model_dump(mode="json"), section="config")
    return config


def _prepare_data(ctx: RunContext, inputs: Inputs) -> PreparedData:
    report_file = ctx.work_dir / "data_check.json"
    progress = throttled_progress(lambda line: ctx.on_event("prepare_data", "progress", line))
    try:
        return prepare_data(inputs["process_config"], ctx.resolver, report_file=report_file,
                            cache_dir=ctx.settings.cache_dir, progress=progress)
    finally:
        if report_file.is_file():
            ctx.reporter.artifact("data_check", report_file)


def _say_notes(ctx: RunContext, data: PreparedData) -> None:
    for note in data.notes:  # the checks' warnings, the validation frames held out
        ctx.on_event("prepare_data", "note", note)


def _convert_data(ctx: RunContext, inputs: Inputs) -> ConvertedData | None:
    return convert_data(inputs["process_config"], ctx.localize(inputs["prepare_data"]), ctx.layouts_dir)


def _train_model(ctx: RunContext, inputs: Inputs) -> TrainedModel:
    config, converted = inputs["process_config"], inputs["convert_data"]
    if converted is not None and not converted.data_file.is_file():
        # The layout was built on another machine: links are cheap to make again from this one's datasets.
        converted = convert_data(config, ctx.localize(inputs["prepare_data"]), ctx.layouts_dir)
    trained = train_model(config, converted, ctx.work_dir / "train", report=ctx.reporter,
                          resume=bool(ctx.request.resume), **ctx.backend)
    if Path(trained.weights).is_file():
        # The trained model, as ClearML keeps it (its offline OutputModel is broken: an artifact).
        ctx.reporter.artifact("model", Path(trained.weights))
    return trained


def _test_model(ctx: RunContext, inputs: Inputs) -> TestReport:
    trained: TrainedModel = inputs["train_model"]
    if not Path(trained.weights).is_file() and ctx.fetch_artifact and "train_model" in ctx.step_ids:
        # Trained on another machine: the weights the train step uploaded.
        trained = trained.model_copy(update={"weights": ctx.fetch_artifact(ctx.step_ids["train_model"], "model")})
    report = test_model(inputs["process_config"], ctx.localize(inputs["prepare_data"]), trained,
                        ctx.work_dir / "predictions", report=ctx.reporter, **ctx.backend)
    ctx.pipeline.record_results(report, trained)
    return report


def _files_there(output: Any) -> bool:
    """A kept output is only reused while the files it names are still there."""
    if isinstance(output, ConvertedData):
        return output.data_file.is_file()
    if isinstance(output, TrainedModel):
        return Path(output.weights).is_file()
    if isinstance(output, TestReport):
        return output.predictions_dir is None or output.predictions_dir.is_dir()
    return True


STAGES: tuple[Stage, ...] = (
    Stage("get_config", _get_config, LoadedConfig, "loaded", "data_processing", "get_config_step",
          parameters=("config_name", "config_content", "env"), pure=True),
    Stage("process_config", _process_config, PipelineConfig, "config", "data_processing",
          "process_config_step", inputs=("get_config",), parameters=("model_type", "env"), pure=True),
    Stage("prepare_data", _prepare_data, PreparedData, "data", "data_processing", "prepare_data_step",
          inputs=("process_config",), after=_say_notes),
    Stage("add_tags_to_pipeline", lambda ctx, inputs: add_tags_to_pipeline(inputs["process_config"]), list[str], "tags",
          "data_processing", "add_tags_to_pipeline_step", inputs=("process_config",),
          after=lambda ctx, tags: ctx.pipeline.add_tags(tags)),
    Stage("convert_data", _convert_data, ConvertedData | None, "converted", "data_processing",
          "convert_data_step", inputs=("process_config", "prepare_data"), usable=_files_there),
    Stage("train_model", _train_model, TrainedModel, "trained", "training", "train_model_step",
          inputs=("process_config", "prepare_data", "convert_data"), usable=_files_there),
    Stage("test_model", _test_model, TestReport, "report", "testing", "test_model_step",
          inputs=("process_config", "prepare_data", "train_model"), step_ids=("train_model",),
          usable=_files_there),
)
STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)
BY_NAME: dict[str, Stage] = {stage.name: stage for stage in STAGES}


def file_name(stage: str) -> str:
    """``NN_<stage>.json``: a stage's output kept with a run and in the stage cache."""
    return f"{STAGE_NAMES.index(stage) + 1:02d}_{stage}.json"
