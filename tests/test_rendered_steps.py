"""The code an agent runs: the scripts ClearML renders from balldet's pipeline steps.

ClearML stores each function step as a task definition on the controller task (a configuration
object named after the step); the agent clones the repository at the commit it names, writes the
rendered script into the working folder and runs it. These tests take those stored definitions from
a controller built for real (offline; a server cannot run here) and

- compile every step's script;
- run the first step's script as a real offline process, its ``${pipeline.*}`` parameters filled in
  as the server would, and read back the artifact it uploaded;
- run the whole chain get_config -> ... -> test_model from the rendered scripts, each step in a fresh
  interpreter in a checkout of its own (made as an agent makes it: ``git clone`` of a bare "remote"
  at the pinned commit), with an interpreter where balldet is importable only from that checkout,
  and compare its metrics with a local pipeline run of the same config and seed.

What stays untested for want of a server: ClearML substituting the parameters itself, its artifact
upload and download (here: the offline session files), the agent's pip install of the step's
requirements (here: checked against pyproject.toml), and ``Task.get_task`` (here: a reader of the
offline sessions, see ``rendered_step_driver.py``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
from pathlib import Path

import pytest

from balldet.synth.inventory import synth_dataset_id
from balldet.pipeline.request import RunRequest
from balldet.settings import load_settings
from balldet.pipeline.spec import STAGE_NAMES
from conftest import NETGUARD, REPO, SETTINGS_FILE, commit_and_publish, git, make_workspace

DRIVER = Path(__file__).resolve().parent / "rendered_step_driver.py"
TRAIN = ("20240416-Russian_Cup-CSKA_Moscow-vs-Baltika_Kaliningrad-01-001", "1.0.0")
VAL = ("class:ball-markup:tagme-001-02", "1.0.2")
TESTS = [("class:ball-markup:our-001", "1.0.0"), ("soccernet_ball_001", "1.0.2")]
CONFIG = {
    "tags": ["ball", "rendered"],
    "model_type": "ultralytics",
    "train_data": {"datasets": [synth_dataset_id(*TRAIN)]},
    "val_data": {"datasets": [synth_dataset_id(*VAL)]},
    "test_data": {"datasets": [synth_dataset_id(*t) for t in TESTS]},
    "train_config": {"model": "yolov8n.yaml", "epochs": 3, "imgsz": 160, "batch": 8, "nbs": 8, "workers": 0,
                     "optimizer": "AdamW", "lr0": 0.002, "warmup_epochs": 1, "mosaic": 0.0},
    "test_batch_size": 4,
    "seed": 3,
}
CONFIG_NAME = "aicska/object_detection/ultralytics/ball/251130_0000_rendered.yaml"



@pytest.fixture(scope="module")
def remote(tmp_path_factory) -> tuple[str, str, Path]:
    """A bare repository standing in for the team's private remote, holding this working tree as one
    commit (uncommitted edits included, so the tests see the code under test): (url, commit, clone)."""
    root = tmp_path_factory.mktemp("remote")
    work = root / "work"
    work.mkdir()
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
        capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / name)
    url = commit_and_publish(work, root / "balldet.git")
    return url, git("rev-parse", "HEAD", cwd=work), work


@pytest.fixture(scope="module")
def agent_python(tmp_path_factory) -> Path:
    """An interpreter with balldet's dependencies but not balldet: a venv that sees this venv's
    site-packages through a path line (whose .pth files, the editable install's among them, are
    therefore not run). balldet comes only from the checkout an agent makes."""
    venv = tmp_path_factory.mktemp("agent-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    Path(purelib, "development-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = subprocess.run(
        [str(python), "-c", "import clearml, ultralytics, pydantic; import balldet"],
        cwd=tmp_path_factory.mktemp("empty"), capture_output=True, text=True,
    )
    assert "No module named 'balldet'" in probe.stderr, probe.stderr
    return python


def agent_checkout(url: str, commit: str, folder: Path) -> Path:
    """What an agent does with the step's repository and commit."""
    git("clone", "-q", url, str(folder), cwd=folder.parent)
    git("checkout", "-q", commit, cwd=folder)
    return folder


@pytest.fixture
def controller(settings_env, remote, monkeypatch):
    monkeypatch.setenv("BALLDET_CLEARML_OFFLINE", "true")  # built offline: no server here
    monkeypatch.setenv("BALLDET_REMOTE__PACKAGES", '["extra-package==1.0"]')
    settings = load_settings("remote_debug", settings_file=SETTINGS_FILE)
    from balldet.pipeline.remote import build_pipeline_controller
    from balldet.pipeline.step_source import resolve_step_source
    from balldet.tracking import clearml_compat
    from balldet.tracking.session import configure_clearml

    configure_clearml(settings)
    url, commit, work = remote
    source = resolve_step_source(url, settings.remote.packages, checkout=work)
    request = RunRequest(config_name=CONFIG_NAME, model_type="ultralytics", project="aicska")
    import yaml

    built = build_pipeline_controller(settings, request, config_content=yaml.safe_dump(CONFIG), source=source)
    yield settings, built, source
    clearml_compat.controller_task(built).close()


def stored_steps(built):
    from balldet.pipeline.remote import rendered_steps

    return {step.name: step for step in rendered_steps(built)}


def test_every_stored_step_script_compiles(controller):
    _, built, _ = controller
    steps = stored_steps(built)
    assert list(steps) == list(STAGE_NAMES)
    for name, step in steps.items():
        compile(step.script, f"{name} (as stored on the controller task)", "exec")  # SyntaxError fails the test
        assert "__future__" not in step.script, name
        # The function's body is in the script, and it imports what it needs inside itself.
        assert f"def {name}_step(" in step.script and "from balldet.pipeline.agent import" in step.script


def test_steps_module_holds_nothing_but_the_step_functions():
    """ClearML copies a module's top-level imports into every rendered script (unless told not to):
    the steps module has none, so the scripts stay valid whatever that option says."""
    import ast

    import balldet.pipeline.steps as steps_module

    tree = ast.parse(Path(steps_module.__file__).read_text())
    body = tree.body[1:] if ast.get_docstring(tree) else tree.body
    assert body and all(isinstance(node, ast.FunctionDef) for node in body)


def test_step_functions_keep_the_rules_of_clearmls_function_steps(controller):
    """Rules from ClearML's function-step rendering (clearml/backend_interface/task/populate.py) that
    balldet relies on, checked on the stored definitions."""
    import inspect

    from balldet.pipeline.remote import step_arguments
    from balldet.pipeline.spec import STAGES
    from balldet.tracking import clearml_compat

    _, built, _ = controller
    for stage in STAGES:
        kwargs = step_arguments(stage)
        from balldet.pipeline import steps

        signature = inspect.signature(getattr(steps, stage.step))
        # Every argument is given by the pipeline: ClearML would otherwise pass a default as text.
        assert set(signature.parameters) == set(kwargs), stage.name
        assert all(p.default is inspect.Parameter.empty for p in signature.parameters.values()), stage.name
        stored = clearml_compat.step_definition(built, stage.name)["hyperparams"]
        for argument, value in kwargs.items():
            if value.startswith("${pipeline.") or value.endswith(".id}"):
                # A parameter: annotated str, so it is stored typed and handed back as text.
                assert signature.parameters[argument].annotation in (str, "str"), (stage.name, argument)
                assert stored["kwargs"][argument]["type"] == "str", (stage.name, argument)
            else:
                # An earlier step's result: read from its artifact, which ClearML pickles.
                assert stored["kwargs_artifacts"][argument]["value"].endswith("." + value[2:-1].split(".")[1])


def test_local_and_server_pipelines_come_from_the_one_table_of_stages(controller, settings_env):
    """The server's steps, their order, inputs and caching, and the local runner's stages and the
    store's file names are the table's (balldet.pipeline.spec)."""
    from balldet.pipeline.local import LocalPipeline
    from balldet.pipeline.request import RunRequest
    from balldet.pipeline.spec import STAGES
    from balldet.pipeline.store import file_name
    from balldet.tracking import clearml_compat

    _, built, _ = controller
    assert clearml_compat.step_names(built) == [stage.name for stage in STAGES]
    for stage in STAGES:
        node = clearml_compat.step_node(built, stage.name)
        assert set(stage.inputs) <= set(node.parents), stage.name
        assert node.cache_executed_step == stage.pure
        script = clearml_compat.step_definition(built, stage.name)["script"]["diff"]
        assert f"def {stage.step}(" in script
    local = LocalPipeline(load_settings("local_debug", settings_file=SETTINGS_FILE),
                          RunRequest(config_name="x.yaml", model_type="ultralytics", project="p"))
    assert local.stages == STAGES
    assert [file_name(STAGES, s) for s in STAGES][:2] == ["01_get_config.json", "02_process_config.json"]


def test_steps_run_the_pinned_commit_of_the_remote_with_the_projects_requirements(controller, remote):
    _, built, source = controller
    url, commit, _ = remote
    requirements = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for name, step in stored_steps(built).items():
        assert (step.repository, step.commit, step.working_dir) == (url, commit, "src"), name
        assert step.entry_point == f"{name}_step.py"
        assert step.requirements == [*requirements, "extra-package==1.0"], name
        # no machine-specific pins travel to the agents
        assert not any(re.match(r"torch(vision)?==", line) for line in step.requirements)
        assert step.parameters["kwargs/env"] == "${pipeline.env}", name


def test_the_controller_runs_the_controller_module_of_the_same_checkout(controller, remote):
    import yaml

    from balldet.pipeline.controller_agent import parameters_to_run
    from balldet.tracking import clearml_compat

    settings, built, source = controller
    url, commit, work = remote
    script = clearml_compat.controller_task(built).data.script
    assert (script.repository, script.version_num, script.working_dir) == (url, commit, "src")
    assert script.entry_point == "-m balldet.pipeline.controller_agent"
    assert not script.diff  # the launching machine's uncommitted changes do not travel
    assert (work / "src" / "balldet" / "pipeline" / "controller_agent.py").is_file()
    # The controller module rebuilds the same pipeline from the parameters stored on its task.
    parameters = {f"Pipeline/{k}": v for k, v in built.get_parameters().items()}
    request, rebuilt_source, env, content, _ = parameters_to_run(parameters)
    assert (request.config_name, request.model_type, request.project) == (CONFIG_NAME, "ultralytics", "aicska")
    assert rebuilt_source.model_dump(exclude={"uncommitted_changes"}) == source.model_dump(exclude={"uncommitted_changes"})
    assert env == "remote_debug"
    assert yaml.safe_load(content) == CONFIG
    assert set(source.controller_packages()) < set(source.packages)
    assert not any(line.startswith(("torch", "ultralytics")) for line in source.controller_packages())


def fill_parameters(script: str, values: dict[str, str]) -> str:
    """The script as the agent would see it once the server substituted ``${pipeline.*}``."""
    for name, value in values.items():
        script = script.replace(repr("${pipeline." + name + "}"), repr(value))
    assert "${pipeline." not in script
    return script


def agent_env(folder: Path, catalog: Path, **extra: str) -> dict[str, str]:
    """An agent's environment: its own folders as BALLDET_* overrides, no settings file named (the
    checkout's settings.toml is used), ClearML offline (no server here), nothing downloaded.

    Its clearml.conf turns the reporting subprocess off: clearml forks it while its repository
    detection still waits on a git subprocess, and the fork, holding that pipe, can hang Task.close
    for good (seen here; balldet's own processes set the same option)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clearml.conf").write_text("sdk { development { report_use_subprocess: false } }\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BALLDET_", "CLEARML_", "TRAINS_", "ENV_FOR_DYNACONF"))}
    env.update({
        "BALLDET_CLEARML_OFFLINE": "true",
        "BALLDET_ALLOW_DOWNLOADS": "false",
        "BALLDET_DEVICE": "cpu",
        "BALLDET_CATALOG_DIR": str(catalog),
        "BALLDET_CACHE_DIR": str(folder / "cache"),
        "BALLDET_OUTPUT_DIR": str(folder / "outputs"),
        "CLEARML_OFFLINE_MODE": "1",
        "CLEARML_CONFIG_FILE": str(folder / "clearml.conf"),
        "CLEARML_CACHE_DIR": str(folder.parent / "clearml"),
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        # the rendered script's Task.init asks clearml's update server first (blocked all the same)
        "NETGUARD_EXPECTED_HOSTS": "updates.clear.ml",
        **extra,
    })
    return env


def test_first_step_runs_as_a_real_offline_process(controller, remote, agent_python, tmp_path, tiny_catalog):
    settings, built, _ = controller
    url, commit, _ = remote
    step = stored_steps(built)["get_config"]
    checkout = agent_checkout(url, commit, tmp_path / "agent")
    content = "tags: [ball]\nmodel_type: ultralytics\n"
    values = {"config_name": CONFIG_NAME, "config_content": content, "env": "remote_debug"}
    script = checkout / step.working_dir / step.entry_point
    script.write_text(fill_parameters(step.script, values))
    env = agent_env(tmp_path / "agent-folders", tiny_catalog, PYTHONPATH=f"{script.parent}{os.pathsep}{NETGUARD}")
    done = subprocess.run(
        [str(agent_python), step.entry_point], cwd=script.parent, env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (session,) = [p for p in (tmp_path / "clearml" / "offline").iterdir() if p.is_dir()]
    task = json.loads((session / "task.json").read_text())
    connected = {k: v["value"] for k, v in task["hyperparams"]["kwargs"].items()}
    assert connected == values
    (artifact,) = session.glob("data/**/artifacts/loaded/loaded.pkl")
    import pickle

    loaded = pickle.loads(artifact.read_bytes())
    assert (loaded.config_name, loaded.content) == (CONFIG_NAME, content)


def run_chain(built, remote, agent_python, root: Path, catalog_source: Path) -> dict:
    """Every step from its rendered script, each on an agent of its own (own checkout, own folders);
    the dataset catalog the first data step saw is gone before the later steps run."""
    url, commit, _ = remote
    steps = stored_steps(built)
    from balldet.tracking import clearml_compat

    controller_id = clearml_compat.controller_task(built).id
    pipeline_values = {k: str(v) for k, v in built.get_parameters().items()}
    sessions = root / "clearml" / "offline"
    catalogs = [root / "catalog-a", root / "catalog-b"]
    shutil.copytree(catalog_source, catalogs[0])
    shutil.copytree(catalog_source, catalogs[1])
    outputs: dict[str, dict] = {}
    for name in STAGE_NAMES:
        step = steps[name]
        agent = root / f"agent-{name}"
        agent.mkdir()
        checkout = agent_checkout(url, commit, agent / "checkout")
        script = checkout / step.working_dir / step.entry_point
        script.write_text(step.script)
        kwargs, inputs = {}, {}
        for key, value in step.parameters.items():
            section, _, argument = key.partition("/")
            if section == "kwargs":
                match = re.fullmatch(r"\$\{(\w+)\.(\w+)\}", value)
                if match.group(1) == "pipeline":
                    kwargs[argument] = pipeline_values[match.group(2)]
                else:
                    kwargs[argument] = outputs[match.group(1)]["task_id"]  # ${step.id}
            elif section == "kwargs_artifacts":
                producer = value.split(".")[0][2:]
                inputs[argument] = outputs[producer]["artifact"]
        spec = {
            "script": str(script), "function": f"{name}_step", "kwargs": kwargs, "inputs": inputs,
            "returns": re.search(r"result_names = \['(\w+)'\]", step.script).group(1),
            "project": "aicska/debug/pipeline/object_detection", "task_name": name,
            "parent": controller_id, "offline_sessions": str(sessions),
            "pipeline_record": str(root / "pipeline_record.json"), "result_info": str(agent / "result.json"),
        }
        (agent / "spec.json").write_text(json.dumps(spec))
        catalog = catalogs[0] if name in ("get_config", "process_config", "prepare_data") else catalogs[1]
        env = agent_env(agent, catalog, PYTHONPATH=f"{script.parent}{os.pathsep}{NETGUARD}")
        env["CLEARML_CACHE_DIR"] = str(root / "clearml")
        started = time.monotonic()
        done = subprocess.run(
            [str(agent_python), str(DRIVER), str(agent / "spec.json")], cwd=script.parent, env=env,
            capture_output=True, text=True, timeout=900,
        )
        print(f"rendered step {name}: {time.monotonic() - started:.1f} s")
        assert done.returncode == 0, f"{name}:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
        outputs[name] = json.loads((agent / "result.json").read_text())
        assert not outputs[name]["steps_module_imported"], name
        assert outputs[name]["balldet_from"].startswith(str(checkout)), outputs[name]["balldet_from"]
        if name == "prepare_data":
            shutil.rmtree(catalogs[0])  # later agents resolve the datasets again, from their catalog
        if name == "train_model":
            shutil.rmtree(agent / "outputs")  # the test agent is another machine: no weights file there
    return outputs


@pytest.mark.slow
def test_rendered_chain_gives_the_local_pipelines_metrics(
    controller, remote, agent_python, tmp_path, tiny_catalog, monkeypatch
):
    import pickle

    _, built, _ = controller
    outputs = run_chain(built, remote, agent_python, tmp_path / "chain", tiny_catalog)
    report = pickle.loads(Path(outputs["test_model"]["artifact"]).read_bytes())
    chain_metrics = report.scalars()

    # The tags and the results reached the pipeline (controller) task, under the leaderboards' names.
    pipeline = json.loads((tmp_path / "chain" / "pipeline_record.json").read_text())
    assert pipeline["tags"] == [["ball", "rendered", "model_type:ultralytics"]]
    scalars = {(title, series): value for title, series, value in pipeline["scalars"]}
    for key, value in chain_metrics.items():
        title, _, series = key.partition("/")
        assert scalars[(title, series)] == value
    assert pipeline["properties"] == [{"seen_in_training": ""}]
    # The test step ran on an agent without the weights file: it used the train step's artifact.
    trained = pickle.loads(Path(outputs["train_model"]["artifact"]).read_bytes())
    assert not Path(trained.weights).exists()
    assert Path(report.weights).is_file() and "artifacts/model" in str(report.weights)

    # The same config and seed through the local pipeline, in a fresh process.
    (tmp_path / "local").mkdir()
    local = make_workspace(tmp_path / "local")
    shutil.rmtree(local.catalog)
    shutil.copytree(tiny_catalog, local.catalog)
    local.write_config(CONFIG_NAME, CONFIG)
    started = time.monotonic()
    done = local.cli("run", "--config_name", CONFIG_NAME, "--model_type", "ultralytics", "--project", "aicska",
                     OMP_NUM_THREADS="1")
    print(f"local pipeline: {time.monotonic() - started:.1f} s")
    assert done.returncode == 0, done.stdout + done.stderr
    (run_json,) = (local.outputs / "aicska" / "debug").glob("*/run.json")
    local_metrics = json.loads(run_json.read_text())["metrics"]
    assert chain_metrics.keys() == local_metrics.keys()
    assert chain_metrics == pytest.approx(local_metrics, abs=1e-9, nan_ok=True)
    # The very same detections, written by both: not equal by being empty.
    (chain_predictions,) = (tmp_path / "chain" / "agent-test_model" / "outputs" / "steps").glob("*/predictions")
    local_predictions = run_json.parent / "predictions"
    chain_files = {p.relative_to(chain_predictions): p.read_text() for p in chain_predictions.rglob("*.txt")}
    local_files = {p.relative_to(local_predictions): p.read_text() for p in local_predictions.rglob("*.txt")}
    assert chain_files == local_files
    assert sum(text.count("\n") for text in chain_files.values()) > 20
