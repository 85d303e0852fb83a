"""yolov5 weights to ONNX or TorchScript with yolov5's own ``export.py`` (its ``run``), through
:mod:`balldet.backends.yolov5.compat` (item 5 there: the ONNX exporter it was written for). yolov5's
exporter keeps going when a format fails and only logs why; here that is an error with its reason."""

from __future__ import annotations

from pathlib import Path

from balldet.backends.exporters import DEFAULT_IMGSZ, EXPORT_FORMATS, ExportedModel, quiet_info
from balldet.backends.yolov5.compat import import_yolov5_export, torch_for_yolov5, yolov5_call
from balldet.errors import BackendError


def export_weights(weights: Path, fmt: str, *, imgsz: int | None, cache_dir: Path,
                   allow_downloads: bool = False) -> ExportedModel:
    """``<weights stem><suffix>`` beside ``weights``: batch 1, float32, ``imgsz`` x ``imgsz`` (None: the
    size the checkpoint's training ran at, else 640), exported on the CPU, NMS left to the runtime
    (yolov5's AutoShape runs it, as for the ``.pt``)."""
    # absolute: yolov5 looks a relative path with a '/' up on the Hugging Face hub first
    weights = Path(weights).absolute()
    with yolov5_call():
        export = import_yolov5_export(cache_dir, allow_downloads=allow_downloads)
        size = imgsz or _trained_size(weights) or DEFAULT_IMGSZ
        with quiet_info(export.LOGGER) as messages:
            written = export.run(weights=str(weights), imgsz=[size], include=(fmt,), device="cpu", half=False,
                                 dynamic=False, batch_size=1)
    expected = weights.with_suffix(EXPORT_FORMATS[fmt])
    if [Path(path).resolve() for path in written] != [expected.resolve()] or not expected.is_file():
        why = next((m for m in messages if "failure" in m), f"it wrote {written!r}, not {expected}")
        raise BackendError(f"yolov5's exporter failed: {why}")
    return ExportedModel(expected, size)


def _trained_size(weights: Path) -> int | None:
    """The image size a yolov5 checkpoint was trained at (train.py keeps its options with it)."""
    checkpoint = torch_for_yolov5().load(str(weights), map_location="cpu")
    options = checkpoint.get("opt") if isinstance(checkpoint, dict) else None
    size = options.get("imgsz") if isinstance(options, dict) else None
    return size if isinstance(size, int) and size > 0 else None
