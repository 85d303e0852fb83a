"""The checks a dataset passes before it is registered, and the refusal that lists what it failed.

The source is checked exactly as ``balldet datasets check SOURCE`` checks it (labels, image headers,
files without their counterpart, copies inside it), with no cache: a file repaired in place since the
last attempt is read as it is now. Its splits are checked as one dataset (they are merged into one):
a frame in two splits is a duplicate inside it. Then the leakage check against the known datasets
(:mod:`balldet.registration.known`). Every problem is listed in one refusal; ``--allow-defects`` and
``--allow-leakage`` each accept one of the two lists.
"""

from __future__ import annotations

from balldet.checks.defects import check_datasets
from balldet.checks.leakage import find_leakage
from balldet.checks.report import CheckReport, Finding, Progress
from balldet.datasets.frames import FrameIdentity
from balldet.errors import DatasetError
from balldet.registration.source import Plan

LEAKS_SHOWN = 12  # leaking frames listed in a refusal (then a count)
EXAMPLES = 3  # example files per kind of defect


def check_source(plan: Plan, *, frames: FrameIdentity, progress: Progress | None = None) -> CheckReport:
    """The defects and the copies inside the source, files named as the user sees them (split folders)."""
    source = plan.source
    report = CheckReport(datasets=[plan.info.label])
    by_image: dict[str, str] = {}
    for split, ref in zip(source.splits, plan.refs):
        # no cache: the files as they are now (fingerprints of the last few folders stay in memory for
        # the duplicate check below and the leakage check after it)
        part = check_datasets([ref], images=True, progress=progress, cache_dir=None, fingerprints=True)
        report.images += part.images
        report.labels += part.labels
        report.boxes += part.boxes
        images, labels = source.relative(split.images), source.relative(split.labels)
        report.extend(_moved(f, images, labels) for f in part.findings)
        by_image.update({name: images for s, name in source.images if s == split})
    # The splits as one group of several datasets: a frame shared by two of them is a duplicate inside
    # the new dataset, and two frames of one recording look alike without being copies (as in one dataset).
    copies = find_leakage({plan.info.label: plan.refs, "": []}, progress=progress, frames=frames)
    report.extend(_moved(f, by_image.get(f.file.removeprefix("images/"), "images"), "labels") for f in copies)
    return report


def _moved(finding: Finding, images: str, labels: str) -> Finding:
    """``finding`` with its file under the split's folders (``images/train/x.jpg``) instead of the
    dataset's (``images/x.jpg``)."""
    head, _, rest = finding.file.partition("/")
    folder = {"images": images, "labels": labels}.get(head)
    if folder is None or not rest:
        return finding
    return Finding(finding.kind, finding.dataset, f"{folder}/{rest}", finding.line, finding.message)


def refusal(plan: Plan, report: CheckReport, leaks: dict[str, list[Finding]]) -> DatasetError | None:
    """The error that refuses the dataset (None when it may be registered): every defect kind with
    examples unless ``allow_defects``, every leaking frame (the first few, then a count) unless ``allow_leakage``."""
    lines: list[str] = []
    fixes: list[str] = []
    defects = [] if plan.allow_defects else report.problems
    if defects:
        counts = CheckReport(findings=defects).counts
        lines.append(f"{len(defects)} defect(s) in {plan.source.path}:")
        for kind, count in counts.items():
            examples = [f for f in defects if f.kind == kind][:EXAMPLES]
            shown = "; ".join(f"{f.where}: {f.message}" for f in examples)
            lines.append(f"  {kind}: {count}  e.g. {shown}")
        fixes.append(f"repair the files (`balldet datasets check {plan.source.path}` lists them all), "
                     "or accept them with --allow-defects")
    shown_leaks = [] if plan.allow_leakage else [f for found in leaks.values() for f in found]
    if shown_leaks:
        into = sorted(leaks)
        frames = len({f.file for f in shown_leaks})
        lines.append(f"{frames} frame(s) leak into {len(into)} known dataset(s) ({', '.join(into)}):")
        lines += [f"  {f.kind}: {f.file}: {f.message}" for f in shown_leaks[:LEAKS_SHOWN]]
        if len(shown_leaks) > LEAKS_SHOWN:
            lines.append(f"  ... and {len(shown_leaks) - LEAKS_SHOWN} more")
        fixes.append("leave those frames out of the folder, or register it anyway with --allow-leakage (a config "
                     "using both datasets must then declare the overlap)")
    if not lines:
        return None
    head = f"{plan.info.label} is not registered (nothing was written)"
    return DatasetError("\n".join([head, *lines]), fix="; ".join(fixes))


def summary(report: CheckReport, leaks: dict[str, list[Finding]]) -> dict[str, int]:
    """Findings accepted on registration, by kind (warnings, allowed defects, allowed leaks)."""
    return CheckReport(findings=[*report.findings, *(f for found in leaks.values() for f in found)]).counts
