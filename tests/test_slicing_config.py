"""The `slicing` section of a pipeline config: validated with everything else (all problems at once,
each named, exit 2 before any data is fetched), in the JSON Schema and in the stage cache key."""

from __future__ import annotations

import json

import pytest

from balldet.config import PipelineConfig, json_schema
from balldet.errors import ConfigError
from balldet.stages.process_config import process_config
from test_config import loaded, minimal


def fields_of(exc: pytest.ExceptionInfo) -> set[str]:
    return {field for field, _ in exc.value.problems}


def config_text(model_type: str = "ultralytics", slicing: dict | None = None, **train_config) -> str:
    model = {"ultralytics": {"model": "yolov8n.yaml"}, "yolov5": {"cfg": "yolov5n.yaml", "weights": ""}}[model_type]
    return json.dumps(minimal(model_type=model_type, slicing=slicing or {"tile": 320},
                              train_config={**model, "epochs": 1, **train_config}))


def test_a_valid_section_gets_its_defaults():
    config = process_config(loaded(config_text(slicing={"tile": 640})), "ultralytics")
    assert config.slicing.model_dump() == {"tile": 640, "overlap": 0.2, "train": True, "full_frame": False,
                                           "empty_tiles": 0.1}
    assert process_config(loaded(json.dumps(minimal())), "ultralytics").slicing is None


@pytest.mark.parametrize("overlap", [1.0, 1.5, -0.1])
def test_overlap_outside_zero_to_one_is_refused(overlap):
    with pytest.raises(ConfigError) as exc:
        process_config(loaded(config_text(slicing={"tile": 320, "overlap": overlap})), "ultralytics")
    assert fields_of(exc) == {"slicing.overlap"}
    assert "[0, 1)" in str(exc.value)


@pytest.mark.parametrize("tile", [0, -320, 100, 31, "big", 320.5])
def test_a_tile_the_backends_do_not_accept_is_refused(tile):
    with pytest.raises(ConfigError) as exc:
        process_config(loaded(config_text(slicing={"tile": tile})), "ultralytics")
    assert fields_of(exc) == {"slicing.tile"}


def test_the_tile_is_required_and_unknown_keys_are_named():
    with pytest.raises(ConfigError) as exc:
        process_config(loaded(config_text(slicing={"overlap": 0.1, "tiles": 320})), "ultralytics")
    assert fields_of(exc) == {"slicing.tile", "slicing.tiles"}


@pytest.mark.parametrize("model_type", ["ultralytics", "yolov5"])
def test_an_image_size_below_the_tile_is_refused_for_both_backends(model_type):
    with pytest.raises(ConfigError) as exc:
        process_config(loaded(config_text(model_type, {"tile": 640}, imgsz=320)), model_type)
    assert fields_of(exc) == {"train_config.imgsz"}
    assert "shrink" in str(exc.value) and "imgsz: 640" in str(exc.value)
    # at or above the tile (tiles scaled up) is the user's choice
    process_config(loaded(config_text(model_type, {"tile": 640}, imgsz=640)), model_type)
    process_config(loaded(config_text(model_type, {"tile": 320}, imgsz=640)), model_type)


def test_whole_frame_training_leaves_the_image_size_alone():
    # train: false trains on whole frames at any size; only prediction is sliced
    config = process_config(loaded(config_text(slicing={"tile": 640, "train": False}, imgsz=320)), "ultralytics")
    assert config.slicing.train is False


def test_multi_scale_that_shrinks_tiles_is_refused():
    # yolov5's flag draws sizes down to half the image size
    with pytest.raises(ConfigError) as exc:
        process_config(loaded(config_text("yolov5", {"tile": 320}, multi_scale=True)), "yolov5")
    assert fields_of(exc) == {"train_config.multi_scale"} and "imgsz: 640" in str(exc.value)
    process_config(loaded(config_text("yolov5", {"tile": 320}, multi_scale=True, imgsz=640)), "yolov5")
    # ultralytics' fraction: 640 * (1 - 0.5) = 320 keeps the tile size, 0.6 does not
    process_config(loaded(config_text("ultralytics", {"tile": 320}, multi_scale=0.5, imgsz=640)), "ultralytics")
    with pytest.raises(ConfigError) as exc:
        process_config(loaded(config_text("ultralytics", {"tile": 320}, multi_scale=0.6, imgsz=640)), "ultralytics")
    assert fields_of(exc) == {"train_config.multi_scale"}


def test_every_problem_at_once():
    text = json.dumps(minimal(tags=[], slicing={"tile": 100, "overlap": 2},
                              train_config={"model": "yolov8n.yaml", "imgsz": 64, "multi_scale": 0.9}))
    with pytest.raises(ConfigError) as exc:
        process_config(loaded(text), "ultralytics")
    assert {"tags", "slicing.tile", "slicing.overlap"} <= fields_of(exc)
    # the tile is unusable, so what would conflict with it cannot be told: not reported twice
    assert "train_config.imgsz" not in fields_of(exc)


def test_the_section_is_in_the_json_schema():
    schema = json_schema()
    assert "slicing" in schema["properties"]
    section = schema["$defs"]["SlicingSection"]
    assert set(section["properties"]) == {"tile", "overlap", "train", "full_frame", "empty_tiles"}
    assert section["required"] == ["tile"]


def test_the_section_changes_the_stage_cache_key_and_the_layout_key(tmp_path):
    from balldet.datasets.catalog import LocalCatalog
    from balldet.datasets.prepared import PreparedData
    from balldet.datasets.resolver import DatasetResolver
    from balldet.pipeline.store import inputs_key
    from balldet.stages.convert_data import layout_key

    plain = PipelineConfig.model_validate(minimal())
    sliced = PipelineConfig.model_validate(minimal(slicing={"tile": 320}))
    other = PipelineConfig.model_validate(minimal(slicing={"tile": 320, "overlap": 0.3}))
    resolver = DatasetResolver(LocalCatalog(tmp_path / "catalog"))
    assert len({inputs_key([c], resolver) for c in (plain, sliced, other)}) == 3
    data = PreparedData(test=[], class_names=["ball"])
    keys = {layout_key(c, data, {"slicing": c.slicing.model_dump()} if c.slicing else {}) for c in (plain, sliced, other)}
    assert len(keys) == 3


def test_cli_refuses_a_bad_section_before_any_data_is_fetched(workspace):
    name = workspace.write_config("sliced.yaml", minimal(slicing={"tile": 300, "overlap": 1},
                                                         train_config={"model": "yolov8n.yaml", "imgsz": 320}))
    result = workspace.cli("run", "--config_name", name, "--model_type", "ultralytics", "--project", "p")
    assert result.returncode == 2, result.stderr
    assert "slicing.tile" in result.stderr and "slicing.overlap" in result.stderr
    assert not any(workspace.outputs.iterdir())
    assert not (workspace.cache / "clearml").exists()
