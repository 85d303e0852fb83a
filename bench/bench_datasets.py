"""Datasets at scale: label checks per second, building a training layout against copying the
files, the whole prepare_data stage on new datasets, the run record's content hashes after it, its
cached re-run, and a new config over the datasets already checked, each next to a baseline measured
in the same run. Exit status 1 when a goal is missed.

    python bench/bench_datasets.py                       # 100 000 images in 10 datasets
    python bench/bench_datasets.py --images 20000 --json datasets_bench.json

The catalog is generated once under --workdir (default: a temporary folder, removed at the end):
distinct pictures (smooth random patterns, so the leakage checks find no pairs and do their full
work) grown to about --image-kb (+-10%) with JPEG comment segments (so copying costs what copying broadcast
frames costs), with the YOLO labels of synthetic football frames.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from balldet.config import PipelineConfig
from balldet.datasets.catalog import LocalCatalog
from balldet.checks.defects import check_datasets
from balldet.datasets.dataset import DatasetInfo
from balldet.datasets.prepared import PreparedData
from balldet.datasets.resolver import DatasetResolver
from balldet.datasets.splits import split_by_recording
from balldet.synth.catalog import synthesize
from balldet.backends.registry import get_dataset_converter
from balldet.stages.convert_data import convert_data
from balldet.stages.prepare_data import prepare_data
from balldet.tracking.run_record import datasets_section

GOAL_LABELS_PER_S = 20_000
GOAL_COPY_RATIO = 20.0
GOAL_CACHED_S = 1.0


def pad_jpeg(jpeg: bytes, size: int) -> bytes:
    """A picture grown to about ``size`` bytes with JPEG comment segments (still a valid file), so
    copying costs what copying real broadcast frames costs."""
    padding = b""
    while len(jpeg) + len(padding) < size:
        chunk = min(65533, size - len(jpeg) - len(padding))
        padding += b"\xff\xfe" + (chunk + 2).to_bytes(2, "big") + b"\0" * chunk
    return jpeg[:2] + padding + jpeg[2:]


def distinct_picture(rng: np.random.Generator, size: tuple[int, int] = (320, 192)) -> bytes:
    """A smooth random pattern: every picture differs from every other one in its difference hash
    and its thumbnail, as distinct broadcast frames do."""
    coarse = rng.integers(0, 256, size=(12, 20, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", cv2.resize(coarse, size, interpolation=cv2.INTER_CUBIC))
    return encoded.tobytes()


def build_catalog(root: Path, images: int, datasets: int, image_kb: int) -> list:
    """``datasets`` datasets holding ``images`` distinct frames in all, labelled like synthetic frames."""
    seed_catalog = LocalCatalog(root / "seed")
    (source,) = [r for r in synthesize(seed_catalog, images_per_dataset=48) if r.name == "class:ball-markup:our-001"]
    labels = [source.label_file(p).read_text() for p in source.image_files()]
    catalog = LocalCatalog(root / "catalog")
    rng = np.random.default_rng(0)
    refs = []
    per_dataset = images // datasets
    for d in range(datasets):
        dataset_id = f"{d:032x}"
        folder = catalog.folder(dataset_id)
        (folder / "images").mkdir(parents=True)
        (folder / "labels").mkdir()
        for i in range(per_dataset):
            # one recording per 500 frames, so a validation split can hold out whole recordings
            stem = f"20240101-Bench_League-Home_{d:02d}-vs-Away-{i // 500:02d}_{i:06d}"
            # sizes vary as real frames' do (equal sizes across datasets are hashed byte for byte)
            size = int(image_kb * 1024 * rng.uniform(0.9, 1.1))
            (folder / "images" / f"{stem}.jpg").write_bytes(pad_jpeg(distinct_picture(rng), size))
            (folder / "labels" / f"{stem}.txt").write_text(labels[i % len(labels)])
        refs.append(catalog.register(DatasetInfo(
            id=dataset_id, name=f"bench-{d:02d}", version="1.0.0", names=["ball"], number_samples=per_dataset,
        )))
    return refs


def timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def read_all_labels(refs) -> int:
    total = 0
    for ref in refs:
        for label in ref.labels_dir.iterdir():
            total += len(label.read_bytes())
    return total


def copy_all(refs, target: Path) -> None:
    for ref in refs:
        shutil.copytree(ref.path, target / ref.id)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--datasets", type=int, default=10)
    parser.add_argument("--image-kb", type=int, default=200, help="image file size (a 1080p broadcast JPEG is 200-400 KB)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.datasets < 3:
        parser.error("--datasets must be at least 3 (training, validation and test datasets)")

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="balldet-bench-"))
    try:
        seconds, refs = timed(lambda: build_catalog(workdir, args.images, args.datasets, args.image_kb))
        print(f"catalog: {sum(r.number_samples for r in refs)} images in {len(refs)} datasets ({seconds:.1f} s)",
              flush=True)
        labels = sum(r.number_samples for r in refs)

        read_s, _ = timed(lambda: read_all_labels(refs))
        check_s, report = timed(lambda: check_datasets(refs, images=False))
        # headers only, as without a leakage check (with one, each image is read whole once instead)
        check_images_s, _ = timed(lambda: check_datasets(refs, images=True, fingerprints=False))

        train, val, test = refs[:-2], refs[-2:-1], refs[-1:]
        config = PipelineConfig.model_validate({
            "tags": ["bench"], "model_type": "ultralytics", "train_data": {"datasets": [r.id for r in train]},
            "val_data": {"datasets": [r.id for r in val]}, "test_data": {"datasets": [r.id for r in test]},
        })
        whole = PreparedData(train=train, val=val, test=test, class_names=["ball"])
        split = PreparedData(train=train, test=test, class_names=["ball"],
                             val_frames=split_by_recording(train, 0.2, seed=0))
        get_dataset_converter(config.model_type)  # the backend's import is not layout work
        copy_s, _ = timed(lambda: copy_all(refs, workdir / "copied"))
        layout_s, _ = timed(lambda: convert_data(config, whole, workdir / "layouts"))
        split_layout_s, _ = timed(lambda: convert_data(config, split, workdir / "layouts"))

        # the whole stage with its checks (defects, leakage), then again with nothing changed
        resolver = DatasetResolver(LocalCatalog(workdir / "catalog"))

        def stage() -> None:
            data = prepare_data(config, resolver, cache_dir=workdir / "cache")
            convert_data(config, data, workdir / "stage-layouts")

        stage_s, _ = timed(stage)
        # what the run record adds: the datasets' content hashes, from the checks' reads of the images
        checked = PreparedData(train=train, val=val, test=test, class_names=["ball"])
        record_s, _ = timed(lambda: datasets_section(checked, workdir / "cache"))
        cached_s, _ = timed(stage)

        # a new config over the same datasets (a validation split instead of the validation dataset):
        # every check is remembered per dataset, the split and its layout are new
        split_config = config.model_copy(update={"val_data": None})
        new_config_s, _ = timed(lambda: convert_data(
            split_config, prepare_data(split_config, resolver, cache_dir=workdir / "cache"), workdir / "stage-layouts"))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    results = {
        "images": labels,
        "labels_per_s": labels / check_s,
        "labels_per_s_with_image_headers": labels / check_images_s,
        "check_vs_plain_read_ratio": check_s / read_s,
        "findings": len(report.findings),
        "copy_s": copy_s,
        "layout_s": layout_s,
        "copy_over_layout_ratio": copy_s / layout_s,
        "split_layout_s": split_layout_s,
        "copy_over_split_layout_ratio": copy_s / split_layout_s,
        "prepare_first_run_s": stage_s,
        "copy_over_prepare_first_run_ratio": copy_s / stage_s,
        "record_content_hashes_s": record_s,
        "cached_rerun_s": cached_s,
        "prepare_new_config_s": new_config_s,
        "copy_over_prepare_new_config_ratio": copy_s / new_config_s,
    }
    print(f"label checks:       {results['labels_per_s']:,.0f} labels/s "
          f"(goal >= {GOAL_LABELS_PER_S:,}); {check_s / read_s:.2f} x the time of just reading them")
    print(f"  with image headers: {results['labels_per_s_with_image_headers']:,.0f} frames/s")
    print(f"copying the files:  {copy_s:.2f} s")
    print(f"layout, whole datasets:          {layout_s:.3f} s -> {results['copy_over_layout_ratio']:,.0f} x faster "
          f"than copying (goal >= {GOAL_COPY_RATIO:.0f} x)")
    print(f"layout, validation split held out: {split_layout_s:.3f} s -> "
          f"{results['copy_over_split_layout_ratio']:,.0f} x faster (goal >= {GOAL_COPY_RATIO:.0f} x)")
    print(f"prepare_data + convert_data, datasets never checked before: {stage_s:.1f} s "
          f"({results['copy_over_prepare_first_run_ratio']:.2f} x the copy's speed; every image is read "
          "and decoded once per dataset version)")
    print(f"content hashes for the run record after it: {record_s:.2f} s (no image read again)")
    print(f"cached re-run:      {cached_s:.3f} s (goal <= {GOAL_CACHED_S:.0f} s)")
    print(f"prepare_data + convert_data, new config over checked datasets: {new_config_s:.2f} s -> "
          f"{results['copy_over_prepare_new_config_ratio']:,.0f} x faster than copying (goal >= {GOAL_COPY_RATIO:.0f} x)")
    results["missed_goals"] = missed_goals(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


def missed_goals(results: dict) -> list[str]:
    """The goals a measurement misses, each as a sentence."""
    missed = []
    if results["labels_per_s"] < GOAL_LABELS_PER_S:
        missed.append(f"label checks {results['labels_per_s']:,.0f} labels/s < {GOAL_LABELS_PER_S:,}")
    for key, what in (("copy_over_layout_ratio", "layout of whole datasets"),
                      ("copy_over_split_layout_ratio", "layout with a validation split"),
                      ("copy_over_prepare_new_config_ratio", "prepare_data + convert_data of a new config")):
        if results[key] < GOAL_COPY_RATIO:
            missed.append(f"{what}: {results[key]:.1f} x faster than copying < {GOAL_COPY_RATIO:.0f} x")
    if results["cached_rerun_s"] > GOAL_CACHED_S:
        missed.append(f"cached re-run {results['cached_rerun_s']:.2f} s > {GOAL_CACHED_S:.0f} s")
    return missed


if __name__ == "__main__":
    missed = main()["missed_goals"]
    for line in missed:
        print(f"FAIL: {line}", file=sys.stderr)
    sys.exit(1 if missed else 0)
