"""Reading YOLO-format labels and image sizes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from balldet.boxes import YOLO_LABEL_LAYOUT
from balldet.errors import DatasetError


def read_rows(path: Path, columns: int, *, layout: str, fix: str, exact: bool = True) -> np.ndarray:
    """The numeric rows of a YOLO-style text file (``columns`` values each); missing file: no rows.

    With ``exact`` false, extra columns are ignored (label files written with segments).
    """
    if not path.is_file():
        return np.zeros((0, columns))
    try:
        # utf-8-sig: a byte-order mark is tolerated, as by the trainers; splitlines takes CRLF too.
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}", fix=fix) from exc
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            values = [float(p) for p in (parts if exact else parts[:columns])]
        except ValueError:
            values = []
        if len(values) != columns:
            raise DatasetError(f"{path}:{number}: expected '{layout}', got {line.strip()!r}", fix=fix)
        rows.append(values)
    return np.asarray(rows, dtype=np.float64).reshape(-1, columns)


def read_labels(path: Path) -> np.ndarray:
    """Rows ``class cx cy w h`` (normalised) of one label file; a missing file means no objects."""
    return read_rows(
        path, 5, layout=YOLO_LABEL_LAYOUT, exact=False,
        fix="run `balldet datasets check` on the dataset and repair its labels",
    )


# EXIF orientations (tag 0x0112) whose display turns the stored picture by 90 degrees: 5 transpose,
# 6 rotate 270, 7 transverse, 8 rotate 90. 1-4 keep width and height (identity, flips, 180 degrees).
EXIF_ORIENTATION = 0x0112
SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})


def displayed_size(image: Any) -> tuple[int, int]:
    """(width, height) of an opened PIL image as the trainers see it: after its EXIF orientation.

    ultralytics and yolov5 read frames with OpenCV, which applies the orientation tag (as PIL's
    ``ImageOps.exif_transpose`` does), so labels and predictions are in the upright frame. Only the
    header and its EXIF block are read; no pixel is decoded.
    """
    width, height = image.size
    if image.format == "TIFF":
        # The stored size: recent Pillow reports TIFF sizes already turned by the orientation tag.
        width, height = image.tag_v2.get(256, width), image.tag_v2.get(257, height)
    if image.format == "PNG" and "exif" not in image.info:
        # No eXIf chunk before the pixel data; PIL's getexif would decode the whole image looking
        # for one after it.
        return width, height
    try:
        orientation = image.getexif().get(EXIF_ORIENTATION)
    except Exception:  # noqa: BLE001  (a broken EXIF block: OpenCV ignores it, and so do we)
        orientation = None
    return (height, width) if orientation in SWAPPING_ORIENTATIONS else (width, height)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of the image at ``path`` as displayed (EXIF orientation applied), from its header.

    Every frame size in balldet comes from here: the evaluator's ground truth, the predictions a run
    writes, the plots and the dataset checks.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            return displayed_size(image)
    except OSError as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from exc
