"""Defects of each dataset: label lines that do not parse or make no box, images that cannot be
read or are too small, files without their counterpart, and links leaving the dataset.

``check_datasets`` walks each dataset once: every label file is parsed with plain Python (no regex,
no numpy per line, so tens of thousands of label files per second on one core) and, with
``images=True``, every image header is checked, from the one read of each image that also gives
its fingerprint (:mod:`balldet.checks.fingerprints`; the leakage check and the run record use the
same read), or from the headers alone when no leakage check follows. The kinds are listed in
:mod:`balldet.checks.report`.

:func:`remembered_check` is the check of one dataset as ``prepare_data`` runs it: remembered on the
``checks`` shelf of :mod:`balldet.cache` until the dataset's folders change.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from balldet.cache import Shelf, make_key
from balldet.checks.fingerprints import dataset_state, image_fingerprints
from balldet.checks.images import check_image, read_image
from balldet.checks.labels import check_label_file
from balldet.checks.report import CheckReport, Finding, Progress
from balldet.datasets.dataset import IMAGE_SUFFIXES, DatasetRef


# Bump when the checks change, so remembered results are not reused.
CHECKS_VERSION = 2


def check_datasets(refs: list[DatasetRef], *, images: bool = True, progress: Progress | None = None,
                   cache_dir: Path | None = None, fingerprints: bool = True) -> CheckReport:
    """Check the labels (and, with ``images``, the image headers) of every dataset in ``refs``.

    ``progress(stage, done, total)`` is called now and then while files are read. The image headers
    are checked on the images' fingerprints: each image is read whole once, and the leakage check
    and the run record use the same read (with ``cache_dir`` it is remembered there, or taken from
    there). ``fingerprints=False`` reads the headers only, faster for a check that no leakage check
    follows (``balldet datasets check --no-leakage``).
    """
    report = CheckReport(datasets=[ref.label for ref in refs])
    for ref in refs:
        name, nc = ref.label, len(ref.names)
        layout = scan_layout(ref)
        report.extend(layout.findings)
        report.extend(_links_leaving(ref))
        report.images += len(layout.images)
        report.labels += len(layout.labels)
        stage = f"{name}: labels"
        total = len(layout.labels)
        labels_dir = str(ref.labels_dir)  # strings, not a Path per file
        for done, label in enumerate(layout.labels, start=1):
            boxes, findings = check_label_file(os.path.join(labels_dir, label), f"labels/{label}", name, nc)
            report.boxes += boxes
            if findings:
                report.extend(findings)
            if progress is not None and (done % 2000 == 0 or done == total):
                progress(stage, done, total)
        if images and fingerprints:
            report.extend(_image_findings(ref, layout.images, cache_dir, progress))
        elif images:
            report.extend(_header_findings(ref, layout.images, progress))
    return report


def _image_findings(ref: DatasetRef, images: list[str], cache_dir: Path | None,
                    progress: Progress | None) -> list[Finding]:
    """The header check's findings for ``images`` (as listed by :func:`scan_layout`), in their order."""
    prints = image_fingerprints(ref, cache_dir, progress, stage=f"{ref.label}: images")
    problems = dict(zip(prints.names, prints.problems))
    findings = []
    for image in images:
        # listed by both in the same state; an image added since the fingerprints is read afresh
        problem = problems[image] if image in problems else read_image(ref.images_dir / image).problem
        if problem is not None:
            findings.append(Finding(problem[0], ref.label, f"images/{image}", None, problem[1]))
    return findings


def _header_findings(ref: DatasetRef, images: list[str], progress: Progress | None) -> list[Finding]:
    stage, total, findings = f"{ref.label}: images", len(images), []
    for done, image in enumerate(images, start=1):
        finding = check_image(ref.images_dir / image, f"images/{image}", ref.label)
        if finding is not None:
            findings.append(finding)
        if progress is not None and (done % 500 == 0 or done == total):
            progress(stage, done, total)
    return findings


def remembered_check(ref: DatasetRef, *, images: bool, cache_dir: Path | None,
                     progress: Progress | None = None) -> CheckReport:
    """:func:`check_datasets` of ``ref``, remembered in ``cache_dir`` per dataset state: checked again
    only when a file is added, removed or renamed (not when one is edited in place)."""
    shelf = Shelf.of(cache_dir, "checks")
    # Key before checking: a report of a changed folder must not go under its old state.
    key = make_key(CHECKS_VERSION, *dataset_state(ref), images, prefix=ref.id) if shelf.enabled else ""
    known = shelf.load_json(key, read=CheckReport.from_json)
    if known is not None:
        return known
    report = check_datasets([ref], images=images, progress=progress, cache_dir=cache_dir)
    shelf.save_json(key, report.to_json())
    return report


@dataclass
class Layout:
    """The image and label file names of a dataset and the naming problems between them."""

    images: list[str]
    labels: list[str]  # label files to parse (``.txt`` and ``.TXT`` spellings)
    findings: list[Finding]


def _list(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_file())


def _links_leaving(ref: DatasetRef) -> list[Finding]:
    """Files that are links to somewhere outside the dataset folder: never read, never trained on."""
    root = ref.path.resolve()
    findings = []
    for folder, kind in ((ref.images_dir, "images"), (ref.labels_dir, "labels")):
        if not folder.is_dir():
            continue
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_symlink() and not Path(os.path.realpath(entry.path)).is_relative_to(root):
                    findings.append(Finding(
                        "path_outside_dataset", ref.label, f"{kind}/{entry.name}", None,
                        f"links to {os.path.realpath(entry.path)}, outside the dataset folder",
                    ))
    return findings


def scan_layout(ref: DatasetRef) -> Layout:
    """Pair images with label files by stem; report unpaired files and extension spellings."""
    name = ref.label
    findings: list[Finding] = []
    # (name, stem, suffix) once per file: splitting names was most of this at 100k files
    image_parts = [(f, *os.path.splitext(f)) for f in _list(ref.images_dir)]
    image_parts = [(f, stem, suffix) for f, stem, suffix in image_parts if suffix.lower() in IMAGE_SUFFIXES]
    label_parts = [(f, *os.path.splitext(f)) for f in _list(ref.labels_dir)]
    label_parts = [(f, stem, suffix) for f, stem, suffix in label_parts if suffix.lower() == ".txt"]
    images = [f for f, _, _ in image_parts]
    label_files = [f for f, _, _ in label_parts]

    # Extension spellings: the most common spelling of an extension is "right", others are flagged.
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for _, _, suffix in image_parts:
        spellings[suffix.lower()][suffix] += 1
    for image, _, suffix in image_parts:
        counts = spellings[suffix.lower()]
        if len(counts) > 1:
            usual = max(counts, key=lambda s: (counts[s], s == s.lower()))
            if suffix != usual:
                findings.append(Finding("extension_case", name, f"images/{image}", None,
                                        f"extension {suffix!r} beside {counts[usual]} image(s) with {usual!r} "
                                        "(both trainers read either; a warning only)"))

    by_stem: dict[str, str] = {}
    for image, stem, _ in image_parts:
        if stem in by_stem:
            findings.append(Finding("same_stem", name, f"images/{image}", None,
                                    f"same stem as images/{by_stem[stem]}: both would use labels/{stem}.txt"))
        else:
            by_stem[stem] = image

    label_stems: set[str] = set()
    listed = set(label_files)
    for label, stem, suffix in label_parts:
        if suffix != ".txt":
            message = f"label extension {suffix!r}: trainers look for {stem}.txt"
            if stem + ".txt" in listed:
                message += ", which exists too (this file is ignored)"
            findings.append(Finding("label_extension", name, f"labels/{label}", None, message))
        label_stems.add(stem)
        if stem not in by_stem:
            findings.append(Finding("label_without_image", name, f"labels/{label}", None,
                                    f"no image named {stem}.* in images/"))
    for stem, image in by_stem.items():
        if stem not in label_stems:
            findings.append(Finding("image_without_label", name, f"images/{image}", None,
                                    f"no label file labels/{stem}.txt (a frame without objects needs an "
                                    "empty label file)"))
    return Layout(images=images, labels=label_files, findings=findings)
