"""What the labelling-tool tests share: labelling batches made here (frames, boxes, batch.json through
balldet.labelling.batch), the separate venv holding the Label Studio server and datumaro
(scripts/ensure_env.sh makes it for scripts/test.sh), and datumaro's CVAT reader run in that venv."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import NETGUARD, REPO

LS_VENV = REPO / ".venv-label-studio"
LS_PYTHON = LS_VENV / "bin" / "python"
LS_REQUIREMENTS = REPO / "scripts" / "label-studio-server.txt"
NAMES = ["ball", "player"]


def label_studio_python() -> Path:
    """The venv's python; the test FAILS (not skips) when the venv is missing or older than its pins."""
    stamp = LS_VENV / ".balldet-installed"
    want = hashlib.sha256(LS_REQUIREMENTS.read_bytes()).hexdigest()
    if not LS_PYTHON.is_file():
        pytest.fail(f"{LS_VENV} is missing: the Label Studio server and datumaro these tests run live there; run "
                    "./scripts/test.sh (or BALLDET_LABEL_STUDIO_ENV=1 source scripts/ensure_env.sh) to make it",
                    pytrace=False)
    if not stamp.is_file() or stamp.read_text().strip() != want:
        pytest.fail(f"{LS_VENV} was made from other pins than {LS_REQUIREMENTS.name}; run ./scripts/test.sh to "
                    "refresh it", pytrace=False)
    return LS_PYTHON


def third_party_env(**extra: str) -> dict[str, str]:
    """The environment of a program of that venv: the suite's network guard on (it must reach nothing off-host)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "BALLDET_"))}
    env.update({"PYTHONPATH": str(NETGUARD), "PYTHONNOUSERSITE": "1"})
    env.update(extra)
    return env


@dataclass(frozen=True)
class FrameSpec:
    """A frame to put into a batch: recording, number, size, the model's boxes (class, x1, y1, x2, y2, score)."""

    recording: str
    frame: int
    width: int
    height: int
    boxes: tuple[tuple[int, float, float, float, float, float], ...]

    @property
    def stem(self) -> str:
        return f"{self.recording}_{self.frame:06d}"


REC_A = "20240801-Premier_League-Alpha-vs-Beta-01"
REC_B = "20240808-Premier_League-Gamma-vs-Delta-02"
FRAMES = (
    FrameSpec(REC_A, 100, 640, 360, ((0, 100.25, 80.5, 112.75, 93.0, 0.91), (1, 300.0, 100.0, 340.0, 200.0, 0.8))),
    FrameSpec(REC_A, 150, 640, 360, ((0, 400.0, 200.0, 411.0, 211.0, 0.42),)),
    FrameSpec(REC_A, 200, 640, 360, ((0, 10.0, 20.0, 22.0, 32.0, 0.3), (0, 500.5, 300.25, 510.5, 310.25, 0.12))),
    FrameSpec(REC_B, 40, 480, 272, ((0, 200.0, 100.0, 209.0, 109.0, 0.66),)),
    FrameSpec(REC_B, 90, 480, 272, ()),
    FrameSpec(REC_B, 130, 480, 272, ((1, 50.0, 60.0, 90.0, 160.0, 0.55),)),
)


def make_batch(folder: Path, frames: tuple[FrameSpec, ...] = FRAMES, names: list[str] = NAMES, seed: int = 0) -> Path:
    """A labelling batch as `label pick` writes one: images/, labels/ and predictions/ per frame, batch.json last."""
    from balldet.boxes import xyxy_to_yolo, yolo_rows
    from balldet.labelling.batch import Batch, BatchFrame, write_batch

    rng = np.random.default_rng(seed)
    for sub in ("images", "labels", "predictions"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    entries = []
    for spec in frames:
        # blocks of colour: each frame its own picture (no near-duplicates), small as a PNG
        blocks = rng.integers(0, 256, size=(spec.height // 16 + 1, spec.width // 16 + 1, 3), dtype=np.uint8)
        picture = np.repeat(np.repeat(blocks, 16, axis=0), 16, axis=1)[: spec.height, : spec.width]
        Image.fromarray(picture).save(folder / "images" / f"{spec.stem}.png")
        classes = [b[0] for b in spec.boxes]
        yolo = xyxy_to_yolo(np.array([b[1:5] for b in spec.boxes], dtype=np.float64).reshape(-1, 4),
                            spec.width, spec.height)
        (folder / "labels" / f"{spec.stem}.txt").write_text("".join(f"{r}\n" for r in yolo_rows(classes, yolo)))
        scored = yolo_rows(classes, yolo, [b[5] for b in spec.boxes])
        (folder / "predictions" / f"{spec.stem}.txt").write_text("".join(f"{r}\n" for r in scored))
        entries.append(BatchFrame(stem=spec.stem, file=f"images/{spec.stem}.png", recording=spec.recording,
                                  frame=spec.frame, source=f"videos/{spec.recording}.mp4", width=spec.width,
                                  height=spec.height, score=1.0 - spec.frame / 1000, reasons={"uncertainty": 0.5}))
    write_batch(folder, Batch(names=names, weights="run-0123", model_type="ultralytics", frames=entries))
    return folder


def predicted_corners(folder: Path, stem: str) -> list[tuple[int, float, float, float, float]]:
    """The batch's pre-annotations of a frame as balldet reads them: (class, x1, y1, x2, y2) in pixels."""
    from balldet.labelling.batch import read_batch
    from balldet.labelling.prelabels import prelabels

    batch = read_batch(folder)
    boxes = prelabels(folder, batch, batch.frame(stem))
    return [(int(c), *map(float, xyxy)) for c, xyxy in zip(boxes.classes, boxes.corners)]


def dataset_rows(folder: Path) -> dict[str, np.ndarray]:
    """A dataset folder's labels: {stem: (N, 5) rows class cx cy w h}."""
    from balldet.datasets.yolo import read_labels

    return {p.stem: read_labels(p) for p in sorted((folder / "labels").glob("*.txt"))}


DATUMARO_READER = textwrap.dedent("""
    import json, sys
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset

    dataset = Dataset.import_from(sys.argv[1], "cvat")
    labels = dataset.categories()[AnnotationType.label]
    items = []
    for item in dataset:
        height, width = item.media.data.shape[:2]  # the picture decoded: the zip's image itself
        boxes = [[labels[a.label].name, a.x, a.y, a.x + a.w, a.y + a.h] for a in item.annotations
                 if a.type == AnnotationType.bbox]
        items.append({"id": item.id, "path": item.media.path, "size": [width, height], "boxes": boxes})
    print(json.dumps({"labels": [c.name for c in labels], "items": items}))
""")


def read_with_datumaro(folder: Path) -> dict:
    """A CVAT for images 1.1 folder (annotations.xml, images/) as datumaro's CVAT importer reads it."""
    done = subprocess.run([str(label_studio_python()), "-c", DATUMARO_READER, str(folder)], capture_output=True,
                          text=True, env=third_party_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
