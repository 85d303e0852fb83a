"""Wide synthetic frames (`balldet datasets synth --wide`): whole-pitch technical-camera frames at least
3840 pixels wide with a 4-12 px ball, as catalog datasets of their own; the plain ones unchanged."""

from __future__ import annotations

import hashlib
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
from balldet.synth.catalog import (
    GENERATOR,
    PlannedFrame,
    plan_frames,
    render_wide_planned,
    synthesize,
    synthesize_wide,
)
from balldet.synth.inventory import (
    SYNTH_DATASET_IDS,
    SYNTH_RECORDINGS,
    WIDE_DATASET_IDS,
    WIDE_DATASETS,
    WIDE_TEST_IDS,
    WIDE_VAL_IDS,
    WIDE_TRAIN_IDS,
    synth_dataset_id,
)
from balldet.synth.wide import BALL_PX, WIDE_SIZE, make_wide_camera, render_wide_frame

N = 3  # images per wide dataset here: each frame is 3840 wide
LABEL_LINE = re.compile(r"^0( [01]\.\d{6}){4}$")
# The ids the repository's configs name: the wide datasets must not move them.
PLAIN_IDS = {
    "20240416-Russian_Cup-CSKA_Moscow-vs-Baltika_Kaliningrad-01-001": "1.0.0",
    "20240421-Premier_League-CSKA_Moscow-vs-Spartak_Moscow-01-001": "1.0.0",
    "class:ball-markup:our-001": "1.0.0",
    "class:ball-markup:tagme-001-02": "1.0.2",
    "soccernet_ball_001": "1.0.2",
    "class:player-markup:our-001": "1.0.0",
    "class:player-markup:tagme-001-01": "1.0.0",
}


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalCatalog, list[DatasetRef]]:
    catalog = LocalCatalog(tmp_path_factory.mktemp("wide") / "catalog")
    return catalog, synthesize_wide(catalog, images_per_dataset=N)


def _ball_sides(ref: DatasetRef) -> dict[str, tuple[float, float] | None]:
    """Ball box (width, height) in pixels of each image, None where the frame is ball-free."""
    sides: dict[str, tuple[float, float] | None] = {}
    for image in ref.image_files():
        lines = ref.label_file(image).read_text().splitlines()
        assert len(lines) <= 1
        if not lines:
            sides[image.stem] = None
            continue
        assert LABEL_LINE.match(lines[0]), lines[0]
        _, _, _, w, h = (float(v) for v in lines[0].split())
        sides[image.stem] = (w * WIDE_SIZE[0], h * WIDE_SIZE[1])
    return sides


def test_wide_datasets_are_catalog_entries_with_fixed_ids(wide: tuple[LocalCatalog, list[DatasetRef]]) -> None:
    catalog, refs = wide
    assert [r.name for r in refs] == [d.name for d in WIDE_DATASETS] == list(WIDE_DATASET_IDS)
    for ref in refs:
        assert ref.id == WIDE_DATASET_IDS[ref.name] == synth_dataset_id(ref.name, ref.version)
        assert ref.names == ["ball"] and {"class:ball", "camera:wide"} <= set(ref.tags)
        assert ref.number_samples == len(ref.image_files()) == N
        assert json.loads((ref.path / "synth.json").read_text())["image_size"] == list(WIDE_SIZE)
    assert sorted(r.id for r in catalog.list()) == sorted(WIDE_DATASET_IDS.values())
    assert sorted(p.name for p in catalog.root.iterdir()) == sorted(WIDE_DATASET_IDS.values())
    assert len(WIDE_TRAIN_IDS) >= 2 and len(WIDE_TEST_IDS) >= 1 and len(WIDE_VAL_IDS) >= 1
    assert set(WIDE_TRAIN_IDS) | set(WIDE_VAL_IDS) | set(WIDE_TEST_IDS) == set(WIDE_DATASET_IDS.values())
    assert not set(WIDE_DATASET_IDS.values()) & set(SYNTH_DATASET_IDS.values())


def test_frames_are_wide_and_the_ball_small(wide: tuple[LocalCatalog, list[DatasetRef]]) -> None:
    _, refs = wide
    low, high = BALL_PX
    assert (low, high) == (4.0, 12.0) and WIDE_SIZE[0] >= 3840
    balls = 0
    for ref in refs:
        sides = _ball_sides(ref)
        assert any(s is None for s in sides.values()), ref.name  # ball-free frames: empty label files
        for stem, side in sides.items():
            image = cv2.imread(str(ref.images_dir / f"{stem}.jpg"))
            assert image.shape == (WIDE_SIZE[1], WIDE_SIZE[0], 3)
            if side is None:
                continue
            assert all(low - 0.01 <= s <= high + 0.01 for s in side), (ref.name, stem, side)
            balls += 1
    assert balls >= 3


def test_ball_boxes_hold_the_ball_at_every_distance() -> None:
    """Over many frames: boxes 4-12 px, near balls larger than far ones, the box brighter than the grass."""
    cam = make_wide_camera(WIDE_DATASETS[0].recordings[0], seed=0)
    sides, rows = [], []
    for frame in range(0, 60_000, 7_500):
        image, ball, players = render_wide_frame(np.random.default_rng(frame), cam, frame=frame, ball=True)
        assert image.shape == (WIDE_SIZE[1], WIDE_SIZE[0], 3) and image.dtype == np.uint8
        assert ball is not None and len(players) == 25  # 22 players, the referee and two assistants
        x1, y1, x2, y2 = ball
        assert 0 <= x1 and x2 <= WIDE_SIZE[0] and 0 <= y1 and y2 <= WIDE_SIZE[1]
        assert abs((x2 - x1) - (y2 - y1)) < 1e-6 and 4 - 1e-6 <= x2 - x1 <= 12 + 1e-6
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        patch = gray[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))]
        assert patch.max() > np.median(gray) + 40, frame
        assert all(20 <= b[3] - b[1] <= 60 for b in players)
        sides.append(x2 - x1)
        rows.append(y2)
    near = np.corrcoef(rows, sides)[0, 1]
    assert near > 0.5  # perspective: lower in the picture (nearer), larger
    image, ball, _ = render_wide_frame(np.random.default_rng(1), cam, frame=123, ball=False)
    assert ball is None


def test_frames_are_deterministic_from_the_seed(wide: tuple[LocalCatalog, list[DatasetRef]]) -> None:
    _, refs = wide
    image = refs[0].image_files()[0]
    recording, frame = DEFAULT_FRAME_IDENTITY(refs[0], image.stem)
    planned = PlannedFrame(recording, frame, bool(refs[0].label_file(image).read_text()))
    # a camera of its own: nothing cached from the catalog's run
    jpeg, label = render_wide_planned(planned, make_wide_camera(recording, 0), "ball", WIDE_SIZE, 0)
    assert jpeg == image.read_bytes() and label == refs[0].label_file(image).read_text()
    other, _ = render_wide_planned(planned, make_wide_camera(recording, 1), "ball", WIDE_SIZE, 1)
    assert other != jpeg


def test_frame_identity_keeps_recordings_apart(wide: tuple[LocalCatalog, list[DatasetRef]]) -> None:
    _, refs = wide
    recordings: dict[str, set[str]] = {}
    seen: set[tuple[str, int]] = set()
    for ref in refs:
        for image in ref.image_files():
            recording, frame = DEFAULT_FRAME_IDENTITY(ref, image.stem)
            assert (recording, frame) not in seen
            seen.add((recording, frame))
            recordings.setdefault(ref.name, set()).add(recording)
    train = set().union(*(recordings[d.name] for d in WIDE_DATASETS if d.id in WIDE_TRAIN_IDS))
    test = set().union(*(recordings[d.name] for d in WIDE_DATASETS if d.id in WIDE_TEST_IDS))
    assert len(train) >= 2 and test and not train & test
    assert not (train | test) & set(SYNTH_RECORDINGS)  # no frame of the plain datasets either


def test_plain_datasets_are_unchanged(tmp_path: Path) -> None:
    assert GENERATOR == "balldet-synth/2"
    assert SYNTH_DATASET_IDS == {name: synth_dataset_id(name, version) for name, version in PLAIN_IDS.items()}
    assert SYNTH_DATASET_IDS["class:ball-markup:our-001"] == hashlib.md5(
        b"balldet-synth:class:ball-markup:our-001:1.0.0").hexdigest()
    # their plan does not see the wide datasets
    plan = plan_frames(4, seed=0)
    assert list(plan) == list(PLAIN_IDS)
    catalog = LocalCatalog(tmp_path / "catalog")
    refs = synthesize(catalog, images_per_dataset=1)
    assert [r.id for r in refs] == list(SYNTH_DATASET_IDS.values())
    assert json.loads((refs[0].path / "synth.json").read_text()) == {
        "generator": "balldet-synth/2", "seed": 0, "image_size": [320, 192], "images_per_dataset": 1}
    assert sorted(r.id for r in catalog.list()) == sorted(SYNTH_DATASET_IDS.values())


def test_bad_wide_arguments_are_user_errors(tmp_path: Path) -> None:
    for kwargs in ({"images_per_dataset": 0}, {"image_size": (1920, 1080)}, {"image_size": (3840, 3840)},
                   {"image_size": (3840, 0)}):
        with pytest.raises(BalldetError) as caught:
            synthesize_wide(LocalCatalog(tmp_path), **kwargs)
        assert caught.value.fix
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_cli_synth_wide(workspace) -> None:
    result = workspace.cli("datasets", "synth", "--wide", "--images", "1")
    assert result.returncode == 0, result.stderr
    for name, dataset_id in WIDE_DATASET_IDS.items():
        assert f"{dataset_id}  {name}" in result.stdout
        assert len(list((workspace.catalog / dataset_id / "images").glob("*.jpg"))) == 1
    assert sorted(p.name for p in workspace.catalog.iterdir()) == sorted(WIDE_DATASET_IDS.values())
    listed = workspace.cli("datasets", "list", COLUMNS="250")
    assert listed.returncode == 0 and "camera:wide" in listed.stdout
    again = workspace.cli("datasets", "synth", "--wide", "--images", "0")
    assert again.returncode == 2


def test_the_checks_find_no_duplicates_in_a_fixed_camera_recording(wide: tuple[LocalCatalog, list[DatasetRef]]) -> None:
    """Every frame of a whole-pitch camera looks alike at thumbnail scale (players of a few dozen
    pixels move between them): frame identity explains it, so inside a dataset, and across the
    training datasets, nothing is a duplicate; across train and test (other recordings) nothing leaks."""
    from balldet.checks.leakage import find_leakage

    _, refs = wide
    by_id = {ref.id: ref for ref in refs}
    train = [by_id[i] for i in WIDE_TRAIN_IDS]
    test = [by_id[i] for i in WIDE_TEST_IDS]
    assert find_leakage({"datasets": [train[0]]}) == []
    assert find_leakage({"train/val": train, "test": test}) == []
