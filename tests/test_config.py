from __future__ import annotations

import json
from pathlib import Path

import pytest

from balldet.config import PipelineConfig, load_config_file, validate_config
from balldet.errors import ConfigError
from balldet.stages.get_config import LoadedConfig
from balldet.stages.process_config import process_config

MISSION_EXAMPLE = Path(__file__).parent / "data" / "mission_example.yaml"
GOOD_ID = "0dac56d606a69345340ab0c42088587b"


def loaded(text: str) -> LoadedConfig:
    return LoadedConfig(config_name="x.yaml", path=Path("x.yaml"), content=text, sha256="0")


def minimal(**changes) -> dict:
    config = {
        "tags": ["ball"],
        "model_type": "ultralytics",
        "train_data": {"datasets": [GOOD_ID]},
        "test_data": {"datasets": [GOOD_ID.replace("0", "1")]},
        "train_config": {"model": "yolov8n.yaml", "epochs": 1},
    }
    config.update(changes)
    return config


def test_mission_example_validates_as_written():
    config = load_config_file(MISSION_EXAMPLE, model_type="yolov5")
    assert config.tags == ["ball"]
    assert config.train_config["hyp"] == {"lr0": 0.01, "lrf": 0.01}
    assert config.test_batch_size == 12
    assert (len(config.train_ids), len(config.test_data.datasets)) == (4, 5)
    # The team scores its four training sets on purpose, beside a held-out set: declared overlap.
    assert config.seen_in_training == config.train_ids


def test_every_problem_is_reported_at_once_with_its_field():
    bad = {
        "model_type": "ultralytics",
        "tagz": ["ball"],
        "train_data": {"datasets": ["not-an-id", GOOD_ID]},
        "test_data": {"datasets": []},
        "test_batch_size": "twelve",
    }
    with pytest.raises(ConfigError) as info:
        validate_config(bad, model_type="yolov5")
    fields = info.value.fields
    assert "tagz" in fields
    assert "train_data.datasets.0" in fields
    assert "test_data.datasets" in fields
    assert "test_batch_size" in fields
    assert "model_type" in fields  # disagrees with --model_type
    assert info.value.exit_code == 2


def test_uppercase_or_short_ids_are_rejected():
    for bad_id in (GOOD_ID.upper(), GOOD_ID[:-1], GOOD_ID + "0"):
        with pytest.raises(ConfigError, match="not a dataset id"):
            validate_config(minimal(test_data={"datasets": [bad_id]}))


def test_duplicate_dataset_is_rejected():
    with pytest.raises(ConfigError, match="listed twice"):
        validate_config(minimal(test_data={"datasets": [GOOD_ID, GOOD_ID]}))


def test_unknown_train_config_key_gets_a_suggestion():
    text = json.dumps(minimal(train_config={"model": "yolov8n.yaml", "epoch": 3, "lr00": 0.1}))
    with pytest.raises(ConfigError) as info:
        process_config(loaded(text), "ultralytics")
    message = str(info.value)
    assert "train_config.epoch" in message and "'epochs'" in message
    assert "train_config.lr00" in message and "'lr0'" in message


def test_keys_balldet_manages_are_refused_in_train_config():
    text = json.dumps(minimal(train_config={"data": "x.yaml", "project": "p"}))
    with pytest.raises(ConfigError) as info:
        process_config(loaded(text), "ultralytics")
    assert {"train_config.data", "train_config.project"} <= set(info.value.fields)


def test_weights_that_would_be_downloaded_are_refused_offline(tmp_path):
    text = json.dumps(minimal(train_config={"model": "yolo11n.pt"}))
    with pytest.raises(ConfigError, match="not a local file"):
        process_config(loaded(text), "ultralytics", allow_downloads=False)
    assert process_config(loaded(text), "ultralytics", allow_downloads=True).train_config["model"] == "yolo11n.pt"
    local = tmp_path / "mine.pt"
    local.write_bytes(b"x")
    text = json.dumps(minimal(train_config={"model": str(local)}))
    assert process_config(loaded(text), "ultralytics").train_config["model"] == str(local)


def test_unknown_model_type_lists_the_known_ones():
    with pytest.raises(ConfigError, match="known: ultralytics"):
        process_config(loaded(json.dumps(minimal(model_type="detectron"))), None)


def test_yaml_syntax_error_names_the_line():
    with pytest.raises(ConfigError, match="line 2"):
        process_config(loaded("tags: [ball\nmodel_type: x: y\n"), None)


def test_schema_describes_the_fixed_fields():
    schema = PipelineConfig.model_json_schema()
    assert {"tags", "model_type", "train_data", "test_data", "train_config", "test_batch_size"} <= set(
        schema["properties"]
    )
    assert set(schema["required"]) == {"tags", "model_type", "train_data", "test_data"}


@pytest.mark.parametrize("missing", ["tags", "train_data"])
def test_tags_and_train_data_are_required_as_in_the_original(missing):
    config = minimal()
    del config[missing]
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    assert info.value.fields == [missing]
    with pytest.raises(ConfigError, match="at least 1"):
        validate_config(minimal(tags=[]))


def test_testing_pretrained_weights_is_said_explicitly(tmp_path):
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"x")
    config = validate_config(minimal(train_data="pretrained", train_config={"model": str(weights)}))
    assert not config.trains and config.train_ids == []
    # It survives the round trip the stage outputs make.
    assert PipelineConfig.model_validate_json(config.model_dump_json()).train_data is None
    assert config.model_dump()["train_data"] == "pretrained"
    for wrong in (None, "pretrain"):
        with pytest.raises(ConfigError, match="pretrained"):
            validate_config(minimal(train_data=wrong))


def test_cli_validate_bad_config_exits_2_naming_the_field(workspace):
    name = workspace.write_config("bad.yaml", minimal(test_batch_size=0, train_data={"datasets": ["xyz"]}))
    result = workspace.cli("configs", "validate", name)
    assert result.returncode == 2, result.stderr
    assert "test_batch_size" in result.stderr
    assert "train_data.datasets.0" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_validate_good_config(workspace):
    name = workspace.write_config("good.yaml", minimal())
    result = workspace.cli("configs", "validate", name, "--model-type", "ultralytics", "--skip-datasets")
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout and "not looked up" in result.stdout


def test_cli_validate_looks_the_datasets_up(workspace, tiny_catalog):
    import shutil

    name = workspace.write_config("good.yaml", minimal())
    result = workspace.cli("configs", "validate", name)
    assert result.returncode == 2
    assert "train_data.datasets.0" in result.stderr and "test_data.datasets.0" in result.stderr
    assert "not in the local catalog" in result.stderr
    shutil.rmtree(workspace.catalog)
    shutil.copytree(tiny_catalog, workspace.catalog)
    from balldet.synth.inventory import synth_dataset_id

    train = synth_dataset_id("class:ball-markup:our-001", "1.0.0")
    held_out = synth_dataset_id("soccernet_ball_001", "1.0.2")
    name = workspace.write_config("overlap.yaml", minimal(
        train_data={"datasets": [train]}, test_data={"datasets": [train, held_out]}))
    result = workspace.cli("configs", "validate", name)
    assert result.returncode == 0, result.stderr
    # Declared overlap is the config's choice: said at validation time, naming the dataset.
    assert "declared overlap" in result.stdout and "class:ball-markup:our-001-ver:1.0.0" in result.stdout
    assert "soccernet" not in result.stdout.split("declared overlap")[1].split("\n")[0]


def test_cli_model_type_mismatch_exits_2_before_running(workspace):
    name = workspace.write_config("good.yaml", minimal())
    result = workspace.cli("run", "--config_name", name, "--model_type", "yolov5", "--project", "p")
    assert result.returncode == 2
    assert "model_type" in result.stderr
    assert not any(workspace.outputs.iterdir())  # nothing ran, nothing written
    assert not (workspace.cache / "clearml").exists()


def test_cli_unknown_dataset_exits_2_before_any_task(workspace):
    name = workspace.write_config("good.yaml", minimal())
    result = workspace.cli("run", "--config-name", name, "--model-type", "ultralytics", "--project", "p")
    assert result.returncode == 2
    assert "train_data.datasets.0" in result.stderr and "not in the local catalog" in result.stderr
    assert not (workspace.cache / "clearml").exists()


def test_cli_config_outside_the_root_is_refused(workspace):
    result = workspace.cli("configs", "validate", "../../etc/passwd")
    assert result.returncode == 2
    assert "outside the configs root" in result.stderr


def test_cli_schema_is_json(workspace):
    result = workspace.cli("configs", "schema")
    assert result.returncode == 0
    assert json.loads(result.stdout)["title"] == "balldet pipeline config"


def test_options_balldet_sets_are_refused_the_same_way_by_every_backend():
    """One rule: `device` (and the data, output and resume options) come from balldet, never from
    train_config, in both backends -- refused before anything runs, naming where the value comes from."""
    messages = {}
    for model_type, train_config in (("ultralytics", {"model": "yolov8n.yaml"}), ("yolov5", {"cfg": "yolov5n.yaml"})):
        text = json.dumps(minimal(model_type=model_type, train_config={**train_config, "device": "cpu",
                                                                       "data": "x.yaml", "resume": True}))
        with pytest.raises(ConfigError) as info:
            process_config(loaded(text), model_type)
        problems = dict(info.value.problems)
        assert {"train_config.device", "train_config.data", "train_config.resume"} <= set(problems)
        assert "BALLDET_DEVICE" in problems["train_config.device"]
        messages[model_type] = problems["train_config.device"]
    assert messages["ultralytics"] == messages["yolov5"]


def test_config_name_given_as_a_path_from_here_is_understood(workspace, monkeypatch):
    """`--config_name configs/aicska/...` (tab-completed from the repository root) names the same
    config as `aicska/...`: the configs root's prefix is not doubled."""
    from balldet.stages.get_config import canonical_config_name

    name = workspace.write_config("aicska/object_detection/ultralytics/ball/good.yaml", minimal())
    monkeypatch.chdir(workspace.root)
    assert canonical_config_name(f"configs/{name}", workspace.configs) == name
    result = workspace.cli("configs", "validate", f"configs/{name}", "--skip-datasets")
    assert result.returncode == 0, result.stderr
    result = workspace.cli("configs", "validate", str(workspace.configs / name), "--skip-datasets")
    assert result.returncode == 0, result.stderr
    missing = workspace.cli("configs", "validate", "configs/aicska/none.yaml", "--skip-datasets")
    assert missing.returncode == 2 and "no config file" in missing.stderr


def test_undefined_measures_read_n_a():
    from balldet.cli.app import format_measure
    from balldet.tracking.leaderboard import LeaderboardRow, table

    assert format_measure(-1.0) == "n/a" and format_measure(float("nan")) == "n/a" and format_measure(None) == "n/a"
    assert format_measure(0.5) == "0.5000"
    _, body = table([LeaderboardRow("r", "yolov5", "test", "d-ver:1", "t", metrics={"mAP@0.5": -1.0})], ["mAP@0.5"])
    assert body[0][3] == "n/a"
