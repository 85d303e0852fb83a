"""`balldet track` as a user runs it: sizes from frames folders and videos made with OpenCV, the
drawn video read back by OpenCV, and bad input (one clear line each, exit 2, nothing written)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from test_slicing_predict import ultralytics_weights  # noqa: F401  (the fixture)
from test_tracks_filter import FIRST, H, REC, W, straight, write_frames


def frames_folder(folder: Path, n: int, *, size=(W, H), suffix=".png", recording=REC) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        image = np.full((size[1], size[0], 3), (40, 120, 40), np.uint8)
        cv2.imwrite(str(folder / f"{recording}_{FIRST + k:06d}{suffix}"), image)
    return folder


def video_file(path: Path, n: int, size=(W, H), fps=25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for k in range(n):
        image = np.full((size[1], size[0], 3), (40, 120 + k % 50, 40), np.uint8)
        writer.write(image)
    writer.release()
    return path


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_sizes_from_a_frames_folder_and_the_track_drawn(workspace, tmp_path):
    ball = straight(30)
    write_frames(tmp_path / "preds", ball)
    source = frames_folder(tmp_path / "frames", 30, suffix=".JPG")
    out = tmp_path / "out" / "track.csv"
    result = workspace.cli("track", "--predictions", str(tmp_path / "preds"), "--source", str(source), "--out",
                           str(out), "--video", str(tmp_path / "out" / "track.mp4"), "--fps", "10")
    assert result.returncode == 0, result.stderr
    table = rows(out)
    assert len(table) == 30 and float(table[5]["x"]) == pytest.approx(ball[5, 0], abs=0.01)
    capture = cv2.VideoCapture(str(tmp_path / "out" / "track.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 30
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(10)
    ok, first = capture.read()
    capture.release()
    assert ok and first.shape == (H, W, 3)
    # the ball's ring is drawn where the track says: green there, grass elsewhere
    x, y = round(ball[0, 0]), round(ball[0, 1])
    ring = first[y - 12:y + 13, x - 12:x + 13].reshape(-1, 3).astype(int)
    assert (ring[:, 1] - ring[:, 0] > 120).any()


def test_a_video_gives_sizes_and_the_frames_to_draw_on(workspace, tmp_path):
    video = video_file(tmp_path / f"{REC}.mp4", 40)
    ball = straight(40)
    write_frames(tmp_path / "preds", ball, first=0)
    result = workspace.cli("track", "--predictions", str(tmp_path / "preds"), "--source", str(video), "--out",
                           str(tmp_path / "track.csv"), "--video", str(tmp_path / "drawn.mp4"))
    assert result.returncode == 0, result.stderr
    assert [int(r["frame"]) for r in rows(tmp_path / "track.csv")] == list(range(40))
    capture = cv2.VideoCapture(str(tmp_path / "drawn.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 40
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(25)
    capture.release()


def test_names_without_frame_numbers_say_which_pattern_would(workspace, tmp_path):
    folder = tmp_path / "preds"
    folder.mkdir()
    (folder / "frame-a.txt").write_text("0 0.5 0.5 0.01 0.01 0.5\n")
    (folder / "clip.txt").write_text("")
    out = tmp_path / "track.csv"
    result = workspace.cli("track", "--predictions", str(folder), "--size", "1280x720", "--out", str(out))
    assert result.returncode == 2
    assert "2 of 2 file names give no frame number" in result.stderr
    assert "(?P<recording>[^/]+)_(?P<frame>\\d+)" in result.stderr and "<recording>_<frame number>" in result.stderr
    assert not out.exists()


def test_a_size_that_disagrees_with_the_images_is_refused(workspace, tmp_path):
    write_frames(tmp_path / "preds", straight(5))
    source = frames_folder(tmp_path / "frames", 5, size=(640, 360))
    out = tmp_path / "track.csv"
    result = workspace.cli("track", "--predictions", str(tmp_path / "preds"), "--source", str(source), "--size",
                           "1280x720", "--out", str(out))
    assert result.returncode == 2
    assert "1280x720 disagrees with the frames" in result.stderr and "640x360" in result.stderr
    assert not out.exists()


def test_an_unreadable_and_a_truncated_video_are_one_line_each(workspace, tmp_path):
    write_frames(tmp_path / "preds", straight(5), first=0)
    broken = tmp_path / f"{REC}.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    whole = video_file(tmp_path / "whole.mp4", 30)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    for video in (broken, cut):
        out = tmp_path / f"track-{video.stem}.csv"
        result = workspace.cli("track", "--predictions", str(tmp_path / "preds"), "--source", str(video),
                               "--out", str(out), "--video", str(tmp_path / f"{video.stem}-drawn.mp4"))
        assert result.returncode == 2, result.stderr
        assert f"--source: {video}" in result.stderr
        assert not out.exists() and not (tmp_path / f"{video.stem}-drawn.mp4").exists()


def test_every_bad_option_at_once(workspace, tmp_path):
    result = workspace.cli("track", "--predictions", str(tmp_path / "missing"), "--size", "wide", "--out",
                           str(tmp_path), "--video", "x.avi", "--max-speed", "-3", "--max-gap", "-1",
                           "--static-fraction", "2")
    assert result.returncode == 2
    for flag in ("--predictions", "--size", "--out", "--video", "--max-speed", "--max-gap", "--static-fraction"):
        assert f"{flag}:" in result.stderr, flag


def test_predict_track_predicts_a_video_and_follows_the_ball_in_one_go(workspace, tmp_path, ultralytics_weights):
    video = video_file(tmp_path / f"{REC}.mp4", 12, size=(320, 192))
    out = tmp_path / "predictions"
    result = workspace.cli("predict", "--weights", str(ultralytics_weights), "--source", str(video), "--out",
                           str(out), "--track")
    assert result.returncode == 0, result.stderr
    assert "conf >= 0.01" in result.stdout  # --track predicts down to the tracker's min_score
    table = rows(out / "track.csv")
    assert [int(r["frame"]) for r in table] == list(range(12))
    assert {r["recording"] for r in table} == {REC}
    # the same track as `balldet track` makes of the files predict wrote
    again = workspace.cli("track", "--predictions", str(out), "--source", str(video), "--out",
                          str(tmp_path / "again.csv"))
    assert again.returncode == 0, again.stderr
    assert rows(tmp_path / "again.csv") == table


def test_bench_track_runs_and_checks_its_track(tmp_path):
    import json
    import subprocess
    import sys

    from conftest import REPO

    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_track.py"), "--part", "track", "--track-frames", "3000",
         "--repeat", "1", "--min-fps", "1", "--json", str(tmp_path / "bench.json")],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    numbers = json.loads((tmp_path / "bench.json").read_text())["parts"]["track"]
    assert numbers["frames"] == 3000 and numbers["within_2px"] >= 0.95
    assert "frames/s" in result.stdout
