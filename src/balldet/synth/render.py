"""Rendering of synthetic football frames (numpy + cv2): pitch, lines, stands, players, one small ball.

A frame is drawn from a :class:`Look` (what one recording looks like: grass, camera, kits, grading)
and a frame number (players, camera and zoom move smoothly with it), with a random generator for
the per-frame details (ball placement, noise). Same inputs, same pixels.

Geometry: the pitch is a 105 x 68 m plane seen by a camera behind the near touchline; a homography
maps pitch metres to pixels. Sizes of players and ball are not physical (the ball would be a dot):
they follow the perspective scale but are sized for a detector to learn quickly.

The parts: :mod:`~balldet.synth.look` (per-recording look), :mod:`~balldet.synth.camera`
(geometry), :mod:`~balldet.synth.pitch` (ground, lines, stands, goals),
:mod:`~balldet.synth.figures` (players and ball); this module composes a frame and finishes
it like a camera would.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import cv2
import numpy as np

from balldet.synth.camera import Box, camera_homography, clamp, fixed_point, play_anchor
from balldet.synth.figures import Player, draw_in_depth_order, place_ball, place_players
from balldet.synth.look import STYLES, Color, Kit, Look, stable_int
from balldet.synth.styles import make_look
from balldet.synth.pitch import draw_goals, render_ground

__all__ = ["STYLES", "Box", "Color", "Frame", "Kit", "Look", "compose_frame", "make_look", "render_frame",
           "stable_int"]

BASE_WIDTH, BASE_HEIGHT = 320, 192  # the image size object sizes are tuned for; others scale them


class Frame(NamedTuple):
    """A rendered frame: BGR uint8 image, the ball box (x1, y1, x2, y2) or None, player boxes."""

    image: np.ndarray
    ball: Box | None
    players: list[Box]


def render_frame(rng: np.random.Generator, width: int, height: int, look: Look, *, frame: int = 0,
                 ball: bool | None = None) -> Frame:
    """One frame of a recording with ``look`` at ``frame``. ball: None = present in ~90% of frames.

    Returns the BGR image, the ball box (x1, y1, x2, y2) in pixels clipped to the image (None for a
    ball-free frame) and the boxes of every drawn player (referee and keepers included).
    """
    k = math.sqrt(width * height / (BASE_WIDTH * BASE_HEIGHT))
    with_ball = bool(rng.random() >= 0.1) if ball is None else ball
    anchor = play_anchor(look, frame)
    p1, f1 = look.motion[6:8]
    zoom = look.zoom * (1 + 0.05 * math.sin(2 * np.pi * frame / p1 + f1))
    hom = camera_homography(look, clamp(anchor[0], 10, 95), zoom, width, height)
    near_h, near_d = look.player_height * zoom * k, look.ball_diameter * zoom * k

    img, grass, line = render_ground(look, hom, width, height, k)
    players = place_players(look, hom, frame, anchor, near_h, k, width, height, rng)
    ball_at = place_ball(look, hom, players, line, grass, anchor, near_d, k, rng) if with_ball else None
    img = compose_frame(img, grass, look, hom, players, ball_at, near_h, k, rng)
    player_boxes = [_clip(p.box, width, height) for p in players]
    ball_box = None
    if ball_at is not None:
        cx, cy, r, _ = ball_at
        ball_box = _clip((cx - r, cy - r, cx + r, cy + r), width, height)
    if look.overlay:
        _scoreboard(img, look, k, [b for b in [ball_box, *player_boxes] if b is not None])
    return Frame(img, ball_box, player_boxes)


def compose_frame(ground: np.ndarray, grass: np.ndarray, look: Look, hom: np.ndarray, players: list[Player],
                  ball_at: tuple[float, float, float, float] | None, near_h: float, k: float,
                  rng: np.random.Generator, *, ball_shadow: tuple[float, float, float] | None = None) -> np.ndarray:
    """The frame over its ground (float32 from :func:`~balldet.synth.pitch.render_ground`, changed in
    place): shadows, goals, players and the ball (``cx, cy, r, ground y``; None: not drawn) back to
    front, then the camera's finish; BGR uint8.

    ball_shadow: ``(x, ground y, radius)`` of the ball's shadow when it is not the one under
    ``ball_at`` (a ball high in the air casts a smaller one); default: under ``ball_at``, if any.
    """
    height, width = ground.shape[:2]
    img = ground
    # Shadows on the ground, then (anti-aliased drawing needs 8 bits) goals and objects back to front.
    shadow = np.zeros((height, width), np.uint8)
    sdx, sdy, strength = look.shadow
    for p in players:
        centre = fixed_point(p.fx + sdx * p.h, p.fy + 0.02 * p.h)
        cv2.ellipse(shadow, centre, (round(8 * (0.45 * p.w + abs(sdx) * 0.5 * p.h)), round(8 * max(1.0, sdy * p.h))),
                    0, 0, 360, 255, -1, cv2.LINE_AA, shift=3)
    if ball_shadow is None and ball_at is not None:
        ball_shadow = (ball_at[0], ball_at[3], ball_at[2])
    if ball_shadow is not None:
        cx, ground_y, r = ball_shadow
        cv2.ellipse(shadow, fixed_point(cx + sdx * 2 * r, ground_y), (round(8 * r), round(8 * max(0.8, 0.4 * r))),
                    0, 0, 360, 255, -1, cv2.LINE_AA, shift=3)
    img *= (1 - strength / 255 * shadow.astype(np.float32) * grass)[..., None]
    img = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    draw_goals(img, look, hom, near_h, k)
    draw_in_depth_order(img, look, players, ball_at, rng)
    return _finish(img, look, rng, k)


def _clip(box: Box, width: int, height: int) -> Box:
    x1, y1, x2, y2 = box
    return clamp(x1, 0, width), clamp(y1, 0, height), clamp(x2, 0, width), clamp(y2, 0, height)


def _finish(img: np.ndarray, look: Look, rng: np.random.Generator, k: float) -> np.ndarray:
    """Camera effects: blur, vignette, colour grading, gamma, sensor noise (uniform); to uint8."""
    height, width = img.shape[:2]
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), look.blur * k)
    if look.vignette:
        img *= _vignette(width, height, float(look.vignette))
    # Channel gains, then saturation (mix with the channel mean), as one 3x3 colour matrix.
    s = float(look.saturation)
    grade = (s * np.eye(3) + (1 - s) / 3 * np.ones((3, 3))) @ np.diag(look.gains)
    img = cv2.transform(img, grade.astype(np.float32))
    np.clip(img + 0.5, 0, 255, out=img)
    img = cv2.LUT(img.astype(np.uint8), _gamma_lut(float(look.gamma))).astype(np.float32)
    img += (rng.random(img.shape, dtype=np.float32) - np.float32(0.5)) * np.float32(look.noise * math.sqrt(12))
    np.clip(img + 0.5, 0, 255, out=img)
    return img.astype(np.uint8)


@lru_cache(maxsize=16)
def _vignette(width: int, height: int, strength: float) -> np.ndarray:
    yy, xx = np.meshgrid(np.linspace(-1, 1, height, dtype=np.float32), np.linspace(-1, 1, width, dtype=np.float32),
                         indexing="ij")
    return np.repeat((1 - np.float32(strength) * (xx * xx + yy * yy) / 2)[..., None], 3, axis=2)


@lru_cache(maxsize=16)
def _gamma_lut(gamma: float) -> np.ndarray:
    return np.clip(255 * (np.arange(256) / 255) ** gamma + 0.5, 0, 255).astype(np.uint8)


def _scoreboard(img: np.ndarray, look: Look, k: float, boxes: list[Box]) -> None:
    """Broadcast graphics in the top-left corner, unless they would cover something labelled."""
    x0, y0, x1, y1 = 4 * k, 4 * k, 74 * k, 14 * k
    if any(b[0] < x1 and b[2] > x0 and b[1] < y1 and b[3] > y0 for b in boxes):
        return
    region = img[round(y0):round(y1), round(x0):round(x1)]
    region[:] = (region * 0.25 + 25).astype(np.uint8)
    for i, kit in enumerate(look.kits[:2]):
        xa = round(x0 + (3 + 34 * i) * k)
        cv2.rectangle(img, (xa, round(y0 + 2 * k)), (xa + round(4 * k), round(y1 - 2 * k)), kit.shirt, -1)
        for j in range(3):
            xs = xa + round((7 + 7 * j) * k)
            cv2.rectangle(img, (xs, round(y0 + 4 * k)), (xs + round(4 * k), round(y1 - 4 * k)), (225, 225, 225), -1)
