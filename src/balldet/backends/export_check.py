"""Does an exported model detect what the weights it was exported from detect?

Both are run as balldet predicts: through the backend's wrapper (its letterbox, decoding and NMS,
scores down to 0.001, 300 boxes a frame), the exported file through the framework's own runtime for
it -- onnxruntime on the CPU for ONNX (ultralytics' ``AutoBackend``, yolov5's ``DetectMultiBackend``),
``torch.jit.load`` for TorchScript -- and the weights as ``balldet predict`` runs them, on the CPU.

Frames are letterboxed to the exported input (``imgsz`` x ``imgsz``) here, once, and both models are
given that square picture: an exported model takes only its one input shape, while a ``.pt`` is given
the smallest stride-multiple rectangle around a frame, so fed the frame itself the two would see
other pixels and the check would measure letterboxing rather than the export. A square picture of
the input size passes through both frameworks' letterbox unchanged. Boxes are compared in the pixels
of that input.

Boxes are matched one to one (same class, corners within the tolerance) and each pair's largest
corner and score differences are reported. A box with no counterpart is forgiven only where the
other model may have cut it legitimately: a score within the score tolerance of the threshold
(0.001), or of the lowest kept score when the other model kept its maximum of 300 boxes. Anything
else fails the check, as does a check that compared no box at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from balldet.backends.base_model import PREDICT_CONF, PREDICT_MAX_DET, Detections
from balldet.errors import BackendError, BalldetError

# Measured on the CPU (torch 2.14.1, onnxruntime 1.32.0), yolov8n and yolov5n calibrated to give spread
# scores: ONNX against the .pt moves box corners by up to 0.011 px (ultralytics) and 0.016 px (yolov5)
# at imgsz 320 (tests/test_export.py), 0.035 px at 640 and 0.056 px at 1280 (yolov5), scores by up to
# 6.4e-5; TorchScript by 0 (yolov5) and 0.015 px, 1.9e-5 (ultralytics). float32 errors grow with the
# coordinates, so the box tolerance is a fraction of the input's side: 0.1 px at imgsz 640 (0.05 at
# 320, 0.2 at 1280), about 3x what was measured; far below what a wrong export (other preprocessing, a
# changed operator) moves: pixels.
BOX_TOLERANCE = 1 / 6400
SCORE_TOLERANCE = 1e-3
# Boxes further apart than this are not taken for the same box with a wrong position.
PAIR_GATE_PX = 2.0
# The letterbox border, as both frameworks pad.
PAD_VALUE = 114
# Frames a check runs on when given none: drawn here (a pitch, lines, players, a ball), landscape,
# portrait and a wide technical-camera shape, so that the letterbox pads each way.
DRAWN_SIZES = ((1280, 720), (720, 1280), (1920, 540))


class ExportCheckFailed(BalldetError):
    """An exported model does not detect what its weights detect (its file is not kept)."""

    exit_code = 1


@dataclass
class FrameComparison:
    """One frame's boxes from the weights (reference) and from the exported model, compared."""

    frame: str
    reference: int
    exported: int
    matched: int = 0
    borderline: int = 0
    max_box_px: float = 0.0
    max_score: float = 0.0
    problems: list[str] = field(default_factory=list)


@dataclass
class ExportCheck:
    """The check of one exported file on a few frames."""

    path: Path
    imgsz: int
    frames: list[FrameComparison]
    box_tolerance: float  # px of the input
    score_tolerance: float = SCORE_TOLERANCE

    @property
    def matched(self) -> int:
        return sum(frame.matched for frame in self.frames)

    @property
    def passed(self) -> bool:
        return self.matched > 0 and not any(frame.problems for frame in self.frames)

    @property
    def max_box_px(self) -> float:
        return max((frame.max_box_px for frame in self.frames), default=0.0)

    @property
    def max_score(self) -> float:
        return max((frame.max_score for frame in self.frames), default=0.0)

    def summary(self) -> str:
        borderline = sum(frame.borderline for frame in self.frames)
        cut = f", {borderline} borderline box(es) left unpaired" if borderline else ""
        return (f"{self.matched} boxes on {len(self.frames)} frames paired one to one{cut}; largest difference "
                f"{self.max_box_px:.2g} px in box corners (tolerance {self.box_tolerance:g} px of the {self.imgsz} px "
                f"input), {self.max_score:.2g} in scores (tolerance {self.score_tolerance:g})")

    def problems(self, limit: int = 8) -> list[str]:
        found = [f"{frame.frame}: {problem}" for frame in self.frames for problem in frame.problems]
        if not self.matched:
            found.append("no box to compare: neither model found anything on these frames; check on frames "
                         "where the weights find something (--check <frames folder>)")
        return found[:limit] + ([f"... {len(found) - limit} more"] if len(found) > limit else [])


def letterbox(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` (BGR uint8) scaled to fit ``size`` x ``size`` and padded to it, centred, as both
    frameworks letterbox a frame for a square input."""
    import cv2

    height, width = image.shape[:2]
    ratio = size / max(height, width)
    new_w, new_h = max(1, round(width * ratio)), max(1, round(height * ratio))
    if (new_w, new_h) != (width, height):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    out = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = image
    return out


def read_frame(path: Path) -> np.ndarray:
    """A frame as both frameworks read one: BGR, EXIF orientation applied (OpenCV does)."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise BackendError(f"{path} cannot be read as an image", fix="give a folder of readable frames")
    return image


def drawn_frames() -> list[tuple[str, np.ndarray]]:
    """Frames to check on when none are given: grass with stripes and noise, pitch lines, players as
    dark and light figures, a small white ball; the same every time."""
    import cv2

    rng = np.random.default_rng(0)
    frames = []
    for index, (width, height) in enumerate(DRAWN_SIZES):
        grass = np.empty((height, width, 3), dtype=np.float32)
        grass[:] = (40, 140, 60)
        stripes = ((np.arange(width) // max(1, width // 12)) % 2).astype(np.float32) * 18
        grass += stripes[None, :, None] + rng.normal(0, 8, (height, width, 3))
        image = np.clip(grass, 0, 255).astype(np.uint8)
        cv2.line(image, (width // 2, 0), (width // 2, height), (235, 235, 235), max(2, width // 400))
        cv2.circle(image, (width // 2, height // 2), min(width, height) // 5, (235, 235, 235), max(2, width // 400))
        unit = min(width, height) / 720
        for _ in range(6):
            x, y = int(rng.uniform(0.05, 0.95) * width), int(rng.uniform(0.2, 0.9) * height)
            color = (40, 40, 200) if rng.random() < 0.5 else (230, 230, 230)
            w, h = int(22 * unit), int(60 * unit)
            cv2.rectangle(image, (x, y - h), (x + w, y), color, -1)
            cv2.circle(image, (x + w // 2, y - h - int(8 * unit)), int(8 * unit), (120, 160, 220), -1)
        ball = (int(rng.uniform(0.1, 0.9) * width), int(rng.uniform(0.2, 0.9) * height))
        cv2.circle(image, ball, max(3, int(7 * unit)), (250, 250, 250), -1)
        frames.append((f"drawn-{index + 1} ({width}x{height})", image))
    return frames


def predictions(model_type: str, model: Path, inputs: Sequence[np.ndarray], *, imgsz: int,
                cache_dir: Path) -> list[Detections]:
    """Detections of ``model`` (weights or an exported file) on each square input, one at a time (an
    exported model takes batches of one), through the backend's wrapper on the CPU."""
    from balldet.backends.exporters import quiet_info
    from balldet.backends.registry import get_model_wrapper

    wrapper = get_model_wrapper(model_type)(cache_dir)
    # ultralytics says on stdout which runtime loads an exported file (at its first prediction)
    with quiet_info(logging.getLogger("ultralytics")):
        wrapper.load(Path(model).absolute(), device="cpu")
        return [wrapper.predict_batch([image], image_size=imgsz)[0] for image in inputs]


def box_tolerance_px(imgsz: int) -> float:
    """How far box corners may move on an input of ``imgsz`` x ``imgsz``, in its pixels."""
    return BOX_TOLERANCE * imgsz


def compare(reference: Detections, exported: Detections, frame: str, *, box_tolerance: float,
            score_tolerance: float = SCORE_TOLERANCE, conf: float = PREDICT_CONF,
            max_det: int = PREDICT_MAX_DET) -> FrameComparison:
    """One frame's boxes paired one to one, the closest pairs first, each box in one pair at most.

    Closeness is the larger of the corner and the score difference, each in its tolerance: boxes
    clipped to the input's border can share their corners, and only their scores tell them apart."""
    n_ref, n_exp = len(reference.scores), len(exported.scores)
    result = FrameComparison(frame, n_ref, n_exp)
    corners = np.full((n_ref, n_exp), np.inf)
    scores = np.zeros((n_ref, n_exp))
    if n_ref and n_exp:
        corners = np.abs(reference.boxes[:, None, :] - exported.boxes[None, :, :]).max(axis=2)
        corners[reference.classes[:, None] != exported.classes[None, :]] = np.inf
        scores = np.abs(reference.scores[:, None] - exported.scores[None, :])
    closeness = np.maximum(corners / max(box_tolerance, 1e-12), scores / max(score_tolerance, 1e-12))
    closeness[corners > PAIR_GATE_PX] = np.inf
    paired = (np.zeros(n_ref, dtype=bool), np.zeros(n_exp, dtype=bool))
    for flat in np.argsort(closeness, axis=None, kind="stable"):
        i, j = np.unravel_index(flat, closeness.shape)
        if not np.isfinite(closeness[i, j]):
            break
        if paired[0][i] or paired[1][j]:
            continue
        paired[0][i] = paired[1][j] = True
        result.max_box_px = max(result.max_box_px, float(corners[i, j]))
        result.max_score = max(result.max_score, float(scores[i, j]))
        if closeness[i, j] > 1:
            result.problems.append(f"box {_box(reference, i)} differs by {corners[i, j]:.3g} px, its score by "
                                   f"{scores[i, j]:.3g}")
        else:
            result.matched += 1
    sides = (("the weights", reference, exported, corners), ("the export", exported, reference, corners.T))
    for (name, own, other, distances), done in zip(sides, paired):
        # the other model kept its maximum of boxes: it cut at its lowest score
        cut = float(other.scores.min()) if len(other.scores) >= max_det else None
        for i in np.flatnonzero(~done):
            score = float(own.scores[i])
            if score < conf + score_tolerance or (cut is not None and score <= cut + score_tolerance):
                result.borderline += 1
                continue
            nearest = float(distances[i].min()) if distances.shape[1] else float("inf")
            result.problems.append(f"box {_box(own, i)} of {name} has no counterpart (nearest of its class: "
                                   f"{nearest:.3g} px)")
    return result


def _box(detections: Detections, i: int) -> str:
    x1, y1, x2, y2 = (float(v) for v in detections.boxes[i])
    return f"[{x1:.1f} {y1:.1f} {x2:.1f} {y2:.1f}] class {int(detections.classes[i])} score {detections.scores[i]:.4f}"
