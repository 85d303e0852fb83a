"""What a registration returns, and the new dataset's images as the leakage check sees them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from balldet.checks.fingerprints import dataset_fingerprints
from balldet.registration.known import NewImages
from balldet.registration.source import Plan


class AddedDataset(BaseModel):
    """A registered dataset: the id to put in a config, what it is, where it went and what was accepted."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="the dataset's id: 32 hex digits (ClearML's own id with a server)")
    name: str
    version: str
    names: list[str]
    number_samples: int
    tags: list[str]
    where: str = Field(description="the catalog folder, or the ClearML project")
    names_from: str = Field(description="--names, the data.yaml or the dataset.json that named the classes")
    linked: bool = False
    parent: str | None = Field(default=None, description="the id of the version this one follows (server)")
    compared: int = Field(description="known datasets the leakage check compared it with")
    findings: dict[str, int] = Field(default_factory=dict,
                                     description="accepted findings by kind: warnings, allowed defects and leaks")
    offline_folder: str | None = Field(default=None, description="ClearML's offline session (offline mode only)")

    @property
    def label(self) -> str:
        return f"{self.name}-ver:{self.version}"


def new_images(plan: Plan) -> NewImages:
    """The planned dataset's images with their fingerprints (the source's check read them: no second read)."""
    refs = plan.refs
    prints = dataset_fingerprints(refs, cache_dir=None)
    folders = [plan.source.relative(split.images) for split in plan.source.splits]
    return NewImages(refs=refs, prints=prints, shown=lambda k, name: f"{folders[k]}/{name}")
