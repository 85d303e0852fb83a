"""The ball filter on hand-made candidate sequences, written as prediction files the way
`balldet predict` (and ultralytics' save_txt + save_conf) writes them, and read back by `balldet track`."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from balldet.config import TrackingSection
from balldet.tracks.candidates import read_recordings
from balldet.tracks.filter import DETECTED, INTERPOLATED, NONE, track_recording
from balldet.tracks.measures import Truth, best_top1_threshold, measure, top1_positions

W, H = 1280, 720
REC = "20240630-Premier_League-CSKA_Moscow-vs-Akhmat_Grozny-01"
FIRST = 1000


def straight(n: int, start=(100.0, 300.0), velocity=(6.0, 1.0)) -> np.ndarray:
    return np.array(start) + np.arange(n)[:, None] * np.array(velocity)


def write_frames(folder: Path, ball: np.ndarray, *, recording: str = REC, first: int = FIRST, ball_score=0.4,
                 extra=None, rng=None, noise: int = 2, skip=()) -> None:
    """One file per frame: the ball where ``ball`` has a position (NaN: not detected), ``noise``
    random low-scoring candidates, and ``extra(k)`` -> [(x, y, score)] more."""
    rng = rng or np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for k, (x, y) in enumerate(ball):
        if k in skip:
            continue
        rows = []
        if not np.isnan(x):
            rows.append((x, y, ball_score))
        rows += [(rng.uniform(0, W), rng.uniform(0, H), rng.uniform(0.02, 0.3)) for _ in range(noise)]
        rows += list(extra(k)) if extra else []
        rng.shuffle(rows)
        text = "".join(f"0 {x / W:.6f} {y / H:.6f} {10 / W:.6f} {10 / H:.6f} {s:.5f}\n" for x, y, s in rows)
        (folder / f"{recording}_{first + k:06d}.txt").write_text(text)


def track_of(folder: Path, params: TrackingSection | None = None):
    recs = read_recordings(folder, lambda stem: (W, H))
    return recs, [track_recording(r, params or TrackingSection()) for r in recs]


def errors(track, truth: np.ndarray) -> np.ndarray:
    return np.hypot(track.x - truth[:, 0], track.y - truth[:, 1])


def test_a_stronger_static_distractor_is_ignored_and_beats_the_top1(tmp_path):
    ball = straight(200)
    # the penalty spot: on the same pixels in every frame, scoring far above the ball
    write_frames(tmp_path / "p", ball, extra=lambda k: [(640.0 + 0.3 * np.sin(k), 500.0, 0.9)])
    recs, (track,) = track_of(tmp_path / "p")
    assert len(track.static_spots) == 1
    sx, sy = track.static_spots[0]
    assert abs(sx - 640) < 1 and abs(sy - 500) < 1
    assert (errors(track, ball) < 1).all()
    truth = Truth(ball[:, 0], ball[:, 1], np.full(len(ball), 10.0))
    tx, ty = top1_positions(recs[0], 0.0)
    assert measure(tx, ty, truth).within["8px"] == 0  # the top-1 is the spot in every frame
    assert measure(track.x, track.y, truth).within["2px"] == 1


@pytest.mark.parametrize("gap", [1, 5, 12])
def test_a_gap_of_k_frames_is_bridged_on_the_line(tmp_path, gap):
    ball = straight(120)
    seen = ball.copy()
    seen[50:50 + gap] = np.nan
    write_frames(tmp_path / "p", seen)
    _, (track,) = track_of(tmp_path / "p")
    assert (track.source[50:50 + gap] == INTERPOLATED).all()
    assert (track.source[:50] == DETECTED).all() and (track.source[50 + gap:] == DETECTED).all()
    assert errors(track, ball).max() < 0.01


def test_a_gap_longer_than_max_gap_is_not_bridged(tmp_path):
    ball = straight(120)
    seen = ball.copy()
    seen[50:70] = np.nan
    write_frames(tmp_path / "p", seen)
    _, (track,) = track_of(tmp_path / "p", TrackingSection(max_gap=12))
    assert (track.source[50:70] == NONE).all()
    assert (track.source[:50] == DETECTED).all() and (track.source[70:] == DETECTED).all()


def test_a_kick_keeps_the_ball_not_a_nearby_candidate_on_the_old_line(tmp_path):
    before = straight(60, (200, 200), (8, 0))
    turn = before[-1] + np.arange(1, 61)[:, None] * np.array([-3.0, 7.0])
    ball = np.r_[before, turn]
    # where the ball would have gone without the kick: a weaker candidate right on the old line
    decoy = before[-1] + np.arange(1, 61)[:, None] * np.array([8.0, 0.0])

    def on_old_line(k):
        return [(*decoy[k - 60], 0.1)] if 60 <= k < 63 else []

    write_frames(tmp_path / "p", ball, extra=on_old_line)
    _, (track,) = track_of(tmp_path / "p")
    assert (errors(track, ball) < 0.01).all()
    assert (track.source == DETECTED).all()


def test_the_ball_leaving_the_frame_is_none_and_isolated_false_detections_are_dropped(tmp_path):
    ball = straight(150, (900, 300), (12, 0))  # leaves the 1280-px frame after ~32 frames
    seen = np.where((ball[:, 0] < W)[:, None], ball, np.nan)
    back_in = straight(40, (1270, 400), (-10, 0))
    seen[110:150] = back_in
    truth = np.where((ball[:, 0] < W)[:, None], ball, np.nan)
    truth[110:150] = back_in
    # a few strong false detections, each alone in its frame, while the ball is away
    lone = {60: (300.0, 100.0), 75: (1000.0, 600.0), 90: (500.0, 650.0)}
    write_frames(tmp_path / "p", seen, noise=0, extra=lambda k: [(*lone[k], 0.95)] if k in lone else [])
    _, (track,) = track_of(tmp_path / "p")
    out = np.isnan(truth[:, 0])
    assert (track.source[out] == NONE).all()
    assert (errors(track, truth)[~out] < 0.01).all()


def test_two_recordings_interleaved_in_one_folder_are_tracked_apart(tmp_path):
    a, b = straight(80, (100, 100), (5, 0)), straight(80, (100, 600), (5, -2))
    other = "20240707-Russian_Cup-Rostov-vs-Krasnodar-02"
    write_frames(tmp_path / "p", a, first=500)
    write_frames(tmp_path / "p", b, recording=other, first=500, rng=np.random.default_rng(1))
    recs, tracks = track_of(tmp_path / "p")
    assert [r.name for r in recs] == sorted([REC, other])
    for rec, track in zip(recs, tracks):
        truth = a if rec.name == REC else b
        assert list(rec.frames) == list(range(500, 580))
        assert (errors(track, truth) < 0.01).all()


def test_frames_missing_from_the_folder_count_as_time_not_as_rows(tmp_path):
    ball = straight(100, (100, 300), (9, 0))
    missing = set(range(40, 46))  # six frames never predicted: the ball moved 63 px meanwhile
    write_frames(tmp_path / "p", ball, skip=missing)
    recs, (track,) = track_of(tmp_path / "p", TrackingSection(max_speed=12))
    assert len(track.frames) == 94 and FIRST + 40 not in set(track.frames.tolist())
    kept = np.array([k for k in range(100) if k not in missing])
    assert (track.source == DETECTED).all()
    assert np.abs(track.x - ball[kept, 0]).max() < 0.01


def test_the_best_top1_threshold_is_the_one_that_suits_it(tmp_path):
    ball = straight(100)
    seen = ball.copy()
    seen[::2] = np.nan  # the ball is found in every other frame, at 0.4; noise up to 0.3
    write_frames(tmp_path / "p", seen, noise=1)
    recs, _ = track_of(tmp_path / "p")
    truth = Truth(ball[:, 0], ball[:, 1], np.full(100, 10.0))
    threshold = best_top1_threshold(recs, [truth])
    at_best = measure(*top1_positions(recs[0], threshold), truth).accuracy
    for other in (0.0, 0.1, 0.2, 0.35, 0.5):
        assert measure(*top1_positions(recs[0], other), truth).accuracy <= at_best
    assert at_best == pytest.approx(0.5)


def test_track_csv_from_the_command(workspace, tmp_path):
    ball = straight(60)
    seen = ball.copy()
    seen[20:23] = np.nan
    folder = tmp_path / "predictions"
    write_frames(folder, seen)
    # a YOLO labels folder of the same stems, with CRLF line ends, for --truth
    labels = tmp_path / "labels"
    labels.mkdir()
    for k, (x, y) in enumerate(ball):
        (labels / f"{REC}_{FIRST + k:06d}.txt").write_bytes(
            f"0 {x / W:.6f} {y / H:.6f} {10 / W:.6f} {10 / H:.6f}\r\n".encode())
    result = workspace.cli("track", "--predictions", str(folder), "--size", f"{W}x{H}", "--out",
                           str(tmp_path / "track.csv"), "--truth", str(labels))
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "track.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["recording", "frame", "x", "y", "score", "source"]
    assert [int(r["frame"]) for r in rows] == list(range(FIRST, FIRST + 60))
    assert [r["source"] for r in rows[19:24]] == ["detected", "interpolated", "interpolated", "interpolated",
                                                  "detected"]
    assert float(rows[21]["x"]) == pytest.approx(ball[21, 0], abs=0.01)
    assert rows[21]["score"] == "" and float(rows[0]["score"]) == pytest.approx(0.4)
    assert "track" in result.stdout and "top-1" in result.stdout
