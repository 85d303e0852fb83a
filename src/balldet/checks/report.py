"""Dataset checks: defects in YOLO labels and images, and leakage between datasets.

Each problem is a :class:`Finding`; a :class:`CheckReport` holds them, counts them per kind and
writes them as JSON. :mod:`balldet.checks.defects` finds the defects of each dataset,
:mod:`balldet.checks.leakage` duplicates and leakage between images. The checks are a superset of what ultralytics' ``verify_image_label`` rejects
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
  dataset, or inside one group of several (see :mod:`balldet.checks.leakage`).
* leakage: ``same_frame``, ``identical_image``, ``near_duplicate_image``.

Warnings are reported (printed, in the JSON) but are no defects: they change no exit code and drop
no frame. ``extension_case``: a dataset mixing spellings of an extension (``.JPG`` beside ``.jpg``),
which both trainers read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

Progress = Callable[[str, int, int], None]  # (stage, done, total): files read on long checks


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

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckReport:
        """The report :meth:`to_json` wrote (``ok`` and ``counts`` follow from the findings)."""
        return cls(findings=[Finding(**f) for f in data["findings"]], datasets=data["datasets"],
                   images=data["images"], labels=data["label_files"], boxes=data["boxes"])

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
