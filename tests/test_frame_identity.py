"""Frame identity from the dataset name and the file name: default patterns, a setting or config to
change them, and their use by the leakage check, validation splits, prepare_data and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from balldet.config import PipelineConfig
from balldet.datasets.catalog import LocalCatalog
from balldet.checks.leakage import find_leakage
from balldet.datasets.dataset import DatasetRef
from balldet.datasets.frames import DEFAULT_FRAME_IDENTITY, FrameIdentity
from balldet.frame_patterns import DEFAULT_FRAME_PATTERNS
from balldet.datasets.resolver import DatasetResolver
from balldet.datasets.splits import split_by_recording
from balldet.synth.inventory import R_CSKA_BALTIKA
from balldet.errors import ConfigError, DatasetError
from balldet.stages.get_config import LoadedConfig
from balldet.stages.prepare_data import prepare_data
from balldet.stages.process_config import process_config

PER_VIDEO = f"{R_CSKA_BALTIKA}-001"  # a synthetic per-video dataset: YYYYMMDD-League-Home-vs-Guest-NN-NNN
MARKUP = "class:ball-markup:our-001"
CUSTOM = [r"^.*/(?P<recording>.+)-f(?P<frame>\d+)$"]


def _ref(name: str, **changes) -> DatasetRef:
    return DatasetRef(id="a" * 32, name=name, version="1", names=["ball"], number_samples=0, path=Path("/x"),
                      **changes)


@pytest.mark.parametrize(("dataset", "stem", "expected"), [
    # per-video datasets may name files by frame number alone: the recording is the dataset's
    (PER_VIDEO, "000123", (R_CSKA_BALTIKA, 123)),
    (PER_VIDEO, "frame_000123", (R_CSKA_BALTIKA, 123)),
    (f"{R_CSKA_BALTIKA}-017", "42", (R_CSKA_BALTIKA, 42)),
    # files named <recording>_<frame> say their recording in any dataset
    (PER_VIDEO, f"{R_CSKA_BALTIKA}_000123", (R_CSKA_BALTIKA, 123)),
    (MARKUP, f"{R_CSKA_BALTIKA}_000123", (R_CSKA_BALTIKA, 123)),
    ("soccernet_ball_001", "match7_0042", ("match7", 42)),
    # a bare number outside a per-video dataset says nothing of the recording
    (MARKUP, "000123", ("dataset:" + "a" * 32, None)),
    (MARKUP, "cover", ("dataset:" + "a" * 32, None)),
])
def test_default_patterns(dataset, stem, expected):
    assert DEFAULT_FRAME_IDENTITY(_ref(dataset), stem) == expected


def test_a_pattern_without_a_recording_group_takes_the_dataset_name():
    frames = FrameIdentity([r"^.*/img(?P<frame>\d+)$"])
    assert frames(_ref("match-3"), "img0007") == ("match-3", 7)
    assert frames(_ref("match-3"), "0007")[1] is None


def test_unusable_patterns_are_all_named():
    with pytest.raises(ValueError) as info:
        FrameIdentity(["(unclosed", r"^(?P<recording>.+)$", r"^.*/(?P<frame>\d+)$"])
    message = str(info.value)
    assert "pattern 1 '(unclosed' is not a regular expression" in message
    assert "pattern 2" in message and "(?P<frame>" in message and "pattern 3" not in message
    with pytest.raises(ValueError, match="at least one"):
        FrameIdentity([])
    for monster in ("(" * 5000 + ")" * 5000, r"(?P<frame>\d{99999999999999999999})"):
        with pytest.raises(ValueError, match="not a regular expression"):
            FrameIdentity([monster])


def _copy(ref: DatasetRef, dest: Path, *, name: str | None = None, dataset_id: str | None = None,
          rename=None) -> DatasetRef:
    shutil.copytree(ref.path, dest)
    copy = ref.model_copy(update={"path": dest, "name": name or ref.name, "id": dataset_id or ref.id})
    if rename is not None:
        for image in copy.image_files():
            new_stem = rename(image.stem)
            copy.label_file(image).rename(copy.labels_dir / f"{new_stem}.txt")
            image.rename(image.with_name(new_stem + image.suffix))
    return copy


def _by_name(catalog: LocalCatalog, name: str) -> DatasetRef:
    (ref,) = [r for r in catalog.list() if r.name == name]
    return ref


def _frame_number(stem: str) -> str:
    return stem.rpartition("_")[2]


def test_same_frame_of_a_per_video_dataset_named_by_frame_numbers(tiny_catalog, tmp_path):
    catalog = LocalCatalog(tiny_catalog)
    video = _copy(_by_name(catalog, PER_VIDEO), tmp_path / "video", rename=_frame_number)
    markup = _copy(_by_name(catalog, MARKUP), tmp_path / "markup")
    shared = video.image_files()[2]
    # another picture, filed in the markup set as that frame of the recording
    source = markup.image_files()[0]
    _another_picture(markup.images_dir / f"{R_CSKA_BALTIKA}_{shared.stem}.jpg")
    shutil.copy(markup.label_file(source), markup.labels_dir / f"{R_CSKA_BALTIKA}_{shared.stem}.txt")

    findings = find_leakage({"train": [video], "test": [markup]})
    assert [(f.kind, f.file) for f in findings] == [("same_frame", f"images/{R_CSKA_BALTIKA}_{shared.stem}.jpg")]
    assert f"recording {R_CSKA_BALTIKA} frame {int(shared.stem)}" in findings[0].message
    assert f"images/{shared.name}" in findings[0].message


def _another_picture(dest: Path) -> None:
    """A picture like no other (noise): the same frame number without a copy of any picture."""
    import cv2
    import numpy as np

    noise = np.random.default_rng(0).integers(0, 256, (192, 320, 3), dtype=np.uint8)
    dest.write_bytes(cv2.imencode(".jpg", noise)[1].tobytes())


@pytest.fixture
def custom_named(tiny_catalog, tmp_path):
    """Two datasets whose files are named <recording>-f<frame>, one frame number shared."""
    catalog = LocalCatalog(tmp_path / "catalog")
    first = _by_name(LocalCatalog(tiny_catalog), MARKUP)
    second = _by_name(LocalCatalog(tiny_catalog), "class:ball-markup:tagme-001-02")
    a = _copy(first, catalog.folder(first.id), rename=lambda stem: stem.replace("_", "-f"))
    b = _copy(second, catalog.folder(second.id), rename=lambda stem: stem.replace("_", "-f"))
    source = b.image_files()[0]
    taken = a.image_files()[5].stem
    _another_picture(b.images_dir / f"{taken}.jpg")
    shutil.copy(b.label_file(source), b.labels_dir / f"{taken}.txt")
    return catalog, a, b, taken


def test_a_custom_pattern_finds_frames_the_defaults_cannot_read(custom_named):
    catalog, a, b, taken = custom_named
    assert find_leakage({"train": [a], "test": [b]}) == []
    findings = find_leakage({"train": [a], "test": [b]}, frames=FrameIdentity(CUSTOM))
    assert [(f.kind, f.file) for f in findings] == [("same_frame", f"images/{taken}.jpg")]


def test_prepare_data_uses_the_configs_patterns(custom_named):
    catalog, a, b, taken = custom_named
    resolver = DatasetResolver(catalog)
    base = {"tags": ["t"], "model_type": "ultralytics", "train_data": {"datasets": [a.id]},
            "test_data": {"datasets": [b.id]}}
    prepare_data(PipelineConfig.model_validate(base), resolver)  # the defaults see no shared frame
    custom = PipelineConfig.model_validate({**base, "data_checks": {"frame_patterns": CUSTOM}})
    with pytest.raises(DatasetError, match=f"same_frame: .*{taken}"):
        prepare_data(custom, resolver)


def test_validation_split_keeps_the_sequences_of_one_video_together(tiny_catalog, tmp_path):
    catalog = LocalCatalog(tiny_catalog)
    video = _by_name(catalog, PER_VIDEO)
    parts = [
        _copy(video, tmp_path / f"part{k}", name=f"{R_CSKA_BALTIKA}-00{k}", dataset_id=f"{k:032x}",
              rename=_frame_number)
        for k in (1, 2)
    ]
    others = [_by_name(catalog, MARKUP), _by_name(catalog, "class:ball-markup:tagme-001-02")]
    for seed in range(6):
        held = {(f.dataset_id, f.file) for f in split_by_recording([*parts, *others], 0.3, seed=seed)}
        sides = {(part.id, image.name) in held for part in parts for image in part.image_files()}
        assert len(sides) == 1, f"seed {seed}: the video's two sequences were split apart"


def _loaded(data: dict) -> LoadedConfig:
    text = json.dumps(data)
    return LoadedConfig(config_name="c.yaml", path="c.yaml", content=text, sha256="0" * 64)


def test_process_config_records_the_patterns_it_uses_and_rejects_bad_ones():
    base = {"tags": ["t"], "model_type": "ultralytics", "train_data": "pretrained",
            "test_data": {"datasets": ["0" * 32]},
            "train_config": {"model": "yolov8n.yaml"}}
    assert process_config(_loaded(base)).data_checks.frame_patterns == list(DEFAULT_FRAME_PATTERNS)
    assert process_config(_loaded(base), frame_patterns=CUSTOM).data_checks.frame_patterns == CUSTOM
    own = {**base, "data_checks": {"frame_patterns": [r"^.*/(?P<frame>\d+)$"]}}
    assert process_config(_loaded(own), frame_patterns=CUSTOM).data_checks.frame_patterns == [r"^.*/(?P<frame>\d+)$"]
    bad = {**base, "data_checks": {"frame_patterns": ["(?P<recording>.+)"]}, "seed": -1}
    with pytest.raises(ConfigError) as info:
        process_config(_loaded(bad))
    assert set(info.value.fields) == {"data_checks.frame_patterns", "seed"}
    assert "(?P<frame>" in str(info.value)


def test_cli_check_with_a_frame_pattern(workspace, custom_named):
    catalog, a, b, taken = custom_named
    default = workspace.cli("datasets", "check", str(a.path), str(b.path), "--no-images")
    assert default.returncode == 0, default.stdout + default.stderr
    custom = workspace.cli("datasets", "check", str(a.path), str(b.path), "--no-images",
                           "--frame-pattern", CUSTOM[0])
    assert custom.returncode == 1, custom.stdout + custom.stderr
    assert "same_frame" in custom.stdout and taken in custom.stdout
    bad = workspace.cli("datasets", "check", str(a.path), str(b.path), "--frame-pattern", "(?P<frame>")
    assert bad.returncode == 2
    assert "--frame-pattern" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_check_of_folders_needs_no_settings_file(monkeypatch, tmp_path):
    import balldet.settings as settings_module
    from balldet.cli.datasets import _frame_identity
    from balldet.datasets.frames import DEFAULT_FRAME_IDENTITY
    from balldet.errors import SettingsError

    # nowhere to find a settings.toml: not in the current folder, not beside the source tree
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(settings_module, "__file__", str(tmp_path / "site" / "balldet" / "settings.py"))
    monkeypatch.delenv("BALLDET_SETTINGS_FILE", raising=False)
    assert _frame_identity(None) is DEFAULT_FRAME_IDENTITY
    assert _frame_identity(CUSTOM).patterns == tuple(CUSTOM)
    # a settings file that is named but missing is still an error
    monkeypatch.setenv("BALLDET_SETTINGS_FILE", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="missing.toml"):
        _frame_identity(None)
