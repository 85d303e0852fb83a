"""Smoke test of bench/bench_datasets.py on a tiny catalog: every stage it measures runs and is
reported, and the goal verdicts follow the figures.

Timings of a tiny catalog say nothing, so their size is never checked; the goals are checked on
figures handed in."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "bench_datasets.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_datasets", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_runs_every_measurement_on_a_tiny_catalog(bench, tmp_path, capsys):
    out = tmp_path / "bench.json"
    results = bench.main(["--images", "1200", "--datasets", "3", "--image-kb", "4",
                          "--workdir", str(tmp_path / "work"), "--json", str(out)])
    assert json.loads(out.read_text()) == results
    assert results["images"] == 1200 and results["findings"] == 0  # distinct frames: nothing to find
    for key in ("labels_per_s", "copy_over_layout_ratio", "copy_over_split_layout_ratio",
                "copy_over_prepare_first_run_ratio", "cached_rerun_s", "copy_over_prepare_new_config_ratio"):
        assert results[key] > 0, key
    printed = capsys.readouterr().out
    assert "labels/s" in printed and "cached re-run" in printed and "new config" in printed


def test_goal_verdicts(bench):
    met = {"labels_per_s": 25_000, "copy_over_layout_ratio": 70, "copy_over_split_layout_ratio": 30,
           "copy_over_prepare_new_config_ratio": 25, "cached_rerun_s": 0.2}
    assert bench.missed_goals(met) == []
    missed = bench.missed_goals({**met, "labels_per_s": 19_000, "cached_rerun_s": 1.5})
    assert len(missed) == 2 and "labels/s" in missed[0] and "cached re-run" in missed[1]
    (one,) = bench.missed_goals({**met, "copy_over_split_layout_ratio": 19.9})
    assert "validation split" in one
