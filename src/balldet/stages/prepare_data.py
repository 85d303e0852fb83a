"""Stage 3: resolve the config's datasets to local folders and choose the validation frames."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import NamedTuple

from balldet.config import PipelineConfig
from balldet.checks.defects import remembered_check
from balldet.checks.report import LEAKAGE_KINDS, CheckReport, Finding, Progress
from balldet.checks.leakage import find_leakage
from balldet.datasets.dataset import DatasetRef
from balldet.datasets.frames import DEFAULT_FRAME_IDENTITY, FrameIdentity
from balldet.frame_patterns import DEFAULT_FRAME_PATTERNS
from balldet.datasets.prepared import FrameRef, PreparedData
from balldet.datasets.resolver import DatasetResolver
from balldet.datasets.splits import split_by_recording
from balldet.errors import DatasetError
from balldet.files import write_json_atomic

# Validation fraction when a config gives no val_data: whole recordings held out of training.
DEFAULT_VAL_SPLIT = 0.2


def prepare_data(
    config: PipelineConfig,
    resolver: DatasetResolver,
    *,
    report_file: Path | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> PreparedData:
    """Resolve, check (defects, duplicates and train/test leakage), and choose the validation frames.

    The full check report is written to ``report_file`` (JSON) before any failure is raised, and a
    failure lists every problem found (leakage, defects, class names) at once. With ``cache_dir``,
    each dataset's defect check and image fingerprints are remembered until its folders change.
    ``progress`` hears of the files read on long checks.
    """
    train = [resolver.resolve(i) for i in config.train_ids]
    val_spec = config.val_data
    val = [resolver.resolve(i) for i in config.val_ids]
    test = [resolver.resolve(i) for i in config.test_data.datasets]
    frames = FrameIdentity(config.data_checks.frame_patterns or DEFAULT_FRAME_PATTERNS)
    class_names = (train or test)[0].names
    problems = [
        f"dataset {ref.label} has classes {ref.names}, others have {class_names}; "
        "use datasets labelled with the same class names in one config"
        for ref in {r.id: r for r in [*train, *val, *test]}.values() if ref.names != class_names
    ]
    checked = check_prepared(config, train, val, test, report_file, cache_dir, frames, progress, problems)
    notes = [f"warning: {f.dataset}/{f.where}: {f.message}" for f in checked.warnings]
    val_frames = []
    if train and not val:
        fraction = val_spec.split if val_spec and val_spec.split else DEFAULT_VAL_SPLIT
        # Copies found by the checks are dropped (or failed the run) before this: no picture and its
        # duplicate can land on both sides; frames of one recording stay on one side.
        val_frames = split_by_recording(train, fraction, seed=config.seed, frames=frames)
        broken = set(checked.dropped)
        val_frames = [f for f in val_frames if f not in broken]
        if not val_frames:
            raise DatasetError(
                "the training data is too small to split a validation set from",
                fix="add val_data.datasets to the config",
            )
        notes.append(held_out_summary(train, val_frames, fraction, frames))
    return PreparedData(
        train=train, val=val, test=test, class_names=class_names, val_frames=val_frames,
        dropped_frames=checked.dropped, check_counts=checked.counts,
        seen_in_training=config.seen_in_training, notes=notes, check_report=report_file,
    )


def held_out_summary(train: list[DatasetRef], val_frames: list[FrameRef], fraction: float,
                     frames: FrameIdentity) -> str:
    """One line naming the recordings held out for validation and their frame counts."""
    by_id = {ref.id: ref for ref in train}
    per_recording: Counter[str] = Counter()
    for frame in val_frames:
        ref = by_id[frame.dataset_id]
        per_recording[frames(ref, frame.file.rpartition(".")[0])[0]] += 1
    listed = ", ".join(f"{recording} ({count} frames)" for recording, count in sorted(per_recording.items()))
    total = sum(ref.number_samples or len(ref.image_names()) for ref in train)
    return (f"validation: {len(val_frames)} of {total} training frames held out ({fraction:.0%} asked), "
            f"whole recordings: {listed}")


class CheckOutcome(NamedTuple):
    dropped: list[FrameRef]
    counts: dict[str, int]
    warnings: list[Finding]


def check_prepared(
    config: PipelineConfig, train: list[DatasetRef], val: list[DatasetRef], test: list[DatasetRef],
    report_file: Path | None,
    cache_dir: Path | None = None,
    frames: FrameIdentity = DEFAULT_FRAME_IDENTITY,
    progress: Progress | None = None,
    problems: list[str] | None = None,
) -> CheckOutcome:
    """Run the checks; fail on every problem at once as the config says, else the frames to drop.

    ``problems`` found before (e.g. class names) are raised together with the checks' findings.
    """
    policy = config.data_checks
    datasets = list({ref.id: ref for ref in [*train, *val, *test]}.values())
    report = CheckReport(datasets=[ref.label for ref in datasets])
    for ref in datasets:
        _merge(report, remembered_check(ref, images=policy.images, cache_dir=cache_dir, progress=progress))
    fit = list({ref.id: ref for ref in [*train, *val]}.values())
    if fit:
        # A test dataset that is also trained on (declared overlap) is checked once, as training data.
        report.extend(find_leakage({"train/val": fit, "test": test}, cache_dir=cache_dir, frames=frames,
                                   progress=progress))
    else:  # nothing is trained: nothing can leak, but each dataset may hold duplicates
        for ref in test:
            report.extend(find_leakage({"test": [ref]}, cache_dir=cache_dir, frames=frames, progress=progress))
    if report_file is not None:
        write_json_atomic(report_file, report.to_json())
    leaks = [f for f in report.problems if f.kind in LEAKAGE_KINDS]
    defects = [f for f in report.problems if f.kind not in LEAKAGE_KINDS]
    sections = [f"  {problem}" for problem in problems or []]
    fixes = []
    if leaks and not policy.allow_leakage:
        sections.append(f"train/val and test data leak into each other ({len(leaks)} finding(s)):\n"
                        + _listing(leaks))
        fixes.append("remove the shared frames from one side, or set data_checks.allow_leakage: true")
    if defects and policy.label_defects == "fail":
        sections.append(f"the datasets have {len(defects)} defect(s):\n" + _listing(defects))
        fixes.append("repair them (`balldet datasets check` lists them all), or set data_checks.label_defects: "
                     "drop to train without those frames (and without the later of two copies)")
    if sections:
        where = f" (full report: {report_file})" if report_file is not None else ""
        raise DatasetError(f"{len(sections)} problem(s) with the data:\n" + "\n".join(sections),
                           fix="; ".join(fixes + ["fix the class names"] * bool(problems)) + where)
    by_label = {ref.label: ref for ref in datasets}
    images_by_stem: dict[str, dict[str, list[str]]] = {}  # per dataset, listed once (not per finding)
    dropped = set()
    for finding in defects:
        ref = by_label.get(finding.dataset)
        if ref is None:
            continue
        if ref.label not in images_by_stem:
            images_by_stem[ref.label] = defaultdict(list)
            for name in ref.image_names():
                images_by_stem[ref.label][name.rpartition(".")[0]].append(name)
        for name in images_by_stem[ref.label].get(Path(finding.file).stem, []):
            dropped.add(FrameRef(dataset_id=ref.id, file=name))
    return CheckOutcome(sorted(dropped, key=lambda f: (f.dataset_id, f.file)), report.counts, report.warnings)


def _merge(total: CheckReport, part: CheckReport) -> None:
    total.extend(part.findings)
    total.images += part.images
    total.labels += part.labels
    total.boxes += part.boxes


def _listing(findings: list, limit: int = 20) -> str:
    lines = [f"  {f.kind}: {f.dataset}/{f.where}: {f.message}" for f in findings[:limit]]
    if len(findings) > limit:
        lines.append(f"  ... and {len(findings) - limit} more")
    return "\n".join(lines)
