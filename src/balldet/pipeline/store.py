"""Stage outputs on disk: what makes a run resumable and a re-run of the same inputs cheap.

Every completed stage's output is written (atomically) to ``<run folder>/stages/<NN>_<stage>.json``
and, keyed by the run's inputs, to ``<cache_dir>/stage_cache/<key>/``. An output is reused only if
the files it points at (layout, weights) still exist.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from balldet import __version__
from balldet.backends.base_converter import ConvertedData
from balldet.backends.base_model import TrainedModel
from balldet.config import PipelineConfig
from balldet.datasets.prepared import PreparedData
from balldet.datasets.resolver import DatasetResolver
from balldet.files import write_text_atomic
from balldet.stages import STAGE_NAMES
from balldet.stages.get_config import LoadedConfig
from balldet.stages.test_model import TestReport

OUTPUT_TYPES: dict[str, Any] = {
    "get_config": LoadedConfig,
    "process_config": PipelineConfig,
    "prepare_data": PreparedData,
    "add_tags_to_pipeline": list[str],
    "convert_data": ConvertedData | None,
    "train_model": TrainedModel,
    "test_model": TestReport,
}
_ADAPTERS = {name: TypeAdapter(kind) for name, kind in OUTPUT_TYPES.items()}


def _file_name(name: str) -> str:
    return f"{STAGE_NAMES.index(name) + 1:02d}_{name}.json"


def save_output(folder: Path, name: str, value: Any) -> None:
    write_text_atomic(Path(folder) / _file_name(name), _ADAPTERS[name].dump_json(value, indent=2).decode())


def load_output(folder: Path, name: str) -> tuple[bool, Any]:
    """(found, value): found only when the output exists and the files it needs are still there."""
    path = Path(folder) / _file_name(name)
    if not path.is_file():
        return False, None
    try:
        value = _ADAPTERS[name].validate_json(path.read_text())
    except (OSError, ValueError):
        return False, None  # unreadable, cut short, or written by another balldet version: redo the stage
    if isinstance(value, ConvertedData) and not value.data_file.is_file():
        return False, None
    if isinstance(value, TrainedModel) and not Path(value.weights).is_file():
        return False, None
    if isinstance(value, TestReport) and value.predictions_dir is not None and not value.predictions_dir.is_dir():
        return False, None
    return True, value


def inputs_key(config_text: str, model_type: str, config: PipelineConfig, resolver: DatasetResolver) -> str:
    """What the stages after process_config depend on: config, backend, balldet, dataset contents."""
    datasets = []
    for dataset_id in config.dataset_ids:
        if dataset_id in resolver.catalog:
            ref = resolver.catalog.get(dataset_id)
            datasets.append([ref.id, ref.version, ref.number_samples, ref.folder_state()])
        else:
            datasets.append([dataset_id])  # a ClearML dataset id names immutable content
    content = [__version__, config_text, model_type, datasets]
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:24]
