"""Stage outputs on disk: what makes a run resumable and a re-run of the same inputs cheap.

Every completed stage's output is written (atomically) to ``<run folder>/stages/<NN>_<stage>.json``
and, keyed by the run's inputs, to ``<cache_dir>/stage_cache/<key>/``. Types and file names come from
the table of stages (``balldet.pipeline.spec``). An output is reused only if it can be read back and
the files it names (layout, weights, predictions) are still there: anything else is redone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from balldet import __version__
from balldet.cache import Shelf, make_key, read_model, write_model
from balldet.config import PipelineConfig
from balldet.datasets.resolver import DatasetResolver
from balldet.pipeline.spec import Stage

CACHE_KIND = "stage_cache"


def file_name(stages: Sequence[Stage], stage: Stage) -> str:
    """``NN_<stage>.json``, NN its place in the table."""
    return f"{stages.index(stage) + 1:02d}_{stage.name}.json"


def cache_folder(cache_dir: Path, key: str) -> Path | None:
    """Where the outputs of the runs with inputs ``key`` are kept."""
    return Shelf.of(cache_dir, CACHE_KIND).entry_folder(key)


def save_output(folder: Path, stages: Sequence[Stage], stage: Stage, value: Any) -> None:
    write_model(Path(folder) / file_name(stages, stage), value, stage.output)


def load_output(folder: Path, stages: Sequence[Stage], stage: Stage) -> tuple[bool, Any]:
    """(found, value): found only when the output can be read and is still usable (none, unreadable,
    cut short, or written by another balldet version: not found)."""
    found, value = read_model(Path(folder) / file_name(stages, stage), stage.output)
    return (True, value) if found and stage.usable(value) else (False, None)


def inputs_key(pure_outputs: Sequence[Any], resolver: DatasetResolver) -> str:
    """What the stages after the pure ones depend on: the pure stages' outputs (the config's text and
    the processed config, its backend included), balldet's version and the datasets' contents."""
    configs = [output for output in pure_outputs if isinstance(output, PipelineConfig)]
    datasets = []
    for dataset_id in (i for config in configs for i in config.dataset_ids):
        if dataset_id in resolver.catalog:
            ref = resolver.catalog.get(dataset_id)
            datasets.append([ref.id, ref.version, ref.number_samples, ref.folder_state()])
        else:
            datasets.append([dataset_id])  # a ClearML dataset id names immutable content
    outputs = [TypeAdapter(type(output)).dump_python(output, mode="json") for output in pure_outputs]
    return make_key(__version__, outputs, datasets)
