"""`balldet predict --source <video>`: recordings made as the outside world makes them (OpenCV's
VideoWriter: mp4v in .mp4, MJPG in .avi, an upper-case .MP4), predicted with untrained networks
(their junk boxes at low scores are as good as any for comparing two ways of predicting), and the
reading of recordings itself (balldet.datasets.video)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from balldet.datasets.video import (
    TruncatedVideo, VideoError, frame_name, is_video, iter_frames, open_recording, read_ahead,
)
from test_predict_cli import rows_of, yolov5_pt  # noqa: F401  (the fixture)
from test_slicing_predict import ultralytics_weights, wide_frame  # noqa: F401  (the fixture)

WIDTH, HEIGHT, FPS = 320, 160, 25.0


def write_video(path: Path, fourcc: str, frames: int, seed: int, size: tuple[int, int] = (WIDTH, HEIGHT)) -> Path:
    """A video as a camera exporter writes one: OpenCV's VideoWriter, balls moving over grass noise."""
    rng = np.random.default_rng(seed)
    background = wide_frame(rng, *size)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, size)
    assert writer.isOpened(), f"this OpenCV cannot write {fourcc} into {path.suffix}"
    for k in range(frames):
        frame = np.roll(background, 9 * k, axis=1)
        cv2.circle(frame, (20 + 23 * k % (size[0] - 40), size[1] // 2), 5, (240, 240, 240), -1)
        writer.write(frame)
    writer.release()
    return path


def decoded(video: Path) -> list[np.ndarray]:
    """Every frame as OpenCV decodes it, read the plain way (what `balldet predict` must see)."""
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def cut(video: Path, fraction: float, target: Path) -> Path:
    data = video.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    return {
        "mp4": write_video(root / "20240501-league-home-vs-guest-01.mp4", "mp4v", 12, seed=1),
        "avi": write_video(root / "rec_avi.avi", "MJPG", 10, seed=2),
        "MP4": write_video(root / "WIDE.MP4", "mp4v", 3, seed=3),
    }


def same_rows(ours: np.ndarray, theirs: np.ndarray, atol: float = 2e-6) -> bool:
    """The same boxes (class, cx, cy, w, h, conf) in any order, up to the last written digit."""
    if ours.shape != theirs.shape:
        return False
    close = np.abs(ours[:, None, 1:] - theirs[None, :, 1:]).max(axis=2) < atol
    close &= ours[:, None, 0] == theirs[None, :, 0]
    return bool(close.any(axis=1).all() and close.any(axis=0).all())


# --------------------------------------------------------------------------- reading recordings


def test_a_recording_is_its_file_stem_and_frames_are_decode_indices(videos):
    info = open_recording(videos["avi"])
    assert (info.recording, info.frames, info.width, info.height, info.fps) == ("rec_avi", 10, WIDTH, HEIGHT, FPS)
    reference = decoded(videos["avi"])
    numbers = []
    for number, image in iter_frames(videos["avi"], every=3, start=1):
        numbers.append(number)
        assert np.array_equal(image, reference[number])  # the picture of that decode index
    assert numbers == [1, 4, 7]
    assert [n for n, _ in iter_frames(videos["avi"], every=4)] == [0, 4, 8] and info.kept(every=4) == 3
    assert frame_name("rec", 7) == "rec_000007" and frame_name("rec", 1234567) == "rec_1234567"
    assert all(is_video(name) for name in ("a.mp4", "a.AVI", "a.Mov", "a.mkv", "a.m4v", "a.mpg", "a.webm"))
    assert not any(is_video(name) for name in ("a.png", "a.txt", "mp4"))
    with pytest.raises(ValueError):
        next(iter_frames(videos["avi"], every=0))


def test_a_video_cut_short_says_where_after_the_frames_that_decode(videos, tmp_path):
    truncated = cut(videos["avi"], 0.6, tmp_path / "cut.avi")  # MJPG frames of similar size: about 6 of 10 left
    numbers = []
    with pytest.raises(TruncatedVideo) as caught:
        for number, _ in iter_frames(truncated):
            numbers.append(number)
    assert 0 < caught.value.frame < 10 and caught.value.declared == 10
    assert numbers == list(range(caught.value.frame))
    assert f"decoding stopped at frame {caught.value.frame} of the 10" in str(caught.value)
    # an .mp4 keeps its index at the end: cut, it does not open at all
    with pytest.raises(VideoError, match="cannot open it as a video"):
        open_recording(cut(videos["mp4"], 0.6, tmp_path / "cut.mp4"))
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(VideoError, match="cannot open"):
        open_recording(tmp_path / "text.mp4")
    with pytest.raises(VideoError, match="no such video file"):
        open_recording(tmp_path / "missing.mp4")


def test_decoding_past_an_estimated_frame_count_is_no_error(tmp_path):
    # An MPEG program stream stores no frame count: OpenCV estimates one from the duration, which on
    # a plain low-bitrate picture (a grey field, a dot) comes out too low.
    video = tmp_path / "estimate.mpg"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"PIM1"), FPS, (WIDTH, HEIGHT))
    for k in range(31):
        frame = np.full((HEIGHT, WIDTH, 3), 60, np.uint8)
        cv2.circle(frame, (20 + 8 * k, HEIGHT // 2), 5, (255, 255, 255), -1)
        writer.write(frame)
    writer.release()
    info = open_recording(video)
    if info.frames >= 31:
        pytest.skip("this OpenCV build counts the frames of an MPEG stream exactly")
    assert [n for n, _ in iter_frames(video)] == list(range(31))


def test_read_ahead_hands_on_items_errors_and_stops_early():
    def items(n, fail_at=None):
        for k in range(n):
            if k == fail_at:
                raise RuntimeError(f"broken at {k}")
            yield k

    assert list(read_ahead(items(50), 3)) == list(range(50))
    got = []
    with pytest.raises(RuntimeError, match="broken at 7"):
        for k in read_ahead(items(50, fail_at=7), 2):
            got.append(k)
    assert got == list(range(7))
    closed = []

    def endless():
        try:
            k = 0
            while True:
                yield k
                k += 1
        finally:
            closed.append(True)

    ahead = read_ahead(endless(), 4)
    assert [next(ahead) for _ in range(5)] == [0, 1, 2, 3, 4]
    ahead.close()  # the consumer leaves: the producer stops and closes its source
    assert closed == [True]


# --------------------------------------------------------------------------- balldet predict on videos


def test_video_frames_as_ultralytics_own_predict_writes_them(workspace, videos, ultralytics_weights, tmp_path):
    from ultralytics import YOLO

    video = videos["mp4"]
    out = tmp_path / "out"
    result = workspace.cli("predict", "--weights", str(ultralytics_weights), "--source", str(video), "--out", str(out),
                           "--conf", "0.001", "--imgsz", "160", "--batch", "1")
    assert result.returncode == 0, result.stderr
    assert f"recording {video.stem} ({WIDTH}x{HEIGHT}, 12 frames)" in result.stderr
    assert "12/12 frames" in result.stderr and "frames/s" in result.stderr
    ours = rows_of(out)
    assert list(ours) == [f"{video.stem}_{k:06d}" for k in range(12)]
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}.txt" for stem in ours]  # no staging folder left
    reference = tmp_path / "reference"
    list(YOLO(str(ultralytics_weights)).predict(
        str(video), conf=0.001, imgsz=160, save_txt=True, save_conf=True, project=str(reference), name="run",
        exist_ok=True, verbose=False, stream=True))
    theirs = rows_of(reference / "run" / "labels")
    # ultralytics names a video frame's file <stem>_<k> with k counted from 1 (no zero padding):
    # its frame k is decode index k - 1, balldet's <stem>_<k-1:06d>
    assert theirs and set(theirs) <= {f"{video.stem}_{k}" for k in range(1, 13)}
    assert sum(len(rows) for rows in theirs.values()) > 100, "too few boxes: the comparison would prove little"
    for stem, rows in ours.items():
        number = int(stem.rsplit("_", 1)[1])
        expected = theirs.get(f"{video.stem}_{number + 1}", np.zeros((0, 6)))  # no file: no boxes
        assert same_rows(rows, expected), stem


def test_every_nth_frame_predicts_as_that_frame_saved_as_an_image(workspace, videos, ultralytics_weights, tmp_path):
    video = videos["avi"]
    out = tmp_path / "out"
    result = workspace.cli("predict", "--weights", str(ultralytics_weights), "--source", str(video), "--out", str(out),
                           "--every", "3", "--batch", "4", "--conf", "0.01", "--imgsz", "160")
    assert result.returncode == 0, result.stderr
    assert "4/4 frames" in result.stderr
    from_video = rows_of(out)
    assert list(from_video) == ["rec_avi_000000", "rec_avi_000003", "rec_avi_000006", "rec_avi_000009"]
    # the same frames decoded by OpenCV, saved losslessly under the same names, predicted as a folder
    frames = tmp_path / "frames"
    frames.mkdir()
    pictures = decoded(video)
    for stem in from_video:
        cv2.imwrite(str(frames / f"{stem}.png"), pictures[int(stem.rsplit("_", 1)[1])])
    # (one batch of the same four frames both times: a frame's scores move in the 6th digit with the
    # batch it is predicted in)
    result = workspace.cli("predict", "--weights", str(ultralytics_weights), "--source", str(frames),
                           "--out", str(tmp_path / "from_images"), "--conf", "0.01", "--imgsz", "160", "--batch", "4")
    assert result.returncode == 0, result.stderr
    from_images = rows_of(tmp_path / "from_images")
    assert list(from_images) == list(from_video)
    assert sum(len(rows) for rows in from_video.values()) > 10
    for stem, rows in from_video.items():
        assert same_rows(rows, from_images[stem]), stem


def test_an_upper_case_mp4_predicts_tile_by_tile(workspace, videos, ultralytics_weights, tmp_path):
    from balldet.backends.ultralytics.backend import UltralyticsWrapper
    from balldet.slicing.predict import predict_sliced

    video = videos["MP4"]
    out = tmp_path / "out"
    result = workspace.cli("predict", "--weights", str(ultralytics_weights), "--source", str(video), "--out", str(out),
                           "--slice", "96", "--overlap", "0.25", "--conf", "0.01")
    assert result.returncode == 0, result.stderr
    assert "tiles of 96 px, overlap 0.25" in result.stderr
    found = rows_of(out)
    assert list(found) == ["WIDE_000000", "WIDE_000001", "WIDE_000002"]
    wrapper = UltralyticsWrapper(tmp_path / "cache")
    wrapper.load(ultralytics_weights, device="cpu")
    pictures = decoded(video)
    # the frames' tiles merged in frame pixels, as predict_sliced gives them for the decoded arrays
    for stem, picture, detections in zip(found, pictures, predict_sliced(wrapper, pictures, tile=96, overlap=0.25)):
        keep = detections.scores >= 0.01
        rows = found[stem]
        assert len(rows) == keep.sum() > 0
        cx = (detections.boxes[keep, 0] + detections.boxes[keep, 2]) / 2 / WIDTH
        np.testing.assert_allclose(np.sort(rows[:, 1]), np.sort(cx), atol=1e-6)
        np.testing.assert_allclose(np.sort(rows[:, 5]), np.sort(detections.scores[keep]), rtol=1e-5)


def test_a_yolov5_checkpoint_predicts_a_video(workspace, videos, yolov5_pt, tmp_path):
    out = tmp_path / "out"
    result = workspace.cli("predict", "--weights", str(yolov5_pt), "--source", str(videos["avi"]), "--out", str(out),
                           "--every", "5", "--conf", "0")
    assert result.returncode == 0, result.stderr
    assert "yolov5 weights" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["rec_avi_000000.txt", "rec_avi_000005.txt"]


def test_a_video_cut_short_writes_nothing_and_keeps_what_was_there(workspace, videos, ultralytics_weights, tmp_path):
    truncated = cut(videos["avi"], 0.6, tmp_path / "rec_avi.avi")
    stopped_at = len(decoded(truncated))
    out = tmp_path / "out"
    out.mkdir()
    earlier = out / "rec_avi_000000.txt"  # a finished earlier run's file of the same frame
    earlier.write_text("0 0.5 0.5 0.1 0.1 0.9\n")
    result = workspace.cli("predict", "--weights", str(ultralytics_weights), "--source", str(truncated),
                           "--out", str(out), "--imgsz", "160", "--conf", "0.001", "--batch", "2")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"decoding stopped at frame {stopped_at} of the 10 its container declares" in result.stderr
    assert "no prediction file of it was written" in result.stderr
    assert [p.name for p in out.iterdir()] == [earlier.name]  # no later frame, no staging folder, nothing new
    assert earlier.read_text() == "0 0.5 0.5 0.1 0.1 0.9\n"
    # into a folder that did not exist: it does not exist afterwards either
    fresh = tmp_path / "fresh"
    result = workspace.cli("predict", "--weights", str(ultralytics_weights), "--source", str(truncated),
                           "--out", str(fresh), "--imgsz", "160")
    assert result.returncode == 2 and not fresh.exists()


def test_unreadable_videos_and_bad_every_before_anything_is_loaded(workspace, videos, ultralytics_weights, tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video")
    cut(videos["mp4"], 0.6, tmp_path / "download.mp4")
    for source in ("notes.mp4", "download.mp4", "missing.MKV"):
        result = workspace.cli("predict", "--weights", str(tmp_path / "absent.pt"), "--source",
                               str(tmp_path / source), "--out", str(tmp_path / "out"), "--every", "0")
        assert result.returncode == 2, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
        assert {line.split(":")[0] for line in lines} == {"  - --weights", "  - --source", "  - --every"}, lines
        assert f"{source}: " in result.stderr and "Traceback" not in result.stderr
        assert "predicting" not in result.stderr
    assert not (tmp_path / "out").exists()
    # --every belongs to videos; a folder of videos names them
    folder = tmp_path / "clips"
    folder.mkdir()
    cut(videos["mp4"], 1.0, folder / "a.mp4")
    result = workspace.cli("predict", "--weights", str(tmp_path / "absent.pt"), "--source", str(folder),
                           "--out", str(tmp_path / "out"), "--every", "2")
    assert result.returncode == 2
    assert "--every: only applies to a video source" in result.stderr
    result = workspace.cli("predict", "--weights", str(ultralytics_weights), "--source", str(folder),
                           "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "it holds 1 video(s) (a.mp4): give each as --source <video file>" in result.stderr


def test_bench_track_predict_part_runs_and_checks_the_outputs(tmp_path):
    """bench/bench_track.py --part predict on a small video: both commands run, the files agree."""
    import json
    import os
    import subprocess
    import sys

    from conftest import NETGUARD, REPO

    report = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "bench_track.py"), "--part", "predict", "--frames", "6", "--size",
         "320x160", "--imgsz", "160", "--repeat", "1", "--batch", "1", "--max-ratio", "100", "--work",
         str(tmp_path / "work"), "--json", str(report)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(NETGUARD), os.environ.get("PYTHONPATH", "")])},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    predict = json.loads(report.read_text())["parts"]["predict"]
    agreement = predict["agreement"]
    assert predict["strict"] and agreement["names_ok"] and agreement["files"] == 6
    assert agreement["boxes_balldet"] == agreement["boxes_ultralytics"] > 0 and not agreement["frames_differing"]
    assert len(predict["ratios"]) == 1 and "median ratio" in result.stdout
