"""Stage 3: resolve the config's datasets to local folders and choose the validation frames."""

from __future__ import annotations

from balldet.config import PipelineConfig
from balldet.data.prepared import PreparedData
from balldet.data.resolver import DatasetResolver
from balldet.data.splits import split_by_recording
from balldet.errors import DatasetError

# Validation fraction when a config gives no val_data: whole recordings held out of training.
DEFAULT_VAL_SPLIT = 0.2


def prepare_data(config: PipelineConfig, resolver: DatasetResolver) -> PreparedData:
    train = [resolver.resolve(i) for i in config.train_data.datasets] if config.train_data else []
    val_spec = config.val_data
    val = [resolver.resolve(i) for i in val_spec.datasets] if val_spec else []
    test = [resolver.resolve(i) for i in config.test_data.datasets]

    class_names = (train or test)[0].names
    for ref in [*train, *val, *test]:
        if ref.names != class_names:
            raise DatasetError(
                f"dataset {ref.name} has classes {ref.names}, others have {class_names}",
                fix="use datasets labelled with the same class names in one config",
            )
    val_frames = []
    if train and not val:
        fraction = val_spec.split if val_spec and val_spec.split else DEFAULT_VAL_SPLIT
        val_frames = split_by_recording(train, fraction, seed=config.seed)
        if not val_frames:
            raise DatasetError(
                "the training data is too small to split a validation set from",
                fix="add val_data.datasets to the config",
            )
    return PreparedData(train=train, val=val, test=test, class_names=class_names, val_frames=val_frames)
