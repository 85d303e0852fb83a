"""What the stages of one run share, built once: settings, the request, the dataset resolver, the
backend's options, the run's folder, where results and the pipeline's tags go.

A run's stages execute in one process (``balldet run`` locally) or one per agent (a server run); the
same stage code serves both through a :class:`RunContext`, which says how this place differs: where
the config's text comes from, where outputs are written, and what the pipeline's own task is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from balldet.config import PipelineConfig
from balldet.datasets.prepared import PreparedData
from balldet.datasets.resolver import DatasetResolver
from balldet.tracking.clearml_datasets import dataset_resolver
from balldet.pipeline.request import RunRequest
from balldet.settings import Settings
from balldet.tracking.reporter import Reporter

Event = Callable[[str, str, str], None]  # (stage, event, detail): progress for whoever watches


class Pipeline(Protocol):
    """The pipeline's own task as the stages see it: it takes the tags and the results."""

    def add_tags(self, tags: list[str]) -> None: ...
    def record_results(self, report: Any, trained: Any) -> None: ...


class CollectedPipeline:
    """A local run's pipeline task, gathered while the stages run and written last (ClearML offline
    cannot hold two tasks open in one process)."""

    def __init__(self) -> None:
        self.tags: list[str] = []
        self.results: tuple[Any, Any] | None = None

    def add_tags(self, tags: list[str]) -> None:
        self.tags = list(dict.fromkeys([*self.tags, *tags]))

    def record_results(self, report: Any, trained: Any) -> None:
        self.results = (report, trained)


@dataclass
class RunContext:
    """One run as its stages see it. ``reporter`` is the current stage's task (set by the runner)."""

    settings: Settings
    request: RunRequest
    work_dir: Path
    pipeline: Pipeline = field(default_factory=CollectedPipeline)
    on_event: Event = field(default=lambda stage, event, detail: None)
    reporter: Reporter = field(default_factory=Reporter)
    # The config as preflight checked it (it is not processed twice), and, on an agent, the config's
    # text as the run was started with it (agents have no configs checkout).
    checked_config: PipelineConfig | None = None
    config_content: str | None = None
    # How an agent gets what an earlier step made on another machine (a server run only).
    fetch_artifact: Callable[[str, str], Path] | None = None
    step_ids: dict[str, str] = field(default_factory=dict)
    _resolver: DatasetResolver | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, request: RunRequest, work_dir: Path, **kwargs: Any) -> RunContext:
        return cls(settings=settings, request=request, work_dir=Path(work_dir), **kwargs)

    @property
    def resolver(self) -> DatasetResolver:
        if self._resolver is None:
            self._resolver = dataset_resolver(self.settings)
        return self._resolver

    @property
    def backend(self) -> dict[str, Any]:
        """What every backend call is given: its cache, the device, whether it may download."""
        return dict(cache_dir=self.settings.cache_dir, device=self.settings.device,
                    allow_downloads=self.settings.allow_downloads)

    @property
    def layouts_dir(self) -> Path:
        return self.settings.cache_dir / "layouts"

    def localize(self, data: PreparedData) -> PreparedData:
        """``data`` with its dataset folders on this machine (an earlier step may have run elsewhere)."""
        refs = [*data.train, *data.val, *data.test]
        if all(ref.path.is_dir() for ref in refs):
            return data
        local = {ref.id: self.resolver.resolve(ref.id) for ref in refs}
        return data.model_copy(update={
            split: [local[ref.id] for ref in getattr(data, split)] for split in ("train", "val", "test")
        })
