"""ultralytics weights to ONNX or TorchScript with ultralytics' own exporter (``YOLO.export``), as
``yolo export`` writes them: NMS left to the runtime (ultralytics' predictor runs it, as for the
``.pt``), the ONNX graph slimmed with onnxslim, its opset the one ultralytics picks for this torch."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from balldet.backends.exporters import DEFAULT_IMGSZ, EXPORT_FORMATS, ExportedModel, quiet_info
from balldet.backends.ultralytics.env import configure_ultralytics, ultralytics_call
from balldet.errors import BackendError


def export_weights(weights: Path, fmt: str, *, imgsz: int | None, cache_dir: Path,
                   allow_downloads: bool = False) -> ExportedModel:
    """``<weights stem><suffix>`` beside ``weights``: batch 1, float32, ``imgsz`` x ``imgsz`` (None: the
    size the weights were trained at, as ultralytics' own export takes it), exported on the CPU."""
    weights = Path(weights)
    with ultralytics_call():
        configure_ultralytics(cache_dir, allow_downloads=allow_downloads)
        from ultralytics import YOLO

        model = YOLO(str(weights))
        size = imgsz or _square(model.overrides.get("imgsz")) or DEFAULT_IMGSZ
        with quiet_info(logging.getLogger("ultralytics")):
            try:
                written = model.export(format=fmt, imgsz=size, batch=1, device="cpu", dynamic=False)
            except Exception as exc:  # noqa: BLE001  (whatever stops the exporter, said in one line)
                raise BackendError(f"ultralytics' exporter failed ({fmt}): {exc}") from exc
    expected = weights.with_suffix(EXPORT_FORMATS[fmt])
    if not written or Path(written).resolve() != expected.resolve() or not expected.is_file():
        raise BackendError(f"ultralytics' exporter wrote {written!r}, not {expected}")
    return ExportedModel(expected, size)


def _square(imgsz: Any) -> int | None:
    """The side of the square input for a training's image size (an int, or [h, w]: the larger)."""
    if isinstance(imgsz, int):
        return imgsz
    if isinstance(imgsz, (list, tuple)) and imgsz and all(isinstance(side, int) for side in imgsz):
        return max(imgsz)
    return None
