"""Dataset checks: defects in YOLO labels and images, and leakage between datasets.

``check_datasets`` walks each dataset once: every label file is parsed with plain Python (no regex,
no numpy per line, so tens of thousands of label files per second on one core) and, with
``images=True``, every image header is opened with PIL. ``find_leakage`` (in
:mod:`balldet.data.checks_leakage`) compares datasets with each other.

Each problem is a :class:`Finding`; a :class:`CheckReport` holds them, counts them per kind and
writes them as JSON. The checks are a superset of what ultralytics' ``verify_image_label`` rejects
(or repairs with a warning), so a dataset that passes here trains without dropped samples.

Finding kinds (see :data:`KINDS`):

* ``unreadable_image``: PIL cannot open/verify the header, the format is not an image format the
  trainers read, or a JPEG lacks its end-of-image marker (truncated file). Only headers are read,
  not the compressed pixel data: about 0.1 ms per image instead of several ms for a full decode.
  The trade-off: damage inside the entropy-coded data of a JPEG whose header and last bytes are
  intact is not seen (ultralytics does not decode at check time either).
* ``image_too_small``: width or height below 10 pixels.
* ``label_parse``: a row without exactly 5 columns, a value that is not a number, nan/inf, or a
  file that is not UTF-8 text.
* ``class_out_of_range``: the class id is not an integer in ``[0, len(names))``.
* ``coords_out_of_range``: cx or cy outside ``[0, 1]``, or w or h above 1.
* ``box_outside_image``: a box whose edges lie beyond the image by more than ``EDGE_TOLERANCE``.
* ``non_positive_size``: w or h is zero or negative.
* ``duplicate_box``: a row repeated in one label file (ultralytics drops the copies).
* ``label_without_image`` / ``image_without_label``: a label file no image uses, an image with no
  label file. A ball-free frame has an *empty* label file, which is fine.
* ``label_extension``: a label file named ``.TXT`` (the trainers look for ``.txt``).
* ``same_stem``: two images sharing a stem, and so one label file.
* ``path_outside_dataset``: an image or label file that is a link leading outside the dataset.
* duplicates (a defect too): ``duplicate_image`` (the same bytes twice), ``duplicate_frame`` (one
  recording's frame number twice), ``near_duplicate`` (a re-encoded or resized copy) -- inside one
  dataset, or inside one group of several (see :mod:`balldet.data.checks_leakage`).
* leakage: ``same_frame``, ``identical_image``, ``near_duplicate_image``.

Warnings are reported (printed, in the JSON) but are no defects: they change no exit code and drop
no frame. ``extension_case``: a dataset mixing spellings of an extension (``.JPG`` beside ``.jpg``),
which both trainers read.
"""

from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from balldet.data.dataset import IMAGE_SUFFIXES, DatasetRef
from balldet.data.frames import DEFAULT_FRAME_IDENTITY, FrameIdentity

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def throttled_progress(emit: Callable[[str], None], every_s: float = 5.0,
                       clock: Callable[[], float] = time.monotonic) -> Progress:
    """A :data:`Progress` for logs, where a progress bar cannot be drawn: it hands ``emit`` a line
    for a stage once the stage has run ``every_s`` seconds, then at most every ``every_s`` seconds,
    and one at its end. Stages shorter than that say nothing."""
    started: dict[str, float] = {}
    spoken: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        now = clock()
        since = spoken.get(stage, started.setdefault(stage, now))
        if now - since >= every_s or (done >= total and stage in spoken):
            spoken[stage] = now
            emit(f"{stage}: {done}/{total}")

    return progress


LABEL_KINDS = (
    "label_parse", "class_out_of_range", "coords_out_of_range", "box_outside_image", "non_positive_size",
    "duplicate_box",
)
FILE_KINDS = ("label_without_image", "image_without_label", "label_extension", "same_stem", "path_outside_dataset")
IMAGE_KINDS = ("unreadable_image", "image_too_small")
DUPLICATE_KINDS = ("duplicate_image", "duplicate_frame", "near_duplicate")
LEAKAGE_KINDS = ("same_frame", "identical_image", "near_duplicate_image")
WARNING_KINDS = ("extension_case",)
KINDS = IMAGE_KINDS + LABEL_KINDS + FILE_KINDS + DUPLICATE_KINDS + LEAKAGE_KINDS + WARNING_KINDS

MIN_IMAGE_SIZE = 10  # pixels, as ultralytics
EDGE_TOLERANCE = 1e-3  # normalised: rounding of 6-decimal labels never reaches it


@dataclass(frozen=True)
class Finding:
    """One problem: its kind, the dataset (label), the file (relative to the dataset folder), the
    1-based line of a label file (None for whole-file problems) and a readable message."""

    kind: str
    dataset: str
    file: str
    line: int | None
    message: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclass
class CheckReport:
    findings: list[Finding] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    images: int = 0
    labels: int = 0
    boxes: int = 0

    @property
    def ok(self) -> bool:
        """No finding but warnings."""
        return not self.problems

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.kind not in WARNING_KINDS]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.kind in WARNING_KINDS]

    @property
    def counts(self) -> dict[str, int]:
        """Findings per kind, in the order of :data:`KINDS` (kinds with none left out)."""
        counter = Counter(f.kind for f in self.findings)
        return {kind: counter[kind] for kind in sorted(counter, key=_kind_order)}

    def by_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def extend(self, findings: Iterable[Finding]) -> None:
        self.findings.extend(findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "datasets": self.datasets,
            "images": self.images,
            "label_files": self.labels,
            "boxes": self.boxes,
            "counts": self.counts,
            "findings": [asdict(f) for f in self.findings],
        }

    def summary(self, examples: int = 3) -> str:
        """A few lines for a terminal or a log."""
        head = (f"{len(self.datasets)} dataset(s), {self.images} images, {self.labels} label files, "
                f"{self.boxes} boxes: ")
        if not self.findings:
            return head + "no problems found"
        warned = f", {len(self.warnings)} warning(s)" if self.warnings else ""
        lines = [head + f"{len(self.problems)} problem(s){warned}"]
        for kind, count in self.counts.items():
            shown = ", ".join(f"{f.dataset}/{f.where}" for f in self.by_kind(kind)[:examples])
            label = f"warning {kind}" if kind in WARNING_KINDS else kind
            lines.append(f"  {label}: {count}  e.g. {shown}")
        return "\n".join(lines)


def _kind_order(kind: str) -> tuple[int, str]:
    return (KINDS.index(kind) if kind in KINDS else len(KINDS), kind)


def check_datasets(refs: list[DatasetRef], *, images: bool = True, progress: Progress | None = None) -> CheckReport:
    """Check the labels (and, with ``images``, the image headers) of every dataset in ``refs``.

    ``progress(stage, done, total)`` is called now and then while files are read.
    """
    from balldet.data.checks_images import check_image
    from balldet.data.checks_labels import check_label_file

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
        if images:
            stage = f"{name}: images"
            total = len(layout.images)
            for done, image in enumerate(layout.images, start=1):
                finding = check_image(ref.images_dir / image, f"images/{image}", name)
                if finding is not None:
                    report.findings.append(finding)
                if progress is not None and (done % 500 == 0 or done == total):
                    progress(stage, done, total)
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


def find_leakage(groups: dict[str, list[DatasetRef]], *, progress: Progress | None = None,
                 max_distance: int | None = None, cache_dir: Path | None = None,
                 frames: FrameIdentity = DEFAULT_FRAME_IDENTITY) -> list[Finding]:
    """Leakage between the datasets of ``groups`` (e.g. ``{"train": [...], "test": [...]}``).

    See :func:`balldet.data.checks_leakage.find_leakage`.
    """
    from balldet.data import checks_leakage

    kwargs = {} if max_distance is None else {"max_distance": max_distance}
    return checks_leakage.find_leakage(groups, progress=progress, cache_dir=cache_dir, frames=frames, **kwargs)
