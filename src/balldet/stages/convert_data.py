"""Stage 5: build the chosen backend's training layout from the prepared datasets.

Layouts are cached by what they are made of: a second run with the same datasets (same ids,
versions and folder contents), the same validation frames and the same dropped frames reuses the
layout built before — and the label caches the backend wrote into it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from balldet.backends.base_converter import ConvertedData
from balldet.config import PipelineConfig
from balldet.datasets.prepared import PreparedData
from balldet.files import write_text_atomic
from balldet.registry import get_dataset_converter

MARKER = "converted.json"


def layout_key(config: PipelineConfig, data: PreparedData, options: dict[str, Any] | None = None) -> str:
    content = {
        "model_type": config.model_type,
        "options": options or {},
        "class_names": data.class_names,
        "datasets": [
            [split, ref.id, ref.version, ref.number_samples, ref.folder_state()]
            for split, refs in (("train", data.train), ("val", data.val))
            for ref in refs
        ],
        "val_frames": [f.model_dump() for f in data.val_frames],
        "dropped": [f.model_dump() for f in data.dropped_frames],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:20]


def convert_data(config: PipelineConfig, data: PreparedData, layouts_root: Path) -> ConvertedData | None:
    """None when the config has no training data (a pretrained model is only tested)."""
    if not data.train:
        return None
    converter = get_dataset_converter(config.model_type)
    options = converter.layout_options(config.train_config)
    out_dir = Path(layouts_root) / f"{config.model_type}-{layout_key(config, data, options)}"
    marker = out_dir / MARKER
    if marker.is_file() and (out_dir / "data.yaml").is_file():
        try:
            return ConvertedData.model_validate_json(marker.read_text())
        except (OSError, ValueError):
            pass  # a layout is a cache: an unreadable one is built again
    if out_dir.exists():
        shutil.rmtree(out_dir)  # links only (never their targets): what a half-built layout left
    converted = converter().convert(data, out_dir, options=options)
    write_text_atomic(marker, converted.model_dump_json(indent=2))
    return converted
