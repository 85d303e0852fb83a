"""Ground truth and predictions of a dataset in files: read for scoring any model from anywhere, and
written by a run for each dataset it scores.

Predictions come as a folder with one ``.txt`` per image in ultralytics' ``save_txt`` +
``save_conf`` format (``class cx cy w h conf``, normalised; a missing file means no detections),
or as a COCO results JSON: a list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``
in pixels, where ``image_id`` is the image's file stem (a number also matches a stem with leading
zeros) and ``category_id`` the class index plus ``category_offset``.

Predictions that match no image of the dataset are an error (a wrong folder would otherwise score
0 and look like a result); when only some images have predictions, :class:`Coverage` says how many.
Frame sizes are the frames as displayed (EXIF orientation applied, :func:`balldet.datasets.yolo.image_size`),
the frame both trainers read and write boxes in.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from balldet.boxes import YOLO_PREDICTION_LAYOUT, Detections, xywh_to_xyxy, xyxy_to_yolo, yolo_rows, yolo_to_xyxy
from balldet.datasets.dataset import DatasetRef
from balldet.datasets.yolo import image_size, read_labels, read_rows
from balldet.errors import DatasetError
from balldet.evaluation.frames import FrameTruth
from balldet.files import write_text_atomic


def load_truth(ref: DatasetRef, exclude: frozenset[str] = frozenset()) -> tuple[list[Path], list[FrameTruth]]:
    """The dataset's images (sorted; file names in ``exclude`` left out) and their ground truth.

    A label row whose class id is not one of the dataset's classes is an error: scoring would leave
    that object out and report a number for data it never saw.
    """
    images = [i for i in ref.image_files() if i.name not in exclude]
    truth = [FrameTruth(read_labels(ref.label_file(i)), *image_size(i)) for i in images]
    nc = len(ref.names)
    for image, frame in zip(images, truth):
        classes = frame.rows[:, 0]
        bad = (classes < 0) | (classes >= nc) | (classes != np.floor(classes))
        if bad.any():
            raise DatasetError(
                f"{ref.label_file(image)}: class {classes[bad][0]:g} is not one of the dataset's {nc} classes "
                f"({', '.join(ref.names)})",
                fix="name every class the labels use (data.yaml `names`, or dataset.json), or run "
                "`balldet datasets check` and repair the labels",
            )
    return images, truth


@dataclass(frozen=True)
class Coverage:
    """How many of a dataset's images have predictions, and how many predictions match no image."""

    source: Path
    images: int
    covered: int  # images with a prediction file (folder) or with a detection (COCO results)
    unmatched: int  # prediction files (folder) that match no image
    per_file: bool  # a folder of .txt files, else a COCO results file

    def line(self) -> str:
        """One line for the terminal: ``N of M images have a prediction file (...)``."""
        if self.per_file:
            text = (f"{self.covered} of {self.images} images have a prediction file in {self.source}"
                    " (an image without one has no detections)")
            if self.unmatched:
                text += f"; {self.unmatched} .txt file(s) there match no image of the dataset"
            return text
        return f"{self.covered} of {self.images} images have detections in {self.source}"


def read_predictions(
    source: Path, images: Sequence[Path], truth: Sequence[FrameTruth], *, category_offset: int = 0
) -> list[Detections]:
    """Detections per image (xyxy pixels), from a ``.txt`` folder or a COCO results JSON."""
    return load_predictions(source, images, truth, category_offset=category_offset)[0]


def load_predictions(
    source: Path, images: Sequence[Path], truth: Sequence[FrameTruth], *, category_offset: int = 0,
    images_folder: Path | None = None,
) -> tuple[list[Detections], Coverage]:
    """Detections per image (xyxy pixels) and how many images have them, from a ``.txt`` folder or a
    COCO results JSON. A folder whose files match no image is an error naming both folders
    (``images_folder``: where the dataset's images are, for the message)."""
    source = Path(source)
    if source.is_dir():
        coverage = _folder_coverage(source, images, images_folder)
        detections = [_read_txt(source / f"{image.stem}.txt", frame) for image, frame in zip(images, truth)]
        return detections, coverage
    if source.is_file() and source.suffix.lower() == ".json":
        detections = _read_coco_results(source, images, category_offset)
        covered = sum(1 for d in detections if len(d.scores))
        return detections, Coverage(source, len(images), covered, 0, per_file=False)
    raise DatasetError(
        f"no predictions at {source}",
        fix=f"give a folder of <image stem>.txt files ({YOLO_PREDICTION_LAYOUT}) or a COCO results .json",
    )


def _folder_coverage(source: Path, images: Sequence[Path], images_folder: Path | None) -> Coverage:
    with os.scandir(source) as entries:
        stems = {e.name[:-4] for e in entries if e.name.endswith(".txt") and e.is_file()}
    wanted = {image.stem for image in images}
    covered = sum(1 for image in images if image.stem in stems)
    coverage = Coverage(source, len(images), covered, len(stems - wanted), per_file=True)
    if images and not covered:
        where = images_folder if images_folder is not None else Path(images[0]).parent
        if stems:
            found = f"its {len(stems)} .txt file(s) (e.g. {sorted(stems)[0]}.txt) match none of them"
        else:
            found = "it holds no .txt file"
        hint = ""
        if (source / "labels").is_dir():
            hint = f"; ultralytics' predict writes its .txt files into {source / 'labels'}"
        raise DatasetError(
            f"no image of the dataset has a prediction file: the images are in {where} (e.g. "
            f"{Path(images[0]).name}, read from {Path(images[0]).stem}.txt) and the predictions folder is "
            f"{source}, where {found}",
            fix="give the folder of this dataset's predictions, one <image stem>.txt per image (ultralytics: "
            f"predict(..., save_txt=True, save_conf=True) writes them to <run>/labels/){hint}",
        )
    return coverage


def save_predictions(
    folder: Path, images: Sequence[Path], truth: Sequence[FrameTruth], detections: Sequence[Detections]
) -> None:
    """One ``<image stem>.txt`` per image in ``folder``, as ultralytics' save_txt + save_conf write
    them (``class cx cy w h conf``, normalised by the frame's size): the folder reads back here."""
    for image, frame, dets in zip(images, truth, detections):
        write_prediction_file(Path(folder) / f"{image.stem}.txt", dets, frame.width, frame.height)


def write_prediction_file(path: Path, detections: Detections, width: int, height: int) -> None:
    """One frame's detections as ultralytics' save_txt + save_conf write them, written whole."""
    rows = yolo_rows(detections.classes, xyxy_to_yolo(detections.boxes, width, height), detections.scores)
    write_text_atomic(path, "".join(f"{row}\n" for row in rows))


def _read_txt(path: Path, frame: FrameTruth) -> Detections:
    data = read_rows(
        path, 6, layout=YOLO_PREDICTION_LAYOUT, fix="save predictions with save_txt=True and save_conf=True"
    )
    if not len(data):
        return Detections.empty()
    boxes = yolo_to_xyxy(data[:, 1:5], frame.width, frame.height)
    return Detections(boxes=boxes, scores=data[:, 5], classes=data[:, 0])


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
            row = [x, y, w, h, float(item["score"]), float(item["category_id"]) - category_offset]
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
        rows = np.asarray(per_image.get(i, []), dtype=np.float64).reshape(-1, 6)  # x y w h score class
        detections.append(Detections(xywh_to_xyxy(rows[:, :4]), rows[:, 4], rows[:, 5]))
    return detections
