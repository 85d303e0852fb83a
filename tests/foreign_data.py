"""A corpus of *foreign* datasets, built by the tests themselves (never by balldet's synthetic
generator): what a user brings from a phone, a labelling tool or an ultralytics project.

Each dataset is drawn from a seed: plain backgrounds with noise, balls (class 0, discs) and players
(class 1, rectangles). The corpus covers PNG and JPEG frames, upper-case extensions (.JPG, .PNG),
grayscale frames, EXIF orientations 3, 6 and 8 (real EXIF written with PIL; the pixels are stored
turned so that the frame *as displayed* is the drawn one), label files with CRLF line endings and
trailing spaces, ball-free frames, two classes, and ultralytics data.yaml files naming the classes
as a list and as a dict, in the plain layout (images/, labels/) and in ultralytics' split layout
(images/train, images/val, labels/..., a data.yaml with ``path: ..``).

Labels are in the displayed (upright) frame, as a labelling tool gives them. Predictions are made
from the labels with a seeded generator: perturbed boxes, misses, false positives, wrong classes,
score ties, images without a prediction file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

BALL, PLAYER = 0, 1
EXIF_ORIENTATION = 0x0112
# What PIL's exif_transpose does for each orientation, and the inverse we store the pixels with.
_DISPLAY = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_270, 8: Image.Transpose.ROTATE_90}
_STORE = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


@dataclass(frozen=True)
class Box:
    cls: int
    cx: float
    cy: float
    w: float
    h: float  # normalised to the displayed frame


@dataclass(frozen=True)
class FrameSpec:
    name: str  # file name with its extension, as written
    size: tuple[int, int]  # (width, height) as displayed
    gray: bool = False
    orientation: int | None = None  # EXIF orientation tag written into the file
    crlf: bool = False  # label file with CRLF line endings and trailing spaces
    boxes: tuple[Box, ...] = ()
    plain: bool = False  # a plain background (what a tiny model learns in seconds)

    @property
    def fmt(self) -> str:
        return "PNG" if self.name.lower().endswith(".png") else "JPEG"

    @property
    def stem(self) -> str:
        return self.name.rsplit(".", 1)[0]


@dataclass
class ForeignDataset:
    """A dataset of the corpus: where it is, what balldet should be given, and what it holds."""

    name: str
    root: Path
    argument: str  # what `balldet evaluate --dataset` is given
    images: Path  # the folder of the frames that are scored
    labels: Path
    names: list[str] | None
    frames: list[FrameSpec] = field(default_factory=list)
    split: str | None = None


# --------------------------------------------------------------------------- drawing


def _random_boxes(rng: np.random.Generator, size: tuple[int, int], classes: tuple[int, ...], count: int,
                  *, big: bool = False) -> tuple[Box, ...]:
    width, height = size
    boxes = []
    for _ in range(count):
        cls = int(rng.choice(classes))
        if cls == BALL:
            # tiny to medium balls, in pixels
            side = float(rng.choice([28, 36, 44] if big else [6, 10, 16, 24, 40]))
            w_px, h_px = side, side
        else:
            w_px, h_px = float(rng.uniform(14, 60)), float(rng.uniform(30, min(height - 4, 140)))
        cx = float(rng.uniform(w_px / 2 + 1, width - w_px / 2 - 1))
        cy = float(rng.uniform(h_px / 2 + 1, height - h_px / 2 - 1))
        boxes.append(Box(cls, cx / width, cy / height, w_px / width, h_px / height))
    return tuple(boxes)


def draw_frame(spec: FrameSpec, seed: int) -> Image.Image:
    """The frame as displayed: a noisy gradient, white-ish discs for balls, dark rectangles for players."""
    rng = np.random.default_rng(seed)
    width, height = spec.size
    y, x = np.mgrid[0:height, 0:width]
    # A background of its own per frame (colours, gradient, stripes): frames must not look alike.
    if spec.plain:
        pixels = np.clip(rng.uniform(60, 120, 3) + rng.normal(0, 4, (height, width, 3)), 0, 255).astype(np.uint8)
        return _draw_objects(Image.fromarray(pixels, "RGB"), spec)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * x / width + np.sin(angle) * y / height)[..., None]
    stripes = (np.sin((x * np.cos(angle + 1) + y * np.sin(angle + 1)) / rng.uniform(6, 30))[..., None] > 0)
    base = rng.uniform(40, 160, 3) + rng.uniform(-60, 60, 3) * ramp + rng.uniform(-25, 25, 3) * stripes
    pixels = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    pen = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 4))):  # pitch lines
        x1, y1, x2, y2 = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0, width), rng.uniform(0, height)
        pen.line([x1, y1, x2, y2], fill=(235, 235, 225), width=int(rng.integers(1, 3)))
    return _draw_objects(image, spec)


def _draw_objects(image: Image.Image, spec: FrameSpec) -> Image.Image:
    width, height = spec.size
    pen = ImageDraw.Draw(image)
    for box in spec.boxes:
        x1, y1 = (box.cx - box.w / 2) * width, (box.cy - box.h / 2) * height
        x2, y2 = (box.cx + box.w / 2) * width, (box.cy + box.h / 2) * height
        if box.cls == BALL:
            pen.ellipse([x1, y1, x2 - 1, y2 - 1], fill=(250, 245, 235), outline=(30, 30, 30))
        else:
            pen.rectangle([x1, y1, x2 - 1, y2 - 1], fill=(200, 30, 40))
            head = [x1 + (x2 - x1) * 0.3, y1, x2 - (x2 - x1) * 0.3 - 1, y1 + (y2 - y1) * 0.2]
            pen.rectangle(head, fill=(230, 190, 160))
    return image.convert("L") if spec.gray else image


def write_frame(spec: FrameSpec, folder: Path, seed: int) -> Path:
    """Write the frame's file: the drawn picture stored turned by its EXIF orientation."""
    shown = draw_frame(spec, seed)
    path = folder / spec.name
    if spec.orientation is None:
        shown.save(path, format=spec.fmt, **({"quality": 95} if spec.fmt == "JPEG" else {}))
        return path
    stored = shown.transpose(_STORE[spec.orientation])
    exif = stored.getexif()
    exif[EXIF_ORIENTATION] = spec.orientation
    stored.save(path, format=spec.fmt, exif=exif, **({"quality": 95} if spec.fmt == "JPEG" else {}))
    return path


def label_text(boxes: tuple[Box, ...] | list[Box], *, crlf: bool = False, score: list[float] | None = None) -> str:
    """YOLO rows; with ``crlf`` CRLF line endings and trailing spaces, as some tools write them."""
    end = "  \r\n" if crlf else "\n"
    rows = []
    for i, box in enumerate(boxes):
        row = f"{box.cls} {box.cx:.6f} {box.cy:.6f} {box.w:.6f} {box.h:.6f}"
        if score is not None:
            row += f" {score[i]:.6f}"
        rows.append(row + end)
    return "".join(rows)


def write_frames(frames: list[FrameSpec], images: Path, labels: Path, seed: int) -> None:
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    for number, spec in enumerate(frames):
        write_frame(spec, images, seed * 1000 + number)
        (labels / f"{spec.stem}.txt").write_bytes(label_text(spec.boxes, crlf=spec.crlf).encode())


# --------------------------------------------------------------------------- the datasets


def _frames(seed: int, specs: list[dict], classes: tuple[int, ...]) -> list[FrameSpec]:
    rng = np.random.default_rng(seed)
    frames = []
    for spec in specs:
        size = spec.pop("size", (224, 160))
        count = spec.pop("count", int(rng.integers(1, 4)))
        boxes = _random_boxes(rng, size, classes, count, big=spec.get("plain", False))
        frames.append(FrameSpec(size=size, boxes=boxes, **spec))
    return frames


def phone_frames(root: Path, seed: int = 1) -> ForeignDataset:
    """One class (``ball``), plain folder, data.yaml with names as a list; every file oddity at once."""
    frames = _frames(seed, [
        {"name": "pitch_0001.jpg"},
        {"name": "pitch_0002.PNG", "crlf": True},
        {"name": "pitch_0003.JPG", "gray": True},
        {"name": "pitch_0004.png", "gray": True, "crlf": True},
        {"name": "phone_0005.jpg", "orientation": 3},
        {"name": "phone_0006.jpg", "orientation": 6, "size": (160, 224), "crlf": True},
        {"name": "phone_0007.JPG", "orientation": 8, "size": (144, 256)},
        {"name": "phone_0008.jpg", "orientation": 6, "size": (120, 200), "gray": True},
        {"name": "empty_0009.jpg", "count": 0},
        {"name": "pitch_0010.png", "orientation": 8, "size": (150, 210)},
        {"name": "pitch_0011.jpg", "count": 5, "size": (320, 200)},
        {"name": "pitch_0012.jpg", "count": 2, "crlf": True},
    ], classes=(BALL,))
    write_frames(frames, root / "images", root / "labels", seed)
    (root / "data.yaml").write_text(yaml.safe_dump({"names": ["ball"]}))
    return ForeignDataset("phone_frames", root, str(root), root / "images", root / "labels", ["ball"], frames)


def two_classes_dict(root: Path, seed: int = 2) -> ForeignDataset:
    """Balls and players, plain folder, data.yaml with names as a dict; EXIF-rotated and gray frames."""
    frames = _frames(seed, [
        {"name": "m_0001.jpg", "count": 4},
        {"name": "m_0002.jpg", "orientation": 6, "size": (160, 240), "count": 3},
        {"name": "m_0003.PNG", "gray": True, "count": 3, "crlf": True},
        {"name": "m_0004.jpg", "orientation": 8, "size": (180, 260), "count": 2},
        {"name": "m_0005.jpg", "orientation": 3, "count": 3, "crlf": True},
        {"name": "m_0006.png", "count": 0},
        {"name": "m_0007.jpg", "size": (320, 240), "count": 6},
        {"name": "m_0008.JPG", "gray": True, "orientation": 6, "size": (170, 230), "count": 2},
    ], classes=(BALL, PLAYER))
    write_frames(frames, root / "images", root / "labels", seed)
    (root / "data.yaml").write_text("names:\n  0: ball\n  1: player\n")
    return ForeignDataset("two_classes_dict", root, str(root), root / "images", root / "labels",
                          ["ball", "player"], frames)


def ultralytics_layout(root: Path, seed: int = 3, *, count: int = 10, plain: bool = False,
                       classes: tuple[int, ...] = (BALL, PLAYER)) -> ForeignDataset:
    """ultralytics' split layout: images/{train,val}, labels/{train,val}, and yaml/data.yaml saying
    ``path: ..``, names as a list. The val split is what `balldet evaluate` scores by default.
    ``plain``: plain backgrounds and big objects, for a model trained in seconds."""
    orientations = [None, 6, None, 8, 3, None]
    names = ["ball", "player"][: max(classes) + 1]
    dataset_frames: dict[str, list[FrameSpec]] = {}
    for offset, split in enumerate(("train", "val")):
        specs = []
        for i in range(count):
            orientation = orientations[i % len(orientations)]
            size = (160, 224) if orientation in (6, 8) else (224, 160)
            name = f"{split}_{i:04d}" + (".JPG" if i % 5 == 4 else ".png" if i % 4 == 1 else ".jpg")
            specs.append({"name": name, "orientation": orientation if not name.endswith(".png") else None,
                          "size": size, "gray": i % 3 == 2, "crlf": i % 2 == 1, "count": 1 + i % 3,
                          "plain": plain})
        dataset_frames[split] = _frames(seed + offset, specs, classes=classes)
        write_frames(dataset_frames[split], root / "images" / split, root / "labels" / split, seed + offset)
    (root / "yaml").mkdir()
    (root / "yaml" / "data.yaml").write_text(yaml.safe_dump(
        {"path": "..", "train": "images/train", "val": "images/val", "names": names}, sort_keys=False
    ))
    return ForeignDataset("ultralytics_layout", root, str(root / "yaml" / "data.yaml"), root / "images" / "val",
                          root / "labels" / "val", names, dataset_frames["val"], split="val")


def unnamed_two_classes(root: Path, seed: int = 4) -> ForeignDataset:
    """Two class ids in the labels and nothing that names them (no data.yaml, no dataset.json)."""
    frames = _frames(seed, [{"name": f"u_{i:03d}.jpg", "count": 3} for i in range(4)], classes=(BALL, PLAYER))
    if {b.cls for f in frames for b in f.boxes} != {BALL, PLAYER}:
        frames[0] = FrameSpec(name=frames[0].name, size=frames[0].size,
                              boxes=(Box(BALL, 0.3, 0.3, 0.05, 0.07), Box(PLAYER, 0.6, 0.5, 0.2, 0.5)))
    write_frames(frames, root / "images", root / "labels", seed)
    return ForeignDataset("unnamed_two_classes", root, str(root), root / "images", root / "labels", None, frames)


CORPUS = {"phone_frames": phone_frames, "two_classes_dict": two_classes_dict, "ultralytics_layout": ultralytics_layout}


def build_corpus(folder: Path) -> dict[str, ForeignDataset]:
    """The datasets that can be scored (each in a folder of its own under ``folder``)."""
    return {name: build(folder / name) for name, build in CORPUS.items()}


# --------------------------------------------------------------------------- predictions


def make_predictions(dataset: ForeignDataset, folder: Path, seed: int, *, skip: int = 1) -> Path:
    """A model's predictions in ultralytics' save_txt+save_conf format, made from the labels: boxes
    moved and resized by varied amounts (some far enough to miss at strict IoUs), objects missed, false
    positives, a wrong class now and then, scores drawn from a few values (ties), and ``skip`` images
    without a prediction file (no detections)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    classes = len(dataset.names or ["x", "y"])
    ties = [0.9, 0.7, 0.7, 0.55, 0.4, 0.4, 0.2]
    for number, spec in enumerate(dataset.frames):
        if number < skip:
            continue
        rows: list[Box] = []
        scores: list[float] = []
        for box in spec.boxes:
            if rng.random() < 0.15:
                continue  # missed
            shift = float(rng.choice([0.02, 0.08, 0.2, 0.45]))
            cls = box.cls if rng.random() > 0.1 else int(rng.integers(0, classes))
            cx = box.cx + rng.normal(0, shift) * box.w
            cy = box.cy + rng.normal(0, shift) * box.h
            w = box.w * float(np.exp(rng.normal(0, shift)))
            h = box.h * float(np.exp(rng.normal(0, shift)))
            rows.append(Box(cls, cx, cy, w, h))
            scores.append(float(rng.choice(ties)) if rng.random() < 0.6 else float(rng.uniform(0.01, 1)))
            if rng.random() < 0.2:  # a second, looser detection of the same object
                rows.append(Box(cls, cx + 0.01, cy - 0.01, w * 1.3, h * 0.8))
                scores.append(float(rng.choice(ties)))
        for _ in range(int(rng.integers(0, 3))):  # false positives
            w, h = float(rng.uniform(0.03, 0.3)), float(rng.uniform(0.03, 0.3))
            cx, cy = float(rng.uniform(0.1, 0.9)), float(rng.uniform(0.1, 0.9))
            rows.append(Box(int(rng.integers(0, classes)), cx, cy, w, h))
            scores.append(float(rng.choice(ties)))
        (folder / f"{spec.stem}.txt").write_text(label_text(rows, score=scores))
    return folder


def dataset_json(root: Path, names: list[str], name: str = "foreign") -> None:
    """balldet's catalog metadata for a folder (names, id, version)."""
    (root / "dataset.json").write_text(json.dumps({
        "id": "f" * 32, "name": name, "version": "2.0.0", "tags": [], "names": names, "number_samples": 0,
    }))
