"""Registering a dataset in the local catalog: all of it or nothing.

The dataset is built in a staging folder inside the catalog root (:data:`STAGING_DIR`, on the same file
system, so the last step is a rename): ``images/`` and ``labels/`` copied file by file (only images and
``.txt`` label files, under their own names), or, with ``link``, two links to the source's folders;
``dataset.json`` is written last and the folder renamed to ``<catalog>/<id>``. Whatever fails on the
way, the staging folder is removed and the catalog is as it was. The source is only read.

**Links.** A linked dataset is two folder links (``images -> <source>/images``, ``labels ->
<source>/labels``), never a link per file: the defect check refuses files that are links leading out
of their dataset (``path_outside_dataset``), while a folder link is read like the folder, and training
layouts link to a dataset's folders as they do for any other dataset. The catalog then depends on the
source folder: moving, changing or deleting it changes or breaks the dataset (the checks remembered
for it are keyed by the folders' state, so added or removed files are seen; files edited in place are
not). A data.yaml of several splits cannot be linked (two folders cannot be one ``images/``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from balldet.checks.report import Progress
from balldet.datasets.catalog import METADATA_FILE, LocalCatalog
from balldet.errors import DatasetError
from balldet.files import write_text_atomic
from balldet.registration.source import Plan, dataset_json_text

STAGING_DIR = ".add-staging"  # in the catalog root; its folders are not catalog entries


def register_locally(plan: Plan, catalog: LocalCatalog, *, progress: Progress | None = None) -> Path:
    """Put the planned dataset into ``catalog`` (see the module); its folder."""
    info = plan.info
    catalog.root.mkdir(parents=True, exist_ok=True)
    staging = catalog.root / STAGING_DIR
    staging.mkdir(exist_ok=True)
    final = catalog.folder(info.id)
    tmp = Path(tempfile.mkdtemp(prefix=f"{info.id}.", dir=staging))
    try:
        os.chmod(tmp, 0o777 & ~_current_umask())  # mkdtemp makes it 0700; a catalog folder is as readable as any other
        if plan.link:
            _link(plan, tmp)
        else:
            _copy(plan, tmp, progress)
        write_text_atomic(tmp / METADATA_FILE, dataset_json_text(info))
        if final.exists():
            raise DatasetError(f"{final} exists already", fix="run the command again: a new id is drawn each time")
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        try:
            staging.rmdir()  # only when empty: another registration may be staging beside us
        except OSError:
            pass
    return final


def _link(plan: Plan, folder: Path) -> None:
    (split,) = plan.source.splits  # a link is of one folder: planning refused --link for several splits
    (folder / "images").symlink_to(split.images.resolve(), target_is_directory=True)
    if split.labels.is_dir():
        (folder / "labels").symlink_to(split.labels.resolve(), target_is_directory=True)
    else:  # no label files at all: the checks said so, and --allow-defects accepted it
        (folder / "labels").mkdir()


def _copy(plan: Plan, folder: Path, progress: Progress | None) -> None:
    source = plan.source
    files = [(split.images / name, folder / "images" / name) for split, name in source.images]
    files += [(split.labels / name, folder / "labels" / name) for split, name in source.labels]
    (folder / "images").mkdir()
    (folder / "labels").mkdir()
    for done, (origin, target) in enumerate(files, start=1):
        shutil.copyfile(origin, target)  # the bytes only: no source permissions or times
        if progress is not None and (done % 100 == 0 or done == len(files)):
            progress("copying", done, len(files))


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
