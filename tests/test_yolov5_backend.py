"""The yolov5 backend with the real yolov5 package (no mocks) on tiny synthetic data, offline.

One model is trained once for the module (1 epoch, 160 px) and shared. The yolov5 fixes must stay
inside the backend: numpy, torch, setuptools, sys.argv and sys.path look to the rest of the process
as they did before, and the ultralytics backend works beside it in the same process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy
import pytest
import torch

from balldet.backends.base_model import TrainedModel
from balldet.backends.yolov5.backend import Yolov5Converter, Yolov5Wrapper
from balldet.backends.yolov5.compat import yolov5_root
from balldet.boxes import Detections
from balldet.datasets.catalog import LocalCatalog
from balldet.datasets.prepared import FrameRef, PreparedData
from balldet.synth.inventory import synth_dataset_id
from balldet.backends.registry import get_dataset_converter, get_model_wrapper

HAD_TRAPZ = hasattr(numpy, "trapz")

TRAIN = synth_dataset_id("20240416-Russian_Cup-CSKA_Moscow-vs-Baltika_Kaliningrad-01-001", "1.0.0")
VAL = synth_dataset_id("class:ball-markup:tagme-001-02", "1.0.2")
TINY_TRAIN = {
    "cfg": "yolov5n.yaml", "weights": "", "epochs": 1, "imgsz": 160, "batch_size": 4, "workers": 0,
    "hyp": {"mosaic": 0.0, "warmup_epochs": 1},
}
MISSION_EXAMPLE = {"weights": "yolov5m6.pt", "cfg": "", "hyp": {"lr0": 0.01, "lrf": 0.01}}
NETGUARD = Path(__file__).resolve().parent / "netguard"


def subprocess_env() -> dict[str, str]:
    """The test suite's network guard for a child process too."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(NETGUARD), os.environ.get("PYTHONPATH", "")])}


def process_state() -> dict:
    """What yolov5 would change for the whole process if its fixes were not contained."""
    return {
        "numpy.trapz": getattr(numpy, "trapz", None),
        "pkg_resources": sys.modules.get("pkg_resources"),
        "torch.load": torch.load,
        "sys.argv": (sys.argv, list(sys.argv)),
        "yolov5 on sys.path": [p for p in sys.path if Path(p).resolve() == yolov5_root().resolve()],
        # yolov5's folder imported as top-level packages
        "models/utils": [
            n for n in ("models", "utils") if "yolov5" in str(getattr(sys.modules.get(n), "__file__", ""))
        ],
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "numpy print": numpy.get_printoptions(),
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "YOLOV5_CONFIG_DIR", "KMP_DUPLICATE_LIB_OK")},
    }


# -- check_train_config: cheap, before anything runs ------------------------------------------------


def problems_of(train_config: dict, *, allow_downloads: bool = False) -> dict[str, str]:
    return dict(Yolov5Wrapper.check_train_config(train_config, allow_downloads=allow_downloads))


def test_registered():
    assert get_model_wrapper("yolov5") is Yolov5Wrapper
    assert get_dataset_converter("yolov5") is Yolov5Converter


def test_mission_example_passes_where_downloads_are_allowed():
    assert problems_of(MISSION_EXAMPLE, allow_downloads=True) == {}
    assert problems_of(TINY_TRAIN) == {}
    assert problems_of({"epochs": 3, "optimizer": "AdamW", "cos_lr": True, "freeze": [10]}) == {}


def test_unknown_keys_get_suggestions():
    problems = problems_of({**TINY_TRAIN, "epoch": 3, "batch": 8, "optimiser": "SGD", "img": 320})
    assert set(problems) == {
        "train_config.epoch", "train_config.batch", "train_config.optimiser", "train_config.img"
    }
    assert "did you mean 'epochs'?" in problems["train_config.epoch"]
    assert "did you mean 'batch_size'?" in problems["train_config.batch"]
    assert "did you mean 'optimizer'?" in problems["train_config.optimiser"]
    assert "'imgsz'" in problems["train_config.img"]  # an alias of yolov5's CLI, not an option name


def test_keys_balldet_sets_and_bad_values_are_refused():
    problems = problems_of(
        {**TINY_TRAIN, "data": "x.yaml", "device": "0", "project": "p", "resume": True,
         "optimizer": "Adam2", "epochs": "ten", "hf_model_id": "me/model", "noval": True}
    )
    for key in ("data", "device", "project", "resume"):
        assert "set by balldet" in problems[f"train_config.{key}"]
    assert "SGD, Adam, AdamW" in problems["train_config.optimizer"]
    assert "integer" in problems["train_config.epochs"]
    assert "not supported" in problems["train_config.hf_model_id"]
    assert "map50s" in problems["train_config.noval"]  # a crash of yolov5 7.0.x, refused up front


def test_weights_to_download_are_a_clear_problem_offline():
    problems = problems_of(MISSION_EXAMPLE, allow_downloads=False)
    assert list(problems) == ["train_config.weights"]
    message = problems["train_config.weights"]
    assert "'yolov5m6.pt'" in message and "local .pt file" in message and "cfg: yolov5n.yaml" in message


def test_hyp_typo_is_named_with_its_key():
    problems = problems_of({**TINY_TRAIN, "hyp": {"lr00": 0.01, "lrf": 0.01, "mosaic": "no"}})
    assert set(problems) == {"train_config.hyp.lr00", "train_config.hyp.mosaic"}
    assert "did you mean 'lr0'?" in problems["train_config.hyp.lr00"]
    assert problems_of({"hyp": "hyp.scratch-high.yaml"}) == {}
    assert "train_config.hyp" in problems_of({"hyp": "hyp.nothing.yaml"})
    assert "train_config.cfg" in problems_of({"cfg": "yolov5q.yaml"})


def test_importing_the_backend_and_checking_a_config_leaves_the_process_alone():
    code = textwrap.dedent(
        """
        import sys, numpy
        had_trapz = hasattr(numpy, "trapz")
        from balldet.backends.yolov5.backend import Yolov5Wrapper
        assert Yolov5Wrapper.check_train_config({"epochs": 1, "hyp": {"lr0": 0.01}}) == []
        assert hasattr(numpy, "trapz") == had_trapz
        heavy = {"torch", "yolov5", "ultralytics", "pkg_resources", "models", "utils"} & set(sys.modules)
        assert not heavy, heavy
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


# -- yolov5's own AP computation: where numpy 2.4 broke it ------------------------------------------


def test_yolov5_ap_with_true_positives(tmp_path_factory):
    from balldet.backends.yolov5.compat import import_yolov5, yolov5_call

    with yolov5_call():
        metrics = import_yolov5(tmp_path_factory.mktemp("cache"), allow_downloads=False).metrics
        # 4 labels of class 0; 6 detections, the 4 best true positives at every IoU threshold.
        conf = numpy.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
        tp = numpy.zeros((6, 10), dtype=bool)
        tp[:4] = True
        _, _, p, r, _, ap, classes = metrics.ap_per_class(
            tp, conf, numpy.zeros(6), numpy.zeros(4), names={0: "ball"}
        )
        assert classes.tolist() == [0]
        assert ap.shape == (1, 10) and numpy.all(ap > 0.99), ap
        assert r[0] == pytest.approx(1.0, abs=0.01)

        # Half the detections right, interleaved with wrong ones: AP strictly between 0 and 1.
        tp_half = numpy.array([[True], [False], [True], [False]])
        ap_half = metrics.ap_per_class(tp_half, conf[:4], numpy.zeros(4), numpy.zeros(4), names={0: "b"})[5]
        assert 0.2 < float(ap_half[0, 0]) < 0.8
    assert hasattr(numpy, "trapz") == HAD_TRAPZ


# -- training, loading and predicting -------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_data(tiny_catalog: Path) -> PreparedData:
    catalog = LocalCatalog(tiny_catalog)
    train, val = catalog.get(TRAIN), catalog.get(VAL)
    # One frame left out: the trainers read the training frames from a frame list (the end-to-end
    # runs cover whole-folder layouts).
    left_out = FrameRef(dataset_id=train.id, file=train.image_files()[0].name)
    return PreparedData(train=[train], val=[val], test=[], class_names=train.names, dropped_frames=[left_out])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_data) -> tuple[Yolov5Wrapper, TrainedModel, list]:
    root = tmp_path_factory.mktemp("yolov5")
    layout = Yolov5Converter().convert(tiny_data, root / "layout")
    assert (layout.root / "train" / "frames.txt").is_file()
    wrapper = Yolov5Wrapper(root / "cache")
    reported: list[tuple] = []
    before = process_state()
    model = wrapper.train(
        layout, TINY_TRAIN, root / "train", device="cpu", seed=0, report=lambda *a: reported.append(a)
    )
    assert process_state() == before  # the first import of yolov5 in this process included
    assert (layout.root / "train" / "frames.cache").is_file()  # the label cache stays in the layout
    return wrapper, model, reported


def test_train_one_epoch(trained):
    _, model, reported = trained
    assert model.model_type == "yolov5"
    assert model.weights.is_absolute() and model.weights.is_file() and model.weights.name == "best.pt"
    assert set(model.backend_metrics) == {"P", "R", "mAP50", "mAP50-95"}
    assert all(0.0 <= v <= 1.0 for v in model.backend_metrics.values())
    assert (model.epochs, model.image_size) == (1, 160)
    scalars = {(title, series): (value, epoch) for title, series, value, epoch in reported}
    assert scalars[("backend/train", "box_loss")][1] == 1
    assert ("backend/metrics", "mAP_0.5") in scalars and ("backend/x", "lr0") in scalars
    # The hyp overrides were merged onto yolov5's defaults.
    hyp = (model.weights.parents[2] / "hyp.yaml").read_text()
    assert "mosaic: 0.0" in hyp and "lr0: 0.01" in hyp


def test_load_and_predict_every_image_in_order(trained, tiny_data, tmp_path):
    _, model, _ = trained
    wrapper = Yolov5Wrapper(tmp_path / "cache")
    wrapper.load(model.weights, device="cpu")
    images = tiny_data.val[0].image_files()
    detections = list(wrapper.predict(images, batch_size=4, image_size=160))
    assert len(detections) == len(images)
    for dets in detections:
        assert isinstance(dets, Detections)
        assert dets.boxes.shape == (len(dets.scores), 4) and dets.classes.dtype == numpy.int64
        assert len(dets.scores) <= 300 and numpy.all(dets.scores >= 0.001)
        if len(dets.scores):
            assert dets.boxes[:, 0].min() >= 0 and dets.boxes[:, 2].max() <= 320  # original pixels (320x192)
            assert dets.boxes[:, 1].min() >= 0 and dets.boxes[:, 3].max() <= 192
    # Order: predicting the images the other way round gives the same detections, reversed.
    backwards = list(wrapper.predict(images[::-1], batch_size=4, image_size=160))[::-1]
    for a, b in zip(detections, backwards):
        assert len(a.scores) == len(b.scores)
        assert a.scores.sum() == pytest.approx(b.scores.sum(), rel=1e-4, abs=1e-6)


def test_running_yolov5_leaves_the_process_as_it_was(trained, tiny_data, tmp_path):
    """Training (checked in the fixture), loading and predicting change nothing outside yolov5."""
    _, model, _ = trained
    before = process_state()
    assert before["numpy.trapz"] is None or HAD_TRAPZ
    assert not getattr(before["pkg_resources"], "__balldet_standin__", False)
    assert not before["yolov5 on sys.path"] and not before["models/utils"]
    wrapper = Yolov5Wrapper(tmp_path / "cache")
    wrapper.load(model.weights, device="cpu")
    list(wrapper.predict(tiny_data.val[0].image_files()[:2], batch_size=2, image_size=160))
    assert process_state() == before
    # yolov5's own modules keep their fixes.
    metrics = sys.modules["yolov5.utils.metrics"]
    if not HAD_TRAPZ:
        assert metrics.np.trapz is numpy.trapezoid
    assert sys.modules["yolov5.models.experimental"].torch.load is not torch.load


def test_ultralytics_after_yolov5_in_the_same_process(trained, tiny_data, tmp_path):
    """yolov5 first (the module's model), then ultralytics trains and predicts, then yolov5 again."""
    from balldet.backends.ultralytics.backend import UltralyticsConverter, UltralyticsWrapper

    yolov5_wrapper, yolov5_model, _ = trained
    layout = UltralyticsConverter().convert(tiny_data, tmp_path / "layout")
    ultra = UltralyticsWrapper(tmp_path / "cache")
    model = ultra.train(
        layout, {"model": "yolov8n.yaml", "epochs": 1, "imgsz": 160, "batch": 4, "workers": 0},
        tmp_path / "train", device="cpu", seed=0,
    )
    assert list((layout.root / "train" / "labels").glob("*.cache"))  # trained from the frame list
    ultra.load(model.weights, device="cpu")
    images = tiny_data.val[0].image_files()[:4]
    assert len(list(ultra.predict(images, batch_size=4, image_size=160))) == 4

    yolov5_wrapper.load(yolov5_model.weights, device="cpu")
    assert len(list(yolov5_wrapper.predict(images, batch_size=2, image_size=160))) == 4


def test_yolov5_after_ultralytics_in_a_fresh_process(trained, tiny_data, tmp_path):
    """ultralytics imported and configured first, then yolov5 loads and predicts (no training)."""
    _, model, _ = trained
    images = [str(p) for p in tiny_data.val[0].image_files()[:3]]
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from balldet.backends.ultralytics.env import configure_ultralytics
        configure_ultralytics(Path({str(tmp_path / "cache")!r}), allow_downloads=False)
        from ultralytics import YOLO
        YOLO("yolov8n.yaml")
        from balldet.backends.yolov5.backend import Yolov5Wrapper
        wrapper = Yolov5Wrapper(Path({str(tmp_path / "cache")!r}))
        wrapper.load(Path({str(model.weights)!r}), device="cpu")
        dets = list(wrapper.predict([Path(p) for p in {images!r}], batch_size=2, image_size=160))
        assert len(dets) == 3
        import ultralytics.utils.checks  # ultralytics still usable afterwards
        YOLO("yolov8n.yaml")
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stdout[-2000:] + result.stderr[-4000:]


def test_offline_load_of_a_weights_name_is_refused(tmp_path):
    from balldet.errors import BackendError

    with pytest.raises(BackendError, match="not a local file"):
        Yolov5Wrapper(tmp_path / "cache").load(Path("yolov5s.pt"), device="cpu")
