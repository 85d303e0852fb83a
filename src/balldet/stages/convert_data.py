"""Stage 5: build the chosen backend's training layout from the prepared datasets.

Layouts are cached by what they are made of: a second run with the same datasets (same ids,
versions and folder contents), the same validation frames and the same dropped frames reuses the
layout built before — and the label caches the backend wrote into it. A layout is a folder entry of
the ``layouts`` shelf of :mod:`balldet.cache`, ``<layouts_root>/<model type>-<key>/``; its marker
``converted.json`` is written last, so a layout without a readable marker is built again.

A config with a ``slicing`` section trains on tiles: the layout then links tiles cut from the frames
(:mod:`balldet.slicing.layout`), themselves entries of the same shelf, one per dataset version.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from balldet.backends.base_converter import ConvertedData
from balldet.cache import Shelf, make_key
from balldet.checks.fingerprints import dataset_state
from balldet.config import PipelineConfig
from balldet.datasets.prepared import PreparedData
from balldet.backends.registry import get_dataset_converter
from balldet.slicing.layout import build_tiled_layout

MARKER = "converted.json"


def layout_key(config: PipelineConfig, data: PreparedData, options: dict[str, Any] | None = None) -> str:
    """The key of the layout ``data`` makes for ``config``'s backend, named after the backend."""
    content = {
        "model_type": config.model_type,
        "options": options or {},
        "class_names": data.class_names,
        "datasets": [
            # the folder too: local folders given without metadata share one id
            [split, *dataset_state(ref), ref.number_samples]
            for split, refs in (("train", data.train), ("val", data.val))
            for ref in refs
        ],
        "val_frames": [f.model_dump() for f in data.val_frames],
        "dropped": [f.model_dump() for f in data.dropped_frames],
    }
    return make_key(content, prefix=config.model_type)


def convert_data(config: PipelineConfig, data: PreparedData, layouts_root: Path) -> ConvertedData | None:
    """None when the config has no training data (a pretrained model is only tested)."""
    if not data.train:
        return None
    converter = get_dataset_converter(config.model_type)
    options = converter.layout_options(config.train_config)
    tiled = config.slicing is not None and config.slicing.train
    if tiled:
        options = {"slicing": config.slicing.model_dump(include={"tile", "overlap", "empty_tiles"}),
                   "seed": config.seed}
    layouts = Shelf(layouts_root)  # the pipeline hands over <cache_dir>/layouts
    key = layout_key(config, data, options)
    out_dir = layouts.entry_folder(key)
    if (out_dir / "data.yaml").is_file():
        found, converted = layouts.load_model(key, ConvertedData, name=MARKER)
        if found:
            return converted
    if out_dir.exists():
        shutil.rmtree(out_dir)  # links only (never their targets): what a half-built layout left
    if tiled:
        # tiles of each dataset are entries of this shelf too: cut once per dataset version
        converted = build_tiled_layout(data, out_dir, config.model_type, slicing=config.slicing, seed=config.seed,
                                       shelf=layouts)
    else:
        converted = converter().convert(data, out_dir, options=options)
    layouts.save_model(key, converted, ConvertedData, name=MARKER)
    return converted
