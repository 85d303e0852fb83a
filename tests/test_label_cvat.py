"""CVAT's round trip: a batch exported as "CVAT for images 1.1" reads back with datumaro's CVAT importer (an
independent reader) with the same boxes, images and sizes; CVAT's export after labelling (the XML as CVAT
writes it) becomes a dataset with exactly the labeller's boxes; an export that does not fit the batch is one
clear refusal, exit 2, nothing registered."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from label_tools_env import FRAMES, NAMES, dataset_rows, make_batch, predicted_corners, read_with_datumaro


@pytest.fixture
def batch(tmp_path: Path) -> Path:
    return make_batch(tmp_path / "batch-0001")


def export_cvat(workspace, batch: Path, out: Path) -> Path:
    result = workspace.cli("label", "export", str(batch), "--format", "cvat", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.is_file()
    return out


def test_cvat_export_reads_back_with_datumaro(workspace, batch, tmp_path):
    archive = export_cvat(workspace, batch, tmp_path / "task.zip")
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(archive) as z:
        assert sorted(z.namelist()) == ["annotations.xml", *sorted(f"images/{f.stem}.png" for f in FRAMES)]
        for spec in FRAMES:  # the images are the batch's files, byte for byte
            assert z.read(f"images/{spec.stem}.png") == (batch / "images" / f"{spec.stem}.png").read_bytes()
        z.extractall(unpacked)
    read = read_with_datumaro(unpacked)
    assert read["labels"] == NAMES
    items = {item["id"]: item for item in read["items"]}
    assert set(items) == {spec.stem for spec in FRAMES}
    for spec in FRAMES:
        item = items[spec.stem]
        assert Path(item["path"]).name == f"{spec.stem}.png"
        assert item["size"] == [spec.width, spec.height]
        expected = sorted((NAMES[c], x1, y1, x2, y2) for c, x1, y1, x2, y2 in predicted_corners(batch, spec.stem))
        got = sorted(tuple(box) for box in item["boxes"])
        assert len(got) == len(expected) == len(spec.boxes), spec.stem
        for (label, *corners), (want_label, *want) in zip(got, expected):
            assert label == want_label
            assert np.allclose(corners, want, rtol=0, atol=0.01), (spec.stem, corners, want)


def test_cvat_export_is_the_same_file_each_time(workspace, batch, tmp_path):
    first = export_cvat(workspace, batch, tmp_path / "a.zip").read_bytes()
    assert export_cvat(workspace, batch, tmp_path / "b.zip").read_bytes() == first
    xml = export_cvat(workspace, batch, tmp_path / "a.xml").read_bytes()
    root = ET.fromstring(xml)
    boxes = root.findall("image/box")
    assert boxes and {b.get("source") for b in boxes} == {"auto"}
    assert {b.get("z_order") for b in boxes} == {"0"} and {b.get("occluded") for b in boxes} == {"0"}
    assert [label.findtext("name") for label in root.iter("label")] == NAMES


def labelled_by_hand(archive: Path, out: Path, edit) -> tuple[Path, dict[str, list]]:
    """CVAT's export after a labeller's work: ``edit(root)`` changes the XML as CVAT writes it; the zip as CVAT
    exports it (annotations.xml and images/). Returns the zip and {image name: [(label, corners)]} it holds."""
    with zipfile.ZipFile(archive) as z:
        root = ET.fromstring(z.read("annotations.xml"))
        images = {n: z.read(n) for n in z.namelist() if n.startswith("images/")}
    edit(root)
    ET.indent(root, space="  ")
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("annotations.xml", b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "utf-8"))
        for name, data in images.items():
            z.writestr(name, data)
    held = {image.get("name"): [(b.get("label"), [float(b.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")])
                                for b in image.iter("box")] for image in root.iter("image")}
    return out, held


def labeller(root: ET.Element) -> None:
    images = {image.get("name"): image for image in root.iter("image")}
    first, second, third, fourth = (images[f"{FRAMES[k].stem}.png"] for k in range(4))
    # a box moved and resized (CVAT marks what a person touched source="manual")
    box = first.find("box")
    box.attrib.update({"xtl": "104.37", "ytl": "82.10", "xbr": "116.92", "ybr": "94.61", "source": "manual"})
    # a box added where the model saw nothing
    ET.SubElement(second, "box", {"label": "player", "source": "manual", "occluded": "1", "xtl": "20.00",
                                  "ytl": "30.50", "xbr": "61.25", "ybr": "130.00", "z_order": "1"})
    # a false ball deleted
    third.remove(third.findall("box")[1])
    # no ball at all in this frame
    for child in list(fourth):
        fourth.remove(child)
    root.find("meta/task/updated").text = "2025-12-01T10:00:00.000000+00:00"


def test_labelled_cvat_export_becomes_a_dataset_with_its_boxes(workspace, batch, tmp_path):
    archive = export_cvat(workspace, batch, tmp_path / "task.zip")
    labelled, held = labelled_by_hand(archive, tmp_path / "task_annotations_cvat.zip", labeller)
    result = workspace.cli("label", "import", str(labelled), "--batch", str(batch), "--name",
                           "class:ball-markup:our-004", "--version", "1.0.0", "--tag", "class:ball")
    assert result.returncode == 0, result.stderr
    dataset_id = re.search(r"added ([0-9a-f]{32})", result.stdout).group(1)
    folder = workspace.catalog / dataset_id
    assert '"name": "class:ball-markup:our-004"' in (folder / "dataset.json").read_text()
    assert sorted(p.name for p in (folder / "images").iterdir()) == sorted(f"{f.stem}.png" for f in FRAMES)
    for spec in FRAMES:
        assert (folder / "images" / f"{spec.stem}.png").read_bytes() == \
            (batch / "images" / f"{spec.stem}.png").read_bytes()
    rows = dataset_rows(folder)
    for spec in FRAMES:
        expected = sorted([NAMES.index(label), (x1 + x2) / 2 / spec.width, (y1 + y2) / 2 / spec.height,
                           (x2 - x1) / spec.width, (y2 - y1) / spec.height]
                          for label, (x1, y1, x2, y2) in held[f"{spec.stem}.png"])
        got = sorted(rows[spec.stem].tolist())
        assert len(got) == len(expected), spec.stem
        assert np.allclose(np.array(got).reshape(-1, 5), np.array(expected).reshape(-1, 5), rtol=0, atol=1e-6)
    assert rows[FRAMES[3].stem].shape == (0, 5)  # the frame without a ball: an empty label file
    assert len(rows[FRAMES[1].stem]) == 2 and len(rows[FRAMES[2].stem]) == 1
    assert "6 of 6 frame(s) labelled" in result.stdout


def test_export_naming_an_image_not_in_the_batch_is_refused(workspace, batch, tmp_path):
    archive = export_cvat(workspace, batch, tmp_path / "task.zip")

    def stranger(root):
        root.find("image").set("name", "20240801-Premier_League-Alpha-vs-Beta-01_009999.png")

    labelled, _ = labelled_by_hand(archive, tmp_path / "other.zip", stranger)
    result = workspace.cli("label", "import", str(labelled), "--batch", str(batch), "--name", "x", "--version",
                           "1.0.0")
    assert result.returncode == 2, result.stderr
    assert "20240801-Premier_League-Alpha-vs-Beta-01_009999.png" in result.stderr
    assert "not a frame of the batch" in result.stderr and "Traceback" not in result.stderr
    assert not any(p.is_dir() and not p.name.startswith(".") for p in workspace.catalog.iterdir())


def test_export_of_another_image_size_is_refused(workspace, batch, tmp_path):
    archive = export_cvat(workspace, batch, tmp_path / "task.zip")

    def resized(root):
        image = root.findall("image")[2]
        image.set("width", "1280")
        image.set("height", "720")

    labelled, _ = labelled_by_hand(archive, tmp_path / "resized.zip", resized)
    result = workspace.cli("label", "import", str(labelled), "--batch", str(batch), "--name", "x", "--version",
                           "1.0.0")
    assert result.returncode == 2, result.stderr
    assert f"{FRAMES[2].stem}.png' is 1280x720" in result.stderr and "640x360" in result.stderr
    assert not any(p.is_dir() and not p.name.startswith(".") for p in workspace.catalog.iterdir())


def test_bad_flags_and_an_unknown_label_are_reported_at_once(workspace, batch, tmp_path):
    archive = export_cvat(workspace, batch, tmp_path / "task.zip")

    def relabelled(root):
        root.find("image/box").set("label", "referee")

    labelled, _ = labelled_by_hand(archive, tmp_path / "referee.zip", relabelled)
    result = workspace.cli("label", "import", str(labelled), "--batch", str(batch), "--name", "x", "--version", "1.0")
    assert result.returncode == 2
    assert "--version" in result.stderr  # the flag, and the export's problems too, at once
    result = workspace.cli("label", "import", str(labelled), "--batch", str(batch), "--name", "x", "--version",
                           "1.0.0")
    assert result.returncode == 2 and "'referee' is not a class of the batch" in result.stderr
    missing = workspace.cli("label", "import", str(tmp_path / "nothing.zip"), "--batch", str(tmp_path / "nobatch"),
                            "--name", "", "--version", "1.0.0")
    assert missing.returncode == 2
    for field in ("--name", "--batch", "EXPORT"):
        assert field in missing.stderr
    assert not any(p.is_dir() and not p.name.startswith(".") for p in workspace.catalog.iterdir())


def test_turned_boxes_other_shapes_and_video_exports(batch, tmp_path):
    from balldet.errors import UsageError
    from balldet.labelling import cvat
    from balldet.labelling.batch import read_batch

    read = read_batch(batch)
    spec = FRAMES[0]
    xml = ET.fromstring(cvat.annotations_xml(batch, read, name="b", dumped=__import__("datetime").datetime(2025, 1, 1)))
    image = xml.find("image")
    for child in list(image):
        image.remove(child)
    # a 10x20 box turned 90 degrees about its centre (100, 100): the upright box around it is 20x10
    ET.SubElement(image, "box", {"label": "ball", "xtl": "95", "ytl": "90", "xbr": "105", "ybr": "110",
                                 "rotation": "90.00", "source": "manual", "occluded": "0", "z_order": "0"})
    ET.SubElement(image, "points", {"label": "ball", "points": "1,2", "source": "manual", "occluded": "0"})
    # a box reaching past the right edge is cut to the frame
    ET.SubElement(image, "box", {"label": "ball", "xtl": "630", "ytl": "10", "xbr": "650", "ybr": "30",
                                 "source": "manual", "occluded": "0", "z_order": "0"})
    path = tmp_path / "annotations.xml"
    path.write_bytes(ET.tostring(xml))
    labelled = cvat.read_export(path, read)
    frame = next(f for f in labelled.frames if f.stem == spec.stem)
    assert np.allclose(frame.boxes[0], [100 / 640, 100 / 360, 20 / 640, 10 / 360], atol=1e-12)
    assert np.allclose(frame.boxes[1], [635 / 640, 20 / 360, 10 / 640, 20 / 360], atol=1e-12)
    text = " ".join(labelled.warnings)
    assert "1 turned box(es)" in text and "1 box(es) reached outside" in text and "1 points annotation(s)" in text
    ET.SubElement(xml, "track", {"id": "0", "label": "ball"})
    path.write_bytes(ET.tostring(xml))
    with pytest.raises(UsageError, match="CVAT for video"):
        cvat.read_export(path, read)
