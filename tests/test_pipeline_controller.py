"""The server-mode pipeline, built for real with ClearML's PipelineController (offline: no server is
needed to build it; enqueueing it needs a server, which cannot run here)."""

from __future__ import annotations

import pytest

from balldet.pipeline.request import RunRequest
from balldet.settings import load_settings
from balldet.pipeline.spec import STAGE_NAMES
from conftest import SETTINGS_FILE


CONFIG_TEXT = "tags: [ball]\nmodel_type: ultralytics\n"


@pytest.fixture
def controller(settings_env, monkeypatch):
    monkeypatch.setenv("BALLDET_CLEARML_OFFLINE", "true")  # build offline: no server here
    monkeypatch.setenv("BALLDET_QUEUES__STEPS", "cpu_queue")
    monkeypatch.setenv("BALLDET_QUEUES__PER_STEP__TRAIN_MODEL", "gpu_a100")
    settings = load_settings("remote_debug", settings_file=SETTINGS_FILE)
    from balldet.pipeline.remote import build_pipeline_controller
    from balldet.pipeline.step_source import StepSource
    from balldet.tracking.session import configure_clearml

    configure_clearml(settings)
    request = RunRequest(
        config_name="aicska/object_detection/ultralytics/ball/x.yaml", model_type="ultralytics", project="aicska"
    )
    source = StepSource(repo="https://example.invalid/balldet.git", commit="abc123" * 6 + "abcd",
                        packages=["clearml>=2.1", "torch>=2.2"])
    built = build_pipeline_controller(settings, request, config_content=CONFIG_TEXT, source=source)
    yield settings, built
    from balldet.tracking.clearml_compat import controller_task

    controller_task(built).close()


def _nodes(built) -> dict:
    """The controller's step nodes by name, in the order they were added."""
    from balldet.tracking.clearml_compat import step_names, step_node

    return {name: step_node(built, name) for name in step_names(built)}


def test_seven_steps_in_stage_order(controller):
    _, built = controller
    nodes = _nodes(built)
    assert list(nodes) == list(STAGE_NAMES)
    for previous, name in zip(STAGE_NAMES, STAGE_NAMES[1:]):
        assert previous in nodes[name].parents, f"{name} must run after {previous}"
    assert nodes["get_config"].parents == []


def test_step_queues_come_from_settings(controller):
    settings, built = controller
    queues = {name: node.queue for name, node in _nodes(built).items()}
    assert queues["train_model"] == "gpu_a100"
    assert queues["test_model"] == "gpu"  # per-step default in settings.toml
    assert queues["get_config"] == queues["prepare_data"] == "cpu_queue"
    assert settings.queues.controller == "services"


def test_pipeline_parameters_and_step_inputs(controller):
    _, built = controller
    parameters = built.get_parameters()
    assert {k: parameters[k] for k in ("config_name", "model_type", "project", "env")} == {
        "config_name": "aicska/object_detection/ultralytics/ball/x.yaml",
        "model_type": "ultralytics",
        "project": "aicska",
        "env": "remote_debug",
    }
    # The config's text travels with the run: agents need no configs checkout.
    assert parameters["config_content"] == CONFIG_TEXT
    assert "configs_commit" in parameters
    nodes = _nodes(built)
    assert nodes["get_config"].parameters["kwargs/config_name"] == "${pipeline.config_name}"
    assert nodes["get_config"].parameters["kwargs/config_content"] == "${pipeline.config_content}"
    assert nodes["process_config"].parameters["kwargs_artifacts/loaded"] == "${get_config.id}.loaded"
    assert nodes["train_model"].parameters["kwargs_artifacts/converted"] == "${convert_data.id}.converted"
    assert nodes["test_model"].parameters["kwargs_artifacts/trained"] == "${train_model.id}.trained"
    for node in nodes.values():
        if node.name != "add_tags_to_pipeline":
            assert node.parameters["kwargs/env"] == "${pipeline.env}"


def test_controller_task_lives_in_the_project_path(controller):
    from balldet.tracking.clearml_compat import controller_task

    _, built = controller
    assert controller_task(built).get_project_name() == "aicska/debug/pipeline/object_detection"


def test_only_side_effect_free_steps_are_cached(controller):
    _, built = controller
    cached = {name for name, node in _nodes(built).items() if node.cache_executed_step}
    assert cached == {"get_config", "process_config"}
