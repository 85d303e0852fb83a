"""Registering a dataset: ``balldet datasets add``, and whatever else brings data in (the labelling
importer calls :func:`add_dataset` too).

A folder or ultralytics data.yaml becomes a dataset with a name, a version, tags and class names,
referred to by an id like every other. Offline it goes into the local catalog
(:mod:`balldet.registration.local`), with a server it becomes a ClearML Dataset shaped like the team's
(:mod:`balldet.registration.server`, :mod:`balldet.tracking.clearml_registry`). Either way, in order:

1. the arguments and the source's layout and class names, every problem at once (exit 2, nothing
   read beyond the file listing; :mod:`balldet.registration.source`), and, with a server, the server
   (exit 3 when unreachable) and what it holds (the name+version must be new, ids must exist);
2. the checks of ``balldet datasets check`` on the source, and leakage against the known datasets:
   offline every dataset of the catalog, with a server the ``--against`` ones and those sharing its
   ``class:`` tag -- other versions of its own name excepted (:mod:`balldet.registration.gate`,
   :mod:`balldet.registration.known`); defects and leaks refuse it unless allowed;
3. the registration itself, all or nothing.

Nothing is registered when any step fails, and the source is never written to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from balldet.checks.report import Progress
from balldet.datasets.catalog import LocalCatalog
from balldet.datasets.frames import FrameIdentity
from balldet.registration.gate import check_source, refusal, summary
from balldet.registration.known import catalog_known, find_leaks
from balldet.registration.local import register_locally
from balldet.registration.records import AddedDataset, new_images
from balldet.registration.source import plan_addition
from balldet.settings import Settings

__all__ = ["AddedDataset", "add_dataset"]


def add_dataset(
    source: Path, *, name: str, version: str, settings: Settings, names: list[str] | None = None,
    tags: Sequence[str] = (), link: bool = False, allow_leakage: bool = False, allow_defects: bool = False,
    against: Sequence[str] = (), progress: Progress | None = None, project: str | None = None,
    frame_patterns: Sequence[str] | None = None,
) -> AddedDataset:
    """Check the folder or data.yaml ``source`` and register it as ``name`` ``version`` (see the module).

    ``names``: the class names in class-id order (each entry may be a comma list), else the source's
    data.yaml or dataset.json. ``link``: the catalog links to the source's folders instead of copying
    (offline only). ``against``: dataset ids to check leakage against besides those compared anyway.
    ``project``: the ClearML project of a new name (with a server; a new version goes where its name
    is). ``frame_patterns``: how frames are identified, instead of the ``frame_patterns`` setting.
    ``progress(stage, done, total)`` hears of long work (reading, copying, comparing).

    Raises :class:`~balldet.errors.UsageError` for arguments (every problem at once),
    :class:`~balldet.errors.DatasetError` for the data (defects, leaks, a layout that cannot be
    merged), :class:`~balldet.errors.TrackingError` when the server cannot be used; nothing is
    registered then.
    """
    offline = settings.clearml_offline
    catalog = LocalCatalog(settings.catalog_dir)
    plan = plan_addition(Path(source), name=name, version=version, names=names, tags=tags, link=link,
                         allow_defects=allow_defects, allow_leakage=allow_leakage, against=against,
                         project=project, catalog=catalog if offline else None)
    frames = FrameIdentity(frame_patterns if frame_patterns else settings.frame_patterns)
    if not offline:
        from balldet.registration.server import register_on_server
        from balldet.tracking.server import check_server
        from balldet.tracking.session import configure_clearml

        check_server(settings)
        configure_clearml(settings)
        return register_on_server(plan, settings, frames=frames, progress=progress)

    report = check_source(plan, frames=frames, progress=progress)
    # Every catalog dataset but the other versions of this name (a new version holds frames of the one
    # before); those named by --against are compared whatever their name.
    compared = [ref for ref in catalog.list() if ref.name != plan.info.name or ref.id in plan.against]
    known, thumbs = catalog_known(compared, cache_dir=settings.cache_dir, progress=progress)
    leaks = find_leaks(new_images(plan), known, frames, progress=progress)
    thumbs.save()
    refused = refusal(plan, report, leaks)
    if refused is not None:
        raise refused
    folder = register_locally(plan, catalog, progress=progress)
    info = plan.info
    return AddedDataset(
        id=info.id, name=info.name, version=info.version, names=info.names, number_samples=info.number_samples,
        tags=info.tags, where=str(folder), names_from=plan.names_from, linked=link, compared=len(known),
        findings=summary(report, leaks),
    )
