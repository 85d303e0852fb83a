"""Camera geometry of synthetic frames: pitch metres to pixels, perspective scale, fixed-point drawing.

The pitch is a 105 x 68 m plane (x along the touchlines, y away from the camera) seen by a camera
behind the near touchline that pans with the play; a homography maps pitch metres to pixels.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from balldet.synth.look import Look

PITCH_LENGTH = 105.0
PITCH_WIDTH = 68.0
MIN_SCALE = 0.62  # smallest perspective scale of an object (far touchline)

Box = tuple[float, float, float, float]


def play_anchor(look: Look, frame: int) -> tuple[float, float]:
    """Where the play (and the camera) is at a frame number, pitch metres."""
    p1, f1, p2, f2, p3, f3 = look.motion[:6]
    two_pi = 2 * np.pi
    x = 52.5 + 34 * math.sin(two_pi * frame / p1 + f1) + 9 * math.sin(two_pi * frame / p2 + f2)
    y = 34 + 16 * math.sin(two_pi * frame / p3 + f3)
    return clamp(x, 3, 102), clamp(y, 6, 62)


def camera_homography(look: Look, cx: float, zoom: float, width: int, height: int) -> np.ndarray:
    """Homography pitch metres -> pixels of a camera behind the halfway line, panned to cx."""
    half = 20.5 / zoom
    yn, dist = look.y_near, look.cam_dist
    r = (PITCH_WIDTH + dist) / (yn + dist)
    mid = PITCH_LENGTH / 2
    src = np.float32([
        [cx - half, yn], [cx + half, yn],
        [mid + (cx + half - mid) * r, PITCH_WIDTH], [mid + (cx - half - mid) * r, PITCH_WIDTH],
    ])
    top = look.far_row * height
    dst = np.float32([[0, height], [width, height], [width, top], [0, top]])
    return cv2.getPerspectiveTransform(src, dst)


def project(hom: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Points (n, 2) through a homography."""
    return cv2.perspectiveTransform(np.asarray(pts, np.float64).reshape(-1, 1, 2), hom).reshape(-1, 2)


def perspective_scale(look: Look, pitch_y: np.ndarray | float) -> np.ndarray:
    """Size of an object at pitch depth y relative to the near touchline; bounded, so far objects stay learnable."""
    s = (look.y_near + look.cam_dist) / (np.asarray(pitch_y, np.float64) + look.cam_dist)
    return np.clip(s, MIN_SCALE, 1.15)


def fixed_points(pts: np.ndarray) -> np.ndarray:
    """Sub-pixel cv2 drawing coordinates (shift=3)."""
    return np.round(np.asarray(pts) * 8).astype(np.int32)


def fixed_point(x: float, y: float) -> tuple[int, int]:
    """One point in sub-pixel cv2 drawing coordinates (shift=3)."""
    return round(x * 8), round(y * 8)


def clamp(value: float, low: float, high: float) -> float:
    return float(min(max(value, low), high))
