"""Datasets at scale: label checks per second, preparing a training layout against copying the
files, and the cached re-run — each as a ratio against a baseline measured in the same run.

    python bench/bench_datasets.py                       # 100 000 images in 10 datasets
    python bench/bench_datasets.py --images 20000 --json datasets_bench.json

The catalog is generated once under --workdir (default: a temporary folder, removed at the end):
synthetic football frames grown to --image-kb with JPEG comment segments (so copying costs what
copying full-HD frames costs), repeated under distinct names, with their YOLO labels. Images are
all the same picture: leakage checks are not part of this benchmark.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from balldet.config import PipelineConfig
from balldet.data.catalog import LocalCatalog
from balldet.data.checks import check_datasets
from balldet.data.dataset import DatasetInfo
from balldet.data.prepared import PreparedData
from balldet.data.synth import synthesize
from balldet.stages.convert_data import convert_data

GOAL_LABELS_PER_S = 20_000
GOAL_COPY_RATIO = 20.0
GOAL_CACHED_S = 1.0


def pad_jpeg(jpeg: bytes, size: int) -> bytes:
    """The same picture grown to about ``size`` bytes with JPEG comment segments (still a valid file),
    so copying costs what copying real broadcast frames costs."""
    padding = b""
    while len(jpeg) + len(padding) < size:
        chunk = min(65533, size - len(jpeg) - len(padding))
        padding += b"\xff\xfe" + (chunk + 2).to_bytes(2, "big") + b"\0" * chunk
    return jpeg[:2] + padding + jpeg[2:]


def build_catalog(root: Path, images: int, datasets: int, image_kb: int) -> list:
    """``datasets`` datasets holding ``images`` frames in all, made from a few real synthetic frames."""
    seed_catalog = LocalCatalog(root / "seed")
    (source,) = [r for r in synthesize(seed_catalog, images_per_dataset=48) if r.name == "class:ball-markup:our-001"]
    frames = [(pad_jpeg(p.read_bytes(), image_kb * 1024), source.label_file(p).read_text())
              for p in source.image_files()]
    catalog = LocalCatalog(root / "catalog")
    refs = []
    per_dataset = images // datasets
    for d in range(datasets):
        dataset_id = f"{d:032x}"
        folder = catalog.folder(dataset_id)
        (folder / "images").mkdir(parents=True)
        (folder / "labels").mkdir()
        for i in range(per_dataset):
            jpeg, label = frames[i % len(frames)]
            stem = f"20240101-Bench_League-Home_{d:02d}-vs-Away-01_{i:06d}"
            (folder / "images" / f"{stem}.jpg").write_bytes(jpeg)
            (folder / "labels" / f"{stem}.txt").write_text(label)
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

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="balldet-bench-"))
    try:
        seconds, refs = timed(lambda: build_catalog(workdir, args.images, args.datasets, args.image_kb))
        print(f"catalog: {sum(r.number_samples for r in refs)} images in {len(refs)} datasets ({seconds:.1f} s)")
        labels = sum(r.number_samples for r in refs)

        read_s, _ = timed(lambda: read_all_labels(refs))
        check_s, report = timed(lambda: check_datasets(refs, images=False))
        check_images_s, _ = timed(lambda: check_datasets(refs, images=True))

        config = PipelineConfig.model_validate({
            "model_type": "ultralytics", "train_data": {"datasets": [r.id for r in refs[:-1]]},
            "val_data": {"datasets": [refs[-1].id]}, "test_data": {"datasets": [refs[-1].id]},
        })
        data = PreparedData(train=refs[:-1], val=refs[-1:], test=refs[-1:], class_names=["ball"])
        copy_s, _ = timed(lambda: copy_all(refs, workdir / "copied"))
        layout_s, _ = timed(lambda: convert_data(config, data, workdir / "layouts"))
        cached_s, _ = timed(lambda: convert_data(config, data, workdir / "layouts"))
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
        "cached_rerun_s": cached_s,
    }
    print(f"label checks:       {results['labels_per_s']:,.0f} labels/s "
          f"(goal >= {GOAL_LABELS_PER_S:,}); {check_s / read_s:.2f} x the time of just reading them")
    print(f"  with image headers: {results['labels_per_s_with_image_headers']:,.0f} frames/s")
    print(f"layout by links:    {layout_s:.2f} s; copying the files: {copy_s:.2f} s "
          f"-> {results['copy_over_layout_ratio']:.1f} x faster (goal >= {GOAL_COPY_RATIO:.0f} x)")
    print(f"cached re-run:      {cached_s:.3f} s (goal <= {GOAL_CACHED_S:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
    sys.exit(0)
