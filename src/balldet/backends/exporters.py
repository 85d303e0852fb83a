"""Exporting trained weights with each backend's own exporter: the formats, what an export yields,
and where a backend's exporter lives.

Each backend exports in its own module beside its backend module
(``balldet.backends.<model type>.export``, with an ``export_weights`` function of the signature of
:data:`ExportFunction`), imported only when something is exported: the exporters pull in ``onnx``,
which is an optional dependency (``pip install 'balldet[export]'``).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from balldet.backends.registry import BACKEND_MODULES

# format -> the suffix both frameworks give the exported file
EXPORT_FORMATS: dict[str, str] = {"onnx": ".onnx", "torchscript": ".torchscript"}
DEFAULT_IMGSZ = 640  # both exporters' own default, for weights that do not say what they were trained at
INSTALL_HINT = "pip install 'balldet[export]'"
# What exporting (and checking) a format needs beyond balldet's own requirements, by backend: the
# ONNX exporters write with `onnx`, ultralytics' slims the graph with `onnxslim`, and the check runs
# the exported model with onnxruntime. TorchScript needs torch only.
NEEDED_PACKAGES: dict[str, dict[str, tuple[str, ...]]] = {
    "onnx": {"ultralytics": ("onnx", "onnxslim", "onnxruntime"), "yolov5": ("onnx", "onnxruntime")},
    "torchscript": {},
}


class ExportedModel(NamedTuple):
    """An exported file and the square input size it was exported at (what it must be given)."""

    path: Path
    imgsz: int


# export_weights(weights, fmt, *, imgsz, cache_dir, allow_downloads) -> ExportedModel. Writes
# `<weights stem><suffix>` beside `weights` (as both frameworks' exporters do), on the CPU, batch 1,
# float32, a fixed `imgsz` x `imgsz` input (None: the size the weights were trained at, else 640).
ExportFunction = Callable[..., ExportedModel]


def exporter_of(model_type: str) -> ExportFunction:
    """The ``export_weights`` function of a backend, from the module beside its backend module."""
    backend_module = BACKEND_MODULES[model_type]
    module = importlib.import_module(backend_module.rpartition(".")[0] + ".export")
    return module.export_weights


def missing_packages(model_type: str | None, formats: Iterable[str]) -> list[str]:
    """The packages exporting ``formats`` with ``model_type`` (None: any backend) needs and this
    environment lacks, found without importing them."""
    needed = [name for fmt in formats for kind, names in NEEDED_PACKAGES.get(fmt, {}).items()
              if model_type in (None, kind) for name in names]
    return [name for name in dict.fromkeys(needed) if importlib.util.find_spec(name) is None]


@contextlib.contextmanager
def quiet_info(logger: logging.Logger) -> Iterator[list[str]]:
    """The messages a framework's logger gives meanwhile, kept (yolov5's exporter reports a failure
    only as a log line) and, below warnings, not printed: an export's own progress report (model
    summaries, file sizes, commands to run next, the runtime an exported model is loaded with) would
    bury balldet's, and stdout is balldet's result."""
    messages: list[str] = []

    def keep(record: logging.LogRecord) -> bool:
        messages.append(record.getMessage())
        return record.levelno >= logging.WARNING

    logger.addFilter(keep)
    try:
        yield messages
    finally:
        logger.removeFilter(keep)
