"""`balldet.checks.report`: planted defects of every kind, leakage, ultralytics parity and the CLI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from balldet.datasets.catalog import LocalCatalog
from balldet.checks.defects import check_datasets
from balldet.checks.leakage import find_leakage
from balldet.checks.report import KINDS, CheckReport
from balldet.datasets.dataset import DatasetRef


def _ball_refs(catalog: Path) -> list[DatasetRef]:
    return [ref for ref in LocalCatalog(catalog).list() if ref.names == ["ball"]]


def _copy(ref: DatasetRef, dest: Path) -> DatasetRef:
    shutil.copytree(ref.path, dest)
    return ref.model_copy(update={"path": dest})


def _keys(report_or_findings) -> set[tuple[str, str, int | None]]:
    findings = report_or_findings.findings if isinstance(report_or_findings, CheckReport) else report_or_findings
    return {(f.kind, f.file, f.line) for f in findings}


def test_clean_catalog_has_no_findings(tiny_catalog: Path) -> None:
    refs = LocalCatalog(tiny_catalog).list()
    report = check_datasets(refs)
    assert report.ok, report.summary()
    assert report.images == report.labels == 12 * len(refs)
    assert report.boxes > 0
    assert find_leakage({"all": refs}) == []
    assert "no problems found" in report.summary()


def test_planted_defects_of_every_kind(tiny_catalog: Path, tmp_path: Path) -> None:
    ref = _copy(_ball_refs(tiny_catalog)[0], tmp_path / "ds")
    images = ref.image_files()
    stems = [p.stem for p in images]
    labels = ref.labels_dir
    good = "0 0.500000 0.500000 0.100000 0.100000\n"
    planted = {
        0: good + "0 0.5 0.5\n",                      # line 2: 3 columns
        1: "\n" + "0 0.5 abc 0.1 0.1\n",              # line 2: not a number (line 1 blank)
        2: "0 nan 0.5 0.1 0.1\n0 0.5 0.5 inf 0.1\n",   # lines 1, 2: nan / inf
        3: "3 0.5 0.5 0.1 0.1\n0.5 0.4 0.4 0.1 0.1\n-1 0.3 0.3 0.1 0.1\n",  # class 3, 0.5, -1 with nc=1
        4: good + "0 1.2 0.5 0.1 0.1\n",              # line 2: cx > 1
        5: "0 0.99 0.5 0.1 0.1\n",                     # right edge at 1.04
        6: "0 0.5 0.5 0 0.1\n",                        # zero width
        7: good + "0 0.3 0.3 0.1 0.1\n" + good,        # line 3 repeats line 1
    }
    for index, text in planted.items():
        (labels / f"{stems[index]}.txt").write_text(text)
    (labels / f"{stems[8]}.txt").write_text("")  # a ball-free frame: fine
    (labels / "orphan_000001.txt").write_text(good)  # label_without_image
    (labels / f"{stems[9]}.txt").unlink()  # image_without_label
    (labels / f"{stems[10]}.txt").rename(labels / f"{stems[10]}.TXT")  # label .TXT
    images[11].rename(images[11].with_suffix(".JPG"))  # .JPG beside .jpg
    shutil.copy(images[0], images[0].with_suffix(".png"))  # same stem, two extensions
    # broken images, each with a label file so that they are flagged once
    data = images[1].read_bytes()
    images[1].write_bytes(data[: len(data) // 2])  # truncated JPEG
    (ref.images_dir / "garbage_000001.jpg").write_bytes(b"not an image at all" * 10)
    (labels / "garbage_000001.txt").write_text("")
    ok, tiny = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    (ref.images_dir / "tiny_000001.jpg").write_bytes(tiny.tobytes())
    (labels / "tiny_000001.txt").write_text("")

    report = check_datasets([ref])
    lab = lambda i: f"labels/{stems[i]}.txt"  # noqa: E731
    expected = {
        ("label_parse", lab(0), 2), ("label_parse", lab(1), 2), ("label_parse", lab(2), 1),
        ("label_parse", lab(2), 2),
        ("class_out_of_range", lab(3), 1), ("class_out_of_range", lab(3), 2), ("class_out_of_range", lab(3), 3),
        ("coords_out_of_range", lab(4), 2),
        ("box_outside_image", lab(5), 1),
        ("non_positive_size", lab(6), 1),
        ("duplicate_box", lab(7), 3),
        ("label_without_image", "labels/orphan_000001.txt", None),
        ("image_without_label", f"images/{stems[9]}.jpg", None),
        ("label_extension", f"labels/{stems[10]}.TXT", None),
        ("extension_case", f"images/{stems[11]}.JPG", None),
        ("same_stem", f"images/{stems[0]}.png", None),
        ("unreadable_image", f"images/{stems[1]}.jpg", None),
        ("unreadable_image", "images/garbage_000001.jpg", None),
        ("image_too_small", "images/tiny_000001.jpg", None),
    }
    assert _keys(report) == expected, report.summary()
    assert set(report.counts) == {kind for kind, _, _ in expected}
    assert not report.ok
    # .JPG beside .jpg is read by both trainers: a warning, not a problem.
    assert [f.kind for f in report.warnings] == ["extension_case"]
    assert "extension_case" not in {f.kind for f in report.problems}
    assert all(f.dataset == ref.label for f in report.findings)
    as_json = report.to_json()
    assert as_json["ok"] is False and len(as_json["findings"]) == len(report.findings)
    assert as_json["findings"][0].keys() == {"kind", "dataset", "file", "line", "message"}
    assert set(report.counts) <= set(KINDS)
    # the headers alone (no fingerprints: no leakage check follows) give the same findings, messages too
    assert check_datasets([ref], fingerprints=False).findings == report.findings
    # and so do fingerprints remembered in a cache, read back
    cache = tmp_path / "cache"
    assert check_datasets([ref], cache_dir=cache).findings == report.findings
    assert check_datasets([ref], cache_dir=cache).findings == report.findings
    # without images, the image kinds are not looked for
    no_images = check_datasets([ref], images=False)
    assert _keys(no_images) == {k for k in expected if k[0] not in ("unreadable_image", "image_too_small")}


def _reencode(path: Path, dest: Path, quality: int = 60, scale: float = 0.98) -> None:
    image = cv2.imread(str(path))
    height, width = image.shape[:2]
    image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    dest.write_bytes(data.tobytes())


def test_leakage_between_datasets(tiny_catalog: Path, tmp_path: Path) -> None:
    first, second = _ball_refs(tiny_catalog)[:2]
    a = _copy(first, tmp_path / "a")
    b = _copy(second, tmp_path / "b")
    a_images, b_images = a.image_files(), b.image_files()
    shutil.copy(a_images[0], b.images_dir / "renamed_000001.jpg")  # identical bytes, another name
    _reencode(a_images[1], b.images_dir / "reencoded_000002.jpg")  # quality 60, resized by 2%
    _reencode(a_images[2], b.images_dir / "bigger_000003.jpg", quality=70, scale=1.01)
    shutil.copy(b_images[0], b.images_dir / a_images[3].name)  # same recording+frame, other picture

    findings = find_leakage({"train": [a], "test": [b]})
    assert _keys(findings) == {
        ("identical_image", "images/renamed_000001.jpg", None),
        ("near_duplicate_image", "images/reencoded_000002.jpg", None),
        ("near_duplicate_image", "images/bigger_000003.jpg", None),
        ("same_frame", f"images/{a_images[3].name}", None),
        # the copy of b's own picture is also a duplicate inside b (the later name is reported)
        ("duplicate_image", f"images/{max(b_images[0].name, a_images[3].name)}", None),
    }
    assert all(f.dataset == b.label for f in findings)
    by_file = {f.file: f.message for f in findings}
    assert a_images[0].name in by_file["images/renamed_000001.jpg"]
    assert "[train]" in by_file["images/reencoded_000002.jpg"]
    # a dataset in both groups is declared overlap (the config's choice): checked once, no finding
    assert find_leakage({"train": [a], "test": [a]}) == []


def test_duplicates_inside_one_dataset(tiny_catalog: Path, tmp_path: Path) -> None:
    """A byte copy and a re-encoded copy under other names are found inside one dataset, both files
    named; two frames of one recording that look alike (a static camera) are not, moments or an hour
    apart (a whole-pitch technical camera makes every frame of a match look alike at thumbnail
    scale). The price: a re-encoded copy filed under another frame number of the same recording
    passes as a frame of its own."""
    first, second = _ball_refs(tiny_catalog)[:2]
    a = _copy(first, tmp_path / "a")
    images = a.image_files()
    shutil.copy(images[0], a.images_dir / "copy_000001.jpg")  # no frame number of a recording
    shutil.copy(a.label_file(images[0]), a.labels_dir / "copy_000001.txt")
    _reencode(images[1], a.images_dir / "reencoded-copy.jpg")  # no frame number either
    shutil.copy(a.label_file(images[1]), a.labels_dir / "reencoded-copy.txt")
    # the next frame of the same recording, nearly the same picture: explained by frame identity
    recording, frame = images[2].stem.rsplit("_", 1)
    neighbour = a.images_dir / f"{recording}_{int(frame) + 1:06d}.jpg"
    _reencode(images[2], neighbour, quality=90, scale=1.0)
    shutil.copy(a.label_file(images[2]), a.labels_dir / f"{neighbour.stem}.txt")
    an_hour_later = a.images_dir / f"{recording}_{int(frame) + 90_000:06d}.jpg"
    _reencode(images[2], an_hour_later, quality=85, scale=1.0)
    shutil.copy(a.label_file(images[2]), a.labels_dir / f"{an_hour_later.stem}.txt")

    findings = find_leakage({"datasets": [a]})
    assert _keys(findings) == {
        ("duplicate_image", "images/copy_000001.jpg", None),
        ("near_duplicate", "images/reencoded-copy.jpg", None),
    }
    by_file = {f.file: f.message for f in findings}
    assert images[0].name in by_file["images/copy_000001.jpg"]
    assert images[1].name in by_file["images/reencoded-copy.jpg"]
    # Two training datasets holding one picture: a duplicate of the training data, not leakage.
    b = _copy(second, tmp_path / "b")
    shutil.copy(images[3], b.images_dir / "moved_000009.jpg")
    kinds = {f.kind for f in find_leakage({"train/val": [a, b], "test": []})}
    assert "duplicate_image" in kinds and not kinds & {"identical_image", "same_frame", "near_duplicate_image"}


ULTRALYTICS_CASES = {
    "valid": "0 0.5 0.5 0.1 0.1\n0 0.2 0.2 0.05 0.05\n",
    "empty": "",
    "blank_lines": "\n  \n",
    "bom": "\ufeff0 0.5 0.5 0.1 0.1\n",
    "six_columns": "0 0.5 0.5 0.1 0.1 0.9\n",
    "four_columns": "0 0.5 0.5 0.1\n",
    "ragged": "0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1 0.1 0.3\n",
    "segment_mix": "0 0.5 0.5 0.1 0.1\n0 0.1 0.1 0.2 0.1 0.2 0.2\n",
    "not_number": "0 0.5 x 0.1 0.1\n",
    "nan": "0 nan 0.5 0.1 0.1\n",
    "inf": "0 0.5 0.5 inf 0.1\n",
    "above_one": "0 1.02 0.5 0.1 0.1\n",
    "far_above_one": "0 0.5 0.5 1.5 0.1\n",
    "negative": "0 -0.2 0.5 0.1 0.1\n",
    "negative_size": "0 0.5 0.5 -0.005 0.1\n",
    "class_too_big": "1 0.5 0.5 0.1 0.1\n",
    "class_fraction": "0.5 0.5 0.5 0.1 0.1\n",
    "class_negative": "-1 0.5 0.5 0.1 0.1\n",
    "duplicates": "0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1 0.1\n",
    "duplicates_spelled_differently": "0 0.5 0.5 0.1 0.1\n0 0.50 0.500 0.1 0.1\n",
    "not_utf8": b"0 0.5 0.5 0.1 0.1\n\xff\xfe\x00bad\n",
}


def _ultralytics_case(root: Path, image_bytes: bytes, label: str | bytes | None) -> DatasetRef:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "images" / "frame_000001.jpg").write_bytes(image_bytes)
    if label is not None:
        path = root / "labels" / "frame_000001.txt"
        path.write_bytes(label if isinstance(label, bytes) else label.encode("utf-8"))
    return DatasetRef(id="0" * 32, name=root.name, version="t", names=["ball"], number_samples=1, path=root)


def test_everything_ultralytics_rejects_is_flagged(tiny_catalog: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOLO_OFFLINE", "1")  # ultralytics probes DNS to see whether it is online
    pytest.importorskip("ultralytics")
    from ultralytics.data import utils
    from ultralytics.utils import patches

    # ultralytics patches PIL's Image.open on import; keep it from installing HEIF support (network)
    # when PIL cannot identify a file
    monkeypatch.setattr(patches, "_pil_plugins_registered", True)
    good_image = _ball_refs(tiny_catalog)[0].image_files()[0].read_bytes()
    ok, tiny = cv2.imencode(".jpg", np.zeros((9, 40, 3), np.uint8))
    ok, gif = cv2.imencode(".png", np.zeros((40, 40, 3), np.uint8))
    from PIL import Image

    gif_path = tmp_path / "g.gif"
    Image.new("RGB", (40, 40)).save(gif_path)
    cases = [(name, good_image, label) for name, label in ULTRALYTICS_CASES.items()]
    cases += [
        ("truncated_jpeg", good_image[: len(good_image) * 2 // 3], ""),
        ("garbage_image", b"\x00" * 300, ""),
        ("tiny_image", tiny.tobytes(), ""),
        ("gif_image", gif_path.read_bytes(), ""),
    ]
    # balldet first: ultralytics repairs truncated JPEGs in place
    reports = {}
    for name, image_bytes, label in cases:
        ref = _ultralytics_case(tmp_path / name, image_bytes, label)
        reports[name] = (ref, check_datasets([ref]))

    rejected = 0
    for name, (ref, report) in reports.items():
        im_file = str(ref.images_dir / "frame_000001.jpg")
        lb_file = str(ref.labels_dir / "frame_000001.txt")
        result = utils.verify_image_label((im_file, lb_file, "", False, 1, 0, 0, False))
        corrupt, message = result[8], result[9]
        if corrupt or message:
            rejected += 1
            assert not report.ok, f"{name}: ultralytics says {message!r}, balldet found nothing"
        if name in ("valid", "empty", "blank_lines", "bom"):
            assert report.ok, f"{name}: {report.summary()}"
    assert rejected >= len(cases) - 5  # the table above really exercises ultralytics' rejections


@pytest.fixture
def cli_catalog(workspace, tiny_catalog: Path):
    shutil.copytree(tiny_catalog, workspace.catalog, dirs_exist_ok=True)
    return workspace


def test_cli_check(cli_catalog, tmp_path: Path) -> None:
    ws = cli_catalog
    refs = _ball_refs(ws.catalog)
    clean = ws.cli("datasets", "check", refs[0].id, refs[1].id, "--json", str(tmp_path / "clean.json"))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "no problems found" in clean.stdout
    assert json.loads((tmp_path / "clean.json").read_text())["ok"] is True

    broken = _copy(refs[0], tmp_path / "broken")
    label = broken.label_file(broken.image_files()[0])
    label.write_text("0 0.5 0.5 0.1 0.1\n0 1.5 0.5 0.1 0.1\n")
    out_json = tmp_path / "out" / "report.json"
    result = ws.cli("datasets", "check", str(broken.path), refs[0].id, "--json", str(out_json), "--no-images")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "coords_out_of_range" in result.stdout and f"{label.name}:2" in result.stdout
    data = json.loads(out_json.read_text())
    assert data["ok"] is False
    kinds = {f["kind"] for f in data["findings"]}
    assert "coords_out_of_range" in kinds
    assert "identical_image" in kinds  # the folder copy leaks every frame of the catalog dataset
    finding = next(f for f in data["findings"] if f["kind"] == "coords_out_of_range")
    assert finding == {"kind": "coords_out_of_range", "dataset": broken.label, "file": f"labels/{label.name}",
                       "line": 2, "message": finding["message"]}

    no_leak = ws.cli("datasets", "check", str(broken.path), refs[0].id, "--no-leakage", "--no-images")
    assert no_leak.returncode == 1
    assert "identical_image" not in no_leak.stdout

    bad = ws.cli("datasets", "check", "0123456789abcdef0123456789abcdef")
    assert bad.returncode == 2 and "error" in bad.stderr
    missing = ws.cli("datasets", "check", str(tmp_path / "nowhere"))
    assert missing.returncode == 2


def test_a_check_without_cache_reads_each_image_once_and_sees_edits(tiny_catalog: Path, tmp_path: Path,
                                                                     monkeypatch) -> None:
    """What `balldet datasets check` does (defect check, then leakage, no cache): the leakage check
    finds the defect check's reads, unless an image changed in between."""
    from conftest import image_opens

    refs = [_copy(ref, tmp_path / name) for ref, name in zip(_ball_refs(tiny_catalog), "ab")]
    images = [path for ref in refs for path in ref.image_files()]

    def check() -> list:
        report = check_datasets(refs, images=True)
        report.extend(find_leakage({"datasets": refs}))
        return report.findings

    found: list = []
    opens, decoded = image_opens(lambda: found.extend(check()), images, monkeypatch)
    assert opens == {os.path.realpath(p): 1 for p in images}
    # The near-duplicate candidates (dHashes within 7 bits: 3 images of static-camera frames here)
    # are decoded once more for the thumbnails that confirm or clear them.
    assert len(set(decoded)) == len(decoded) < len(images) // 4
    assert found == []

    # an image edited in place (same size, same folders): its dataset is read again, once, and the
    # defect is seen; the other dataset is not read
    edited = images[0]
    data = bytearray(edited.read_bytes())
    data[-2:] = b"\0\0"  # no end-of-image marker
    edited.write_bytes(bytes(data))
    found.clear()
    opens, _ = image_opens(lambda: found.extend(check()), images, monkeypatch)
    assert opens == {os.path.realpath(p): 1 for p in refs[0].image_files()}
    assert [(f.kind, f.file) for f in found] == [("unreadable_image", f"images/{edited.name}")]
