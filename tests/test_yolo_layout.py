"""The YOLO training layout: folder links for whole datasets, per-frame links otherwise, and both
trainers' own dataset readers find exactly the chosen frames and keep their caches in the layout."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from conftest import layout_frames

from balldet.backends.yolo_layout import YoloLayoutConverter, build_yolo_layout
from balldet.config import PipelineConfig
from balldet.datasets.catalog import LocalCatalog
from balldet.datasets.prepared import FrameRef, PreparedData
from balldet.synth.inventory import synth_dataset_id
from balldet.stages.convert_data import convert_data
from test_e2e_cli import tree_digest

TRAIN = synth_dataset_id("class:ball-markup:tagme-001-02", "1.0.2")
OTHER = synth_dataset_id("class:ball-markup:our-001", "1.0.0")
VAL = synth_dataset_id("soccernet_ball_001", "1.0.2")


def prepared(catalog: LocalCatalog, **changes) -> PreparedData:
    train = [catalog.get(TRAIN), catalog.get(OTHER)]
    return PreparedData(train=train, val=[catalog.get(VAL)], test=[], class_names=train[0].names, **changes)


def data_yaml(converted) -> dict:
    return yaml.safe_load(converted.data_file.read_text())


def test_whole_datasets_are_one_folder_link_each(catalog, tmp_path):
    data = prepared(catalog)
    converted = build_yolo_layout(data, tmp_path / "layout", "ultralytics")
    assert (data_yaml(converted)["train"], data_yaml(converted)["val"]) == ("train/images", "val/images")
    for split, refs in (("train", data.train), ("val", data.val)):
        for ref in refs:
            images, labels = converted.root / split / "images" / ref.id[:8], converted.root / split / "labels" / ref.id[:8]
            assert images.is_symlink() and images.resolve() == ref.images_dir.resolve()
            assert labels.is_symlink() and labels.resolve() == ref.labels_dir.resolve()
    assert layout_frames(converted.root, "train") == {
        f"train/images/{ref.id[:8]}/{p.name}" for ref in data.train for p in ref.image_files()
    }
    assert converted.train_images == sum(len(r.image_files()) for r in data.train)
    assert converted.val_images == len(data.val[0].image_files())


def test_left_out_frames_are_left_out_of_a_frame_list(catalog, tmp_path):
    train, other = catalog.get(TRAIN), catalog.get(OTHER)
    names = [p.name for p in train.image_files()]
    data = prepared(catalog, dropped_frames=[FrameRef(dataset_id=TRAIN, file=names[0])])
    converted = build_yolo_layout(data, tmp_path / "layout", "ultralytics")
    assert data_yaml(converted)["train"] == "train/frames.txt"
    assert layout_frames(converted.root, "train") == {
        *(f"train/images/{TRAIN[:8]}/{n}" for n in names[1:]),
        *(f"train/images/{OTHER[:8]}/{p.name}" for p in other.image_files()),
    }
    assert converted.train_images == len(names) - 1 + len(other.image_files())
    # still no link per frame: the folder links are listed through
    assert (converted.root / "train" / "images" / TRAIN[:8]).is_symlink()
    assert data_yaml(converted)["val"] == "val/images"


def test_a_validation_split_from_training_data_is_disjoint(catalog, tmp_path):
    train = catalog.get(TRAIN)
    held = [p.name for p in train.image_files()[:3]]
    data = PreparedData(
        train=[train], test=[], class_names=train.names,
        val_frames=[FrameRef(dataset_id=TRAIN, file=n) for n in held],
    )
    converted = build_yolo_layout(data, tmp_path / "layout", "yolov5")
    in_train, in_val = layout_frames(converted.root, "train"), layout_frames(converted.root, "val")
    assert in_val == {f"val/images/{TRAIN[:8]}/{n}" for n in held}
    assert in_train == {f"train/images/{TRAIN[:8]}/{p.name}" for p in train.image_files()[3:]}
    assert (converted.train_images, converted.val_images) == (len(in_train), 3)


@pytest.mark.parametrize("stray", ["notes.txt", "extra/frame.jpg", "clip.dng"])
def test_anything_else_in_an_images_folder_is_left_out_by_a_frame_list(catalog, tmp_path, stray):
    train = catalog.get(TRAIN)
    (train.images_dir / stray).parent.mkdir(exist_ok=True)
    (train.images_dir / stray).write_bytes(b"not a frame")
    converted = build_yolo_layout(prepared(catalog), tmp_path / "layout", "ultralytics")
    assert data_yaml(converted)["train"] == "train/frames.txt"
    listed = {Path(p).name for p in layout_frames(converted.root, "train") if f"/{TRAIN[:8]}/" in p}
    assert listed == {p.name for p in train.image_files()}


def test_disk_caching_of_images_gets_per_frame_links_and_its_own_layout(catalog, tmp_path):
    def config(**train_config):
        return PipelineConfig.model_validate({
            "tags": ["t"], "model_type": "ultralytics", "train_data": {"datasets": [TRAIN, OTHER]},
            "val_data": {"datasets": [VAL]}, "test_data": {"datasets": [VAL]}, "train_config": train_config,
        })

    data = prepared(catalog)
    plain = convert_data(config(), data, tmp_path / "layouts")
    on_disk = convert_data(config(cache="disk"), data, tmp_path / "layouts")
    assert on_disk.root != plain.root
    assert convert_data(config(cache="ram"), data, tmp_path / "layouts").root == plain.root
    assert layout_frames(on_disk.root, "train") == layout_frames(plain.root, "train")
    for ref in data.train:
        folder = on_disk.root / "train" / "images" / ref.id[:8]
        assert folder.is_dir() and not folder.is_symlink()
        assert all(p.is_symlink() and p.resolve().parent == ref.images_dir.resolve() for p in folder.iterdir())
    assert YoloLayoutConverter.layout_options({"cache": "disk"}) == {"folder_links": False}


def left_out(catalog) -> PreparedData:
    """A frame dropped from one training dataset: the training split is read from a frame list."""
    return prepared(catalog, dropped_frames=[FrameRef(dataset_id=OTHER, file=catalog.get(OTHER).image_files()[0].name)])


def test_ultralytics_reads_the_layout_and_caches_labels_inside_it(catalog, tmp_path):
    from balldet.backends.ultralytics.env import configure_ultralytics

    configure_ultralytics(tmp_path / "cache", allow_downloads=False)  # offline, as in a run
    from ultralytics.data.dataset import YOLODataset

    before = tree_digest(catalog.root)
    converted = build_yolo_layout(left_out(catalog), tmp_path / "layout", "ultralytics")
    for split in ("train", "val"):
        dataset = YOLODataset(
            img_path=str(converted.root / data_yaml(converted)[split]),
            data={"names": {0: "ball"}, "nc": 1, "channels": 3}, imgsz=160, augment=False,
        )
        assert {str(Path(f).relative_to(converted.root)) for f in dataset.im_files} == layout_frames(converted.root, split)
        assert sum(1 for label in dataset.labels if len(label["cls"])) > 0  # labels found through the links
    assert sorted(p.name for p in (converted.root / "train" / "labels").glob("*.cache")) == [f"{TRAIN[:8]}.cache"]
    assert tree_digest(catalog.root) == before


def test_yolov5_reads_the_layout_and_caches_labels_inside_it(catalog, tmp_path):
    from balldet.backends.yolov5.compat import import_yolov5, yolov5_call

    import_yolov5(tmp_path / "cache", allow_downloads=False)
    before = tree_digest(catalog.root)
    converted = build_yolo_layout(left_out(catalog), tmp_path / "layout", "yolov5")
    for split in ("train", "val"):
        with yolov5_call():
            loader = sys.modules["yolov5.utils.dataloaders"].LoadImagesAndLabels
            dataset = loader(str(converted.root / data_yaml(converted)[split]), img_size=160, augment=False)
        assert {str(Path(f).relative_to(converted.root)) for f in dataset.im_files} == layout_frames(converted.root, split)
        assert sum(len(label) for label in dataset.labels) > 0
    assert (converted.root / "train" / "frames.cache").is_file()  # beside the frame list
    assert list((converted.root / "val" / "labels").glob("*.cache"))
    assert tree_digest(catalog.root) == before
