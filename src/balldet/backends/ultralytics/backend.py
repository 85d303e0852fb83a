"""The ultralytics backend (YOLOv8 / YOLO11 family). ultralytics is imported only inside methods."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from balldet.backends.base_converter import ConvertedData
from balldet.backends.base_model import Detections, ModelWrapper, ScalarCallback, TrainedModel
from balldet.backends.base_model import PREDICT_CONF, PREDICT_MAX_DET, TRAINING_NAME, checkpoint_to_resume
from balldet.backends.base_model import batch_sources
from balldet.backends.options import Problems, check_options, check_weights_name, framework_device
from balldet.backends.ultralytics.env import configure_ultralytics, ultralytics_call
from balldet.backends.yolo_layout import YoloLayoutConverter
from balldet.errors import BackendError
from balldet.backends.registry import DATASET_CONVERTERS, MODEL_WRAPPERS

NAME = "ultralytics"
# Options balldet sets itself (see backends/options.py: one rule for every backend).
MANAGED_KEYS = {"data", "project", "name", "exist_ok", "device", "mode", "task", "resume", "source"}
# Defaults that differ from ultralytics' own: plots cost ~10 s per run and nobody looks at them here.
DEFAULTS: dict[str, Any] = {"model": "yolov8n.yaml", "plots": False}
# How a training from a model yaml is configured (the hint for weights that cannot be downloaded).
FROM_MODEL_YAML = " (e.g. model: yolov8n.yaml)"
# ultralytics' own default device (its default.yaml leaves it empty): it picks a GPU when there is one.
AUTO_DEVICE = None


@lru_cache(maxsize=1)
def ultralytics_train_keys() -> frozenset[str]:
    """The option names of ``YOLO.train``, read from ultralytics' default.yaml without importing it."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("ultralytics is not installed", fix="pip install ultralytics")
    default_yaml = Path(spec.submodule_search_locations[0]) / "cfg" / "default.yaml"
    return frozenset(yaml.safe_load(default_yaml.read_text()))


@DATASET_CONVERTERS.register(NAME)
class UltralyticsConverter(YoloLayoutConverter):
    model_type = NAME


@MODEL_WRAPPERS.register(NAME)
class UltralyticsWrapper(ModelWrapper):
    model_type = NAME
    weights_option = "model"
    default_weights = DEFAULTS["model"]

    def __init__(self, cache_dir: Path, *, allow_downloads: bool = False) -> None:
        super().__init__(cache_dir, allow_downloads=allow_downloads)
        self._model: Any = None
        self._device: str | None = None

    @classmethod
    def check_train_config(cls, train_config: dict[str, Any], *, allow_downloads: bool = False) -> Problems:
        problems = check_options(
            train_config, framework=NAME, known=ultralytics_train_keys(), documented_in="ultralytics' train settings",
            balldet_sets=MANAGED_KEYS,
        )
        model = train_config.get("model", DEFAULTS["model"])
        if not isinstance(model, str) or not model:
            problems.append(("train_config.model", "must be a model yaml or a .pt weights path"))
        else:
            problems += check_weights_name(
                "train_config.model", model, allow_downloads=allow_downloads, from_model_yaml=FROM_MODEL_YAML
            )
        return problems

    def _configure(self) -> None:
        configure_ultralytics(self.cache_dir, allow_downloads=self.allow_downloads)

    # ultralytics leaves torch's thread count and its deterministic switches set for the whole process:
    # the next training, of either backend, would train otherwise (ultralytics_call puts them back).
    @ultralytics_call()
    def train(
        self,
        data: ConvertedData,
        train_config: dict[str, Any],
        out_dir: Path,
        *,
        device: str,
        seed: int,
        report: ScalarCallback | None = None,
        resume: bool = False,
    ) -> TrainedModel:
        self._configure()
        from ultralytics import YOLO

        checkpoint = checkpoint_to_resume(out_dir, resume=resume)
        if checkpoint is not None:
            # ultralytics restores every option (data, epochs, optimizer state) from the checkpoint.
            model = YOLO(str(checkpoint))
            options: dict[str, Any] = dict(resume=True, device=framework_device(device, auto=AUTO_DEVICE))
        else:
            options = {**DEFAULTS, **train_config}
            model = YOLO(options.pop("model"))
            options.setdefault("seed", seed)
            options.update(
                data=str(data.data_file),
                project=str(Path(out_dir).resolve()),
                name=TRAINING_NAME,
                exist_ok=True,
                device=framework_device(device, auto=AUTO_DEVICE),
            )
        if report is not None:
            model.add_callback("on_fit_epoch_end", _epoch_reporter(report))
        model.train(**options)
        trainer = model.trainer
        weights = Path(trainer.best) if Path(trainer.best).is_file() else Path(trainer.last)
        if not weights.is_file():
            raise BackendError(f"ultralytics finished without writing weights under {out_dir}")
        metrics = {k: float(v) for k, v in (trainer.metrics or {}).items() if _is_number(v)}
        imgsz = trainer.args.imgsz
        return TrainedModel(
            model_type=NAME,
            weights=weights.resolve(),
            backend_metrics=metrics,
            epochs=int(trainer.epochs),
            image_size=int(imgsz if isinstance(imgsz, int) else max(imgsz)),
            resumed_from_epoch=int(trainer.start_epoch) if options.get("resume") else None,
        )

    def load(self, weights: Path, *, device: str) -> None:
        weights_name = str(weights)
        problems = check_weights_name(
            "weights", weights_name, allow_downloads=self.allow_downloads, from_model_yaml=FROM_MODEL_YAML
        )
        if problems:
            raise BackendError(problems[0][1])
        with ultralytics_call():
            self._configure()
            from ultralytics import YOLO

            self._model = YOLO(weights_name)
        self._device = framework_device(device, auto=AUTO_DEVICE)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def predict_batch(
        self, images: Sequence[Path | np.ndarray], *, image_size: int | None, conf: float = PREDICT_CONF
    ) -> list[Detections]:
        # ultralytics letterboxes a batch to the smallest stride-multiple rectangle only when all its
        # frames have one shape (balldet batches them so): as ultralytics' own predict does one frame.
        # Arrays go as they are: ultralytics takes numpy images as BGR, as it reads files itself.
        options: dict[str, Any] = dict(conf=conf, max_det=PREDICT_MAX_DET, verbose=False, stream=True)
        if image_size:
            options["imgsz"] = image_size
        sources = batch_sources(images)
        with ultralytics_call():  # each batch whole, so the caller runs outside it
            results = self._model.predict(sources, batch=len(sources), device=self._device, **options)
            return [_detections(result) for result in results]


def _detections(result: Any) -> Detections:
    boxes = result.boxes
    # Detections turns the float32 tensors' values into float64 boxes and scores and int64 classes.
    return Detections(
        boxes=boxes.xyxy.cpu().numpy(), scores=boxes.conf.cpu().numpy(), classes=boxes.cls.cpu().numpy()
    )


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _epoch_reporter(report: ScalarCallback):
    def on_fit_epoch_end(trainer: Any) -> None:
        epoch = int(trainer.epoch) + 1
        losses = trainer.label_loss_items(trainer.tloss, prefix="train")
        for key, value in {**losses, **(trainer.metrics or {})}.items():
            if _is_number(value):
                title, _, series = key.partition("/")
                report(f"backend/{title}", series or key, float(value), epoch)

    return on_fit_epoch_end
