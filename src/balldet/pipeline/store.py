"""Stage outputs on disk: what makes a run resumable and a re-run of the same inputs cheap.

Every completed stage's output is written (atomically) to ``<run folder>/stages/<NN>_<stage>.json``
and, keyed by the run's inputs, to ``<cache_dir>/stage_cache/<key>/``. Types and file names come from
the table of stages (``balldet.pipeline.spec``). An output is reused only if it can be read back and
the files it names (layout, weights, predictions) are still there: anything else is redone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from balldet import __version__
from balldet.config import PipelineConfig
from balldet.datasets.resolver import DatasetResolver
from balldet.files import write_text_atomic
from balldet.pipeline.spec import Stage


def file_name(stages: Sequence[Stage], stage: Stage) -> str:
    """``NN_<stage>.json``, NN its place in the table."""
    return f"{stages.index(stage) + 1:02d}_{stage.name}.json"


@cache
def _adapter(kind: Any) -> TypeAdapter:
    return TypeAdapter(kind)


def save_output(folder: Path, stages: Sequence[Stage], stage: Stage, value: Any) -> None:
    text = _adapter(stage.output).dump_json(value, indent=2).decode()
    write_text_atomic(Path(folder) / file_name(stages, stage), text)


def load_output(folder: Path, stages: Sequence[Stage], stage: Stage) -> tuple[bool, Any]:
    """(found, value): found only when the output can be read and is still usable."""
    path = Path(folder) / file_name(stages, stage)
    try:
        value = _adapter(stage.output).validate_json(path.read_text())
    except (OSError, ValueError):
        return False, None  # none, unreadable, cut short, or written by another balldet version
    return (True, value) if stage.usable(value) else (False, None)


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
    outputs = [_adapter(type(output)).dump_python(output, mode="json") for output in pure_outputs]
    content = [__version__, outputs, datasets]
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:24]
