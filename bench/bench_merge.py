"""Benchmark: balldet's tile merging (balldet.slicing.merge) against sahi 0.12.8's postprocess, and
what importing sahi costs, on one workload in one run.

The workload is a frame's candidates as sliced prediction at conf 0.001 gives them: ``--tiles``
tiles of 640 px (20% overlap, on a 3840 px wide frame) with ``--boxes`` candidates each (the
backends keep up to 300), most small, some large, a third of them in clusters around objects (what
a detector's low-score candidates look like), the same objects seen by neighbouring tiles; plus
the whole frame's 300 when ``--full-frame``.

Timed, each the best and the median of ``--repeat`` runs:

* ``balldet``: :func:`balldet.slicing.merge.merge_detections`, from the tiles' Detections;
* ``sahi-postprocess``: what ``get_sliced_prediction`` does: an ``ObjectPrediction`` per box,
  shifted, then ``NMSPostprocess`` / ``GreedyNMMPostprocess`` (numpy backend);
* ``sahi-arrays``: sahi's ``batched_nms`` / ``batched_greedy_nmm`` on one (N, 6) array (the index
  lists only: merging the boxes of NMM needs the ObjectPredictions);
* ``torchvision``: ``torchvision.ops.batched_nms`` (NMS only; it suppresses at ``>`` where sahi
  does at ``>=``, and breaks score ties its own way).

The kept boxes of balldet and sahi-postprocess must agree (exit status 1 when they do not).

Run: ``python bench/bench_merge.py [--tiles 20] [--boxes 300] [--repeat 5] [--full-frame] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

from balldet.boxes import Detections
from balldet.slicing.merge import merge_detections
from balldet.slicing.tiles import tile_grid

FRAME_W, FRAME_H, TILE, OVERLAP = 3840, 2160, 640, 0.2


def workload(tiles: int, boxes: int, full_frame: bool, seed: int) -> list[tuple[Detections, tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    rects = tile_grid(FRAME_W, FRAME_H, TILE, OVERLAP)[:tiles]
    objects = rng.uniform(0, [FRAME_W - 40, FRAME_H - 40], size=(tiles * 12, 2))
    sizes = rng.uniform(4, 40, len(objects))
    parts = []
    for x0, y0, x1, y1 in rects:
        inside = ((objects[:, 0] >= x0) & (objects[:, 0] + sizes <= x1)
                  & (objects[:, 1] >= y0) & (objects[:, 1] + sizes <= y1))
        centres, size = objects[inside] - [x0, y0], sizes[inside]
        clustered = min(boxes // 3, 8 * len(centres))
        pick = rng.integers(0, max(len(centres), 1), clustered)
        around = (np.column_stack([centres[pick], centres[pick] + size[pick, None]]) + rng.normal(0, 2, (clustered, 4))
                  if len(centres) else np.zeros((0, 4)))
        loose = boxes - clustered
        wh = np.where(rng.random((loose, 1)) < 0.8, rng.uniform(3, 30, (loose, 2)), rng.uniform(30, 300, (loose, 2)))
        xy = rng.uniform(0, TILE, (loose, 2))
        box = np.clip(np.concatenate([around, np.column_stack([xy, xy + wh])]), 0, TILE)
        box = np.round(box * 16) / 16  # float32-exact, so sahi's float32 arithmetic sees the same numbers
        scores = rng.uniform(0.001, 1, len(box)).astype(np.float32).astype(np.float64)
        keep = (box[:, 2] > box[:, 0]) & (box[:, 3] > box[:, 1])
        parts.append((Detections(box[keep], scores[keep], np.zeros(keep.sum(), dtype=np.int64)), (x0, y0)))
    if full_frame:
        xy = rng.uniform(0, [FRAME_W - 200, FRAME_H - 200], (300, 2))
        box = np.round(np.column_stack([xy, xy + rng.uniform(3, 200, (300, 2))]) * 16) / 16
        parts.append((Detections(box, rng.uniform(0.001, 1, 300).astype(np.float32), np.zeros(300)), (0, 0)))
    return parts


def sahi_postprocess(parts, method: str) -> Detections:
    from sahi.postprocess.combine import GreedyNMMPostprocess, NMSPostprocess
    from sahi.prediction import ObjectPrediction

    predictions = []
    for detections, (dx, dy) in parts:
        rows = zip(detections.boxes.tolist(), detections.scores.tolist(), detections.classes.tolist())
        for box, score, label in rows:
            predictions.append(ObjectPrediction(bbox=box, category_id=int(label), score=score,
                                                shift_amount=[dx, dy]).get_shifted_object_prediction())
    postprocess = (NMSPostprocess(0.5, "IOU", False) if method == "nms" else GreedyNMMPostprocess(0.5, "IOS", False))
    merged = postprocess(predictions)
    return Detections(np.array([p.bbox.to_xyxy() for p in merged]), np.array([p.score.value for p in merged]),
                      np.array([p.category.id for p in merged]))


def frame_rows(parts) -> np.ndarray:
    return np.concatenate([np.column_stack([d.boxes + [dx, dy, dx, dy], d.scores, d.classes])
                           for d, (dx, dy) in parts]).astype(np.float32)


def timed(function: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    result = function()  # warm-up (imports, numba/JIT caches)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def canonical(d: Detections) -> np.ndarray:
    rows = np.column_stack([d.boxes, d.scores, d.classes])
    return rows[np.lexsort((rows[:, 3], rows[:, 2], rows[:, 1], rows[:, 0], -rows[:, 4]))]


def import_cost(module: str) -> dict[str, float]:
    """Seconds to import ``module`` in a fresh interpreter (numpy already imported, as in balldet),
    and how many modules it adds."""
    code = (f"import sys, time, numpy; before = set(sys.modules); t = time.perf_counter(); import {module}; "
            f"print(time.perf_counter() - t, len(set(sys.modules) - before))")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
            for _ in range(3)]
    return {"seconds": min(float(r[0]) for r in runs), "modules": int(runs[0][1])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=20)
    parser.add_argument("--boxes", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full-frame", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    from sahi.postprocess.backends import set_postprocess_backend
    from sahi.postprocess.combine import batched_greedy_nmm, batched_nms

    set_postprocess_backend("numpy")
    parts = workload(args.tiles, args.boxes, args.full_frame, args.seed)
    rows = frame_rows(parts)
    results: dict[str, object] = {"candidates": len(rows), "tiles": args.tiles}
    ok = True
    print(f"{len(rows)} candidates from {args.tiles} tiles{' + the whole frame' if args.full_frame else ''}")
    for method in ("nms", "nmm"):
        metric = "iou" if method == "nms" else "ios"
        ours = timed(lambda: merge_detections(parts, method=method, metric=metric, threshold=0.5), args.repeat)
        theirs = timed(lambda: sahi_postprocess(parts, method), args.repeat)
        arrays_fn = batched_nms if method == "nms" else batched_greedy_nmm
        arrays = timed(lambda: arrays_fn(rows, metric.upper(), 0.5), args.repeat)
        agree = canonical(ours[2]).shape == canonical(theirs[2]).shape and np.allclose(
            canonical(ours[2]), canonical(theirs[2]), rtol=0, atol=1e-9)
        ok &= agree
        line = {"balldet": ours[:2], "sahi-postprocess": theirs[:2], "sahi-arrays": arrays[:2]}
        if method == "nms":
            import torch
            import torchvision

            boxes, scores, labels = (torch.from_numpy(rows[:, :4]), torch.from_numpy(rows[:, 4]),
                                     torch.from_numpy(rows[:, 5]).long())
            line["torchvision"] = timed(lambda: torchvision.ops.batched_nms(boxes, scores, labels, 0.5),
                                        args.repeat)[:2]
        print(f"\n{method} ({metric} 0.5): kept {len(ours[2].scores)} (sahi {len(theirs[2].scores)}), "
              f"{'same boxes' if agree else 'BOXES DIFFER'}")
        for name, (best, median) in line.items():
            print(f"  {name:18s} best {best * 1e3:9.2f} ms   median {median * 1e3:9.2f} ms")
        results[method] = {name: {"best_s": b, "median_s": m} for name, (b, m) in line.items()} | {"agree": agree}
    grid = timed(lambda: tile_grid(FRAME_W, FRAME_H, TILE, OVERLAP), args.repeat)
    from sahi.slicing import get_slice_bboxes

    sahi_grid = timed(lambda: get_slice_bboxes(FRAME_H, FRAME_W, TILE, TILE, False, OVERLAP, OVERLAP), args.repeat)
    print(f"\ngrid of a {FRAME_W}x{FRAME_H} frame: balldet {grid[0] * 1e6:.1f} us, sahi {sahi_grid[0] * 1e6:.1f} us")
    results["imports"] = {m: import_cost(m) for m in ("balldet.slicing", "sahi.slicing", "sahi.postprocess.combine",
                                                       "sahi.predict")}
    for module, cost in results["imports"].items():
        print(f"import {module:26s} {cost['seconds'] * 1e3:8.1f} ms, {cost['modules']:4d} modules")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
