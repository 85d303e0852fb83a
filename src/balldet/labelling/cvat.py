"""CVAT's "CVAT for images 1.1" format: writing a batch as a CVAT export (the frames and the model's boxes),
and reading CVAT's own export of the task after labelling.

**Written** (``balldet label export --format cvat``): ``<out>.zip`` holding ``annotations.xml`` and
``images/<file>``, laid out as CVAT exports a task with its images, or ``<out>.xml`` alone. The XML::

    <annotations>
      <version>1.1</version>
      <meta><task> id, name, size, mode=annotation, ..., <labels><label><name>ball</name>
            <type>rectangle</type>...</label></labels></task><dumped>...</dumped></meta>
      <image id="0" name="<file>" width="W" height="H">
        <box label="ball" source="auto" occluded="0" xtl=".." ytl=".." xbr=".." ybr=".." z_order="0"/>
      </image>
      ...
    </annotations>

Corners are pixels with two decimals, as CVAT writes them (CVAT's own exports are no finer). In CVAT:
create a task with the batch's labels (or from the zip's images), then "Upload annotations", format
"CVAT 1.1", the zip: the boxes arrive as pre-annotations (``source="auto"``); images are matched by name.

**Read** (``balldet label import``): CVAT's export of the task, the zip or its ``annotations.xml``. Every
``<image>`` of it is a labelled frame (CVAT exports the whole task; an image without boxes is a frame without
a ball), matched to the batch by file name and size (:mod:`balldet.labelling.labelled`). Boxes (``rotation``
included) are imported; other shapes and tags are counted and left out; tracks (a "CVAT for video" export) are
refused.
"""

from __future__ import annotations

import os
import tempfile
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree as ET

from balldet.errors import UsageError
from balldet.labelling.batch import BATCH_FILE, Batch
from balldet.labelling.labelled import Collector, Labelled
from balldet.labelling.prelabels import prelabels

ANNOTATIONS = "annotations.xml"
TOOL = "CVAT"
# The colours CVAT gives new labels, so the labels look as CVAT would draw them.
_COLOURS = ("#fa3253", "#33ddff", "#34d1b7", "#ff6a4d", "#b83df5", "#24b353", "#ffcc33", "#8c78f0")
_SHAPES = ("polygon", "polyline", "points", "ellipse", "cuboid", "mask", "skeleton", "tag")


def annotations_xml(folder: Path, batch: Batch, *, name: str, dumped: datetime) -> bytes:
    """The ``annotations.xml`` of a batch: every frame, its pre-annotations as ``source="auto"`` boxes."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    meta = ET.SubElement(root, "meta")
    task = ET.SubElement(meta, "task")
    stamp = dumped.isoformat()
    for tag, text in (("id", "0"), ("name", name), ("size", str(len(batch.frames))), ("mode", "annotation"),
                      ("overlap", "0"), ("bugtracker", ""), ("created", stamp), ("updated", stamp),
                      ("subset", "default"), ("start_frame", "0"), ("stop_frame", str(max(len(batch.frames) - 1, 0))),
                      ("frame_filter", "")):
        ET.SubElement(task, tag).text = text
    labels = ET.SubElement(task, "labels")
    for k, label_name in enumerate(batch.names):
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = label_name
        ET.SubElement(label, "color").text = _COLOURS[k % len(_COLOURS)]
        ET.SubElement(label, "type").text = "rectangle"
        ET.SubElement(label, "attributes")
    ET.SubElement(meta, "dumped").text = stamp
    for index, frame in enumerate(batch.frames):
        image = ET.SubElement(root, "image", {"id": str(index), "name": PurePosixPath(frame.file).name,
                                              "width": str(frame.width), "height": str(frame.height)})
        boxes = prelabels(folder, batch, frame)
        for cls, (x1, y1, x2, y2) in zip(boxes.classes.tolist(), boxes.corners.tolist()):
            ET.SubElement(image, "box", {"label": batch.names[cls], "source": "auto", "occluded": "0",
                                         "xtl": f"{x1:.2f}", "ytl": f"{y1:.2f}", "xbr": f"{x2:.2f}",
                                         "ybr": f"{y2:.2f}", "z_order": "0"})
    ET.indent(root, space="  ")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def write_export(folder: Path, batch: Batch, out: Path) -> Path:
    """``out`` (.zip: annotations.xml and the images; .xml: the annotations alone), written whole or not at all."""
    folder, out = Path(folder), Path(out)
    # The batch file's time, not the clock: exporting a batch twice gives the same bytes.
    dumped = datetime.fromtimestamp(int((folder / BATCH_FILE).stat().st_mtime), tz=timezone.utc)
    xml = annotations_xml(folder, batch, name=folder.resolve().name, dumped=dumped)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        if out.suffix.lower() == ".xml":
            Path(tmp).write_bytes(xml)
        else:
            when = time.gmtime(dumped.timestamp())[:6]
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(zipfile.ZipInfo(ANNOTATIONS, when), xml, compress_type=zipfile.ZIP_DEFLATED)
                for frame in batch.frames:
                    entry = zipfile.ZipInfo(f"images/{PurePosixPath(frame.file).name}", when)
                    # Pictures are compressed already: stored as they are.
                    archive.writestr(entry, (folder / frame.file).read_bytes(), compress_type=zipfile.ZIP_STORED)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def read_export(path: Path, batch: Batch) -> Labelled:
    """CVAT's export (a zip holding annotations.xml, or the XML file) read against ``batch`` (see the module);
    a :class:`UsageError` listing every problem (field ``EXPORT``)."""
    path = Path(path)
    root = _parse(path)
    if root.find("track") is not None:
        raise UsageError([("EXPORT", f"{path} holds tracks: it is a 'CVAT for video' export; export the task as "
                           "'CVAT for images 1.1'")])
    collector = Collector(tool=TOOL, batch=batch, where=str(path))
    for image in root.iter("image"):
        name = image.get("name") or ""
        what = f"image id {image.get('id', '?')}"
        try:
            size = (int(image.get("width", "")), int(image.get("height", "")))
        except ValueError:
            collector.problems.append(f"{what}: {name!r} has no numeric width and height")
            continue
        frame = collector.frame(name, size, what)
        if frame is None:
            continue
        for child in image:
            if child.tag != "box":
                if child.tag in _SHAPES:
                    collector.ignore(child.tag)
                continue
            try:
                corners = tuple(float(child.get(k, "")) for k in ("xtl", "ytl", "xbr", "ybr"))
                rotation = float(child.get("rotation", "0") or 0)
            except ValueError:
                collector.problems.append(f"{what}: a box without numeric xtl, ytl, xbr, ybr: {child.attrib!r}")
                continue
            collector.box(frame, child.get("label", ""), corners, rotation=rotation)  # CVAT turns about the centre
    labelled = collector.result()
    if collector.problems:
        raise UsageError([("EXPORT", problem) for problem in collector.problems], source=str(path))
    return labelled


def _parse(path: Path) -> ET.Element:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if PurePosixPath(n).name == ANNOTATIONS]
                if not names:
                    raise UsageError([("EXPORT", f"{path} holds no {ANNOTATIONS}; export the task from CVAT as "
                                       "'CVAT for images 1.1'")])
                data = archive.read(min(names, key=len))
        else:
            data = path.read_bytes()
        root = ET.fromstring(data)
    except (OSError, zipfile.BadZipFile) as exc:
        raise UsageError([("EXPORT", f"cannot read {path}: {exc}")]) from None
    except ET.ParseError as exc:
        raise UsageError([("EXPORT", f"{path}: not valid XML ({exc}); give CVAT's export zip or its "
                           f"{ANNOTATIONS}")]) from None
    if root.tag != "annotations":
        raise UsageError([("EXPORT", f"{path}: the XML's root is <{root.tag}>, not CVAT's <annotations>; export "
                           "the task as 'CVAT for images 1.1'")])
    return root
