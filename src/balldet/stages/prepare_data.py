"""Stage 3: resolve the config's datasets to local folders and choose the validation frames."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

from balldet.config import PipelineConfig
from balldet.data.checks import LEAKAGE_KINDS, CheckReport, Finding, Progress, check_datasets
from balldet.data.checks_leakage import find_leakage
from balldet.data.dataset import DatasetRef
from balldet.data.frames import DEFAULT_FRAME_IDENTITY, DEFAULT_FRAME_PATTERNS, FrameIdentity
from balldet.data.prepared import FrameRef, PreparedData
from balldet.data.resolver import DatasetResolver
from balldet.data.splits import split_by_recording
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
    """Resolve, check (defects and train/test leakage), and choose the validation frames.

    The full check report is written to ``report_file`` (JSON) before any failure is raised. With
    ``cache_dir``, each dataset's defect check and image fingerprints (for the leakage check) are
    remembered until its folders change. ``progress`` hears of the files read on long checks.
    """
    train = [resolver.resolve(i) for i in config.train_data.datasets] if config.train_data else []
    val_spec = config.val_data
    val = [resolver.resolve(i) for i in val_spec.datasets] if val_spec else []
    test = [resolver.resolve(i) for i in config.test_data.datasets]
    frames = FrameIdentity(config.data_checks.frame_patterns or DEFAULT_FRAME_PATTERNS)
    dropped, counts = check_prepared(config, train, val, test, report_file, cache_dir, frames, progress)

    class_names = (train or test)[0].names
    for ref in [*train, *val, *test]:
        if ref.names != class_names:
            raise DatasetError(
                f"dataset {ref.name} has classes {ref.names}, others have {class_names}",
                fix="use datasets labelled with the same class names in one config",
            )
    val_frames = []
    if train and not val:
        fraction = val_spec.split if val_spec and val_spec.split else DEFAULT_VAL_SPLIT
        val_frames = split_by_recording(train, fraction, seed=config.seed, frames=frames)
        broken = set(dropped)
        val_frames = [f for f in val_frames if f not in broken]
        if not val_frames:
            raise DatasetError(
                "the training data is too small to split a validation set from",
                fix="add val_data.datasets to the config",
            )
    return PreparedData(
        train=train, val=val, test=test, class_names=class_names, val_frames=val_frames,
        dropped_frames=dropped, check_counts=counts,
    )


def check_prepared(
    config: PipelineConfig, train: list[DatasetRef], val: list[DatasetRef], test: list[DatasetRef],
    report_file: Path | None,
    cache_dir: Path | None = None,
    frames: FrameIdentity = DEFAULT_FRAME_IDENTITY,
    progress: Progress | None = None,
) -> tuple[list[FrameRef], dict[str, int]]:
    """Run the checks; fail on leakage or defects as the config says, else return frames to drop."""
    policy = config.data_checks
    datasets = list({ref.id: ref for ref in [*train, *val, *test]}.values())
    report = CheckReport(datasets=[ref.label for ref in datasets])
    for ref in datasets:
        _merge(report, _check_dataset(ref, policy.images, cache_dir, progress))
    fit = list({ref.id: ref for ref in [*train, *val]}.values())
    if fit:
        report.extend(find_leakage({"train/val": fit, "test": test}, cache_dir=cache_dir, frames=frames,
                                    progress=progress))
    if report_file is not None:
        write_json_atomic(report_file, report.to_json())
    leaks = [f for f in report.findings if f.kind in LEAKAGE_KINDS]
    defects = [f for f in report.findings if f.kind not in LEAKAGE_KINDS]
    if leaks and not policy.allow_leakage:
        raise DatasetError(
            f"train/val and test data leak into each other ({len(leaks)} finding(s)):\n"
            + _listing(leaks),
            fix="remove the shared frames from one side, or set data_checks.allow_leakage: true "
            f"(full report: {report_file})",
        )
    if defects and policy.label_defects == "fail":
        raise DatasetError(
            f"the datasets have {len(defects)} defect(s):\n" + _listing(defects),
            fix="repair them (`balldet datasets check` lists them all), or set "
            f"data_checks.label_defects: drop to train without those frames (full report: {report_file})",
        )
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
    return sorted(dropped, key=lambda f: (f.dataset_id, f.file)), report.counts


# Bump when the checks change, so remembered results are not reused.
CHECKS_VERSION = 1


def _check_dataset(ref: DatasetRef, images: bool, cache_dir: Path | None,
                   progress: Progress | None = None) -> CheckReport:
    if cache_dir is None:
        return check_datasets([ref], images=images, progress=progress)
    key = hashlib.sha256(
        json.dumps([CHECKS_VERSION, ref.id, ref.version, ref.folder_state(), images]).encode()
    ).hexdigest()[:24]
    remembered = Path(cache_dir) / "checks" / f"{ref.id}-{key}.json"
    if remembered.is_file():
        data = json.loads(remembered.read_text())
        return CheckReport(
            findings=[Finding(**f) for f in data["findings"]], datasets=data["datasets"],
            images=data["images"], labels=data["label_files"], boxes=data["boxes"],
        )
    report = check_datasets([ref], images=images, progress=progress)
    write_json_atomic(remembered, report.to_json())
    return report


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
