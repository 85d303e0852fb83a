"""The datasets of one run, resolved to local folders, as prepare_data hands them on."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from balldet.datasets.dataset import DatasetRef


class FrameRef(BaseModel):
    """One image of a dataset, by the dataset's id and the image file's name."""

    model_config = ConfigDict(frozen=True)

    dataset_id: str
    file: str


class PreparedData(BaseModel):
    """Resolved datasets of a run. ``val_frames`` is set when validation is split from training."""

    train: list[DatasetRef] = Field(default_factory=list)
    val: list[DatasetRef] = Field(default_factory=list)
    test: list[DatasetRef]
    class_names: list[str]
    val_frames: list[FrameRef] = Field(default_factory=list)
    # Frames left out of training because the checks found them broken (label_defects: drop).
    dropped_frames: list[FrameRef] = Field(default_factory=list)
    check_counts: dict[str, int] = Field(default_factory=dict)
    # Test datasets the config also trains or validates on (declared overlap): results marked.
    seen_in_training: list[str] = Field(default_factory=list)
    # Lines for the user: warnings of the checks, the validation frames held out.
    notes: list[str] = Field(default_factory=list)
    # where the full check report was written (a JSON file), if anywhere
    check_report: Path | None = None

    def all_datasets(self) -> list[DatasetRef]:
        seen: dict[str, DatasetRef] = {}
        for ref in [*self.train, *self.val, *self.test]:
            seen.setdefault(ref.id, ref)
        return list(seen.values())
