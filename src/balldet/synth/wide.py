"""Wide frames of a fixed technical camera: the whole pitch in one picture at least 3840 pixels wide.

A technical camera stands still and sees the whole pitch, so the ball is tiny: a few pixels at
the far touchline, about ten at the near one. These frames keep that (ball 4 to 12 px, players
20 to 60 px tall at 3840 wide) for detectors that work on slices of a wide frame. Sizes follow the
camera's perspective, with the ball drawn a little larger than a real one so it stays learnable.

A recording keeps the :class:`~balldet.synth.look.Look` of the broadcast renderer (grass, kits,
stands, grading, player tracks) and gets a fixed camera of its own. As the camera never moves, the
ground, stands and goals are rendered once per recording; a frame adds shadows, players and the
ball, then the camera's finish. The panorama is stitched from three lenses, so its brightness
varies a little across the width, as on the team's technical cameras.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from balldet.synth.camera import (
    PITCH_LENGTH, PITCH_WIDTH, Box, clamp, fixed_point, perspective_scale, play_anchor, project,
)
from balldet.synth.figures import Player, draw_in_depth_order, track_positions, visible_fraction
from balldet.synth.look import (
    HAIR, KIT_REF, SKIN_TONES, T_FX, T_HAIR, T_KIT, T_SKIN, T_STRIDE, T_WIDTH, Look, stable_int,
)
from balldet.synth.pitch import PITCH_LINES, draw_goals, render_ground
from balldet.synth.render import Frame
from balldet.synth.styles import make_look

WIDE_SIZE = (3840, 1080)  # a 4K-wide panorama of the whole pitch
MIN_WIDTH = 3840
ASPECT = (2.5, 5.0)  # width / height the camera's framing is made for
BALL_PX = (4.0, 12.0)  # ball diameter (and box side) in pixels, whatever the image size
PLAYER_PX = (20.0, 60.0)  # player height in pixels at 3840 wide; scales with the width
PLAYER_M = 1.8
GROUND_K = 1.6  # the ground renderer's scale at 3840 wide: lines 2-3 px, far boards ~14 px
LENSES = 3

_BALL_MODES = ("open", "open", "open", "feet", "behind", "line", "air")


@dataclass(frozen=True, eq=False)
class WideCamera:
    """A recording's look seen by its fixed technical camera (eq=False: cached by identity)."""

    look: Look
    width: int
    height: int
    hom: np.ndarray  # pitch metres -> pixels
    ball_m: float  # drawn ball diameter, metres
    lens_gains: tuple[float, ...]  # brightness of each stitched lens, left to right
    falloff: float  # brightness lost towards a lens' edges


def make_wide_camera(recording_id: str, seed: int = 0, width: int = WIDE_SIZE[0],
                     height: int = WIDE_SIZE[1]) -> WideCamera:
    """The fixed camera of one recording: deterministic from (recording id, seed, size)."""
    look = make_look(recording_id, "broadcast", seed)
    rng = np.random.default_rng(stable_int("wide-camera", recording_id, seed))
    near_v, far_v = rng.uniform(0.9, 0.95) * height, rng.uniform(0.22, 0.3) * height
    margin = rng.uniform(0.012, 0.03) * width
    half_near = width / 2 - margin
    half_far = half_near * rng.uniform(0.36, 0.42)  # the far touchline is further away, so shorter
    centre_far = width / 2 + rng.uniform(-0.02, 0.02) * width  # the camera is not exactly at halfway
    src = np.float32([[0, 0], [PITCH_LENGTH, 0], [PITCH_LENGTH, PITCH_WIDTH], [0, PITCH_WIDTH]])
    dst = np.float32([[margin, near_v], [width - margin, near_v], [centre_far + half_far, far_v],
                      [centre_far - half_far, far_v]])
    return WideCamera(
        look=look, width=width, height=height, hom=cv2.getPerspectiveTransform(src, dst),
        ball_m=rng.uniform(0.29, 0.34), lens_gains=tuple(rng.uniform(0.95, 1.05, LENSES)),
        falloff=rng.uniform(0.04, 0.1),
    )


def pixels_per_metre(hom: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Image scale at pitch points (n, 2), along the touchlines: the size of an upright object too."""
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    step = np.array([0.5, 0.0])
    a, b = project(hom, pts - step), project(hom, pts + step)
    return np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])


def render_wide_frame(rng: np.random.Generator, cam: WideCamera, *, frame: int = 0, ball: bool = True) -> Frame:
    """One frame of the camera's recording at ``frame``: BGR image, ball box (None when ``ball`` is
    False) and player boxes (referees included), boxes (x1, y1, x2, y2) in pixels inside the image."""
    look, width, height = cam.look, cam.width, cam.height
    ground, grass, shading = _static(cam)
    img = ground.copy()
    anchor = play_anchor(look, frame)
    players = _players(cam, frame, anchor)
    ball_at = _place_ball(cam, players, grass, anchor, rng) if ball else None
    _shadows(img, look, grass, players, ball_at)
    draw_in_depth_order(img, look, players, ball_at, rng)
    img = _finish(img, look, shading, rng)
    ball_box = None
    if ball_at is not None:
        cx, cy, r, _ = ball_at
        ball_box = (cx - r, cy - r, cx + r, cy + r)  # whole in the image: _place_ball sees to it
    return Frame(img, ball_box, [_clip(p.box, width, height) for p in players])


@lru_cache(maxsize=2)  # frames are rendered recording by recording
def _static(cam: WideCamera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What does not change between frames: ground, stands and goals (uint8 BGR), the grass mask, and
    the lens shading (float32, height x width)."""
    width, height, look = cam.width, cam.height, cam.look
    k = GROUND_K * width / WIDE_SIZE[0]
    img, grass, _ = render_ground(look, cam.hom, width, height, k)
    img = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    # draw_goals sizes posts from the broadcast look's perspective; this gives them 2.44 m here
    mid = PITCH_WIDTH / 2
    near_h = PLAYER_M * float(pixels_per_metre(cam.hom, [[0.0, mid]])[0]) / float(perspective_scale(look, mid))
    draw_goals(img, look, cam.hom, near_h, k)
    x = (np.arange(width, dtype=np.float64) + 0.5) / width * LENSES  # position in lens widths
    lens = np.minimum(x.astype(np.int64), LENSES - 1)
    edge = (x - lens - 0.5) * 2  # -1..1 across each lens
    gains = np.asarray(cam.lens_gains)[lens] * (1 - cam.falloff * edge * edge)
    gains = cv2.GaussianBlur(gains.reshape(1, -1), (0, 0), width / 40).reshape(-1)  # stitched seams are blended
    y = (np.arange(height, dtype=np.float64) + 0.5) / height * 2 - 1
    shading = np.outer(1 - 0.5 * cam.falloff * y * y, gains).astype(np.float32)
    for a in (img, grass, shading):
        a.flags.writeable = False
    return img, grass, shading


def _players(cam: WideCamera, frame: int, anchor: tuple[float, float]) -> list[Player]:
    """All 22 players and the referee (their tracks), and two assistant referees on the touchlines."""
    look, t = cam.look, cam.look.tracks
    pos = track_positions(look, frame, *anchor)
    ref = int(np.flatnonzero(t[:, T_KIT] == KIT_REF)[0])
    # each assistant follows the play in their half, one on each touchline
    assistants = np.array([[clamp(anchor[0] + 6, PITCH_LENGTH / 2, PITCH_LENGTH - 1), -1.2],
                           [clamp(anchor[0] - 6, 1, PITCH_LENGTH / 2), PITCH_WIDTH + 1.2]])
    pos = np.concatenate([pos, assistants])
    rows = [*range(len(t)), ref, ref]  # the assistants dress like the referee
    feet, ppm = project(cam.hom, pos), pixels_per_metre(cam.hom, pos)
    low, high = (v * cam.width / WIDE_SIZE[0] for v in PLAYER_PX)
    players = []
    for j, row in enumerate(rows):
        h = clamp(PLAYER_M * float(ppm[j]), low, high)
        players.append(Player(
            float(feet[j, 0]), float(feet[j, 1]), h, h * t[row, T_WIDTH], look.kits[int(t[row, T_KIT])],
            SKIN_TONES[int(t[row, T_SKIN])], HAIR[int(t[row, T_HAIR])],
            2 * np.pi * frame / t[row, T_STRIDE] + t[row, T_FX] + 1.3 * (j - row),  # assistants out of step
        ))
    return players


def _place_ball(cam: WideCamera, players: list[Player], grass: np.ndarray, anchor: tuple[float, float],
                rng: np.random.Generator) -> tuple[float, float, float, float]:
    """(centre x, centre y, radius, ground y) in pixels: the whole ball in the image, on or over grass,
    mostly near the play; hard cases too (at a player's feet, partly behind one, on a line, in the air)."""
    width, height = cam.width, cam.height
    inv = np.linalg.inv(cam.hom)
    for attempt in range(32):
        mode = _BALL_MODES[int(rng.integers(len(_BALL_MODES)))] if attempt < 24 else "open"
        lift = 0.0
        if mode in ("feet", "behind"):
            p = players[int(rng.integers(len(players)))]
            side = 1.0 if rng.random() < 0.5 else -1.0
            if mode == "behind":
                gu, gv = p.fx + side * rng.uniform(0.05, 0.45) * p.w, p.fy - rng.uniform(1.0, max(1.5, 0.25 * p.h))
            else:
                gu, gv = p.fx + side * rng.uniform(0.3, 0.9) * p.w, p.fy + rng.uniform(0.0, 0.06) * p.h
            gx, gy = project(inv, [[gu, gv]])[0]
        else:
            if mode == "line":
                poly = PITCH_LINES[int(rng.integers(len(PITCH_LINES)))]
                i = int(rng.integers(len(poly) - 1))
                gx, gy = poly[i] + rng.random() * (poly[i + 1] - poly[i])
            elif attempt % 2 == 0:
                gx, gy = anchor[0] + rng.normal(0, 8), anchor[1] + rng.normal(0, 6)
            else:  # anywhere on the pitch, so far and near balls both occur
                gx, gy = rng.uniform(-1, PITCH_LENGTH + 1), rng.uniform(-1, PITCH_WIDTH + 1)
            gu, gv = project(cam.hom, [[gx, gy]])[0]
            if mode == "air":
                lift = rng.uniform(0.5, 4.0)
        ppm = float(pixels_per_metre(cam.hom, [[gx, gy]])[0])
        r = clamp(cam.ball_m * ppm * rng.uniform(0.95, 1.05), *BALL_PX) / 2
        cx, cy, ground = gu, (gv if mode == "line" else gv - r - lift * ppm), gv
        if not (0 <= gu < width and 0 <= gv < height and grass[int(gv), int(gu)]):
            continue
        if not (r <= cx <= width - r and r <= cy <= height - r):
            continue
        if visible_fraction(cx, cy, r, ground, players, width, height) >= (0.5 if mode == "behind" else 0.65):
            return cx, cy, r, ground
    raise RuntimeError("no place for the ball")  # pragma: no cover - open grass near the play always exists


def _shadows(img: np.ndarray, look: Look, grass: np.ndarray, players: list[Player],
             ball_at: tuple[float, float, float, float] | None) -> None:
    """Shadows of players and ball on the grass, applied only where they fall (the frame is large)."""
    mask = np.zeros(grass.shape, np.uint8)
    sdx, sdy, strength = look.shadow
    for p in players:
        cv2.ellipse(mask, fixed_point(p.fx + sdx * p.h, p.fy + 0.02 * p.h),
                    (round(8 * (0.45 * p.w + abs(sdx) * 0.5 * p.h)), round(8 * max(1.0, sdy * p.h))),
                    0, 0, 360, 255, -1, cv2.LINE_AA, shift=3)
    if ball_at is not None:
        cx, _, r, ground = ball_at
        cv2.ellipse(mask, fixed_point(cx + sdx * 2 * r, ground), (round(8 * r), round(8 * max(0.8, 0.4 * r))),
                    0, 0, 360, 255, -1, cv2.LINE_AA, shift=3)
    mask[~grass] = 0
    ys, xs = np.nonzero(mask)
    shade = 1 - np.float32(strength / 255) * mask[ys, xs].astype(np.float32)
    img[ys, xs] = np.clip(img[ys, xs] * shade[:, None] + 0.5, 0, 255).astype(np.uint8)


def _finish(img: np.ndarray, look: Look, shading: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The camera: blur, lens shading, colour grading, gamma, sensor noise; to uint8."""
    out = cv2.GaussianBlur(img, (0, 0), look.blur).astype(np.float32)
    out *= shading[..., None]
    s = float(look.saturation)
    grade = (s * np.eye(3) + (1 - s) / 3 * np.ones((3, 3))) @ np.diag(look.gains)
    out = cv2.transform(out, grade.astype(np.float32))
    np.clip(out + 0.5, 0, 255, out=out)
    lut = np.clip(255 * (np.arange(256) / 255) ** float(look.gamma) + 0.5, 0, 255).astype(np.uint8)
    out = cv2.LUT(out.astype(np.uint8), lut).astype(np.float32)
    out += (rng.random(out.shape, dtype=np.float32) - np.float32(0.5)) * np.float32(look.noise * math.sqrt(12))
    np.clip(out + 0.5, 0, 255, out=out)
    return out.astype(np.uint8)


def _clip(box: Box, width: int, height: int) -> Box:
    x1, y1, x2, y2 = box
    return clamp(x1, 0, width), clamp(y1, 0, height), clamp(x2, 0, width), clamp(y2, 0, height)
