"""The local runner's reuse, resume, --from-stage and --force, with stand-in stages that do nothing
but say they ran: each case takes a fraction of a second (the training end-to-end tests cover the real
stages). The runner reads its stages from a table like balldet.pipeline.spec's, and records tasks
through any recorder; here one that keeps them in memory."""

from __future__ import annotations

import time
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from pydantic import BaseModel

from balldet.pipeline.local import LocalPipeline
from balldet.pipeline.request import RunRequest
from balldet.pipeline.spec import Stage
from balldet.settings import load_settings
from balldet.tracking.reporter import Reporter
from conftest import SETTINGS_FILE


class Made(BaseModel):
    """What a stand-in stage returns: who made it, from what, in which run."""

    stage: str
    inputs: dict[str, str] = {}
    config: str = ""
    run: str = ""


class Memory:
    """Tasks kept in memory: what ran, with which artifacts."""

    def __init__(self) -> None:
        self.opened: list[str] = []

    def prepare(self) -> None:
        pass

    @contextmanager
    def open(self, project, name, *, task_type, tags, system_tags=()):
        self.opened.append(name)
        task_id = f"memory-{len(self.opened)}"
        yield Reporter(), SimpleNamespace(as_dict=lambda: {"id": task_id, "offline_folder": None})


class World:
    """The stand-in stages' world: the config text the first stage reads, stages that fail, calls."""

    def __init__(self) -> None:
        self.config = "first"
        self.failing: set[str] = set()
        self.calls: list[str] = []
        self.tags_seen: list[list[str]] = []

    def stages(self) -> tuple[Stage, ...]:
        def stage(name: str, inputs: tuple[str, ...] = (), pure: bool = False, **extra) -> Stage:
            def run(ctx, given):
                self.calls.append(name)
                if name in self.failing:
                    raise RuntimeError(f"{name} failed")
                # a pure stage's output depends on its inputs alone (not on the run), as the real ones do
                return Made(stage=name, inputs={k: v.stage for k, v in given.items()}, config=self.config,
                            run="" if pure else ctx.work_dir.name)

            return Stage(name, run, Made, name, "training", f"{name}_step", inputs=inputs, pure=pure, **extra)

        return (
            stage("load", pure=True),
            stage("check", ("load",), pure=True),
            stage("prepare", ("check",)),
            stage("tag", ("check",), after=lambda ctx, made: ctx.pipeline.add_tags([f"made-by:{made.run}"])),
            stage("train", ("check", "prepare"), usable=lambda made: made.config != "gone"),
            stage("test", ("train",)),
        )


@pytest.fixture
def world(settings_env) -> World:
    return World()


def run(world: World, **request) -> LocalPipeline:
    settings = load_settings("local_debug", settings_file=SETTINGS_FILE)
    pipeline = LocalPipeline(settings, RunRequest(config_name="c.yaml", model_type="fake", project="p", **request),
                             stages=world.stages(), tasks=Memory(), record_run=False)
    world.calls.clear()
    started = time.monotonic()
    try:
        pipeline.run()
    finally:
        pipeline.elapsed = time.monotonic() - started
    return pipeline


def statuses(pipeline: LocalPipeline) -> dict[str, str]:
    return {s.name: s.status for s in pipeline.manifest.stages}


ALL = ["load", "check", "prepare", "tag", "train", "test"]


def test_same_inputs_reuse_every_stage_but_the_pure_ones(world):
    first = run(world)
    assert world.calls == ALL and first.elapsed < 1.0
    second = run(world)
    assert world.calls == ["load", "check"]  # pure: cheap, and what the cache key is made of
    assert statuses(second) == {"load": "completed", "check": "completed"} | {n: "reused" for n in ALL[2:]}
    assert second.run_id != first.run_id and second.elapsed < 1.0
    # what a reused output does to the run is done again: the tags of the run that made it
    assert second.ctx.pipeline.tags == [f"made-by:{first.run_id}"]


def test_changed_inputs_redo_the_stages_after_them(world):
    run(world)
    world.config = "second"
    run(world)
    assert world.calls == ALL


def test_force_redoes_everything(world):
    run(world)
    forced = run(world, force=True)
    assert world.calls == ALL and set(statuses(forced).values()) == {"completed"}


def test_from_stage_redoes_that_stage_and_the_ones_after_it(world):
    run(world)
    partial = run(world, from_stage="train")
    assert world.calls == ["load", "check", "train", "test"]
    assert statuses(partial)["prepare"] == "reused" and statuses(partial)["train"] == "completed"


def test_a_failed_run_resumes_where_it_stopped(world):
    world.failing = {"train"}
    with pytest.raises(RuntimeError, match="train failed"):
        run(world)
    failed = world
    assert failed.calls == ["load", "check", "prepare", "tag", "train"]
    settings = load_settings("local_debug", settings_file=SETTINGS_FILE)
    (run_dir,) = (settings.output_dir / "p" / "debug").iterdir()
    world.failing = set()
    resumed = run(world, resume=run_dir.name)
    # the resumed run's own outputs, pure stages included; then the stage that failed and the rest
    assert world.calls == ["train", "test"]
    assert statuses(resumed) == {n: "reused" for n in ALL[:4]} | {"train": "completed", "test": "completed"}
    assert resumed.run_id == run_dir.name and resumed.manifest.status == "completed"
    assert resumed.elapsed < 1.0


def test_a_kept_output_that_is_no_longer_usable_is_made_again(world):
    run(world)
    world.config = "gone"  # the train stage's output names a file that went away
    run(world)  # a new config: everything runs, its outputs are kept under the new key
    again = run(world)
    assert "train" in world.calls and "prepare" not in world.calls
    assert statuses(again)["train"] == "completed" and statuses(again)["test"] == "completed"
