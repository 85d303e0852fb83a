"""The one registry of model types.

A backend module registers its :class:`ModelWrapper` and :class:`DatasetConverter` with the
decorators below when it is imported. ``BACKEND_MODULES`` is the list of available model types;
a backend's module (and its heavy framework) is imported only when that model type is chosen.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from balldet.errors import ConfigError

if TYPE_CHECKING:
    from balldet.backends.base_converter import DatasetConverter
    from balldet.backends.base_model import ModelWrapper

# model_type -> module that registers it. The only place that lists the model types.
BACKEND_MODULES: dict[str, str] = {
    "ultralytics": "balldet.backends.ultralytics.backend",
    "yolov5": "balldet.backends.yolov5.backend",
}

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → class, filled by decorators, looked up with lazy import of the owning module."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def decorator(cls: type[T]) -> type[T]:
            if name not in BACKEND_MODULES:
                raise KeyError(f"{self.kind} {name!r}: add it to BACKEND_MODULES in balldet.backends.registry")
            self._entries[name] = cls
            return cls

        return decorator

    def get(self, name: str) -> type[T]:
        if name not in self._entries:
            module = BACKEND_MODULES.get(name)
            if module is None:
                raise ConfigError(
                    [("model_type", f"unknown model type {name!r}; known: {', '.join(model_types())}")]
                )
            importlib.import_module(module)
        return self._entries[name]


MODEL_WRAPPERS: Registry[ModelWrapper] = Registry("model wrapper")
DATASET_CONVERTERS: Registry[DatasetConverter] = Registry("dataset converter")


def model_types() -> list[str]:
    return sorted(BACKEND_MODULES)


def get_model_wrapper(name: str) -> type[ModelWrapper]:
    return MODEL_WRAPPERS.get(name)


def get_dataset_converter(name: str) -> type[DatasetConverter]:
    return DATASET_CONVERTERS.get(name)
