"""`balldet label pick`: frames of new recordings picked for labelling, never a frame a catalog
dataset holds nor two near-duplicates. Recordings are synthetic clips written as videos with OpenCV's
VideoWriter (mp4v, and MJPG in .avi), plus a folder of frames; the model is an untrained one-class
yolov8n calibrated on these clips to give ball boxes with spread scores (as test_slicing_predict's
fixture is on its wide frames, where on clip frames every score would be near 1): no training."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from balldet.boxes import Detections
from balldet.checks.images import dhash
from balldet.datasets.catalog import LocalCatalog
from balldet.datasets.dataset import DatasetInfo
from balldet.labelling.batch import read_batch
from balldet.labelling.pick import (
    ScoreWeights, confidence, frame_score, slice_disagreement, track_disagreement, uncertainty,
    undecided_candidates,
)
from balldet.labelling.pick_known import picture_of
from balldet.labelling.pick_select import Candidate, select
from balldet.synth.inventory import R_CLIP_CSKA_AKHMAT, R_CLIP_KRASNODAR_DYNAMO, R_CLIP_SPARTAK_ROSTOV
from balldet.synth.clips import make_clip, render_clip_frame
from conftest import make_workspace

SIZE = (320, 192)  # the smallest clip frames: quick to predict on a CPU
FRAMES = 40
EVERY = 2
KNOWN_NUMBERS = (0, 2, 4, 6)  # frames of video A that a catalog dataset holds (same recording, same numbers)
COPIED = 20  # the frame of video B whose re-encoded copy a catalog dataset holds under another recording
REPEATED = (10, 30)  # video B shows its frame 10 again as frame 30
OTHER_RECORDING = "20240101-Premier_League-Nowhere-vs-Elsewhere-01"
COMMON = ["--every", str(EVERY), "--track-every", "1", "--min-gap", "0", "--imgsz", "320", "--batch", "1",
          "--device", "cpu"]


def clip_frames(recording: str) -> list[np.ndarray]:
    clip = make_clip(recording, frames=FRAMES, image_size=SIZE)
    return [render_clip_frame(clip, n) for n in clip.frames]


def write_video(path: Path, frames: list[np.ndarray], fourcc: str) -> list[np.ndarray]:
    """The video, and its frames as OpenCV decodes them (what a user exporting frames would get)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0, SIZE)
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    capture, decoded = cv2.VideoCapture(str(path)), []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        decoded.append(image)
    capture.release()
    assert len(decoded) == len(frames)
    return decoded


def register(catalog: LocalCatalog, dataset_id: str, name: str, images: dict[str, bytes]) -> None:
    folder = catalog.folder(dataset_id)
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    for file, data in images.items():
        (folder / "images" / file).write_bytes(data)
        (folder / "labels" / f"{Path(file).stem}.txt").write_text("")
    catalog.register(DatasetInfo(id=dataset_id, name=name, names=["ball"], number_samples=len(images)))


@pytest.fixture(scope="module")
def clip_weights(tmp_path_factory) -> Path:
    """An untrained one-class ("ball") yolov8n whose top scores on the clips spread over 0.1-0.5 (a few
    boxes a frame at 0.25): batch norm calibrated on three clip frames, class logits near -3."""
    import torch

    from balldet.backends.ultralytics.backend import UltralyticsWrapper

    root = tmp_path_factory.mktemp("weights")
    UltralyticsWrapper(root / "cache")._configure()  # balldet's offline settings before ultralytics imports
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    model = YOLO("yolov8n.yaml")
    model.model = network = DetectionModel("yolov8n.yaml", nc=1, verbose=False)
    network.names = {0: "ball"}
    head = network.model[-1]
    for layer in network.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.reset_running_stats()
            layer.momentum = None  # running statistics = those of the one calibration batch
    a, b = clip_frames(R_CLIP_CSKA_AKHMAT), clip_frames(R_CLIP_SPARTAK_ROSTOV)
    batch = np.stack([a[0], a[20], b[5]])[:, :, :, ::-1]
    network.train()
    with torch.no_grad():
        network(torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float() / 255)
    network.eval()
    for branch in head.cv3:
        torch.nn.init.normal_(branch[-1].weight, std=0.05)
        torch.nn.init.constant_(branch[-1].bias, -3.0)
    for branch in head.cv2:
        torch.nn.init.normal_(branch[-1].weight, std=0.1)
        branch[-1].bias.data = (-0.5 * torch.arange(float(head.reg_max))).repeat(4)
    path = root / "untrained-ball.pt"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def scene(tmp_path_factory, clip_weights):
    """A workspace whose catalog plants (a) frames of video A under their own numbers and (b) a
    re-encoded copy of video B's frame COPIED under another recording; sources: video A (mp4v),
    video B (MJPG, frame 30 repeating frame 10) and a folder of frames of a third clip with a copy
    of one of them under another name (c)."""
    ws = make_workspace(tmp_path_factory.mktemp("pick"))
    sources = ws.root / "sources"
    sources.mkdir()
    a = write_video(sources / f"{R_CLIP_CSKA_AKHMAT}.mp4", clip_frames(R_CLIP_CSKA_AKHMAT), "mp4v")
    b_frames = clip_frames(R_CLIP_SPARTAK_ROSTOV)
    b_frames[REPEATED[1]] = b_frames[REPEATED[0]].copy()
    b = write_video(sources / f"{R_CLIP_SPARTAK_ROSTOV}.avi", b_frames, "MJPG")
    folder = sources / "exported"
    folder.mkdir()
    for n, image in enumerate(clip_frames(R_CLIP_KRASNODAR_DYNAMO)[:20:2]):
        cv2.imwrite(str(folder / f"{R_CLIP_KRASNODAR_DYNAMO}_{12000 + 2 * n:06d}.jpg"), image)
    shutil.copy(folder / f"{R_CLIP_KRASNODAR_DYNAMO}_012004.jpg", folder / "shot-for-the-poster.jpg")
    catalog = LocalCatalog(ws.catalog)
    jpeg = lambda image, q=90: cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, q])[1].tobytes()  # noqa: E731
    register(catalog, "a" * 32, "class:ball-markup:our-001",
             {f"{R_CLIP_CSKA_AKHMAT}_{n:06d}.jpg": jpeg(a[n]) for n in KNOWN_NUMBERS})
    register(catalog, "b" * 32, "class:ball-markup:tagme-001-01",
             {f"{OTHER_RECORDING}_000777.jpg": jpeg(b[COPIED], 75)})
    source_args = ["--source", str(sources / f"{R_CLIP_CSKA_AKHMAT}.mp4"),
                   "--source", str(sources / f"{R_CLIP_SPARTAK_ROSTOV}.avi"), "--source", str(folder)]
    return ws, source_args, clip_weights


def pick(scene, out: Path, count: int, *extra: str, sources: list[str] | None = None):
    ws, all_sources, weights = scene
    return ws.cli("label", "pick", *(all_sources if sources is None else sources), "--weights", str(weights),
                  "--count", str(count), "--out", str(out), *COMMON, *extra)


def stems(out: Path) -> list[str]:
    return [f.stem for f in read_batch(out).frames]


def rows(path: Path, columns: int) -> np.ndarray:
    text = path.read_text()
    return np.array([line.split() for line in text.splitlines()], np.float64).reshape(-1, columns)


def number_in(pattern: str, text: str) -> int:
    match = re.search(pattern, text.replace("\n", " "))
    assert match, text
    return int(match[1])


# 20 candidates per video (every 2nd of 40 frames), 11 in the folder
CANDIDATES = 2 * FRAMES // EVERY + 11


@pytest.fixture(scope="module")
def picked(scene, tmp_path_factory):
    """The largest batch there is: every candidate left but one of each duplicate pair; and the
    messages of asking for one more and for one more than that."""
    root = tmp_path_factory.mktemp("picked")
    first = pick(scene, root / "too-many", CANDIDATES)  # before the model: frame numbers alone
    left = CANDIDATES - len(KNOWN_NUMBERS)
    second = pick(scene, root / "left", left)  # after the model: the pictures
    after_pictures = number_in(r"only (\d+) candidate\(s\) are left", second.stderr)
    third = pick(scene, root / "one-more", after_pictures - 1)
    fourth = pick(scene, root / "batch", after_pictures - 2)
    return first, second, third, fourth, after_pictures, root / "batch"


def test_count_larger_than_what_is_left_exits_2_naming_it_and_writes_nothing(picked):
    first, second, third, _, after_pictures, batch = picked
    assert first.returncode == 2
    assert f"only {CANDIDATES - len(KNOWN_NUMBERS)} of the {CANDIDATES} candidate frames are left" in first.stderr
    assert "Traceback" not in first.stderr + second.stderr + third.stderr
    assert second.returncode == 2, second.stderr
    assert "4 already in a known dataset" in second.stderr and "near-duplicates of known images" in second.stderr
    # the re-encoded copy is a near duplicate of its frame (neighbouring frames may look alike too)
    assert after_pictures <= CANDIDATES - len(KNOWN_NUMBERS) - 1
    # two duplicate pairs among the candidates: one more than all but one of each cannot be picked
    assert third.returncode == 2, third.stderr
    assert f"only {after_pictures - 2} of the {after_pictures} candidates left can be picked" in third.stderr
    assert "2 duplicates of a pick" in third.stderr
    assert sorted(p.name for p in batch.parent.iterdir()) == ["batch"], "a refused pick left something behind"


def test_never_a_known_frame_nor_two_near_duplicates(picked):
    *_, fourth, after_pictures, batch = picked
    assert fourth.returncode == 0, fourth.stderr
    chosen = stems(batch)
    assert len(chosen) == after_pictures - 2
    for n in KNOWN_NUMBERS:
        assert f"{R_CLIP_CSKA_AKHMAT}_{n:06d}" not in chosen
    assert f"{R_CLIP_SPARTAK_ROSTOV}_{COPIED:06d}" not in chosen
    repeated = [f"{R_CLIP_SPARTAK_ROSTOV}_{n:06d}" for n in REPEATED]
    assert sum(stem in chosen for stem in repeated) == 1
    copies = [f"{R_CLIP_KRASNODAR_DYNAMO}_012004", "shot-for-the-poster"]
    assert sum(stem in chosen for stem in copies) == 1
    # every other candidate was pickable, and is in the batch
    assert f"{R_CLIP_CSKA_AKHMAT}_{8:06d}" in chosen and f"{R_CLIP_KRASNODAR_DYNAMO}_012018" in chosen
    assert "picked" in fourth.stdout and f"written to {batch}" in fourth.stdout
    assert "looks the same (dHash distance" in fourth.stdout and f"{OTHER_RECORDING}_000777.jpg" in fourth.stdout


def test_report_rows_match_batch_json_and_every_file_is_there(picked):
    batch_dir = picked[-1]
    batch = read_batch(batch_dir)
    with open(batch_dir / "report.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["stem"] for r in rows] == [f.stem for f in batch.frames]
    for rank, (row, frame) in enumerate(zip(rows, batch.frames), 1):
        assert int(row["rank"]) == rank
        assert (row["recording"], int(row["frame"]), row["source"]) == (frame.recording, frame.frame, frame.source)
        assert float(row["score"]) == pytest.approx(frame.score, abs=1e-6)
        for part in ("uncertainty", "candidates", "slice", "track"):
            assert (row[part] == "") == (part not in frame.reasons), (part, row)
            if row[part]:
                assert float(row[part]) == pytest.approx(frame.reasons[part], abs=1e-6)
        assert frame.score == pytest.approx(frame_score(frame.reasons, ScoreWeights()), abs=1e-5)
        assert (batch_dir / frame.file).is_file()
        labels = (batch_dir / "labels" / f"{frame.stem}.txt").read_text().splitlines()
        assert int(row["boxes"]) == len(labels)
    # picked in order of score / (1 + spread x frames of its recording picked before), --spread 1
    keys, before = [], {}
    for f in batch.frames:
        group = (f.source, f.recording)
        keys.append(f.score / (1 + before.get(group, 0)))
        before[group] = before.get(group, 0) + 1
    assert all(a >= b - 1e-9 for a, b in zip(keys, keys[1:])), keys
    # the track part is computed for video frames (every frame predicted), the slice part never (no --slice)
    assert any("track" in f.reasons for f in batch.frames) and not any("slice" in f.reasons for f in batch.frames)
    # video frames are PNG, folder frames copied byte for byte
    exported = [f for f in batch.frames if f.source.endswith("exported")]
    assert exported and all(f.file.endswith(".jpg") for f in exported)
    for f in exported:
        name = Path(f.file).name if f.frame == -1 else f"{f.stem}.jpg"
        assert (batch_dir / f.file).read_bytes() == (Path(f.source) / name).read_bytes()
    assert all(f.file.endswith(".png") for f in batch.frames if not f.source.endswith("exported"))
    names = {p.name for p in batch_dir.iterdir()}
    assert names == {"images", "labels", "predictions", "report.csv", "batch.json"}
    assert len(list((batch_dir / "images").iterdir())) == len(batch.frames)


def test_pre_annotations_are_the_models_own_boxes_at_the_threshold(picked, scene):
    from ultralytics import YOLO

    batch_dir, weights = picked[-1], scene[2]
    model = YOLO(str(weights))
    boxes = 0
    for frame in read_batch(batch_dir).frames:
        image = batch_dir / frame.file
        (result,) = model.predict(str(image), conf=0.25, imgsz=320, max_det=300, verbose=False)
        theirs = np.column_stack([result.boxes.cls.numpy(), result.boxes.xywhn.numpy(), result.boxes.conf.numpy()])
        ours = rows(batch_dir / "predictions" / f"{frame.stem}.txt", 6)
        labels = rows(batch_dir / "labels" / f"{frame.stem}.txt", 5)
        assert ours.shape == theirs.shape, frame.stem
        assert np.array_equal(labels, ours[:, :5])
        order_ours, order_theirs = np.lexsort(ours.T[::-1]), np.lexsort(theirs.T[::-1])
        assert np.allclose(ours[order_ours], theirs[order_theirs], atol=2e-6), frame.stem
        boxes += len(ours)
    assert boxes > 0, "no box at 0.25: the comparison would prove nothing"


def test_the_same_seed_picks_the_same_batch(picked, scene, tmp_path):
    again = pick(scene, tmp_path / "again", len(stems(picked[-1])))
    assert again.returncode == 0, again.stderr
    for name in ("batch.json", "report.csv"):
        assert (tmp_path / "again" / name).read_text() == (picked[-1] / name).read_text()


def test_spread_and_min_gap_shape_the_batch(scene, tmp_path):
    """Six frames of two videos with a huge spread: the recordings take turns while their scores are
    within the spread's reach (the first two picks); picks of one recording are 8 frames apart or more.
    Without spread the order is the score's."""
    result = pick(scene, tmp_path / "spread", 6, "--min-gap", "8", "--spread", "1000000", sources=scene[1][:4])
    assert result.returncode == 0, result.stderr
    frames = read_batch(tmp_path / "spread").frames
    assert frames[0].recording != frames[1].recording
    per_recording: dict[str, list[int]] = {}
    for f in frames:
        per_recording.setdefault(f.recording, []).append(f.frame)
    for numbers in per_recording.values():
        numbers.sort()
        assert len(numbers) == 1 or min(np.diff(numbers)) >= 8, numbers
    # by score alone; with tiles of 160 px compared with whole frames (pre-annotations: whole frames)
    by_score = pick(scene, tmp_path / "by-score", 6, "--spread", "0", "--slice", "160", sources=scene[1][:4])
    assert by_score.returncode == 0, by_score.stderr
    assert "whole frames and tiles of 160 px" in by_score.stderr
    frames = read_batch(tmp_path / "by-score").frames
    scores = [f.score for f in frames]
    assert scores == sorted(scores, reverse=True)
    assert all("slice" in f.reasons for f in frames) and any(f.reasons["slice"] > 0 for f in frames)


def test_bad_input_is_named_at_once_and_nothing_is_written(scene, tmp_path):
    ws, _, weights = scene
    broken = tmp_path / "20240101-Cup-A-vs-B-01.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    out = tmp_path / "batch"
    result = ws.cli("label", "pick", "--source", str(broken), "--source", str(tmp_path / "missing"), "--weights",
                    str(weights), "--count", "0", "--out", str(out), "--every", "10", "--track-every", "3",
                    "--spread", "-1")
    assert result.returncode == 2
    text = result.stderr.replace("\n", " ")
    for flag in ("--count", "--track-every", "--spread"):
        assert f"- {flag}:" in text, flag
    assert str(broken) in text and "cannot open it as a video" in text
    assert "missing does not exist" in text
    assert "Traceback" not in result.stderr and not out.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "something.txt").write_text("keep me")
    result = pick(scene, existing, 1)
    assert result.returncode == 2 and "exists and is not empty" in result.stderr
    assert [p.name for p in existing.iterdir()] == ["something.txt"]


def test_a_frame_that_does_not_decode_is_left_out_and_said(scene, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    exported = Path(scene[1][-1])
    for name in sorted(p.name for p in exported.glob(f"{R_CLIP_KRASNODAR_DYNAMO}_*.jpg"))[:3]:
        shutil.copy(exported / name, folder / name)
    (folder / f"{R_CLIP_KRASNODAR_DYNAMO}_012100.jpg").write_bytes(b"\xff\xd8 not a picture")
    result = pick(scene, tmp_path / "batch", 3, sources=["--source", str(folder)])
    assert result.returncode == 0, result.stderr
    assert f"{R_CLIP_KRASNODAR_DYNAMO}_012100" not in stems(tmp_path / "batch")
    all_row = next(line for line in result.stdout.splitlines() if "│ all" in line)
    assert [cell.strip() for cell in all_row.split("│")[3:-1]] == ["4", "0", "0", "0", "0", "1", "3"]


# --------------------------------------------------------------------------- the parts, in-process


def test_a_video_frames_dhash_is_the_one_its_png_will_have():
    for image in clip_frames(R_CLIP_CSKA_AKHMAT)[:5]:
        png = cv2.imencode(".png", image)[1].tobytes()
        assert picture_of(image).dhash == dhash(png)
        assert picture_of(image, png).digest is not None


def dets(*rows: tuple[float, float, float, float, float, int]) -> Detections:
    return Detections.from_rows(np.array(rows, np.float64).reshape(-1, 6))


def test_scores_measure_doubt_from_the_threshold():
    t = 0.25
    assert confidence(0.25, t) == pytest.approx(0.5)
    assert uncertainty(dets((0, 0, 10, 10, 0.25, 0)), 0, t) == pytest.approx(1.0)
    assert uncertainty(dets((0, 0, 10, 10, 0.95, 0)), 0, t) < 0.2
    assert uncertainty(dets((0, 0, 10, 10, 0.25, 1)), 0, t) == 0.0  # another class is not the ball
    assert uncertainty(Detections.empty(), 0, t) == 0.0
    three = dets(*[(10 * k, 0, 10 * k + 8, 8, s, 0) for k, s in enumerate((0.2, 0.3, 0.4, 0.001))])
    assert undecided_candidates(three, 0, t) == pytest.approx(1 - 0.5 ** 3)
    whole, tiles = dets((0, 0, 8, 8, 0.9, 0)), dets((100, 100, 108, 108, 0.9, 0))
    assert slice_disagreement(whole, tiles, 0, t) == pytest.approx(float(confidence(0.9, t)))
    assert slice_disagreement(whole, whole, 0, t) == 0.0
    assert slice_disagreement(whole, Detections.empty(), 0, t) == pytest.approx(float(confidence(0.9, t)))


def test_track_disagreement():
    boxes = np.array([[50.0, 50, 8, 8], [200, 100, 8, 8]])
    t = 0.25
    # the track took the detector's best: nothing to learn
    assert track_disagreement("detected", 50, 50, boxes, np.array([0.9, 0.1]), t, [], 3) == 0.0
    # the track took another candidate than the detector's best
    assert track_disagreement("detected", 200, 100, boxes, np.array([0.9, 0.1]), t, [], 3) > 0.9
    # bridged where the detector has nothing at the track's position
    assert track_disagreement("interpolated", 120, 80, boxes, np.array([0.9, 0.1]), t, [], 3) == 1.0
    # no ball per the track, a confident candidate: but not on a static spot
    assert track_disagreement("none", 0, 0, boxes, np.array([0.9, 0.1]), t, [], 3) > 0.9
    assert track_disagreement("none", 0, 0, boxes, np.array([0.9, 0.1]), t, [(50, 50)], 3) == 0.0


def test_greedy_pick_spreads_keeps_gaps_and_skips_duplicates():
    candidates = [Candidate("a", 0, 1.0), Candidate("a", 5, 0.9), Candidate("a", 50, 0.8), Candidate("b", 0, 0.3),
                  Candidate("b", 100, 0.29)]
    by_score = select(candidates, 3, min_gap=0, spread=0, seed=0, close={}, duplicates=lambda i, j: True)
    assert by_score.picked == [0, 1, 2]
    gapped = select(candidates, 3, min_gap=10, spread=0, seed=0, close={}, duplicates=lambda i, j: True)
    assert gapped.picked == [0, 2, 3] and gapped.too_close == 1
    spread = select(candidates, 3, min_gap=0, spread=10, seed=0, close={}, duplicates=lambda i, j: True)
    assert spread.picked == [0, 3, 1]
    close = {0: {3}, 3: {0}}
    dup = select(candidates, 5, min_gap=0, spread=0, seed=0, close=close, duplicates=lambda i, j: {i, j} == {0, 3})
    assert dup.picked == [0, 1, 2, 4] and dup.duplicate == 1
    ties = [Candidate(str(k), k, 0.5) for k in range(20)]
    orders = {tuple(select(ties, 5, min_gap=0, spread=0, seed=s, close={}, duplicates=lambda i, j: False).picked)
              for s in range(4)}
    assert len(orders) > 1  # the seed orders equal scores ...
    assert select(ties, 5, min_gap=0, spread=0, seed=3, close={}, duplicates=lambda i, j: False).picked == \
        select(ties, 5, min_gap=0, spread=0, seed=3, close={}, duplicates=lambda i, j: False).picked  # ... alike


def test_batch_json_is_valid_json(picked):
    json.loads((picked[-1] / "batch.json").read_text())
