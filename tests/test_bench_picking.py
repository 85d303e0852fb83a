"""bench/bench_picking.py --quick runs end to end: clips, a start set registered, `label pick` against a
random draw, three trainings and their tests (figures are not judged: one epoch learns nothing)."""

from __future__ import annotations

import math
import runpy

import pytest

from conftest import REPO


@pytest.mark.slow(minutes=1)
def test_quick_bench_runs_and_reports_every_measure(tmp_path, capsys):
    bench = runpy.run_path(str(REPO / "bench" / "bench_picking.py"))
    results = bench["main"](["--quick", "--work", str(tmp_path / "work"), "--json", str(tmp_path / "out.json")])
    (run,) = results["runs"]
    assert len(run["picked_frames"]) == 8 and len(set(run["picked_frames"])) == 8
    for arm in ("start", "random", "picked"):
        assert set(run[arm]) >= set(bench["MEASURES"])
        assert all(not math.isnan(run[arm][m]) for m in ("mAP@0.5", "track/accuracy")), run[arm]
    printed = capsys.readouterr().out
    assert "picked/random" in printed and "mAP@0.5" in printed and "track/accuracy" in printed
    assert (tmp_path / "out.json").is_file()
    # the known catalog holds the start set, validation and test datasets; the picks went elsewhere
    assert len(list((tmp_path / "work" / "catalog").glob("*/dataset.json"))) == 3
