"""Reading YOLO-format labels and image sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from balldet.errors import DatasetError


def read_rows(path: Path, columns: int, *, layout: str, fix: str, exact: bool = True) -> np.ndarray:
    """The numeric rows of a YOLO-style text file (``columns`` values each); missing file: no rows.

    With ``exact`` false, extra columns are ignored (label files written with segments).
    """
    if not path.is_file():
        return np.zeros((0, columns))
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
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
        path, 5, layout="class cx cy w h", exact=False,
        fix="run `balldet datasets check` on the dataset and repair its labels",
    )


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) read from the image header."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size
    except OSError as exc:
        raise DatasetError(f"cannot read image {path}: {exc}") from exc
