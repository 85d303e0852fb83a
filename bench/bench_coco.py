"""Benchmark: balldet's COCO evaluator against pycocotools and faster-coco-eval on one workload.

One seeded, ball-like workload (one class; 0-3 ground-truth boxes per image, ball-free frames
included; 5-15 detections per image with box jitter, duplicates, misses and low-score clutter) is
evaluated by all three libraries in the same process. Two timings per library, each the best and
the median of ``--repeat`` runs:

* ``eval``: evaluation only, from inputs already built in the library's own format;
* ``e2e``: end to end, building those inputs from the shared numpy arrays first.

The 12 COCO stats of the three must agree to 1e-12 (only the stats are compared: faster-coco-eval's
precision arrays may differ from pycocotools' by one ULP). The script exits with status 1 when
they do not, or when balldet's evaluation-only time is more than ``--max-ratio`` (default 1.0)
times faster-coco-eval's.

Run: ``python bench/bench_coco.py [--images 10000] [--repeat 3] [--seed 0] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from balldet.evaluation import ImageDets, ImageGT, evaluate_coco

STATS_TOLERANCE = 1e-12
FRAME_W, FRAME_H = 1920.0, 1080.0
LIBRARIES = ("balldet", "pycocotools", "faster-coco-eval")


# --------------------------------------------------------------------------- workload


@dataclass(frozen=True)
class Workload:
    """Boxes as flat arrays sorted by image; boxes are ``x, y, w, h`` pixels, float64."""

    n_images: int
    gt_image: np.ndarray
    gt_boxes: np.ndarray
    det_image: np.ndarray
    det_boxes: np.ndarray
    det_scores: np.ndarray


def make_workload(n_images: int, seed: int) -> Workload:
    """A detector's output on ball frames, with the kinds of errors a real one makes."""
    rng = np.random.default_rng(seed)
    # About a quarter of the frames have no ball; a few have several (replays, spare balls).
    gt_count = rng.choice(4, size=n_images, p=[0.25, 0.45, 0.2, 0.1])
    gt_image = np.repeat(np.arange(n_images), gt_count)
    n_gt = gt_image.size
    # Log-uniform sizes from tiny (6 px) to close-up (160 px) so every COCO area range has boxes.
    side = np.exp(rng.uniform(np.log(6.0), np.log(160.0), n_gt))
    aspect = rng.uniform(0.8, 1.25, n_gt)  # motion blur stretches the ball a little
    gt_w, gt_h = side * aspect, side / aspect
    gt_boxes = np.stack(
        [rng.uniform(0, FRAME_W - gt_w), rng.uniform(0, FRAME_H - gt_h), gt_w, gt_h], axis=1
    )

    # Hits: most balls are found once, some twice (a duplicate the NMS let through).
    hits_per_gt = rng.choice(3, size=n_gt, p=[0.12, 0.78, 0.10])
    hit_gt = np.repeat(np.arange(n_gt), hits_per_gt)
    base = gt_boxes[hit_gt]
    # Localisation error proportional to size, larger for tiny balls (fewer pixels to go by).
    rel_err = 0.08 + 0.25 * np.exp(-base[:, 2] / 12.0)
    jitter = rng.normal(0.0, 1.0, (hit_gt.size, 4)) * rel_err[:, None]
    hit_w = base[:, 2] * np.exp(jitter[:, 2])
    hit_h = base[:, 3] * np.exp(jitter[:, 3])
    hit_boxes = np.stack(
        [
            base[:, 0] + base[:, 2] * jitter[:, 0] + (base[:, 2] - hit_w) / 2,
            base[:, 1] + base[:, 3] * jitter[:, 1] + (base[:, 3] - hit_h) / 2,
            hit_w,
            hit_h,
        ],
        axis=1,
    )
    hit_scores = np.clip(rng.beta(5.0, 2.0, hit_gt.size) - 0.3 * rel_err, 0.001, 1.0)

    # Clutter fills each frame up to 5-15 detections: heads, shoes, line crossings, low scores.
    hits_per_image = np.bincount(gt_image[hit_gt], minlength=n_images)
    det_total = np.maximum(rng.integers(5, 16, n_images), hits_per_image)
    clutter_per_image = det_total - hits_per_image
    clutter_image = np.repeat(np.arange(n_images), clutter_per_image)
    n_clutter = clutter_image.size
    c_side = np.exp(rng.uniform(np.log(5.0), np.log(120.0), n_clutter))
    clutter_boxes = np.stack(
        [
            rng.uniform(0, FRAME_W - c_side),
            rng.uniform(0, FRAME_H - c_side),
            c_side * rng.uniform(0.7, 1.4, n_clutter),
            c_side * rng.uniform(0.7, 1.4, n_clutter),
        ],
        axis=1,
    )
    clutter_scores = np.clip(rng.beta(1.2, 6.0, n_clutter), 0.001, 1.0)

    det_image = np.concatenate([gt_image[hit_gt], clutter_image])
    det_boxes = np.concatenate([hit_boxes, clutter_boxes])
    # Exported scores are float32 and often rounded: equal scores happen and test the stable sorts.
    det_scores = np.round(np.concatenate([hit_scores, clutter_scores]), 4)
    det_scores = det_scores.astype(np.float32).astype(np.float64)
    order = np.argsort(det_image, kind="stable")
    return Workload(
        n_images=n_images,
        gt_image=gt_image,
        gt_boxes=gt_boxes,
        det_image=det_image[order],
        det_boxes=det_boxes[order],
        det_scores=det_scores[order],
    )


# --------------------------------------------------------------------------- per library


def build_balldet(w: Workload) -> tuple[list[ImageGT], list[ImageDets]]:
    gt_cut = np.searchsorted(w.gt_image, np.arange(1, w.n_images))
    det_cut = np.searchsorted(w.det_image, np.arange(1, w.n_images))
    gt_boxes = np.split(w.gt_boxes, gt_cut)
    det_boxes = np.split(w.det_boxes, det_cut)
    det_scores = np.split(w.det_scores, det_cut)
    gts = [ImageGT(boxes=b, classes=np.zeros(len(b), np.int64)) for b in gt_boxes]
    dets = [
        ImageDets(boxes=b, scores=s, classes=np.zeros(len(b), np.int64))
        for b, s in zip(det_boxes, det_scores)
    ]
    return gts, dets


def eval_balldet(inputs: tuple[list[ImageGT], list[ImageDets]]) -> np.ndarray:
    return evaluate_coco(*inputs, class_ids=[0]).stats


def coco_json(w: Workload) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The GT dataset and result list both COCO libraries read (ids from 1: id 0 breaks them)."""
    images = [{"id": i + 1, "width": int(FRAME_W), "height": int(FRAME_H)} for i in range(w.n_images)]
    boxes = w.gt_boxes.tolist()
    annotations = [
        {
            "id": a + 1,
            "image_id": int(img) + 1,
            "category_id": 1,
            "bbox": box,
            "area": box[2] * box[3],
            "iscrowd": 0,
        }
        for a, (img, box) in enumerate(zip(w.gt_image.tolist(), boxes))
    ]
    dataset = {"images": images, "categories": [{"id": 1, "name": "ball"}], "annotations": annotations}
    results = [
        {"image_id": int(img) + 1, "category_id": 1, "bbox": box, "score": score}
        for img, box, score in zip(w.det_image.tolist(), w.det_boxes.tolist(), w.det_scores.tolist())
    ]
    if not results:
        raise ValueError("pycocotools' loadRes cannot take an empty result list")
    return dataset, results


def build_pycocotools(w: Workload) -> tuple[Any, Any]:
    from pycocotools.coco import COCO

    dataset, results = coco_json(w)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        dt = gt.loadRes(results)
    return gt, dt


def eval_pycocotools(inputs: tuple[Any, Any]) -> np.ndarray:
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(*inputs, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=np.float64)


def build_faster(w: Workload) -> tuple[Any, Any]:
    from faster_coco_eval import COCO

    dataset, results = coco_json(w)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(dataset)
        dt = gt.loadRes(results)
    return gt, dt


def eval_faster(inputs: tuple[Any, Any]) -> np.ndarray:
    from faster_coco_eval import COCOeval_faster

    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval_faster(*inputs, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats[:12], dtype=np.float64)


BUILDERS: dict[str, Callable[[Workload], Any]] = {
    "balldet": build_balldet,
    "pycocotools": build_pycocotools,
    "faster-coco-eval": build_faster,
}
EVALUATORS: dict[str, Callable[[Any], np.ndarray]] = {
    "balldet": eval_balldet,
    "pycocotools": eval_pycocotools,
    "faster-coco-eval": eval_faster,
}


# --------------------------------------------------------------------------- timing


def time_runs(fn: Callable[[], np.ndarray], repeat: int) -> tuple[dict[str, float], np.ndarray]:
    """Best and median wall time of ``repeat`` calls; the best resists noise from shared cores."""
    times, stats = [], np.zeros(0)
    for _ in range(repeat):
        start = time.perf_counter()
        stats = fn()
        times.append(time.perf_counter() - start)
    return {"best": min(times), "median": statistics.median(times)}, stats


def run_benchmark(n_images: int, repeat: int, seed: int) -> dict[str, Any]:
    """Time every library both ways and compare their stats; returns a JSON-ready report."""
    if n_images < 1 or repeat < 1:
        raise ValueError("--images and --repeat must be at least 1")
    workload = make_workload(n_images, seed)
    timings: dict[str, dict[str, dict[str, float]]] = {}
    stats: dict[str, np.ndarray] = {}
    for lib in LIBRARIES:
        build, evaluate = BUILDERS[lib], EVALUATORS[lib]
        built = build(workload)
        evaluate(built)  # warm-up: imports, first-call allocations
        eval_time, stats[lib] = time_runs(lambda: evaluate(built), repeat)
        e2e_time, e2e_stats = time_runs(lambda: evaluate(build(workload)), repeat)
        if not np.array_equal(e2e_stats, stats[lib]):
            raise RuntimeError(f"{lib}: end-to-end stats differ from evaluation-only stats")
        timings[lib] = {"eval": eval_time, "e2e": e2e_time}

    reference = stats["pycocotools"]
    max_diff = {lib: float(np.max(np.abs(stats[lib] - reference))) for lib in LIBRARIES}
    ratios = {
        f"balldet/{other}": {
            kind: timings["balldet"][kind]["best"] / timings[other][kind]["best"]
            for kind in ("eval", "e2e")
        }
        for other in ("pycocotools", "faster-coco-eval")
    }
    return {
        "workload": {
            "images": n_images,
            "ground_truth": int(workload.gt_image.size),
            "ball_free_images": int(n_images - np.unique(workload.gt_image).size),
            "detections": int(workload.det_image.size),
            "seed": seed,
            "repeat": repeat,
        },
        "python": platform.python_version(),
        "timings_s": timings,
        "ratios": ratios,
        "stats": {lib: stats[lib].tolist() for lib in LIBRARIES},
        "max_abs_stats_diff_vs_pycocotools": max_diff,
        "stats_equal": all(d <= STATS_TOLERANCE for d in max_diff.values()),
    }


def failures(report: dict[str, Any], max_ratio: float) -> list[str]:
    out = []
    if not report["stats_equal"]:
        out.append(f"stats differ by more than {STATS_TOLERANCE:g}")
    ratio = report["ratios"]["balldet/faster-coco-eval"]["eval"]
    if not ratio <= max_ratio:
        out.append(f"balldet/faster-coco-eval (eval only) = {ratio:.2f} > {max_ratio:g}")
    return out


# --------------------------------------------------------------------------- output


def format_report(report: dict[str, Any]) -> str:
    w = report["workload"]
    lines = [
        f"COCO bbox evaluation, {w['images']} images ({w['ball_free_images']} ball-free), "
        f"{w['ground_truth']} GT boxes, {w['detections']} detections, one class; "
        f"seed {w['seed']}, best / median of {w['repeat']}",
        "",
        f"{'library':<18}{'eval best':>11}{'eval med':>11}{'e2e best':>11}{'e2e med':>11}"
        f"{'max |d stats|':>15}",
    ]
    for lib in LIBRARIES:
        t = report["timings_s"][lib]
        diff = report["max_abs_stats_diff_vs_pycocotools"][lib]
        lines.append(
            f"{lib:<18}{t['eval']['best']:>10.3f}s{t['eval']['median']:>10.3f}s"
            f"{t['e2e']['best']:>10.3f}s{t['e2e']['median']:>10.3f}s{diff:>15.1e}"
        )
    lines.append("")
    for name, by_kind in report["ratios"].items():
        lines.append(
            f"{name:<30} eval only {by_kind['eval']:6.3f}   end to end {by_kind['e2e']:6.3f}"
            "   (< 1: balldet is faster)"
        )
    stats = report["stats"]["balldet"]
    verdict = "equal" if report["stats_equal"] else "DIFFERENT"
    lines += [
        "",
        f"12 stats {verdict} across the three (tolerance {STATS_TOLERANCE:g}): "
        f"AP {stats[0]:.4f}, AP50 {stats[1]:.4f}, AR@100 {stats[8]:.4f}",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10000, help="images in the workload")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated workload")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    parser.add_argument(
        "--max-ratio",
        type=float,
        default=1.0,
        help="fail when balldet/faster-coco-eval (eval only) exceeds this (default 1.0)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = run_benchmark(args.images, args.repeat, args.seed)
    report["failures"] = failures(report, args.max_ratio)
    print(format_report(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    for failure in report["failures"]:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
