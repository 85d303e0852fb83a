"""The fixed camera of a synthetic clip and the players it sees.

A clip keeps the :class:`~balldet.synth.look.Look` of the broadcast renderer (grass, kits, stands,
grading, player tracks) and films it with the broadcast camera (:func:`~balldet.synth.camera.camera_homography`)
held still: one pan and one zoom for the whole clip, chosen so that a penalty spot and the centre
spot are both well inside the picture. The spots are drawn as painted discs of the ball's size (a
flattened ellipse, as a disc on the ground is seen from the stand): static, ball-like distractors a
tracker has to learn to ignore. Everything static (ground, lines, spots, stands) is rendered once per
clip.

Players follow the look's tracks (:func:`~balldet.synth.figures.track_positions`) around an anchor
that drifts slowly over the half the camera sees, so they move smoothly from frame to frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from balldet.synth.camera import (
    PITCH_LENGTH, PITCH_WIDTH, camera_homography, clamp, perspective_scale, project,
)
from balldet.synth.figures import Player, track_positions
from balldet.synth.look import HAIR, SKIN_TONES, T_FX, T_HAIR, T_KIT, T_SKIN, T_STRIDE, T_WIDTH, Look, stable_int
from balldet.synth.pitch import render_ground
from balldet.synth.render import BASE_HEIGHT, BASE_WIDTH
from balldet.synth.styles import make_look

PENALTY_SPOT_X = 11.0  # metres from the goal line
SPOT_FLATTEN = 0.6  # height / width of a spot's ellipse (a disc on the ground seen from the stand)


@dataclass(frozen=True, eq=False)
class ClipScene:
    """A recording's look filmed by a camera that does not move (eq=False: cached by identity)."""

    recording: str
    look: Look
    width: int
    height: int
    side: int  # 0: the camera sees the left penalty area (x = 0 goal), 1: the right one
    hom: np.ndarray  # pitch metres -> pixels, the same for every frame
    k: float  # object scale against the renderer's base size
    near_h: float  # player height (px) at the near touchline, before perspective
    near_d: float  # ball diameter (px) at the near touchline, before perspective
    spots: tuple[tuple[float, float, float, float], ...]  # (x, y, half width, half height) px: penalty, centre
    drift: tuple[float, ...]  # anchor of the play: base x, then amplitude, period, phase for x and for y

    @property
    def inv(self) -> np.ndarray:
        return _inverse(self)

    @property
    def far_v(self) -> float:
        """Row of the far touchline (the pitch ends there; boards and stands above)."""
        return float(project(self.hom, [[PITCH_LENGTH / 2, PITCH_WIDTH]])[0, 1])

    def ball_diameter(self, pitch_y: float | np.ndarray) -> np.ndarray:
        """Diameter (px) of a ball on the ground at pitch depth y, sized as the broadcast frames size it."""
        d = self.near_d * perspective_scale(self.look, pitch_y)
        return np.clip(d, 7 * self.k, 14 * self.k)

    def to_pixels(self, pts: np.ndarray) -> np.ndarray:
        return project(self.hom, pts)

    def to_pitch(self, pts: np.ndarray) -> np.ndarray:
        return project(self.inv, pts)

    def anchor(self, frame: int) -> tuple[float, float]:
        """Where the play is (pitch metres) at a frame number: a slow drift, so players move smoothly."""
        bx, ax, px, fx, ay, py, fy = self.drift
        two_pi = 2 * math.pi
        return bx + ax * math.sin(two_pi * frame / px + fx), PITCH_WIDTH / 2 + ay * math.sin(two_pi * frame / py + fy)

    def feet(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Every track's feet (n, 2) in pixels and height (n,) in pixels at a frame number."""
        pos = track_positions(self.look, frame, *self.anchor(frame))
        h = np.clip(self.near_h * perspective_scale(self.look, pos[:, 1]), 20 * self.k, 34 * self.k)
        return self.to_pixels(pos), h

    def players(self, frame: int) -> list[Player]:
        """The players in the picture at a frame number (the referee included), as drawn."""
        t, look = self.look.tracks, self.look
        feet, heights = self.feet(frame)
        players = []
        for j in range(len(t)):
            h = float(heights[j])
            p = Player(float(feet[j, 0]), float(feet[j, 1]), h, h * t[j, T_WIDTH], look.kits[int(t[j, T_KIT])],
                       SKIN_TONES[int(t[j, T_SKIN])], HAIR[int(t[j, T_HAIR])],
                       2 * np.pi * frame / t[j, T_STRIDE] + t[j, T_FX])
            x1, y1, x2, y2 = p.box
            if x2 > 0 and x1 < self.width and y2 > 0 and y1 < self.height:
                players.append(p)
        return players


@lru_cache(maxsize=8)
def _inverse(scene: ClipScene) -> np.ndarray:
    return np.linalg.inv(scene.hom)


def make_clip_scene(recording: str, seed: int = 0, width: int = 640, height: int = 384) -> ClipScene:
    """The fixed camera of one clip: deterministic from (recording id, seed, size)."""
    look = make_look(recording, "broadcast", seed)
    rng = np.random.default_rng(stable_int("clip-camera", recording, seed, width, height))
    side = int(rng.integers(2))
    k = math.sqrt(width * height / (BASE_WIDTH * BASE_HEIGHT))
    penalty = PENALTY_SPOT_X if side == 0 else PITCH_LENGTH - PENALTY_SPOT_X
    spots_m = np.array([[penalty, PITCH_WIDTH / 2], [PITCH_LENGTH / 2, PITCH_WIDTH / 2]])
    # the spots' span (fraction of the width) and their midpoint: pan and zoom that give them
    span, middle = rng.uniform(0.55, 0.68), 0.5 + rng.uniform(-0.04, 0.04)
    cx, zoom = _frame_spots(look, spots_m, span, middle, width, height)
    hom = camera_homography(look, cx, zoom, width, height)
    near_h, near_d = look.player_height * zoom * k, look.ball_diameter * zoom * k
    spots = []
    for (u, v), (x, y) in zip(project(hom, spots_m), spots_m):
        d = float(np.clip(near_d * perspective_scale(look, y), 7 * k, 14 * k))
        depth = project(hom, [[x, y - 0.5], [x, y + 0.5]])  # pixels a metre across, and a metre deep
        across = project(hom, [[x - 0.5, y], [x + 0.5, y]])
        flat = max(SPOT_FLATTEN, abs(depth[0, 1] - depth[1, 1]) / abs(across[1, 0] - across[0, 0]))
        spots.append((float(u), float(v), d / 2, d / 2 * flat))
    # the play drifts over the half in view: the formation's middle (see track_positions) near the spots' middle
    mid_x = float(spots_m[:, 0].mean())
    drift = (clamp((mid_x - 0.2 * PITCH_LENGTH / 2) / 0.8, 10, 95), rng.uniform(3, 6), rng.uniform(250, 600),
             rng.uniform(0, 2 * np.pi), rng.uniform(4, 8), rng.uniform(250, 600), rng.uniform(0, 2 * np.pi))
    return ClipScene(recording=recording, look=look, width=width, height=height, side=side, hom=hom, k=k,
                     near_h=near_h, near_d=near_d, spots=tuple(spots), drift=drift)


def _frame_spots(look: Look, spots: np.ndarray, span: float, middle: float, width: int,
                 height: int) -> tuple[float, float]:
    """Pan (cx) and zoom of the broadcast camera that put the two spots ``span`` of the width apart,
    their midpoint at ``middle`` of the width (bisections: the span grows with the zoom, the
    midpoint moves left as the camera pans right)."""
    def columns(cx: float, zoom: float) -> tuple[float, float]:
        u = project(camera_homography(look, cx, zoom, width, height), spots)[:, 0]
        return float(u.min()), float(u.max())

    def pan(zoom: float) -> float:
        lo, hi = 0.0, PITCH_LENGTH
        for _ in range(40):
            cx = (lo + hi) / 2
            a, b = columns(cx, zoom)
            lo, hi = (cx, hi) if (a + b) / 2 > middle * width else (lo, cx)
        return (lo + hi) / 2

    lo, hi = 0.3, 3.0
    for _ in range(40):
        zoom = (lo + hi) / 2
        a, b = columns(pan(zoom), zoom)
        lo, hi = (zoom, hi) if b - a < span * width else (lo, zoom)
    zoom = (lo + hi) / 2
    return pan(zoom), zoom


@lru_cache(maxsize=4)  # a clip is rendered frame after frame
def static_ground(scene: ClipScene) -> tuple[np.ndarray, np.ndarray]:
    """What never changes in a clip: the ground, lines, spots and stands (float32 BGR, read-only) and
    the grass mask."""
    img, grass, _ = render_ground(scene.look, scene.hom, scene.width, scene.height, scene.k, spots=scene.spots)
    img.flags.writeable = False
    grass.flags.writeable = False
    return img, grass
