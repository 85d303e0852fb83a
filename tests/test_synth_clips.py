"""Synthetic clips (`balldet datasets synth --clips`): continuous recordings of a fixed camera with the
ball's truth in every frame, as catalog datasets, truth.csv and videos; the other datasets unchanged."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from balldet.datasets.catalog import LocalCatalog
from balldet.datasets.dataset import DatasetRef
from balldet.datasets.frames import DEFAULT_FRAME_IDENTITY
from balldet.errors import BalldetError
from balldet.synth.catalog import CLIPS_FILE, TRUTH_FILE, synthesize_clips, write_clip_videos
from balldet.synth.inventory import (
    CLIP_DATASET_IDS,
    CLIP_DATASETS,
    CLIP_FIRST_FRAMES,
    CLIP_RECORDINGS,
    CLIP_TEST_IDS,
    CLIP_TRAIN_IDS,
    CLIP_VAL_IDS,
    SYNTH_DATASET_IDS,
    SYNTH_RECORDINGS,
    WIDE_DATASET_IDS,
    WIDE_DATASETS,
    synth_dataset_id,
)
from balldet.synth.clips import (
    CLIP_FRAMES,
    CLIP_SIZE,
    PHASES,
    STATES,
    TRUTH_COLUMNS,
    make_clip,
    read_video,
    render_clip_frame,
    speed,
    truth_csv,
    write_clip_video,
)

N = 40  # frames per clip where whole clips are not needed
W, H = CLIP_SIZE
LABEL_LINE = re.compile(r"^0( [01]\.\d{6}){4}$")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalCatalog, list[DatasetRef]]:
    catalog = LocalCatalog(tmp_path_factory.mktemp("clips") / "catalog")
    return catalog, synthesize_clips(catalog, frames_per_clip=N)


@pytest.fixture(scope="module")
def full_clips():
    """Every clip at its full default length (no image is drawn: script, players and truth only)."""
    return [make_clip(rec, first_frame=CLIP_FIRST_FRAMES[rec]) for rec in CLIP_RECORDINGS]


def _truth(ref: DatasetRef) -> list[dict[str, str]]:
    text = (ref.path / TRUTH_FILE).read_text()
    assert text.splitlines()[0] == ",".join(TRUTH_COLUMNS)
    return list(csv.DictReader(io.StringIO(text)))


def _stretches(states: list[str], state: str) -> list[tuple[int, int]]:
    """(first index, end index) of each run of ``state``."""
    runs, start = [], None
    for i, s in enumerate([*states, None]):
        if s == state and start is None:
            start = i
        elif s != state and start is not None:
            runs.append((start, i))
            start = None
    return runs


def test_clip_datasets_are_catalog_entries_with_fixed_ids(clips) -> None:
    catalog, refs = clips
    assert [r.name for r in refs] == [d.name for d in CLIP_DATASETS] == list(CLIP_DATASET_IDS)
    for ref, spec in zip(refs, CLIP_DATASETS):
        assert ref.id == CLIP_DATASET_IDS[ref.name] == synth_dataset_id(ref.name, ref.version)
        assert ref.names == ["ball"] and {"class:ball", "camera:fixed"} <= set(ref.tags)
        assert ref.number_samples == len(ref.image_files()) == N * len(spec.recordings)
        assert json.loads((ref.path / "synth.json").read_text()) == {
            "generator": "balldet-synth-clips/1", "seed": 0, "image_size": [W, H], "frames_per_clip": N}
    assert all("source:recording" in r.tags for r in refs if r.id in CLIP_TRAIN_IDS + CLIP_VAL_IDS)
    assert sorted(p.name for p in catalog.root.iterdir()) == sorted(CLIP_DATASET_IDS.values())
    assert len(CLIP_TRAIN_IDS) == 3 and len(CLIP_VAL_IDS) == 1 and len(CLIP_TEST_IDS) == 1
    assert set(CLIP_TRAIN_IDS) | set(CLIP_VAL_IDS) | set(CLIP_TEST_IDS) == set(CLIP_DATASET_IDS.values())
    assert not set(CLIP_DATASET_IDS.values()) & (set(SYNTH_DATASET_IDS.values()) | set(WIDE_DATASET_IDS.values()))
    # recordings of their own, one dataset each
    others = set(SYNTH_RECORDINGS) | {r for d in WIDE_DATASETS for r in d.recordings}
    assert len(set(CLIP_RECORDINGS)) == 6 and not set(CLIP_RECORDINGS) & others
    assert sorted(r for d in CLIP_DATASETS for r in d.recordings) == sorted(CLIP_RECORDINGS)


def test_frames_are_consecutive_and_named_by_recording_and_frame(clips) -> None:
    _, refs = clips
    for ref, spec in zip(refs, CLIP_DATASETS):
        frames: dict[str, list[int]] = {}
        for image in ref.image_files():
            recording, frame = DEFAULT_FRAME_IDENTITY(ref, image.stem)
            assert image.name == f"{recording}_{frame:06d}.jpg"
            frames.setdefault(recording, []).append(frame)
        assert sorted(frames) == sorted(spec.recordings)
        for recording, numbers in frames.items():
            first = CLIP_FIRST_FRAMES[recording]
            assert first >= 1000 and sorted(numbers) == list(range(first, first + N))
        shape = cv2.imread(str(ref.image_files()[0])).shape
        assert shape == (H, W, 3)


def test_truth_matches_the_labels(clips) -> None:
    _, refs = clips
    states = set()
    for ref in refs:
        rows = _truth(ref)
        assert len(rows) == ref.number_samples
        by_stem = {f"{r['recording']}_{int(r['frame']):06d}": r for r in rows}
        assert set(by_stem) == {p.stem for p in ref.image_files()}
        for image in ref.image_files():
            row = by_stem[image.stem]
            states.add(row["state"])
            lines = ref.label_file(image).read_text().splitlines()
            if row["state"] == "out":
                assert lines == [] and row["x"] == row["y"] == row["diameter"] == ""
                continue
            assert len(lines) == 1 and LABEL_LINE.match(lines[0]), (image.name, lines)
            x, y, d = float(row["x"]), float(row["y"]), float(row["diameter"])
            assert 0 <= x < W and 0 <= y < H
            _, cx, cy, bw, bh = (float(v) for v in lines[0].split())
            x1, y1, x2, y2 = (cx - bw / 2) * W, (cy - bh / 2) * H, (cx + bw / 2) * W, (cy + bh / 2) * H
            if x - d / 2 >= 0 and y - d / 2 >= 0 and x + d / 2 <= W and y + d / 2 <= H:  # not cut by an edge
                assert abs(cx * W - x) <= 0.5 and abs(cy * H - y) <= 0.5, image.name
                assert abs(bw * W - d) <= 0.5 and abs(bh * H - d) <= 0.5, image.name
            else:
                assert x1 - 0.5 <= x <= x2 + 0.5 and y1 - 0.5 <= y <= y2 + 0.5, image.name
    assert states <= set(STATES) and "visible" in states


def test_clips_json_names_each_clip_and_its_spots(clips) -> None:
    _, refs = clips
    for ref, spec in zip(refs, CLIP_DATASETS):
        summary = json.loads((ref.path / CLIPS_FILE).read_text())
        assert summary["fps"] == 25
        assert [c["recording"] for c in summary["clips"]] == list(spec.recordings)
        for c in summary["clips"]:
            clip = make_clip(c["recording"], frames=N, first_frame=CLIP_FIRST_FRAMES[c["recording"]])
            assert c["first_frame"] == CLIP_FIRST_FRAMES[c["recording"]] and c["frames"] == N
            assert c["image_size"] == [W, H]
            assert np.allclose([c["spots"]["penalty"], c["spots"]["centre"]], clip.spots, atol=0.01)
            assert c["phases"][0][1] == c["first_frame"] and c["phases"][-1][2] == c["first_frame"] + N


def test_frames_are_deterministic(clips, tmp_path: Path) -> None:
    _, refs = clips
    again = synthesize_clips(LocalCatalog(tmp_path / "again"), frames_per_clip=N)
    for a, b in zip(refs, again):
        for name in ("images", "labels"):
            assert {p.name: p.read_bytes() for p in (a.path / name).iterdir()} == \
                {p.name: p.read_bytes() for p in (b.path / name).iterdir()}
        for name in (TRUTH_FILE, CLIPS_FILE):
            assert (a.path / name).read_bytes() == (b.path / name).read_bytes()
    rec = CLIP_RECORDINGS[0]
    clip = make_clip(rec, frames=N, first_frame=CLIP_FIRST_FRAMES[rec])
    frame = clip.frames[7]
    assert render_clip_frame(clip, frame).tobytes() == render_clip_frame(clip, frame).tobytes()
    other = make_clip(rec, seed=1, frames=N, first_frame=CLIP_FIRST_FRAMES[rec])
    assert render_clip_frame(other, frame).tobytes() != render_clip_frame(clip, frame).tobytes()
    # a shorter clip is the start of a longer one
    longer = make_clip(rec, frames=N + 30, first_frame=CLIP_FIRST_FRAMES[rec])
    assert longer.truth[:N] == clip.truth
    assert render_clip_frame(longer, frame).tobytes() == render_clip_frame(clip, frame).tobytes()


def test_every_phase_kind_occurs_in_a_full_clip(full_clips) -> None:
    for clip in full_clips:
        assert len(clip.frames) == CLIP_FRAMES
        assert {p.kind for p in clip.phases} == set(PHASES), clip.recording
        assert clip.phases[0].start == clip.first_frame and clip.phases[-1].end == clip.frames.stop
        assert all(a.end == b.start for a, b in zip(clip.phases, clip.phases[1:]))  # one after the other
        states = [t.state for t in clip.truth]
        xy = np.array([(np.nan, np.nan) if t.x is None else (t.x, t.y) for t in clip.truth])

        # a sudden turn: the way the ball goes in the picture turns by more than 60 degrees in a frame
        turns = []
        for i in range(1, len(states) - 1):
            if states[i - 1] == states[i] == states[i + 1] == "visible":
                a, b = xy[i] - xy[i - 1], xy[i + 1] - xy[i]
                if np.linalg.norm(a) >= 1 and np.linalg.norm(b) >= 1:
                    turns.append(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))
        assert max(turns) > 60, clip.recording

        # hidden behind a player: a stretch of 3 to 10 frames around each scripted one, the ball in the picture
        hidden = _stretches(states, "hidden")
        for p in (p for p in clip.phases if p.kind == "hidden"):
            i, j = p.start - clip.first_frame, p.end - clip.first_frame
            (around,) = [(a, b) for a, b in hidden if a <= i and j <= b]
            assert 3 <= around[1] - around[0] <= 10, (clip.recording, around)
            assert all(0 <= xy[k, 0] < W and 0 <= xy[k, 1] < H for k in range(i, j))

        # out of the picture for a while, then back
        out = _stretches(states, "out")
        assert any(b - a >= 10 and b < len(states) for a, b in out), (clip.recording, out)

        # lofted: the ball grows as it rises towards the camera, then shrinks as it comes down
        for p in (p for p in clip.phases if p.kind == "loft"):
            d = [clip.truth_at(f).diameter for f in range(p.start - 1, p.end) if clip.truth_at(f).diameter]
            if p.end - p.start >= 20:
                assert max(d) >= 1.15 * d[0] and d[-1] < 0.9 * max(d), (clip.recording, p)


def test_the_ball_moves_at_football_speeds(full_clips) -> None:
    for clip in full_clips:
        step = speed(clip)  # px a frame, NaN across out frames
        assert np.nanmax(step) <= 0.04 * W, clip.recording  # 25 px a frame at 640 wide
        assert np.nanmax(step) >= 6, clip.recording  # hard passes and kicks: 6-16 px a frame at 640 wide
        # never still for more than a tenth of the clip: in every window of that length the ball moves
        xy = np.array([(np.nan, np.nan) if t.x is None else (t.x, t.y) for t in clip.truth])
        window = len(xy) // 10
        for i in range(len(xy) - window):
            part = xy[i:i + window + 1]
            if np.isnan(part).any():
                continue
            assert np.hypot(*(part - part[0]).T).max() > 3, (clip.recording, clip.first_frame + i)
        # diameters: the broadcast frames' sizes (7 to 14 px at 320 wide, here 14 to 28), lofts larger
        d = [t.diameter for t in clip.truth if t.diameter is not None]
        assert 13.9 <= min(d) and max(d) <= 2 * 28


def test_the_spots_stay_on_the_same_pixels(clips) -> None:
    """The penalty spot and the centre spot: a bright ball-sized blob at the clip's spot positions,
    centred there within a pixel, in every frame where no player or ball covers it."""
    rec = CLIP_RECORDINGS[0]
    clip = make_clip(rec, frames=N, first_frame=CLIP_FIRST_FRAMES[rec])
    assert clip.spots == make_clip(rec, frames=5, first_frame=CLIP_FIRST_FRAMES[rec]).spots
    r = 12
    seen = {spot: [] for spot in clip.spots}
    for frame in clip.frames:
        gray = cv2.cvtColor(render_clip_frame(clip, frame), cv2.COLOR_BGR2GRAY).astype(np.float64)
        boxes = [p.box for p in clip.players(frame)]
        if clip.truth_at(frame).box is not None:
            boxes.append(clip.truth_at(frame).box)
        for (sx, sy), (x, y, rx, ry) in zip(clip.spots, clip.scene.spots):
            assert 6 <= rx <= 15 and ry <= rx  # ball-sized, flattened as a disc on the ground
            if any(b[0] < sx + r and b[2] > sx - r and b[1] < sy + r and b[3] > sy - r for b in boxes):
                continue
            u, v = round(sx), round(sy)
            patch = gray[v - r:v + r + 1, u - r:u + r + 1]
            grass = np.median(np.concatenate([patch[0], patch[-1], patch[:, 0], patch[:, -1]]))
            assert patch[r - 1:r + 2, r - 1:r + 2].mean() > grass + 40, (frame, (sx, sy))
            weight = np.clip(patch - grass - 20, 0, None)
            ys, xs = np.mgrid[-r:r + 1, -r:r + 1]
            seen[(sx, sy)].append(((xs * weight).sum() / weight.sum() + u, (ys * weight).sum() / weight.sum() + v))
    for (sx, sy), centres in seen.items():
        assert len(centres) >= 0.8 * N, (sx, sy, len(centres))
        centres = np.array(centres)
        assert np.abs(centres - [sx, sy]).max() <= 1.0, (sx, sy, centres.min(0), centres.max(0))
        assert np.ptp(centres, axis=0).max() <= 0.5  # the same pixels in every frame
    (px, py), (cx, cy) = clip.spots
    assert abs(px - cx) > 0.4 * W and 0 < py < H and 0 < cy < H  # the penalty spot and the centre spot


def test_truth_csv_has_every_frame(full_clips) -> None:
    text = truth_csv(full_clips[:2])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 2 * CLIP_FRAMES
    for row, clip_truth in zip(rows, [t for c in full_clips[:2] for t in c.truth]):
        assert int(row["frame"]) == clip_truth.frame and row["state"] == clip_truth.state
        if clip_truth.state != "out":
            assert abs(float(row["x"]) - clip_truth.x) <= 0.0005


def test_video_has_every_frame(tmp_path: Path) -> None:
    rec = CLIP_RECORDINGS[1]
    clip = make_clip(rec, frames=N, first_frame=CLIP_FIRST_FRAMES[rec])
    path = write_clip_video(clip, tmp_path / "videos")
    assert path == tmp_path / "videos" / f"{rec}.mp4" and path.stem == rec
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    assert read_video(path) == (N, (W, H))
    cap = cv2.VideoCapture(str(path))
    try:
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25)
        ok, first = cap.read()
    finally:
        cap.release()
    # lossy, but the same picture
    assert ok and np.abs(first.astype(int) - render_clip_frame(clip, clip.first_frame)).mean() < 8


def test_bad_clip_arguments_are_user_errors(tmp_path: Path) -> None:
    for kwargs in ({"frames_per_clip": 0}, {"image_size": (160, 96)}, {"image_size": (1280, 300)},
                   {"image_size": (640, 640)}):
        with pytest.raises(BalldetError) as caught:
            synthesize_clips(LocalCatalog(tmp_path / "catalog"), **kwargs)
        assert caught.value.fix
    with pytest.raises(BalldetError):
        write_clip_videos(tmp_path / "videos", recordings=["20240101-Premier_League-A-vs-B-01"])
    assert not any(tmp_path.iterdir())


def test_other_sizes_keep_the_spots_in_the_picture() -> None:
    for size in ((320, 192), (960, 540), (1280, 720)):
        clip = make_clip(CLIP_RECORDINGS[2], frames=30, image_size=size)
        image = render_clip_frame(clip, clip.frames[-1])
        assert image.shape == (size[1], size[0], 3)
        assert all(0.1 * size[0] < x < 0.9 * size[0] and 0.2 * size[1] < y < 0.9 * size[1] for x, y in clip.spots)


def test_cli_synth_clips_then_check(workspace) -> None:
    result = workspace.cli("datasets", "synth", "--clips", "--images", "12", "--video-dir", "videos")
    assert result.returncode == 0, result.stderr
    for name, dataset_id in CLIP_DATASET_IDS.items():
        assert f"{dataset_id}  {name}" in result.stdout
    assert sorted(p.name for p in workspace.catalog.iterdir()) == sorted(CLIP_DATASET_IDS.values())
    videos = sorted((workspace.root / "videos").iterdir())
    assert [p.name for p in videos] == sorted(f"{rec}.mp4" for rec in CLIP_RECORDINGS)
    assert all(read_video(p) == (12, (W, H)) for p in videos)
    checked = workspace.cli("datasets", "check", *CLIP_DATASET_IDS.values())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no problems found" in checked.stdout
    # made already: left as they are; --force makes them again, the same
    truth = workspace.catalog / CLIP_TEST_IDS[0] / TRUTH_FILE
    before = truth.stat().st_mtime_ns
    assert workspace.cli("datasets", "synth", "--clips", "--images", "12").returncode == 0
    assert truth.stat().st_mtime_ns == before
    assert workspace.cli("datasets", "synth", "--clips", "--images", "12", "--force").returncode == 0
    assert truth.stat().st_mtime_ns != before and len(truth.read_text().splitlines()) == 1 + 2 * 12
    listed = workspace.cli("datasets", "list", COLUMNS="250")
    assert listed.returncode == 0 and "camera:fixed" in listed.stdout


def test_cli_synth_refuses_flags_that_do_not_fit(workspace) -> None:
    both = workspace.cli("datasets", "synth", "--clips", "--wide", "--images", "1")
    assert both.returncode == 2 and "--wide/--clips" in both.stderr
    videos = workspace.cli("datasets", "synth", "--video-dir", "videos", "--images", "1")
    assert videos.returncode == 2 and "--video-dir" in videos.stderr
    assert not any(workspace.catalog.iterdir()) and not (workspace.root / "videos").exists()
    helped = workspace.cli("datasets", "synth", "--help", COLUMNS="200")
    assert helped.returncode == 0 and "--clips" in helped.stdout and "--video-dir" in helped.stdout
