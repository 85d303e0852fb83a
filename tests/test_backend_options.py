"""The rules both backends apply to train_config (backends/options.py), and `train_data: pretrained`."""

from __future__ import annotations

import pytest

from balldet.backends.options import check_options, check_weights_name, framework_device
from balldet.backends.ultralytics.backend import UltralyticsWrapper
from balldet.backends.yolov5.backend import Yolov5Wrapper
from balldet.errors import BackendError


def test_one_option_check_for_every_backend():
    problems = dict(check_options(
        {"data": "x.yaml", "epoch": 3, "img": 64, "evolve": 10, "epochs": "ten"},
        framework="frame", known={"epochs", "imgsz", "evolve"}, documented_in="frame's docs",
        balldet_sets={"data"}, aliases={"img": "imgsz"}, unsupported={"evolve": "many trainings"},
        check_value=lambda field, key, value: [] if isinstance(value, int) else [(field, "must be an integer")],
    ))
    assert list(problems)[0] == "train_config.data"  # what balldet sets comes first
    assert "set by balldet" in problems["train_config.data"]
    assert problems["train_config.epoch"] == "unknown frame option; did you mean 'epochs'?"
    assert problems["train_config.img"] == "write it as 'imgsz' (frame's option name)"
    assert problems["train_config.evolve"] == "not supported by balldet: many trainings"
    assert problems["train_config.epochs"] == "must be an integer"
    far = check_options({"zzz": 1}, framework="frame", known={"epochs"}, documented_in="frame's docs", balldet_sets=())
    assert far == [("train_config.zzz", "unknown frame option; see frame's docs")]


def test_one_rule_for_weights_that_would_be_downloaded(tmp_path):
    local = tmp_path / "mine.pt"
    local.write_bytes(b"x")
    for fine in ("", "yolov8n.yaml", "models/yolov5n.yml", str(local)):
        assert check_weights_name("f", fine, allow_downloads=False, from_model_yaml="") == [], fine
    for fetched in ("yolov8n.pt", "yolov8n", "https://example.org/w.pt", "keremberke/yolov5n-football"):
        assert check_weights_name("f", fetched, allow_downloads=True, from_model_yaml="") == []
        ((field, message),) = check_weights_name("f", fetched, allow_downloads=False, from_model_yaml=" (hint)")
        assert field == "f" and "not a local file" in message and message.endswith("model yaml (hint)")
    assert "yolov8n.yaml" in UltralyticsWrapper.check_train_config({"model": "yolo11n.pt"})[0][1]
    assert "cfg: yolov5n.yaml" in Yolov5Wrapper.check_train_config({"weights": "yolov5s"})[0][1]


def test_auto_device_is_each_frameworks_own_default():
    assert framework_device("auto", auto=None) is None and framework_device("", auto=None) is None
    assert framework_device("auto", auto="") == ""
    assert framework_device("cpu", auto=None) == "cpu" and framework_device("0,1", auto="") == "0,1"


@pytest.mark.parametrize("wrapper, option", [(UltralyticsWrapper, "model"), (Yolov5Wrapper, "weights")])
def test_pretrained_weights_are_tested_as_they_are(wrapper, option, tmp_path):
    weights = tmp_path / "best.pt"
    trained = wrapper.pretrained_model({option: str(weights), "imgsz": 320})
    assert (trained.model_type, trained.weights, trained.image_size) == (wrapper.model_type, weights, 320)
    assert wrapper.pretrained_model({option: str(weights), "imgsz": [320, 256]}).image_size is None
    with pytest.raises(BackendError, match="not a weights file") as info:
        wrapper.pretrained_model({option: "net.yaml"})
    assert f"train_config.{option}" in info.value.fix
    with pytest.raises(BackendError, match="not a weights file"):
        wrapper.pretrained_model({})  # ultralytics' default is a model yaml, yolov5's no weights

