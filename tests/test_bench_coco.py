"""Smoke test of bench/bench_coco.py on a tiny workload: it runs, and the three libraries agree.

Timings on a tiny workload say nothing, so only the presence of the ratios is checked, never
their size (``--max-ratio inf`` keeps the exit status about correctness alone)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pycocotools")
pytest.importorskip("faster_coco_eval")

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "bench_coco.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_coco", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_workload_is_ball_like(bench):
    w = bench.make_workload(500, seed=3)
    gt_per_image = np.bincount(w.gt_image, minlength=w.n_images)
    det_per_image = np.bincount(w.det_image, minlength=w.n_images)
    assert gt_per_image.max() <= 3 and (gt_per_image == 0).any()
    assert det_per_image.min() >= 5 and det_per_image.max() <= 15
    again = bench.make_workload(500, seed=3)
    assert np.array_equal(w.det_scores, again.det_scores)  # seeded


def test_main_reports_equal_stats_and_ratios(bench, tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = bench.main(["--images", "200", "--repeat", "1", "--json", str(out), "--max-ratio", "inf"])
    printed = capsys.readouterr().out
    assert rc == 0

    report = json.loads(out.read_text())
    assert report["stats_equal"] is True
    assert report["failures"] == []
    assert max(report["max_abs_stats_diff_vs_pycocotools"].values()) <= 1e-12
    assert len(report["stats"]["balldet"]) == 12
    for name in ("balldet/pycocotools", "balldet/faster-coco-eval"):
        for kind in ("eval", "e2e"):
            ratio = report["ratios"][name][kind]
            assert math.isfinite(ratio) and ratio > 0
        assert name in printed
    assert "12 stats equal" in printed

    # The default limit turns a slow balldet into a failure, whatever this machine measured.
    assert bench.failures(report, max_ratio=0.0)
