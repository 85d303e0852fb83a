"""The yolov5 backend (the ``yolov5`` PyPI package, YOLOv5 7.0). yolov5 is imported only inside
methods, through :mod:`balldet.backends.yolov5.compat`, which makes it work on today's numpy, torch
and setuptools, offline, without changing anything for the rest of the process.

``train_config`` holds the options of yolov5's ``train.py`` (``weights``, ``cfg``, ``epochs``,
``batch_size``, ``imgsz``, ``optimizer``, ...) under their Python names, and ``hyp``: a hyp yaml
(a local file or one of yolov5's, e.g. ``hyp.scratch-high.yaml``) or a mapping of overrides onto
yolov5's default ``hyp.scratch-low.yaml``. Without ``weights`` the model is trained from ``cfg``
(``yolov5n.yaml`` when neither is given): balldet never downloads weights unless told to.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from balldet.backends.base_converter import ConvertedData
from balldet.backends.options import Problems, check_options, check_weights_name, framework_device, is_local_file
from balldet.backends.base_model import Detections, ModelWrapper, ScalarCallback, TrainedModel
from balldet.backends.base_model import PREDICT_CONF, PREDICT_MAX_DET, TRAINING_NAME, checkpoint_to_resume
from balldet.backends.base_model import batch_sources
from balldet.backends.yolo_layout import YoloLayoutConverter, link_split
from balldet.backends.yolov5.compat import import_yolov5, yolov5_call
from balldet.backends.yolov5.options import (
    FROM_MODEL_YAML,
    MANAGED_KEYS,
    UNSUPPORTED_KEYS,
    check_cfg,
    check_option_value,
    default_hyp,
    model_sources,
    packaged_file,
    yolov5_train_options,
)
from balldet.errors import BackendError
from balldet.files import write_text_atomic
from balldet.backends.registry import DATASET_CONVERTERS, MODEL_WRAPPERS

NAME = "yolov5"
# Defaults that differ from yolov5's own: plots cost seconds per run and nobody looks at them here.
DEFAULTS: dict[str, Any] = {"noplots": True}
# NMS as yolov5's val.py does it.
PREDICT_IOU = 0.6
DEFAULT_IMGSZ = 640
# yolov5's own default device (train.py's --device ''): it picks a GPU when there is one.
AUTO_DEVICE = ""
# What yolov5 reports after each epoch (train.py's log_vals, named as its Loggers name them).
EPOCH_KEYS = (
    "train/box_loss", "train/obj_loss", "train/cls_loss",
    "metrics/precision", "metrics/recall", "metrics/mAP_0.5", "metrics/mAP_0.5:0.95",
    "val/box_loss", "val/obj_loss", "val/cls_loss",
    "x/lr0", "x/lr1", "x/lr2",
)
# yolov5's final validation results (P, R, mAP@.5, mAP@.5:.95, ...) under the team's names.
FINAL_METRICS = ("P", "R", "mAP50", "mAP50-95")


@DATASET_CONVERTERS.register(NAME)
class Yolov5Converter(YoloLayoutConverter):
    """yolov5 reads the same YOLO layout as ultralytics: ``train|val/images|labels`` + data.yaml."""

    model_type = NAME


@MODEL_WRAPPERS.register(NAME)
class Yolov5Wrapper(ModelWrapper):
    model_type = NAME
    weights_option = "weights"  # no weights: trained from cfg

    def __init__(self, cache_dir: Path, *, allow_downloads: bool = False) -> None:
        super().__init__(cache_dir, allow_downloads=allow_downloads)
        self._model: Any = None

    @classmethod
    def check_train_config(cls, train_config: dict[str, Any], *, allow_downloads: bool = False) -> Problems:
        options, aliases = yolov5_train_options()
        problems = check_options(
            train_config, framework=NAME, known=options, documented_in="yolov5's train.py options",
            balldet_sets=MANAGED_KEYS, aliases=aliases, unsupported=UNSUPPORTED_KEYS, check_value=check_option_value,
        )
        weights, cfg = model_sources(train_config)
        if not isinstance(weights, str):
            problems.append(("train_config.weights", "must be a .pt path or name, or \"\""))
        else:
            problems += check_weights_name(
                "train_config.weights", weights, allow_downloads=allow_downloads, from_model_yaml=FROM_MODEL_YAML
            )
            problems += check_cfg(cfg)
            if not weights and not cfg:
                problems.append(("train_config.cfg", "give cfg (a model yaml, e.g. yolov5n.yaml) or weights"))
        return problems

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
        out_dir = Path(out_dir).resolve()
        out_dir.mkdir(parents=True, exist_ok=True)
        options = self._train_options(data, train_config, out_dir, device=device, seed=seed)
        checkpoint = checkpoint_to_resume(out_dir, resume=resume)
        # An interrupted run's checkpoint still holds its optimizer: yolov5 restores every option
        # from the opt.yaml beside it and continues with the next epoch.
        resuming = checkpoint is not None
        final: dict[str, float] = {}
        epochs_seen: list[int] = []
        with yolov5_call():
            y5 = import_yolov5(self.cache_dir, allow_downloads=self.allow_downloads)
            callbacks = y5.callbacks.Callbacks()
            if report is not None:
                callbacks.register_action("on_fit_epoch_end", callback=_epoch_reporter(report))
            callbacks.register_action("on_train_end", callback=_final_metrics(final))
            callbacks.register_action(
                "on_fit_epoch_end", callback=lambda log_vals, epoch, *rest: epochs_seen.append(int(epoch))
            )
            # What train.run() does, with callbacks of our own (run() shares one Callbacks object
            # between calls, a mutable default argument of train.main).
            opt = y5.train.parse_opt(True)
            if resuming:
                opt.resume = str(checkpoint)
            else:
                for key, value in options.items():
                    setattr(opt, key, value)
            y5.train.main(opt, callbacks)
        weights_dir = checkpoint.parent if resuming else Path(opt.save_dir) / "weights"
        weights = next((w for w in (weights_dir / "best.pt", weights_dir / "last.pt") if w.is_file()), None)
        if weights is None:
            raise BackendError(f"yolov5 finished without writing weights under {weights_dir}")
        return TrainedModel(
            model_type=NAME,
            weights=weights.resolve(),
            backend_metrics=final,
            epochs=int(options.get("epochs", opt.epochs)),
            image_size=int(options.get("imgsz", opt.imgsz)),
            resumed_from_epoch=min(epochs_seen) if resuming and epochs_seen else None,
        )

    def _train_options(
        self, data: ConvertedData, train_config: dict[str, Any], out_dir: Path, *, device: str, seed: int
    ) -> dict[str, Any]:
        problems = self.check_train_config(train_config, allow_downloads=self.allow_downloads)
        if problems:
            raise BackendError("; ".join(f"{field}: {message}" for field, message in problems))
        options = {**DEFAULTS, **train_config}
        options.setdefault("seed", seed)
        weights, cfg = model_sources(train_config)
        options.update(
            weights=self._weights_source(weights),
            cfg=str(Path(cfg).expanduser().resolve()) if is_local_file(cfg) else cfg,
            hyp=self._hyp_file(train_config.get("hyp"), out_dir),
            data=str(Path(data.data_file).resolve()),
            project=str(out_dir),
            name=TRAINING_NAME,
            exist_ok=True,
            device=framework_device(device, auto=AUTO_DEVICE),
        )
        return options

    def _weights_source(self, weights: str) -> str:
        """What yolov5 is given for ``weights``. Local files as absolute paths: a relative one with a
        '/' would be looked up on the Hugging Face hub. A bare ``*.pt`` name (downloads allowed) is
        fetched from yolov5's GitHub release into, and then reused from, the cache folder rather
        than the working directory. Anything else (a hub id, a URL) goes to yolov5 as it is."""
        if not weights:
            return ""
        if is_local_file(weights):
            return str(Path(weights).expanduser().resolve())
        if weights.endswith(".pt") and Path(weights).name == weights:
            return str((self.cache_dir / "yolov5" / "weights" / weights).resolve())
        return weights

    @staticmethod
    def _hyp_file(hyp: Any, out_dir: Path) -> str:
        """yolov5 reads hyperparameters from a file: overrides are merged onto its defaults into one."""
        if isinstance(hyp, str):
            return str(Path(hyp).expanduser().resolve()) if is_local_file(hyp) else str(packaged_file(hyp, ("data",)))
        merged = {**default_hyp(), **(hyp or {})}
        path = out_dir / "hyp.yaml"
        write_text_atomic(path, yaml.safe_dump(merged, sort_keys=False))
        return str(path)

    def load(self, weights: Path, *, device: str) -> None:
        name = str(weights)
        problems = check_weights_name(
            "weights", name, allow_downloads=self.allow_downloads, from_model_yaml=FROM_MODEL_YAML
        )
        if problems:
            raise BackendError(problems[0][1])
        if not name:
            raise BackendError("no weights to load")
        source = self._weights_source(name)
        with yolov5_call():
            y5 = import_yolov5(self.cache_dir, allow_downloads=self.allow_downloads)
            model = y5.package.load(source, device=framework_device(device, auto=AUTO_DEVICE))
        if not hasattr(model, "conf"):
            raise BackendError(f"{name} cannot be used for detection with yolov5 (not a detection model)")
        model.conf, model.iou, model.max_det = PREDICT_CONF, PREDICT_IOU, PREDICT_MAX_DET
        model.classes, model.agnostic = None, False
        self._model = model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def predict_batch(
        self, images: Sequence[Path | np.ndarray], *, image_size: int | None, conf: float = PREDICT_CONF
    ) -> list[Detections]:
        # File paths: yolov5 reads them itself (as RGB, EXIF-rotated), boxes come back in pixels.
        # Arrays are BGR and yolov5's AutoShape takes RGB ones: flipped, contiguous as it wants them.
        sources: list[Any] = batch_sources(images)
        if sources and isinstance(sources[0], np.ndarray):
            sources = [np.ascontiguousarray(image[..., ::-1]) for image in sources]
        self._model.conf = conf  # AutoShape's threshold before its NMS, an attribute it reads on each call
        with yolov5_call():
            results = self._model(sources, size=image_size or DEFAULT_IMGSZ)
        # one (N, 6) tensor per frame: x1 y1 x2 y2 conf class, in the frame's pixels
        return [Detections.from_rows(rows.detach().cpu().numpy()) for rows in results.xyxy]

    def own_scores(
        self, dataset: Any, exclude: set[str], *, weights: Path, image_size: int | None, batch_size: int,
        device: str, work_dir: Path,
    ) -> dict[str, float]:
        """yolov5's val.py on one dataset: P, R, mAP50, mAP50-95 as the team's yolov5 board shows
        them (title ``Summary``). It reads a layout of links, so its label cache stays out of the
        dataset; boxes as val.py keeps them (conf 0.001, IoU 0.6, 300 per frame)."""
        work_dir = Path(work_dir).resolve()
        layout = work_dir / "layout"
        if layout.exists():
            shutil.rmtree(layout)  # links only
        entry, _ = link_split([(dataset, exclude)], layout / "test")
        data_file = layout / "data.yaml"
        names = dict(enumerate(dataset.names))
        write_text_atomic(data_file, yaml.safe_dump({"path": str(layout), "train": entry, "val": entry,
                                                     "names": names}))
        with yolov5_call():
            y5 = import_yolov5(self.cache_dir, allow_downloads=self.allow_downloads)
            results = y5.val.run(
                data=str(data_file), weights=str(Path(weights).resolve()), imgsz=image_size or DEFAULT_IMGSZ,
                batch_size=batch_size, conf_thres=PREDICT_CONF, iou_thres=PREDICT_IOU, max_det=PREDICT_MAX_DET,
                device=framework_device(device, auto=AUTO_DEVICE), workers=0, project=str(work_dir), name="val",
                exist_ok=True, half=False, plots=False, verbose=False,
            )
        # val.run returns ((P, R, mAP50, mAP50-95, *losses), maps, ...): the first tuple is the board's
        return {name: float(value) for name, value in zip(FINAL_METRICS, results[0])}


def _epoch_reporter(report: ScalarCallback) -> Callable[..., None]:
    def on_fit_epoch_end(vals: Sequence[Any], epoch: int, best_fitness: Any, fi: Any) -> None:
        for key, value in zip(EPOCH_KEYS, vals):
            title, _, series = key.partition("/")
            report(f"backend/{title}", series, float(value), int(epoch) + 1)

    return on_fit_epoch_end


def _final_metrics(into: dict[str, float]) -> Callable[..., None]:
    def on_train_end(last: Any, best: Any, epoch: int, results: Sequence[Any]) -> None:
        into.update({name: float(value) for name, value in zip(FINAL_METRICS, results)})

    return on_train_end
