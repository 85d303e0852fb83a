"""prepare_data and convert_data: checks with their policies, grouped validation splits, cached layouts."""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import image_opens, layout_frames

from balldet.config import PipelineConfig
from balldet.datasets.resolver import DatasetResolver
from balldet.datasets.frames import DEFAULT_FRAME_IDENTITY as frame_identity
from balldet.datasets.splits import split_by_recording
from balldet.synth.inventory import synth_dataset_id
from balldet.errors import DatasetError
from balldet.stages.convert_data import convert_data
from balldet.stages.prepare_data import prepare_data

TRAIN = synth_dataset_id("class:ball-markup:tagme-001-02", "1.0.2")
TEST = synth_dataset_id("soccernet_ball_001", "1.0.2")
OTHER = synth_dataset_id("class:ball-markup:our-001", "1.0.0")


def config(train, test, **changes) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {"tags": ["ball"], "model_type": "ultralytics", "train_data": {"datasets": train},
         "test_data": {"datasets": test}, **changes}
    )


def resolver(catalog):
    return DatasetResolver(catalog)


def test_clean_data_passes_and_the_report_is_written(catalog, tmp_path):
    report = tmp_path / "check.json"
    data = prepare_data(config([TRAIN], [TEST]), resolver(catalog), report_file=report)
    assert data.check_counts == {} and data.dropped_frames == []
    assert '"ok": true' in report.read_text()


def test_declared_overlap_runs_and_is_marked(catalog, tmp_path):
    """The team's own example trains and tests on the same datasets (beside a held-out one): the
    config's choice, not leakage. The overlapping test datasets are marked seen in training."""
    report = tmp_path / "check.json"
    data = prepare_data(config([TRAIN], [TRAIN, TEST]), resolver(catalog), report_file=report)
    assert [r.id for r in data.test] == [TRAIN, TEST]
    assert data.seen_in_training == [TRAIN]
    assert '"ok": true' in report.read_text()


def _plant_hidden_overlap(catalog) -> str:
    """A test frame copied into the training data under another name; returns the copy's name."""
    train, test = catalog.get(TRAIN), catalog.get(TEST)
    image = test.image_files()[0]
    shutil.copy(image, train.images_dir / "renamed_000001.jpg")
    shutil.copy(test.label_file(image), train.labels_dir / "renamed_000001.txt")
    return "renamed_000001.jpg"


def test_leakage_can_be_allowed_explicitly(catalog):
    _plant_hidden_overlap(catalog)
    data = prepare_data(config([TRAIN], [TEST], data_checks={"allow_leakage": True}), resolver(catalog))
    assert data.check_counts == {"identical_image": 1}  # still reported


def test_every_problem_is_reported_at_once(catalog, tmp_path):
    """Hidden leakage, a label defect and a duplicate inside the training data: one failure lists all."""
    copy = _plant_hidden_overlap(catalog)
    train = catalog.get(TRAIN)
    broken = train.image_files()[3]
    train.label_file(broken).write_text("0 0.5 0.5 0.1\n")
    shutil.copy(train.image_files()[5], train.images_dir / "again_000009.jpg")
    shutil.copy(train.label_file(train.image_files()[5]), train.labels_dir / "again_000009.txt")
    report = tmp_path / "check.json"
    with pytest.raises(DatasetError) as info:
        prepare_data(config([TRAIN], [TEST]), resolver(catalog), report_file=report)
    message = str(info.value)
    assert "leak" in message and copy in message and "allow_leakage" in message
    assert broken.stem in message and "label_parse" in message and "label_defects: drop" in message
    assert "duplicate_image" in message and "again_000009.jpg" in message
    assert report.is_file()  # written before the failure, for the run's record

    # Dropped as configured: the broken frame and the later copy; the validation split then never
    # holds a picture whose copy is trained on.
    data = prepare_data(config([TRAIN], [TEST], data_checks={"label_defects": "drop", "allow_leakage": True}),
                        resolver(catalog))
    assert {f.file for f in data.dropped_frames} == {broken.name, "again_000009.jpg"}
    val = {f.file for f in data.val_frames}
    assert "again_000009.jpg" not in val and broken.name not in val
    assert any(note.startswith("validation:") for note in data.notes)


def test_held_out_validation_frames_are_said(catalog):
    data = prepare_data(config([TRAIN, OTHER], [TEST]), resolver(catalog))
    (note,) = [n for n in data.notes if n.startswith("validation:")]
    assert f"{len(data.val_frames)} of" in note and "frames)" in note and "whole recordings" in note


def test_mixed_extension_spellings_are_a_warning_only(catalog):
    train = catalog.get(TRAIN)
    image = train.image_files()[2]
    image.rename(image.with_suffix(".JPG"))
    data = prepare_data(config([TRAIN], [TEST]), resolver(catalog))
    assert data.dropped_frames == []
    assert any("warning:" in note and ".JPG" in note for note in data.notes)


def test_renamed_copy_of_a_test_frame_in_training_is_leakage(catalog):
    _plant_hidden_overlap(catalog)
    with pytest.raises(DatasetError, match="identical_image"):
        prepare_data(config([TRAIN], [TEST]), resolver(catalog))


def test_label_defects_fail_or_are_dropped_as_configured(catalog, tmp_path):
    train = catalog.get(TRAIN)
    broken_image = train.image_files()[3]
    train.label_file(broken_image).write_text("0 0.5 0.5 0.1\n")  # four columns
    with pytest.raises(DatasetError) as info:
        prepare_data(config([TRAIN], [TEST]), resolver(catalog))
    assert broken_image.stem in str(info.value) and "label_defects: drop" in str(info.value)

    data = prepare_data(config([TRAIN], [TEST], data_checks={"label_defects": "drop"}), resolver(catalog))
    assert [(f.dataset_id, f.file) for f in data.dropped_frames] == [(TRAIN, broken_image.name)]
    assert data.check_counts == {"label_parse": 1}
    converted = convert_data(config([TRAIN], [TEST]), data, tmp_path / "layouts")
    linked = {Path(p).name for split in ("train", "val") for p in layout_frames(converted.root, split)}
    assert broken_image.name not in linked and train.image_files()[4].name in linked
    assert converted.train_images + converted.val_images == len(train.image_files()) - 1


def test_validation_split_keeps_recordings_together_and_is_reproducible(catalog):
    refs = [catalog.get(TRAIN), catalog.get(OTHER)]
    held = split_by_recording(refs, 0.3, seed=7)
    assert held == split_by_recording(refs, 0.3, seed=7)
    by_id = {r.id: r for r in refs}
    held_recordings = {frame_identity(by_id[f.dataset_id], f.file.rsplit(".", 1)[0])[0] for f in held}
    for ref in refs:
        for image in ref.image_files():
            recording, _ = frame_identity(ref, image.stem)
            in_val = any(f.dataset_id == ref.id and f.file == image.name for f in held)
            assert in_val == (recording in held_recordings), "a recording is split across train and val"
    assert 0 < len(held) < sum(len(r.image_files()) for r in refs)


def test_second_conversion_reuses_the_layout(catalog, tmp_path):
    cfg = config([TRAIN], [TEST])
    data = prepare_data(cfg, resolver(catalog))
    first = convert_data(cfg, data, tmp_path / "layouts")
    marker_time = (first.root / "converted.json").stat().st_mtime_ns
    started = time.perf_counter()
    second = convert_data(cfg, data, tmp_path / "layouts")
    assert time.perf_counter() - started < 1.0
    assert second == first and (first.root / "converted.json").stat().st_mtime_ns == marker_time
    # Other validation frames make another layout.
    other = convert_data(cfg, data.model_copy(update={"val_frames": data.val_frames[:1]}), tmp_path / "layouts")
    assert other.root != first.root
    # Images are links to the source, never copies.
    linked = first.root / sorted(layout_frames(first.root, "train"))[0]
    assert linked.resolve().parent == catalog.get(TRAIN).images_dir.resolve()
    assert (first.root / "train" / "images" / TRAIN[:8]).is_symlink()


def test_checks_are_remembered_until_the_dataset_changes(catalog, tmp_path):
    cfg = config([TRAIN], [TEST], data_checks={"label_defects": "drop"})
    assert prepare_data(cfg, resolver(catalog), cache_dir=tmp_path / "cache").dropped_frames == []
    train = catalog.get(TRAIN)
    image = train.image_files()[0]
    new_label = train.labels_dir / f"{image.stem}.txt"
    new_label.unlink()  # removing a file changes the folder: the check runs again
    data = prepare_data(cfg, resolver(catalog), cache_dir=tmp_path / "cache")
    assert data.check_counts.get("image_without_label") == 1


def test_files_linking_outside_the_dataset_are_refused(catalog, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("0 0.5 0.5 0.1 0.1\n")
    train = catalog.get(TRAIN)
    image = train.image_files()[0]
    train.label_file(image).unlink()
    train.label_file(image).symlink_to(outside)
    with pytest.raises(DatasetError, match="path_outside_dataset"):
        prepare_data(config([TRAIN], [TEST]), resolver(catalog))


def test_long_checks_report_their_progress(catalog, tmp_path):
    heard = []
    prepare_data(config([TRAIN], [TEST]), resolver(catalog), cache_dir=tmp_path / "cache",
                 progress=lambda stage, done, total: heard.append((stage, done, total)))
    stages = {stage for stage, _, _ in heard}
    train, test = catalog.get(TRAIN), catalog.get(TEST)
    assert {f"{train.label}: labels", f"{train.label}: images", f"{test.label}: labels",
            f"{test.label}: images"} <= stages
    for ref in (train, test):  # the last call says it is complete
        images = len(ref.image_files())
        assert (f"{ref.label}: images", images, images) in heard
    # each image was read once, by the defect check: the leakage check reads none
    assert "leakage: image hashes" not in stages
    heard.clear()
    prepare_data(config([TRAIN], [TEST]), resolver(catalog), cache_dir=tmp_path / "cache",
                 progress=lambda stage, done, total: heard.append((stage, done, total)))
    assert heard == []  # everything remembered: nothing long to report

    # without the image headers checked, the leakage check reads the images
    heard.clear()
    prepare_data(config([TRAIN], [TEST], data_checks={"images": False}), resolver(catalog),
                 cache_dir=tmp_path / "other-cache",
                 progress=lambda stage, done, total: heard.append((stage, done, total)))
    images = len(train.image_files()) + len(test.image_files())
    assert ("leakage: image hashes", images, images) in heard
    assert f"{train.label}: images" not in {stage for stage, _, _ in heard}


def test_throttled_progress_speaks_of_long_stages_now_and_then_and_at_their_end():
    from balldet.pipeline.progress import throttled_progress

    clock = [100.0]
    lines = []
    progress = throttled_progress(lines.append, every_s=5.0, clock=lambda: clock[0])
    for done in range(1, 14):
        progress("hashes", done, 13)
        clock[0] += 1.0
    assert lines == ["hashes: 6/13", "hashes: 11/13", "hashes: 13/13"]
    lines.clear()
    for done in range(1, 5):  # done within 5 s: nothing to say
        progress("labels", done, 4)
        clock[0] += 1.0
    assert lines == []


def test_a_first_check_and_the_run_record_read_each_image_once(catalog, tmp_path, monkeypatch):
    from balldet.tracking.run_record import datasets_section

    train, test = catalog.get(TRAIN), catalog.get(TEST)
    images = [*train.image_files(), *test.image_files()]
    cache = tmp_path / "cache"

    def first_run() -> None:
        data = prepare_data(config([TRAIN], [TEST]), resolver(catalog), cache_dir=cache)
        # the run record's content hashes, as a run writes them after its stages
        assert all(len(entry["content_hash"]) == 64 for entry in datasets_section(data, cache))

    opens, decoded = image_opens(first_run, images, monkeypatch)
    # header check, size, digest, perceptual hash and content hash: one open of each image
    assert opens == Counter({os.path.realpath(p): 1 for p in images})
    assert decoded == []  # no near-duplicate candidate here: no thumbnail decoded
    opens, decoded = image_opens(first_run, images, monkeypatch)
    assert opens == Counter() and decoded == []  # remembered: no image opened at all
