"""What a stage may record: a thin layer over one ClearML task, so stages never import clearml."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class Reporter:
    """What a stage may record. This one records nothing: for a stage called outside a pipeline."""

    def scalar(self, title: str, series: str, value: float, iteration: int = 0) -> None: ...
    def single_value(self, name: str, value: float) -> None: ...
    def parameters(self, values: dict[str, Any], section: str) -> None: ...
    def configuration(self, name: str, text: str) -> None: ...
    def artifact(self, name: str, value: Any) -> None: ...
    def image(self, title: str, series: str, path: Path) -> None: ...
    def properties(self, values: dict[str, str]) -> None: ...


class ClearMLReporter(Reporter):
    """A :class:`Reporter` writing into one ClearML task (offline or on a server)."""

    def __init__(self, task: Any) -> None:
        self.task = task
        self._logger = task.get_logger()

    def scalar(self, title: str, series: str, value: float, iteration: int = 0) -> None:
        self._logger.report_scalar(title, series, float(value), iteration)

    def single_value(self, name: str, value: float) -> None:
        self._logger.report_single_value(name, float(value))

    def parameters(self, values: dict[str, Any], section: str) -> None:
        self.task.connect(values, name=section)

    def configuration(self, name: str, text: str) -> None:
        self.task.set_configuration_object(name, config_text=text)

    def artifact(self, name: str, value: Any) -> None:
        self.task.upload_artifact(name, artifact_object=value)

    def image(self, title: str, series: str, path: Path) -> None:
        self._logger.report_image(title, series, iteration=0, local_path=str(path))

    def properties(self, values: dict[str, str]) -> None:
        """User properties: editable on a task of any status (a running pipeline's included)."""
        self.task.set_user_properties(**values)
