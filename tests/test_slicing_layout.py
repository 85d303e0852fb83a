"""The tiled training layout (convert_data with a `slicing` section), on frames balldet did not make:
tiles are checked against what ultralytics' own dataset reader and image reader see of the source."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from balldet.boxes import yolo_to_xyxy
from balldet.cache import Shelf
from balldet.config import PipelineConfig, SlicingSection
from balldet.datasets.folders import open_dataset
from balldet.datasets.prepared import FrameRef, PreparedData
from balldet.errors import ConfigError
from balldet.slicing.layout import build_tiled_layout, plan_tiles
from balldet.slicing.tiles import parse_tile_name
from balldet.stages.convert_data import convert_data
from foreign_data import phone_frames

TILE = 96  # the corpus' frames are 120-320 px: several tiles each


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def phone(tmp_path_factory):
    corpus = phone_frames(tmp_path_factory.mktemp("phone"))
    return corpus, open_dataset(corpus.root)


def ultralytics_pixels(path: Path) -> np.ndarray:
    """The frame as ultralytics' loaders read it (its own imread: EXIF applied, BGR, three channels)."""
    from ultralytics.utils.patches import imread

    return imread(str(path))


def frame_boxes(ref, name: str) -> np.ndarray:
    """The frame's label boxes in pixels of the frame as displayed (CRLF, trailing spaces and all)."""
    from balldet.datasets.yolo import image_size, read_labels

    width, height = image_size(ref.images_dir / name)
    rows = read_labels(ref.labels_dir / f"{Path(name).stem}.txt")
    return np.column_stack([rows[:, 0], yolo_to_xyxy(rows[:, 1:5], width, height)])


def test_tiles_are_the_frames_pixels_and_labels_as_the_trainer_reads_them(phone, tmp_path):
    corpus, ref = phone
    before = tree_digest(corpus.root)
    held = ref.image_names()[:2]
    data = PreparedData(train=[ref], test=[ref], class_names=["ball"],
                        val_frames=[FrameRef(dataset_id=ref.id, file=n) for n in held])
    slicing = SlicingSection(tile=TILE, overlap=0.25, empty_tiles=0.5)
    converted = build_tiled_layout(data, tmp_path / "layout", "ultralytics", slicing=slicing, seed=0,
                                   shelf=Shelf(tmp_path / "shelf"))
    assert converted.tile == TILE
    tiles = sorted((tmp_path / "shelf").glob("tiles-*/images/*.png"))
    assert len(tiles) == converted.train_images + converted.val_images
    frames = {Path(n).stem: n for n in ref.image_names()}
    objects_seen: set[tuple[str, int]] = set()
    for tile in tiles:
        stem, x0, y0 = parse_tile_name(tile.stem)
        source = ref.images_dir / frames[stem]
        expected = ultralytics_pixels(source)
        got = ultralytics_pixels(tile)
        assert np.array_equal(got, expected[y0:y0 + got.shape[0], x0:x0 + got.shape[1]]), tile.name
        # every box of the tile is a box of the frame, moved by the tile's corner (clipped at its edge)
        rows = np.loadtxt(tile.parent.parent / "labels" / f"{tile.stem}.txt", ndmin=2).reshape(-1, 5)
        h, w = got.shape[:2]
        boxes = frame_boxes(ref, frames[stem])
        for cls, *xyxy in np.column_stack([rows[:, 0], yolo_to_xyxy(rows[:, 1:5], w, h)]):
            in_frame = np.array(xyxy) + [x0, y0, x0, y0]
            clipped = np.column_stack([np.clip(boxes[:, [1, 3]], x0, x0 + w), np.clip(boxes[:, [2, 4]], y0, y0 + h)])
            match = np.flatnonzero(np.abs(clipped[:, [0, 2, 1, 3]] - in_frame).max(axis=1) < 1e-3 * TILE)
            assert len(match) and boxes[match[0], 0] == cls, (tile.name, xyxy)
            objects_seen.add((stem, int(match[0])))
    # with tiles overlapping by more than the largest ball, every ball lies whole in some tile
    for stem, name in frames.items():
        for index, box in enumerate(frame_boxes(ref, name)):
            if max(box[3] - box[1], box[4] - box[2]) < slicing.overlap * TILE:
                assert (stem, index) in objects_seen, (name, box)
    # the held-out frames' tiles are the validation split, and only they
    layout = converted.root
    val_frames = {parse_tile_name(Path(line).stem)[0] for line in (layout / "val" / "frames.txt").read_text().split()}
    train_listed = layout / "train" / "frames.txt"
    train_frames = {parse_tile_name(Path(line).stem)[0] for line in train_listed.read_text().split()}
    assert val_frames <= {Path(n).stem for n in held} and not val_frames & train_frames
    assert tree_digest(corpus.root) == before  # the source dataset is only read


def test_ultralytics_reads_the_tiled_layout(phone, tmp_path):
    from balldet.backends.ultralytics.env import configure_ultralytics

    configure_ultralytics(tmp_path / "cache", allow_downloads=False)
    from ultralytics.data.dataset import YOLODataset

    _, ref = phone
    data = PreparedData(train=[ref], val=[ref], test=[ref], class_names=["ball"])
    converted = build_tiled_layout(data, tmp_path / "layout", "ultralytics", slicing=SlicingSection(tile=TILE),
                                   seed=0, shelf=Shelf(tmp_path / "shelf"))
    dataset = YOLODataset(img_path=str(converted.root / "train" / "images"), data={"names": {0: "ball"}, "nc": 1,
                          "channels": 3}, imgsz=TILE, augment=False)
    assert len(dataset.im_files) == converted.train_images
    labelled = [label for label in dataset.labels if len(label["cls"])]
    assert labelled and all(label["shape"][0] <= TILE and label["shape"][1] <= TILE for label in dataset.labels)


def test_empty_tiles_are_drawn_as_configured_and_seeded(phone):
    _, ref = phone
    with_objects = [t for t in plan_tiles(ref, SlicingSection(tile=TILE, empty_tiles=0), seed=0, exclude=set())]
    assert with_objects and all(len(t.rows) for t in with_objects)
    every_empty = [t for t in plan_tiles(ref, SlicingSection(tile=TILE, empty_tiles=100), seed=0, exclude=set())
                   if not len(t.rows)]
    for fraction in (0.25, 0.5, 1.0):
        plan = plan_tiles(ref, SlicingSection(tile=TILE, empty_tiles=fraction), seed=0, exclude=set())
        empty = [t for t in plan if not len(t.rows)]
        assert len(empty) == min(round(fraction * len(with_objects)), len(every_empty))
        again = plan_tiles(ref, SlicingSection(tile=TILE, empty_tiles=fraction), seed=0, exclude=set())
        assert [(t.frame, t.rect) for t in again] == [(t.frame, t.rect) for t in plan]
    other_seed = plan_tiles(ref, SlicingSection(tile=TILE, empty_tiles=0.5), seed=1, exclude=set())
    assert [(t.frame, t.rect) for t in other_seed] != [(t.frame, t.rect) for t in plan_tiles(
        ref, SlicingSection(tile=TILE, empty_tiles=0.5), seed=0, exclude=set())]


def test_tiles_are_cut_once_per_dataset_version(phone, tmp_path):
    _, ref = phone
    data = PreparedData(train=[ref], val=[ref], test=[ref], class_names=["ball"])
    config = PipelineConfig.model_validate({
        "tags": ["ball"], "model_type": "ultralytics", "train_data": {"datasets": [ref.id]},
        "val_data": {"datasets": [ref.id]}, "test_data": {"datasets": [ref.id]}, "slicing": {"tile": TILE},
    })
    first = convert_data(config, data, tmp_path / "layouts")
    entries = sorted((tmp_path / "layouts").glob("tiles-*"))
    stamps = {p: p.stat().st_mtime_ns for p in entries[0].rglob("*.png")}
    again = convert_data(config, data, tmp_path / "layouts")
    assert again == first and {p: p.stat().st_mtime_ns for p in entries[0].rglob("*.png")} == stamps
    # another seed draws other ball-free tiles: a layout and tiles of their own, the first kept
    reseeded = convert_data(config.model_copy(update={"seed": 1}), data, tmp_path / "layouts")
    assert reseeded.root != first.root and len(sorted((tmp_path / "layouts").glob("tiles-*"))) == 2
    assert first.root.is_dir()


def test_a_tile_larger_than_every_frame_is_refused_before_any_tile_is_cut(phone, tmp_path):
    _, ref = phone
    data = PreparedData(train=[ref], test=[ref], class_names=["ball"])
    with pytest.raises(ConfigError) as exc:
        build_tiled_layout(data, tmp_path / "layout", "ultralytics", slicing=SlicingSection(tile=320), seed=0,
                           shelf=Shelf(tmp_path / "shelf"))
    (problem,) = exc.value.problems
    assert problem[0] == "slicing.tile" and ref.label in problem[1] and "320x200" in problem[1]
    assert exc.value.exit_code == 2
    assert not (tmp_path / "shelf").exists() and not (tmp_path / "layout").exists()
