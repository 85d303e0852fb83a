"""Synthetic football datasets: catalog entries, YOLO labels, frame identity, determinism, reruns."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from balldet.datasets.frames import DEFAULT_FRAME_IDENTITY

import balldet.synth.catalog as synth_module
from balldet.datasets.catalog import LocalCatalog
from balldet.datasets.dataset import DatasetRef
from balldet.synth.catalog import frame_stem, plan_frames, synthesize
from balldet.synth.inventory import SYNTH_DATASET_IDS, SYNTH_DATASETS, synth_dataset_id
from balldet.synth.render import make_look, render_frame
from balldet.errors import BalldetError

N = 12  # images per dataset in these tests
LABEL_LINE = re.compile(r"^0( [01]\.\d{6}){4}$")

EXPECTED = {
    "20240416-Russian_Cup-CSKA_Moscow-vs-Baltika_Kaliningrad-01-001": ("1.0.0", ["class:ball", "source:recording"]),
    "20240421-Premier_League-CSKA_Moscow-vs-Spartak_Moscow-01-001": ("1.0.0", ["class:ball", "source:recording"]),
    "class:ball-markup:our-001": ("1.0.0", ["class:ball", "source:markup"]),
    "class:ball-markup:tagme-001-02": ("1.0.2", ["class:ball", "source:markup"]),
    "soccernet_ball_001": ("1.0.2", ["class:ball", "source:public"]),
    "class:player-markup:our-001": ("1.0.0", ["class:player", "source:markup"]),
    "class:player-markup:tagme-001-01": ("1.0.0", ["class:player", "source:markup"]),
}
RECORDING_ID = re.compile(r"^\d{8}-[A-Za-z_]+-[A-Za-z_]+-vs-[A-Za-z_]+-\d{2}$")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalCatalog, list[DatasetRef]]:
    catalog = LocalCatalog(tmp_path_factory.mktemp("synth") / "catalog")
    return catalog, synthesize(catalog, images_per_dataset=N)


def _labels(ref: DatasetRef) -> dict[str, list[tuple[float, ...]]]:
    out = {}
    for image in ref.image_files():
        lines = ref.label_file(image).read_text().splitlines()
        out[image.stem] = [tuple(float(v) for v in line.split()) for line in lines]
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_datasets_have_expected_metadata(synth: tuple[LocalCatalog, list[DatasetRef]]) -> None:
    catalog, refs = synth
    assert [r.name for r in refs] == [d.name for d in SYNTH_DATASETS]
    assert {r.name for r in refs} == set(EXPECTED)
    for ref in refs:
        version, tags = EXPECTED[ref.name]
        assert (ref.version, ref.tags) == (version, tags)
        assert ref.names == (["player"] if ref.name.startswith("class:player") else ["ball"])
        assert ref.id == synth_dataset_id(ref.name, ref.version) == SYNTH_DATASET_IDS[ref.name]
        assert ref.id == hashlib.md5(f"balldet-synth:{ref.name}:{ref.version}".encode()).hexdigest()
        assert ref.path == catalog.folder(ref.id).resolve()
        images = ref.image_files()
        assert ref.number_samples == len(images) == N
        assert all(ref.label_file(p).is_file() for p in images)
        assert len(list(ref.labels_dir.iterdir())) == N
    # the catalog lists exactly these, and no staging leftovers
    assert sorted(r.id for r in catalog.list()) == sorted(SYNTH_DATASET_IDS.values())
    assert sorted(p.name for p in catalog.root.iterdir()) == sorted(SYNTH_DATASET_IDS.values())


def test_labels_are_valid_yolo(synth: tuple[LocalCatalog, list[DatasetRef]]) -> None:
    _, refs = synth
    for ref in refs:
        empty = 0
        for image in ref.image_files():
            text = ref.label_file(image).read_text()
            lines = text.splitlines()
            empty += not lines
            for line in lines:
                assert LABEL_LINE.match(line), line
                _, cx, cy, w, h = (float(v) for v in line.split())
                assert 0 < w <= 1 and 0 < h <= 1
                assert 0 <= cx - w / 2 + 1e-6 and cx + w / 2 <= 1 + 1e-6
                assert 0 <= cy - h / 2 + 1e-6 and cy + h / 2 <= 1 + 1e-6
            assert cv2.imread(str(image)).shape == (192, 320, 3)
        if ref.names == ["ball"]:
            assert max(len(v) for v in _labels(ref).values()) == 1
            assert 1 <= empty < N  # ball-free frames: the label file exists and is empty
        else:
            assert empty == 0 and min(len(v) for v in _labels(ref).values()) >= 6


def test_frame_identity_is_unique_across_datasets(synth: tuple[LocalCatalog, list[DatasetRef]]) -> None:
    _, refs = synth
    seen: dict[tuple[str, int], str] = {}
    recordings: dict[str, set[str]] = {}
    for ref in refs:
        for image in ref.image_files():
            assert image.suffix == ".jpg"
            recording, frame = DEFAULT_FRAME_IDENTITY(ref, image.stem)  # how balldet reads frames
            assert RECORDING_ID.match(recording), recording
            assert frame_stem(recording, frame) == image.stem
            assert (recording, frame) not in seen, f"{image.name} is in {seen.get((recording, frame))} and {ref.name}"
            seen[(recording, frame)] = ref.name
            recordings.setdefault(ref.name, set()).add(recording)
    for name in list(EXPECTED)[:2]:  # per-recording sets hold their own recording only
        assert recordings[name] == {name.removesuffix("-001")}
    per_recording = recordings[list(EXPECTED)[0]] | recordings[list(EXPECTED)[1]]
    for name in ("class:ball-markup:our-001", "class:ball-markup:tagme-001-02"):
        assert len(recordings[name]) >= 2 and not recordings[name] & per_recording
    # the two player sets are labelled on different recordings
    ours, tagme = recordings["class:player-markup:our-001"], recordings["class:player-markup:tagme-001-01"]
    assert len(ours) >= 2 and len(tagme) >= 2 and not ours & tagme
    # larger plans keep the guarantee too
    plan = plan_frames(500, seed=3)
    pairs = [(f.recording, f.frame) for frames in plan.values() for f in frames]
    assert len(pairs) == len(set(pairs)) == 500 * len(SYNTH_DATASETS)


def test_later_draw_rounds_leave_earlier_plans_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    full = plan_frames(N, seed=3)
    first = tuple(d for d in SYNTH_DATASETS if d.draw_round == 0)
    assert 0 < len(first) < len(SYNTH_DATASETS)
    monkeypatch.setattr(synth_module, "SYNTH_DATASETS", first)
    assert plan_frames(N, seed=3) == {d.name: full[d.name] for d in first}


def test_ball_boxes_cover_bright_pixels(synth: tuple[LocalCatalog, list[DatasetRef]]) -> None:
    _, refs = synth
    checked = 0
    for ref in refs:
        if ref.names != ["ball"]:
            continue
        for stem, boxes in _labels(ref).items():
            if not boxes:
                continue
            gray = cv2.imread(str(ref.images_dir / f"{stem}.jpg"), cv2.IMREAD_GRAYSCALE)
            h, w = gray.shape
            _, cx, cy, bw, bh = boxes[0]
            assert 4 <= bw * w <= 15 and 4 <= bh * h <= 15  # a small ball (maybe cut by the border)
            x1, y1 = int(round((cx - bw / 2) * w)), int(round((cy - bh / 2) * h))
            x2, y2 = int(round((cx + bw / 2) * w)), int(round((cy + bh / 2) * h))
            patch = gray[y1:y2, x1:x2]
            assert patch.max() >= 160, (ref.name, stem)
            assert np.percentile(patch, 75) > np.median(gray) + 25, (ref.name, stem)
            checked += 1
    assert checked >= 4 * (N - 2)


def test_runs_are_deterministic(tmp_path: Path) -> None:
    a = synthesize(LocalCatalog(tmp_path / "a"), images_per_dataset=4, seed=7)
    b = synthesize(LocalCatalog(tmp_path / "b"), images_per_dataset=4, seed=7)
    c = synthesize(LocalCatalog(tmp_path / "c"), images_per_dataset=4, seed=8)
    assert [r.id for r in a] == [r.id for r in b] == [r.id for r in c]
    tree_a, tree_b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert tree_a == tree_b
    assert any(name.endswith(".jpg") for name in tree_a)
    tree_c = _tree(tmp_path / "c")
    assert tree_c.keys() != tree_a.keys()  # other frames are drawn
    assert [v for k, v in tree_c.items() if k.endswith(".jpg")] != [v for k, v in tree_a.items() if k.endswith(".jpg")]


def test_rerun_skips_unless_forced(tmp_path: Path) -> None:
    catalog = LocalCatalog(tmp_path / "catalog")
    calls: list[tuple[str, int, int]] = []
    refs = synthesize(catalog, images_per_dataset=3, progress=lambda *a: calls.append(a))
    assert calls.count((refs[0].name, 3, 3)) == 1 and (refs[0].name, 1, 3) in calls
    meta = refs[0].path / "dataset.json"
    image = refs[0].image_files()[0]
    before = (meta.stat().st_mtime_ns, image.stat().st_mtime_ns, refs[0].path.stat().st_ino)

    calls.clear()
    again = synthesize(catalog, images_per_dataset=3, progress=lambda *a: calls.append(a))
    assert [r.id for r in again] == [r.id for r in refs]
    assert (meta.stat().st_mtime_ns, image.stat().st_mtime_ns, refs[0].path.stat().st_ino) == before
    assert calls == [(d.name, 3, 3) for d in SYNTH_DATASETS]  # nothing rendered

    calls.clear()
    forced = synthesize(catalog, images_per_dataset=3, force=True, progress=lambda *a: calls.append(a))
    assert (forced[0].name, 1, 3) in calls  # rendered again
    assert forced[0].path.stat().st_ino != before[2]  # a new folder renamed into place
    assert sorted(p.name for p in catalog.root.iterdir()) == sorted(SYNTH_DATASET_IDS.values())

    # another count (or seed) is another dataset content: rebuilt without force
    more = synthesize(catalog, images_per_dataset=5)
    assert all(r.number_samples == 5 == len(r.image_files()) for r in more)


def test_failed_build_leaves_nothing_half_written(tmp_path: Path) -> None:
    catalog = LocalCatalog(tmp_path / "catalog")

    def boom(name: str, done: int, total: int) -> None:
        if name == SYNTH_DATASETS[1].name and done == 2:
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        synthesize(catalog, images_per_dataset=3, progress=boom)
    assert [r.name for r in catalog.list()] == [SYNTH_DATASETS[0].name]
    assert sorted(p.name for p in catalog.root.iterdir()) == [SYNTH_DATASETS[0].id]


def test_bad_arguments_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(BalldetError):
        synthesize(LocalCatalog(tmp_path), images_per_dataset=0)
    with pytest.raises(BalldetError):
        synthesize(LocalCatalog(tmp_path), image_size=(32, 32))
    with pytest.raises(BalldetError):
        synthesize(LocalCatalog(tmp_path), images_per_dataset=10**6)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_render_frame_boxes_and_sizes() -> None:
    look = make_look("20240416-Russian_Cup-CSKA_Moscow-vs-Baltika_Kaliningrad-01", "broadcast", 0)
    for frame in range(0, 4000, 500):
        image, ball, players = render_frame(np.random.default_rng(frame), 320, 192, look, frame=frame, ball=True)
        assert image.dtype == np.uint8 and image.shape == (192, 320, 3)
        assert ball is not None and 6 <= ball[2] - ball[0] <= 14 and 6 <= ball[3] - ball[1] <= 14
        assert 6 <= len(players) <= 14
        for x1, y1, x2, y2 in [ball, *players]:
            assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 192
        assert all(20 <= y2 - y1 <= 34 for _, y1, _, y2 in players if 0 < y1 and y2 < 192)
    image, ball, players = render_frame(np.random.default_rng(1), 320, 192, look, frame=10, ball=False)
    assert ball is None and players
    # same generator state and frame: same pixels; twice the size: twice the ball
    a = render_frame(np.random.default_rng(5), 320, 192, look, frame=123, ball=True)
    b = render_frame(np.random.default_rng(5), 320, 192, look, frame=123, ball=True)
    assert np.array_equal(a.image, b.image) and a.ball == b.ball and a.players == b.players
    big = render_frame(np.random.default_rng(5), 640, 384, look, frame=123, ball=True)
    assert big.image.shape == (384, 640, 3) and big.ball is not None and big.ball[2] - big.ball[0] >= 12


def test_recordings_look_different() -> None:
    frames = [
        render_frame(np.random.default_rng(0), 320, 192, make_look(rec, style, 0), frame=100, ball=False).image
        for rec, style in (("20240416-A-B-vs-C-01", "broadcast"), ("20240421-A-B-vs-D-01", "broadcast"),
                           ("20161023-A-B-vs-C-01", "public"))
    ]
    grass = [np.median(f[-60:].reshape(-1, 3), axis=0) for f in frames]
    assert np.abs(grass[0] - grass[1]).sum() > 3 and np.abs(grass[0] - grass[2]).sum() > 3
