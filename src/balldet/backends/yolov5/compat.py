"""Making yolov5 (the PyPI package, 7.0.x) run on today's stack, offline, without side effects.

yolov5 7.0.x predates setuptools 81, numpy 2.4 and torch 2.6, and assumes the network. Every fix
here is contained: it applies to yolov5's own modules (module-local stand-ins for ``numpy`` and
``torch``), or only while balldet imports or calls yolov5 (:func:`yolov5_call`). Importing balldet,
or running any other backend, sees numpy, torch, setuptools, ``sys.argv`` and ``sys.path`` as they
were.

1. ``import yolov5`` needs ``pkg_resources`` (gone since setuptools 81) for ``parse_version`` only:
   a stand-in is in ``sys.modules`` for the duration of the import and removed afterwards.
2. ``numpy.trapz`` (removed in numpy 2.4) computes AP in ``yolov5.utils.metrics``: that module's
   ``np`` becomes a view of numpy that adds ``trapz`` (= ``numpy.trapezoid``).
3. torch >= 2.6 loads with ``weights_only=True``, but yolov5 checkpoints pickle whole modules: the
   yolov5 modules that load checkpoints get a view of torch whose ``load`` defaults to
   ``weights_only=False``. Only weights the user names (local files) and checkpoints balldet wrote
   itself are loaded this way.
4. yolov5 downloads ``Arial.ttf`` into ``YOLOV5_CONFIG_DIR`` (read at import): during the import
   it points at ``<cache_dir>/yolov5``, where matplotlib's DejaVuSans is installed under that name.
5. yolov5's ``export.py`` calls ``torch.onnx.export`` without saying which exporter; since torch 2.9
   that is the ``torch.export``-based one, which needs ``onnxscript`` and traces another graph than
   the TorchScript-based exporter export.py was written for (ultralytics' exporter asks for that one
   by name). export.py gets a view of torch whose ``onnx.export`` defaults to ``dynamo=False``.
   export.py is imported only when something is exported (:func:`import_yolov5_export`): it pulls in
   pandas and torch's mobile optimizer.

And the traps: ``train.run`` parses the real ``sys.argv``; yolov5 appends its package folder to
``sys.path`` and imports top-level ``models``/``utils``; its loggers build ClearML, W&B, Comet and
Neptune loggers whenever those import; ``train.main``, ``export.py`` and the loading of an exported
model (``DetectMultiBackend``) run a pip requirements check; it changes
process-wide settings (:mod:`balldet.backends.process_state`), which :func:`yolov5_call` puts back.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import sys
import types
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from balldet.backends.process_state import ProcessState, restore_env
from balldet.backends.ultralytics.env import configure_ultralytics, install_fonts
from balldet.errors import BackendError

# Loggers yolov5 builds by itself when the package imports; balldet logs to ClearML itself.
_THIRD_PARTY_LOGGERS = ("wandb", "comet_ml", "neptune")
# Not importable while yolov5 imports (wandb would even log in at import): yolov5 then leaves them off.
_BLOCKED_AT_IMPORT = (*_THIRD_PARTY_LOGGERS, "torch.utils.tensorboard")
# Top-level names yolov5 imports from its own folder once that folder is on sys.path.
_TOP_LEVEL_NAMES = ("models", "utils")
# yolov5 modules that call torch.load on checkpoints.
_CHECKPOINT_LOADERS = ("yolov5.train", "yolov5.utils.general", "yolov5.models.experimental")
# Environment variables yolov5 sets for the whole process (at import, in init_seeds, select_device).
_ENV_SET_BY_YOLOV5 = (
    "NUMEXPR_MAX_THREADS", "OMP_NUM_THREADS", "TF_CPP_MIN_LOG_LEVEL", "KMP_DUPLICATE_LIB_OK",
    "CUBLAS_WORKSPACE_CONFIG", "PYTHONHASHSEED", "CUDA_VISIBLE_DEVICES",
)


def yolov5_root() -> Path:
    """The installed yolov5 package folder, found without importing it."""
    spec = importlib.util.find_spec("yolov5")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("yolov5 is not installed", fix="pip install yolov5")
    return Path(spec.submodule_search_locations[0])


# -- 1. pkg_resources -------------------------------------------------------------------------------


def _pkg_resources_standin() -> types.ModuleType:
    from packaging.version import parse

    module = types.ModuleType("pkg_resources", "balldet's stand-in for yolov5's import (parse_version only)")
    module.parse_version = parse  # type: ignore[attr-defined]
    module.__balldet_standin__ = True  # type: ignore[attr-defined]
    return module


@contextlib.contextmanager
def _pkg_resources_for_import() -> Iterator[None]:
    """A ``pkg_resources`` while yolov5 imports, if setuptools no longer ships one; removed after."""
    if "pkg_resources" in sys.modules or importlib.util.find_spec("pkg_resources") is not None:
        yield
        return
    sys.modules["pkg_resources"] = _pkg_resources_standin()
    try:
        yield
    finally:
        if getattr(sys.modules.get("pkg_resources"), "__balldet_standin__", False):
            del sys.modules["pkg_resources"]


# -- 2. and 3. module-local views of numpy and torch ------------------------------------------------


class _ModuleView(types.ModuleType):
    """A module that is ``base`` except for the attributes set on it."""

    def __init__(self, base: types.ModuleType, **overrides: Any) -> None:
        super().__init__(base.__name__, base.__doc__)
        self.__balldet_base__ = base
        for name, value in overrides.items():
            setattr(self, name, value)

    def __getattr__(self, name: str) -> Any:  # only called for names not set on the view
        return getattr(self.__balldet_base__, name)

    def __repr__(self) -> str:
        return f"<balldet view of {self.__balldet_base__!r}>"


def numpy_for_yolov5() -> types.ModuleType:
    """numpy, plus ``trapz`` where numpy (>= 2.4) has only ``trapezoid``."""
    import numpy

    if hasattr(numpy, "trapz"):
        return numpy
    return _ModuleView(numpy, trapz=numpy.trapezoid)


def torch_for_yolov5() -> types.ModuleType:
    """torch whose ``load`` unpickles whole modules, as yolov5 checkpoints need (torch >= 2.6)."""
    import torch

    def load(f: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("weights_only", False)
        return torch.load(f, *args, **kwargs)  # looked up now: whatever wraps torch.load applies

    return _ModuleView(torch, load=load)


def torch_for_yolov5_export() -> types.ModuleType:
    """torch whose ``onnx.export`` is the TorchScript-based exporter unless told otherwise (5.)."""
    import torch
    import torch.onnx

    def export(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("dynamo", False)
        return torch.onnx.export(*args, **kwargs)

    return _ModuleView(torch, onnx=_ModuleView(torch.onnx, export=export))


# -- while yolov5 runs ------------------------------------------------------------------------------


def _is_yolov5_module(name: str, root: Path) -> bool:
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None) or ""
    paths = list(getattr(module, "__path__", None) or [])
    return any(Path(p).resolve().is_relative_to(root) for p in [file, *paths] if p)


@contextlib.contextmanager
def yolov5_call() -> Iterator[None]:
    """Around every import of and call into yolov5.

    ``sys.argv`` is just the program name (``train.run`` parses it); yolov5's folder is on
    ``sys.path`` (its checkpoints and ``attempt_load`` import top-level ``models``); afterwards
    ``sys.argv``, ``sys.path``, the top-level ``models``/``utils`` modules and the process-wide
    settings yolov5 changes (print options and environment variables at import, deterministic
    algorithms in ``init_seeds``, CUDA_VISIBLE_DEVICES in ``select_device``; torch's thread count
    too, which decides a training's result: see :mod:`balldet.backends.process_state`) are as
    they were.
    """
    root = yolov5_root().resolve()
    state = ProcessState.capture(_ENV_SET_BY_YOLOV5)
    saved_argv = sys.argv
    saved_path = list(sys.path)
    had_top_level = {n for n in sys.modules if n.partition(".")[0] in _TOP_LEVEL_NAMES}
    sys.argv = saved_argv[:1] or ["balldet"]
    if str(root) not in sys.path:
        sys.path.append(str(root))
    try:
        with warnings.catch_warnings():
            # yolov5 7.0 calls torch.cuda.amp.autocast/GradScaler, deprecated (and harmless) since torch 2.4.
            warnings.filterwarnings("ignore", message=r".*torch\.cuda\.amp\..* is deprecated", category=FutureWarning)
            # thop, which yolov5 imports, still uses distutils' LooseVersion.
            warnings.filterwarnings("ignore", message="distutils Version classes", category=DeprecationWarning)
            yield
    finally:
        state.restore()
        sys.argv = saved_argv
        sys.path[:] = saved_path
        for name in [n for n in sys.modules if n.partition(".")[0] in _TOP_LEVEL_NAMES]:
            if name not in had_top_level and _is_yolov5_module(name, root):
                del sys.modules[name]


@contextlib.contextmanager
def _import_environment(config_dir: Path) -> Iterator[None]:
    """Settings yolov5 reads once, at import; third-party loggers it would set up are not importable."""
    saved = {k: os.environ.get(k) for k in ("YOLOV5_CONFIG_DIR", "YOLOv5_AUTOINSTALL")}
    os.environ["YOLOV5_CONFIG_DIR"] = str(config_dir)  # used as-is: must exist
    os.environ["YOLOv5_AUTOINSTALL"] = "false"
    blocked = [name for name in _BLOCKED_AT_IMPORT if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
        restore_env(saved)


def _drop_integration_ads(record: logging.LogRecord) -> bool:
    """yolov5 suggests `pip install clearml`/`comet_ml` when its own loggers are off: not for us."""
    return "automatically track" not in str(record.msg)


def _no_requirements_check(*args: Any, **kwargs: Any) -> bool:
    """balldet's environment pins yolov5's dependencies; yolov5 would pip-install at run time."""
    return True


@dataclass(frozen=True)
class Yolov5Modules:
    """The yolov5 modules balldet calls, imported and patched."""

    package: types.ModuleType
    train: types.ModuleType
    val: types.ModuleType
    metrics: types.ModuleType
    general: types.ModuleType
    callbacks: types.ModuleType
    config_dir: Path


def _patch() -> Yolov5Modules:
    """Module-local fixes; idempotent."""
    import yolov5

    train = importlib.import_module("yolov5.train")
    val = importlib.import_module("yolov5.val")
    metrics = importlib.import_module("yolov5.utils.metrics")
    general = importlib.import_module("yolov5.utils.general")
    loggers = importlib.import_module("yolov5.utils.loggers")
    callbacks = importlib.import_module("yolov5.utils.callbacks")
    importlib.import_module("yolov5.models.experimental")

    metrics.np = numpy_for_yolov5()
    torch_view = torch_for_yolov5()
    for name in _CHECKPOINT_LOADERS:
        sys.modules[name].torch = torch_view
    # Third-party loggers off (balldet logs to ClearML itself), TensorBoard files too.
    for name in ("clearml", *_THIRD_PARTY_LOGGERS):
        setattr(loggers, name, None)
    loggers.SummaryWriter = lambda *args, **kwargs: None
    if _drop_integration_ads not in general.LOGGER.filters:
        general.LOGGER.addFilter(_drop_integration_ads)
    for module in (train, val, importlib.import_module("yolov5.models.common")):
        module.check_requirements = _no_requirements_check
    # Fonts: wherever yolov5's CONFIG_DIR is (also if yolov5 was imported before balldet).
    install_fonts(Path(general.CONFIG_DIR))
    return Yolov5Modules(
        package=yolov5, train=train, val=val, metrics=metrics, general=general, callbacks=callbacks,
        config_dir=Path(general.CONFIG_DIR),
    )


def import_yolov5(cache_dir: Path, *, allow_downloads: bool) -> Yolov5Modules:
    """Import yolov5 (once per process) with every fix in place. Calls into the modules it returns
    belong inside :func:`yolov5_call`."""
    # yolov5 imports ultralytics: its offline settings must be in place first.
    configure_ultralytics(cache_dir, allow_downloads=allow_downloads)
    config_dir = (Path(cache_dir) / "yolov5").resolve()
    config_dir.mkdir(parents=True, exist_ok=True)
    install_fonts(config_dir)
    with yolov5_call(), _pkg_resources_for_import(), _import_environment(config_dir):
        return _patch()


def import_yolov5_export(cache_dir: Path, *, allow_downloads: bool) -> types.ModuleType:
    """yolov5's ``export.py`` (imported once per process), with every fix of :func:`import_yolov5`
    and its own (5.). Calls into it belong inside :func:`yolov5_call`."""
    import_yolov5(cache_dir, allow_downloads=allow_downloads)
    with yolov5_call():
        export = importlib.import_module("yolov5.export")
    export.torch = torch_for_yolov5_export()
    export.check_requirements = _no_requirements_check
    return export
