"""Stage 6: train the model with the chosen backend (or take the pretrained weights as they are)."""

from __future__ import annotations

from pathlib import Path

from balldet.backends.base_converter import ConvertedData
from balldet.backends.base_model import TrainedModel
from balldet.config import PipelineConfig
from balldet.backends.registry import get_model_wrapper
from balldet.tracking.reporter import Reporter


def train_model(
    config: PipelineConfig,
    data: ConvertedData | None,
    out_dir: Path,
    *,
    cache_dir: Path,
    device: str,
    allow_downloads: bool,
    report: Reporter,
    resume: bool = False,
) -> TrainedModel:
    """Train (``resume``: continue from the last checkpoint under ``out_dir`` when there is one)."""
    wrapper_class = get_model_wrapper(config.model_type)
    if data is None:  # `train_data: pretrained`
        return wrapper_class.pretrained_model(config.train_config)
    wrapper = wrapper_class(cache_dir, allow_downloads=allow_downloads)
    train_config = dict(config.train_config)
    if config.slicing is not None and config.slicing.train:
        # tiles are cut at full resolution: trained at their own size, nothing is scaled down
        train_config.setdefault(wrapper_class.image_size_option, config.slicing.tile)
    trained = wrapper.train(
        data, train_config, Path(out_dir), device=device, seed=config.seed, report=report.scalar,
        resume=resume,
    )
    for name, value in trained.backend_metrics.items():
        report.single_value(f"backend/{name}", value)
    return trained
