"""Stage 5: build the chosen backend's training layout from the prepared datasets."""

from __future__ import annotations

from pathlib import Path

from balldet.backends.base_converter import ConvertedData
from balldet.config import PipelineConfig
from balldet.data.prepared import PreparedData
from balldet.registry import get_dataset_converter


def convert_data(config: PipelineConfig, data: PreparedData, out_dir: Path) -> ConvertedData | None:
    """None when the config has no training data (a pretrained model is only tested)."""
    if not data.train:
        return None
    converter = get_dataset_converter(config.model_type)()
    return converter.convert(data, Path(out_dir))
