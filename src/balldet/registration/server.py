"""``balldet datasets add`` with a ClearML server, once the server answered (:func:`balldet.registration.add_dataset`
checks it first): what the server holds is asked, the source checked, the leakage check run against the
datasets that matter, and the dataset created, uploaded and finalized with ClearML's Dataset API
(:mod:`balldet.tracking.clearml_registry`).

**Which datasets are compared.** Those named by ``--against`` and every usable server dataset sharing
one of its ``class:`` tags (``class:ball``), except other versions of its own name (a new version is
expected to hold frames of the one before). A dataset with neither is refused unless
``--allow-leakage``: it would be checked against nothing.

**Without downloading them.** A dataset's fingerprint pack (:mod:`balldet.registration.known`) comes
from the local cache (the ``server_prints`` shelf of :mod:`balldet.cache`, keyed by dataset id: a
finalized dataset never changes), else from the dataset's artifact
:data:`~balldet.tracking.clearml_registry.FINGERPRINTS_ARTIFACT` (attached by ``datasets add``; then
cached), and only for a dataset that has neither, i.e. one not registered by balldet, is its local
copy fetched through ClearML's cache (once: ClearML keeps it) and read like a catalog dataset. The
first ``datasets add`` on a machine therefore fetches the team's older ``class:`` datasets that
ClearML's cache does not hold yet (a machine that trained on them holds them already).

**The new dataset** is uploaded from a staging folder of per-file links to the source's files (under
the cache folder, removed afterwards): ``images/`` and ``labels/`` exactly as the local catalog would
hold them, a data.yaml's splits merged. Its project is the one its name's versions are in, else
``--project``. Its pack is attached and cached, so the next check against it reads neither.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from balldet.cache import UNUSABLE, Shelf, make_key
from balldet.checks.fingerprints import Fingerprints
from balldet.checks.report import Progress
from balldet.datasets.catalog import LocalCatalog
from balldet.datasets.dataset import DatasetRef
from balldet.datasets.frames import FrameIdentity
from balldet.errors import UsageError
from balldet.registration.gate import check_source, refusal, summary
from balldet.registration.known import (
    PACK_VERSION, Known, NewImages, all_thumbnails, catalog_known, find_leaks, pack_bytes, read_pack,
)
from balldet.registration.records import AddedDataset, new_images
from balldet.registration.source import VERSION_PATTERN, Plan
from balldet.settings import Settings
from balldet.tracking import clearml_registry as registry
from balldet.tracking.clearml_registry import ServerDataset

PACK_SHELF = "server_prints"


def register_on_server(plan: Plan, settings: Settings, *, frames: FrameIdentity, progress: Progress | None = None,
                       show_progress: bool = True) -> AddedDataset:
    """Check and register ``plan`` on the ClearML server ClearML is configured for (see the module)."""
    info = plan.info
    catalog = LocalCatalog(settings.catalog_dir)
    project, parent, against_local, against_server = _server_side(plan, catalog)
    report = check_source(plan, frames=frames, progress=progress)
    compared = {d.id: d for d in against_server}
    for tag in (t for t in info.tags if t.startswith("class:")):
        compared.update({d.id: d for d in registry.tagged(tag) if d.name != info.name and d.id not in compared})
    packs = {d.id: _pack(d, settings) for d in compared.values()}
    # datasets not registered by balldet have no pack: their files, fetched once into ClearML's cache
    fetched = [_fetch(d.id) for d in compared.values() if packs[d.id] is None]
    known, thumbs = catalog_known([*against_local, *fetched], cache_dir=settings.cache_dir, progress=progress)
    known += [pack for pack in packs.values() if pack is not None]
    new = new_images(plan)
    leaks = find_leaks(new, known, frames, progress=progress)
    thumbs.save()
    refused = refusal(plan, report, leaks)
    if refused is not None:
        raise refused
    staging = Path(tempfile.mkdtemp(prefix="add-", dir=_staging_root(settings)))
    try:
        # the pack later checks compare with: every image's thumbnail (one more decode each, once)
        files = [ref.images_dir / name for ref, p in zip(new.refs, new.prints) for name in p.names]
        pack = pack_bytes(info.name, info.version, _merged_prints(new), all_thumbnails(files, progress=progress))
        (staging / "fingerprints.npz").write_bytes(pack)
        folder = staging / "dataset"
        _stage_links(plan, folder)
        uploaded = registry.upload_dataset(
            folder, name=info.name, project=project, version=info.version, tags=info.tags, names=info.names,
            number_samples=info.number_samples, parent_id=parent.id if parent else None,
            fingerprints=staging / "fingerprints.npz", show_progress=show_progress)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    Shelf.of(settings.cache_dir, PACK_SHELF).save_bytes(_pack_key(uploaded.id), pack, ".npz")
    return AddedDataset(
        id=uploaded.id, name=info.name, version=info.version, names=info.names, number_samples=info.number_samples,
        tags=info.tags, where=f"ClearML project {project}", parent=parent.id if parent else None,
        names_from=plan.names_from, compared=len(known), findings=summary(report, leaks),
        offline_folder=uploaded.offline_folder,
    )


def _server_side(plan: Plan, catalog: LocalCatalog) -> tuple[str, ServerDataset | None, list, list[ServerDataset]]:
    """(project, parent, --against datasets of the local catalog, --against datasets of the server), or
    a :class:`UsageError` with every problem: the name+version exists, no project, unknown ids."""
    info = plan.info
    problems: list[tuple[str, str]] = []
    versions = registry.versions_of(info.name)
    taken = [v for v in versions if v.version == info.version]
    if taken:
        problems.append(("--version", f"{info.label} exists on the server ({taken[0].id}, project "
                         f"{taken[0].project}, {taken[0].status}); give a new version"))
    projects = sorted({v.project for v in versions if v.project})
    project = plan.project or (projects[0] if len(projects) == 1 else "")
    if not project:
        problems.append(("--project", f"{info.name} is in several projects ({', '.join(projects)}); choose one"
                         if projects else f"{info.name} is a new name; give the ClearML project for it, e.g. "
                         "--project <team>/datasets"))
    against_local, against_server = [], []
    for dataset_id in plan.against:
        if dataset_id in catalog:
            against_local.append(catalog.get(dataset_id))
            continue
        try:
            against_server.append(registry.describe(dataset_id))
        except Exception as exc:  # DatasetError for an unknown id
            problems.append(("--against", f"{dataset_id} is neither in the local catalog nor on the server ({exc})"))
    if not plan.allow_leakage and not plan.against and not any(t.startswith("class:") for t in info.tags):
        problems.append(("--tag", "no class: tag (e.g. --tag class:ball), and no --against: the leakage check would "
                         "compare it with nothing; tag it as the team's datasets are, name datasets with --against, "
                         "or --allow-leakage"))
    if problems:
        raise UsageError(problems)
    return project, _parent(versions, project, info.version), against_local, against_server


def _parent(versions: list[ServerDataset], project: str, version: str) -> ServerDataset | None:
    """The latest usable version before ``version`` of the name in ``project``: the new one's parent."""
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(part) for part in v.split("."))

    earlier = [v for v in versions if v.project == project and v.usable and v.version
               and VERSION_PATTERN.match(v.version) and key(v.version) < key(version)]
    return max(earlier, key=lambda v: key(v.version or "0.0.0"), default=None)


def _pack_key(dataset_id: str) -> str:
    return make_key(PACK_VERSION, dataset_id, prefix=dataset_id)


def _pack(dataset: ServerDataset, settings: Settings) -> Known | None:
    """A server dataset's fingerprint pack: from the cache, else from its artifact (then cached); None
    when it has none."""
    shelf = Shelf.of(settings.cache_dir, PACK_SHELF)
    key = _pack_key(dataset.id)
    known = shelf.load_bytes(key, ".npz", read=lambda data: read_pack(data, dataset_id=dataset.id, label=dataset.label))
    if known is not None:
        return known
    artifact = registry.fingerprints_file(dataset.id)
    if artifact is None:
        return None
    try:
        data = artifact.read_bytes()
        known = read_pack(data, dataset_id=dataset.id, label=dataset.label)
    except UNUSABLE:  # a pack of another balldet, or damaged: the dataset's files instead
        return None
    if known is not None:
        shelf.save_bytes(key, data, ".npz")
    return known


def _fetch(dataset_id: str) -> DatasetRef:
    from balldet.tracking.clearml_datasets import ClearMLDatasets

    return ClearMLDatasets().fetch(dataset_id)


def _merged_prints(new: NewImages) -> Fingerprints:
    """The new dataset's fingerprints as one list, in the order its files are listed."""
    return Fingerprints(*[[value for p in new.prints for value in getattr(p, column)]
                          for column in ("names", "sizes", "digests", "hashes", "problems")])


def _stage_links(plan: Plan, folder: Path) -> None:
    """``folder/images`` and ``folder/labels`` as the dataset will hold them: a link per source file."""
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    for split, name in plan.source.images:
        (folder / "images" / name).symlink_to(split.images / name)
    for split, name in plan.source.labels:
        (folder / "labels" / name).symlink_to(split.labels / name)


def _staging_root(settings: Settings) -> Path:
    root = settings.cache_dir / "add-staging"
    root.mkdir(parents=True, exist_ok=True)
    return root

