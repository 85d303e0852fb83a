"""Ground truth and predictions of a dataset read from files, for scoring any model from anywhere.

Predictions come as a folder with one ``.txt`` per image in ultralytics' ``save_txt`` +
``save_conf`` format (``class cx cy w h conf``, normalised; a missing file means no detections),
or as a COCO results JSON: a list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``
in pixels, where ``image_id`` is the image's file stem (a number also matches a stem with leading
zeros) and ``category_id`` the class index plus ``category_offset``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from balldet.backends.base_model import Detections
from balldet.data.dataset import DatasetRef
from balldet.data.yolo import image_size, read_labels, read_rows
from balldet.errors import DatasetError
from balldet.evaluation.frames import FrameTruth


def load_truth(ref: DatasetRef, exclude: frozenset[str] = frozenset()) -> tuple[list[Path], list[FrameTruth]]:
    """The dataset's images (sorted; file names in ``exclude`` left out) and their ground truth."""
    images = [i for i in ref.image_files() if i.name not in exclude]
    return images, [FrameTruth(read_labels(ref.label_file(i)), *image_size(i)) for i in images]


def read_predictions(
    source: Path, images: Sequence[Path], truth: Sequence[FrameTruth], *, category_offset: int = 0
) -> list[Detections]:
    """Detections per image (xyxy pixels), from a ``.txt`` folder or a COCO results JSON."""
    source = Path(source)
    if source.is_dir():
        return [_read_txt(source / f"{image.stem}.txt", frame) for image, frame in zip(images, truth)]
    if source.is_file() and source.suffix.lower() == ".json":
        return _read_coco_results(source, images, category_offset)
    raise DatasetError(
        f"no predictions at {source}",
        fix="give a folder of <image stem>.txt files (class cx cy w h conf) or a COCO results .json",
    )


def _read_txt(path: Path, frame: FrameTruth) -> Detections:
    data = read_rows(
        path, 6, layout="class cx cy w h conf", fix="save predictions with save_txt=True and save_conf=True"
    )
    if not len(data):
        return Detections.empty()
    cx, cy = data[:, 1] * frame.width, data[:, 2] * frame.height
    w, h = data[:, 3] * frame.width, data[:, 4] * frame.height
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    return Detections(boxes=boxes, scores=data[:, 5], classes=data[:, 0].astype(np.int64))


def _image_keys(image: Path) -> list[str]:
    keys = [image.stem, image.name]
    if image.stem.isdigit():
        keys.append(str(int(image.stem)))
    return keys


def _read_coco_results(path: Path, images: Sequence[Path], category_offset: int) -> list[Detections]:
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read COCO results {path}: {exc}") from exc
    if not isinstance(results, list):
        raise DatasetError(f"{path}: a COCO results file is a JSON list of detections")
    index = {key: i for i, image in enumerate(images) for key in _image_keys(image)}
    per_image: dict[int, list[list[float]]] = defaultdict(list)
    unknown = set()
    for number, item in enumerate(results):
        try:
            key = str(item["image_id"])
            x, y, w, h = (float(v) for v in item["bbox"])
            row = [x, y, x + w, y + h, float(item["score"]), float(item["category_id"]) - category_offset]
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{path}: detection {number} is malformed ({exc})") from exc
        if key not in index:
            unknown.add(key)
            continue
        per_image[index[key]].append(row)
    if unknown:
        sample = ", ".join(sorted(unknown)[:5])
        raise DatasetError(
            f"{path}: {len(unknown)} image_id(s) match no image of the dataset (e.g. {sample})",
            fix="image_id must be the image file's stem (or its number)",
        )
    detections = []
    for i in range(len(images)):
        rows = np.asarray(per_image.get(i, []), dtype=np.float64).reshape(-1, 6)
        detections.append(Detections(rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int64)))
    return detections
