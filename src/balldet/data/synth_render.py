"""Rendering of synthetic football frames (numpy + cv2): pitch, lines, stands, players, one small ball.

A frame is drawn from a :class:`Look` (what one recording looks like: grass, camera, kits, grading)
and a frame number (players, camera and zoom move smoothly with it), with a random generator for
the per-frame details (ball placement, noise). Same inputs, same pixels.

Geometry: the pitch is a 105 x 68 m plane seen by a camera behind the near touchline; a homography
maps pitch metres to pixels. Sizes of players and ball are not physical (the ball would be a dot):
they follow the perspective scale but are sized for a detector to learn quickly.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import cv2
import numpy as np

PITCH_LENGTH = 105.0
PITCH_WIDTH = 68.0
BASE_WIDTH, BASE_HEIGHT = 320, 192
MIN_SCALE = 0.62  # smallest perspective scale of an object (far touchline)
GRASS_CELL = 1.5  # metres per cell of the grass brightness texture
TEXTURE_MARGIN = (70.0, 20.0)  # metres around the pitch (x, y) covered by the ground texture
TEXTURE_PPM = 4.0  # ground texture pixels a metre

Box = tuple[float, float, float, float]
Color = tuple[int, int, int]

STYLES = ("broadcast", "public")


class Frame(NamedTuple):
    """A rendered frame: BGR uint8 image, the ball box (x1, y1, x2, y2) or None, player boxes."""

    image: np.ndarray
    ball: Box | None
    players: list[Box]


@dataclass(frozen=True)
class Kit:
    shirt: Color
    shorts: Color
    socks: Color


# BGR colours. White and light kits are on purpose: they are the ball's natural distractors.
TEAM_KITS: tuple[Kit, ...] = (
    Kit((40, 32, 190), (235, 235, 235), (40, 32, 190)),  # red / white
    Kit((45, 30, 170), (110, 40, 25), (45, 30, 170)),  # red / navy
    Kit((232, 232, 232), (45, 45, 45), (232, 232, 232)),  # white / black
    Kit((165, 70, 25), (235, 235, 235), (165, 70, 25)),  # blue / white
    Kit((225, 175, 95), (235, 235, 235), (225, 175, 95)),  # sky blue
    Kit((40, 205, 235), (50, 50, 50), (40, 205, 235)),  # yellow / black
    Kit((70, 35, 25), (70, 35, 25), (70, 35, 25)),  # dark navy
    Kit((30, 120, 240), (40, 40, 40), (30, 120, 240)),  # orange
    Kit((55, 25, 115), (55, 25, 115), (230, 230, 230)),  # maroon
    Kit((28, 28, 28), (230, 230, 230), (28, 28, 28)),  # black / white
)
REFEREE_KITS: tuple[Kit, ...] = (
    Kit((22, 22, 22), (22, 22, 22), (22, 22, 22)),
    Kit((60, 235, 215), (25, 25, 25), (25, 25, 25)),
    Kit((170, 80, 230), (25, 25, 25), (25, 25, 25)),
)
KEEPER_KITS: tuple[Kit, ...] = (
    Kit((60, 200, 90), (40, 40, 40), (60, 200, 90)),
    Kit((150, 40, 120), (150, 40, 120), (150, 40, 120)),
    Kit((20, 160, 200), (20, 160, 200), (20, 160, 200)),
    Kit((90, 90, 90), (40, 40, 40), (90, 90, 90)),
)
SKIN_TONES: tuple[Color, ...] = ((150, 180, 225), (115, 150, 200), (80, 110, 160), (50, 75, 115))
HAIR: tuple[Color, ...] = ((20, 20, 25), (30, 50, 80), (60, 110, 170), (40, 40, 45))
BOARD_COLORS: tuple[Color, ...] = (
    (170, 60, 20), (30, 30, 200), (235, 235, 235), (30, 200, 235), (20, 20, 20), (40, 140, 240),
    (120, 30, 90), (200, 160, 40),
)

# Formation of the team that defends x=0 (4-4-2), metres. Index 0 is the keeper.
FORMATION = (
    (5.0, 34.0),
    (22.0, 10.0), (20.0, 26.0), (20.0, 42.0), (22.0, 58.0),
    (40.0, 12.0), (37.0, 28.0), (37.0, 40.0), (40.0, 56.0),
    (52.0, 27.0), (52.0, 41.0),
)
# Markers: (defender index in one team) -> (attacker index in the other team) it follows closely.
MARKING = {1: 5, 2: 9, 3: 10, 4: 8}

# Track table columns.
T_KIT, T_BX, T_BY, T_AX, T_AY, T_PX, T_PY, T_FX, T_FY, T_SKIN, T_HAIR, T_LINK, T_DX, T_DY, T_STRIDE, \
    T_WIDTH = range(16)
KIT_A, KIT_B, KIT_REF, KIT_KEEPER_A, KIT_KEEPER_B = range(5)


@dataclass(frozen=True, eq=False)
class Look:
    """What one recording looks like: grass, lines, camera, kits, textures and colour grading."""

    style: str
    grass: tuple[float, float, float]
    stripe_width: float
    stripe_offset: float
    stripe_contrast: float
    checker: bool
    line_color: tuple[float, float, float]
    line_alpha: float
    line_px: int
    cam_dist: float
    y_near: float
    far_row: float
    zoom: float
    player_height: float
    ball_diameter: float
    ball_color: tuple[float, float, float]
    kits: tuple[Kit, ...]  # team A, team B, referee, keeper A, keeper B
    shadow: tuple[float, float, float]  # dx, dy (fraction of height), strength
    light: tuple[float, float, float]
    blur: float
    noise: float
    vignette: float
    gains: tuple[float, float, float]
    gamma: float
    saturation: float
    overlay: bool
    board_gap: float
    side_gap: float
    motion: tuple[float, ...]  # periods and phases of the play (anchor), zoom and player count
    texture: np.ndarray  # uint8 (h, w, 4): the ground in pitch coordinates, BGR + grass flag (255)
    crowd: np.ndarray  # uint8 (h, w, 3)
    boards: np.ndarray  # float32 (n, 3)
    tracks: np.ndarray  # float64 (n_tracks, 16)


def stable_int(*parts: object) -> int:
    """A platform-independent 64-bit integer from some values (for seeding generators)."""
    return int(hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()[:16], 16)


def _hsv_to_bgr(h: float, s: float, v: float) -> tuple[float, float, float]:
    px = np.uint8([[[round(h), round(s), round(v)]]])
    b, g, r = cv2.cvtColor(px, cv2.COLOR_HSV2BGR)[0, 0]
    return float(b), float(g), float(r)


def make_look(recording_id: str, style: str = "broadcast", seed: int = 0) -> Look:
    """The look of one recording: deterministic from (recording id, style, seed)."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")
    rng = np.random.default_rng(stable_int("look", recording_id, style, seed))
    public = style == "public"
    if public:  # higher camera, warmer grading, broadcast graphics
        grass = _hsv_to_bgr(rng.uniform(41, 47), rng.uniform(140, 185), rng.uniform(125, 160))
        cam_dist, far_row = rng.uniform(110, 140), rng.uniform(0.06, 0.1)
        blur, noise, vignette = rng.uniform(0.35, 0.55), rng.uniform(1.5, 2.5), rng.uniform(0.0, 0.08)
        gains = (rng.uniform(0.93, 0.98), rng.uniform(1.0, 1.04), rng.uniform(1.02, 1.07))
        gamma, saturation = rng.uniform(0.85, 0.95), rng.uniform(1.1, 1.25)
    else:  # technical camera: stands visible, cooler and noisier
        grass = _hsv_to_bgr(rng.uniform(42, 54), rng.uniform(115, 165), rng.uniform(100, 145))
        cam_dist, far_row = rng.uniform(85, 120), rng.uniform(0.14, 0.22)
        blur, noise, vignette = rng.uniform(0.55, 0.85), rng.uniform(2.5, 4.5), rng.uniform(0.08, 0.2)
        gains = (rng.uniform(1.0, 1.06), rng.uniform(0.98, 1.02), rng.uniform(0.94, 1.0))
        gamma, saturation = rng.uniform(1.0, 1.12), rng.uniform(0.85, 1.0)
    zoom = rng.uniform(0.92, 1.06)
    team = rng.choice(len(TEAM_KITS), size=2, replace=False)
    while np.abs(np.subtract(TEAM_KITS[team[0]].shirt, TEAM_KITS[team[1]].shirt)).sum() < 200:  # tell teams apart
        team = rng.choice(len(TEAM_KITS), size=2, replace=False)
    kits = (
        TEAM_KITS[team[0]], TEAM_KITS[team[1]], REFEREE_KITS[rng.integers(len(REFEREE_KITS))],
        *(KEEPER_KITS[i] for i in rng.choice(len(KEEPER_KITS), size=2, replace=False)),
    )
    line_v = rng.uniform(225, 245)
    sun = rng.uniform(-1, 1)
    crowd = _crowd_texture(rng)
    boards = np.array([BOARD_COLORS[i] for i in rng.integers(len(BOARD_COLORS), size=9)], np.float32)
    stripe_width, stripe_offset = rng.uniform(4.5, 6.5), rng.uniform(0, 5)
    stripe_contrast, checker, side_gap = rng.uniform(0.04, 0.09), bool(rng.random() < 0.25), rng.uniform(3, 6)
    # Textures live in pitch coordinates, so they move consistently with the camera.
    texture = _pitch_texture(rng, grass, stripe_width, stripe_offset, stripe_contrast, checker, side_gap, crowd,
                             boards)
    motion = (
        rng.uniform(4000, 9000), rng.uniform(0, 2 * np.pi),  # slow play drift along x
        rng.uniform(700, 1500), rng.uniform(0, 2 * np.pi),  # faster play drift along x
        rng.uniform(1500, 4000), rng.uniform(0, 2 * np.pi),  # play drift along y
        rng.uniform(600, 1800), rng.uniform(0, 2 * np.pi),  # zoom
        rng.uniform(300, 900), rng.uniform(0, 2 * np.pi),  # number of players in view
    )
    return Look(
        style=style, grass=grass,
        stripe_width=stripe_width, stripe_offset=stripe_offset, stripe_contrast=stripe_contrast, checker=checker,
        line_color=(line_v - rng.uniform(0, 10), line_v, line_v - rng.uniform(0, 8)),
        line_alpha=rng.uniform(0.7, 0.88), line_px=1 if public else int(rng.integers(1, 3)),
        cam_dist=cam_dist, y_near=rng.uniform(-3, 8), far_row=far_row, zoom=zoom,
        player_height=31.5, ball_diameter=rng.uniform(12.0, 13.5),
        ball_color=tuple(rng.uniform(228, 248) - rng.uniform(0, 6, 3)),
        kits=kits, shadow=(0.25 * sun, rng.uniform(0.05, 0.12), rng.uniform(0.25, 0.45)),
        light=(-0.45 * sun - 0.1, -0.55, 0.7),
        blur=blur, noise=noise, vignette=vignette, gains=gains, gamma=gamma, saturation=saturation,
        overlay=public, board_gap=rng.uniform(3, 5), side_gap=side_gap, motion=motion,
        texture=texture, crowd=crowd, boards=boards, tracks=_tracks(rng),
    )


def _crowd_texture(rng: np.random.Generator) -> np.ndarray:
    h, w = 48, 360
    base = rng.integers(25, 85, (h, w, 1)).astype(np.float32) * rng.uniform(0.8, 1.2, (1, 1, 3))
    colourful = rng.random((h, w, 1)) < 0.14
    base = np.where(colourful, rng.integers(50, 190, (h, w, 3)), base)
    return np.clip(base, 0, 255).astype(np.uint8)


def _tracks(rng: np.random.Generator) -> np.ndarray:
    """Per-recording player tracks: kit, formation place, wobble, looks, marking link."""
    rows = []
    for team in (0, 1):
        for i, (bx, by) in enumerate(FORMATION):
            if team == 1:
                bx, by = PITCH_LENGTH - bx, PITCH_WIDTH - by
            kit = (KIT_KEEPER_A if team == 0 else KIT_KEEPER_B) if i == 0 else (KIT_A if team == 0 else KIT_B)
            link = -1 if i not in MARKING else (1 - team) * len(FORMATION) + MARKING[i]
            rows.append((kit, bx, by, team, i, link))
    rows.append((KIT_REF, PITCH_LENGTH / 2, PITCH_WIDTH / 2, -1, -1, -1))
    table = np.zeros((len(rows), 16))
    for j, (kit, bx, by, _team, _i, link) in enumerate(rows):
        amp = (1.0, 0.6) if kit in (KIT_KEEPER_A, KIT_KEEPER_B) else (rng.uniform(2, 6), rng.uniform(2, 5))
        table[j] = (
            kit, bx, by, amp[0], amp[1], rng.uniform(150, 600), rng.uniform(150, 600),
            rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi), rng.integers(len(SKIN_TONES)),
            rng.integers(len(HAIR)), link, rng.uniform(1.0, 2.2) * rng.choice((-1, 1)),
            rng.uniform(0.4, 1.5) * rng.choice((-1, 1)), rng.uniform(8, 14), rng.uniform(0.37, 0.43),
        )
    return table


# ---------------------------------------------------------------------------------------- geometry
def _anchor(look: Look, frame: int) -> tuple[float, float]:
    """Where the play (and the camera) is at a frame number, pitch metres."""
    p1, f1, p2, f2, p3, f3 = look.motion[:6]
    two_pi = 2 * np.pi
    x = 52.5 + 34 * math.sin(two_pi * frame / p1 + f1) + 9 * math.sin(two_pi * frame / p2 + f2)
    y = 34 + 16 * math.sin(two_pi * frame / p3 + f3)
    return _clamp(x, 3, 102), _clamp(y, 6, 62)


def _camera(look: Look, cx: float, zoom: float, width: int, height: int) -> np.ndarray:
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


def _project(hom: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(np.asarray(pts, np.float64).reshape(-1, 1, 2), hom).reshape(-1, 2)


def _scale(look: Look, pitch_y: np.ndarray | float) -> np.ndarray:
    s = (look.y_near + look.cam_dist) / (np.asarray(pitch_y, np.float64) + look.cam_dist)
    return np.clip(s, MIN_SCALE, 1.15)


def _pitch_lines() -> list[np.ndarray]:
    L, W, mid = PITCH_LENGTH, PITCH_WIDTH, PITCH_LENGTH / 2
    lines = [np.array([[0, 0], [L, 0], [L, W], [0, W], [0, 0]]), np.array([[mid, 0], [mid, W]])]
    t = np.linspace(0, 2 * np.pi, 49)
    lines.append(np.stack([mid + 9.15 * np.cos(t), W / 2 + 9.15 * np.sin(t)], 1))
    for side in (0, 1):
        def fx(x: np.ndarray | float) -> np.ndarray | float:
            return L - x if side else x

        for depth, half in ((16.5, 20.16), (5.5, 9.16)):
            lines.append(np.array([
                [fx(0), W / 2 - half], [fx(depth), W / 2 - half], [fx(depth), W / 2 + half], [fx(0), W / 2 + half],
            ]))
        a = np.linspace(-0.93, 0.93, 17)  # the arc outside the penalty area
        lines.append(np.stack([fx(11 + 9.15 * np.cos(a)), W / 2 + 9.15 * np.sin(a)], 1))
        for spot in (11.0, 11.2):
            lines.append(np.array([[fx(spot), W / 2 - 0.1], [fx(spot), W / 2 + 0.1]]))
    lines.append(np.array([[mid - 0.15, W / 2], [mid + 0.15, W / 2]]))
    return [np.asarray(p, np.float64) for p in lines]


PITCH_LINES = _pitch_lines()


def _fixed(pts: np.ndarray) -> np.ndarray:
    """Sub-pixel cv2 drawing coordinates (shift=3)."""
    return np.round(np.asarray(pts) * 8).astype(np.int32)


# -------------------------------------------------------------------------------------- background
def _pitch_texture(look_rng: np.random.Generator, grass: tuple[float, float, float], stripe_width: float,
                   stripe_offset: float, stripe_contrast: float, checker: bool, side_gap: float,
                   crowd: np.ndarray, boards: np.ndarray) -> np.ndarray:
    """The ground in pitch coordinates (TEXTURE_PPM pixels a metre): BGR + a grass flag channel.

    Mowing stripes, a low-frequency brightness texture, and behind each goal line boards and stands.
    """
    mx, my = TEXTURE_MARGIN
    tw, th = int((PITCH_LENGTH + 2 * mx) * TEXTURE_PPM), int((PITCH_WIDTH + 2 * my) * TEXTURE_PPM)
    X = (np.arange(tw, dtype=np.float32) + 0.5) / TEXTURE_PPM - mx
    Y = (np.arange(th, dtype=np.float32) + 0.5) / TEXTURE_PPM - my
    shade = np.broadcast_to((1 + stripe_contrast * ((np.floor((X - stripe_offset) / stripe_width).astype(np.int32) & 1)
                                                    * 2 - 1))[None, :], (th, tw)).astype(np.float32)
    if checker:
        across = (np.floor(Y / stripe_width).astype(np.int32) & 1) * 2 - 1
        shade = shade * (1 + 0.5 * stripe_contrast * across.astype(np.float32))[:, None]
    cells = 1.0 + look_rng.normal(0, 0.045, (int(th / TEXTURE_PPM / GRASS_CELL) + 2,
                                               int(tw / TEXTURE_PPM / GRASS_CELL) + 2)).astype(np.float32)
    noise = cv2.resize(cv2.GaussianBlur(cells, (0, 0), 0.8), (tw, th), interpolation=cv2.INTER_LINEAR)
    tex = np.empty((th, tw, 4), np.float32)
    tex[..., :3] = (shade * noise)[..., None] * np.float32(grass)
    tex[..., 3] = 255
    beyond = np.maximum(-side_gap - X, X - PITCH_LENGTH - side_gap)  # metres behind the goal line boards
    board_cols = (beyond > 0) & (beyond <= 1.6)
    crowd_cols = beyond > 1.6
    tex[:, board_cols, :3] = boards[0]
    ch, cw = crowd.shape[:2]
    big = cv2.resize(crowd, (cw * 2, ch * 2), interpolation=cv2.INTER_NEAREST).astype(np.float32)
    along = (np.arange(th) % big.shape[1])[:, None]
    across = ((beyond[crowd_cols] * 2).astype(np.int64) % big.shape[0])[None, :]
    tex[:, crowd_cols, :3] = big[across, along]
    tex[:, board_cols | crowd_cols, 3] = 0
    return np.clip(tex + 0.5, 0, 255).astype(np.uint8)


# Texture pixels -> pitch metres (an affine map as 3x3).
TEXTURE_TO_PITCH = np.array([[1 / TEXTURE_PPM, 0, -TEXTURE_MARGIN[0]], [0, 1 / TEXTURE_PPM, -TEXTURE_MARGIN[1]],
                             [0, 0, 1]])


def _background(look: Look, hom: np.ndarray, width: int, height: int, k: float) -> tuple[np.ndarray, ...]:
    """Ground, far boards and crowd, lines. Returns image (float32), grass mask (bool), line mask (0..1)."""
    warped = cv2.warpPerspective(look.texture, hom @ TEXTURE_TO_PITCH, (width, height), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
    img = warped[..., :3].astype(np.float32)
    grass = warped[..., 3] > 127

    # Far side: advertising boards then the crowd, found per column along the projected board line.
    inv = np.linalg.inv(hom)
    yb = PITCH_WIDTH + look.board_gap
    (u0, v0), (u1, v1) = _project(hom, [[0, yb], [PITCH_LENGTH, yb]])
    cols = np.arange(width, dtype=np.float64) + 0.5
    row_b = v0 + (cols - u0) * (v1 - v0) / (u1 - u0)
    top = int(np.clip(math.ceil(row_b.max()), 0, height))
    if top > 0:
        board_h = 0.45 * look.player_height * k * look.zoom * float(_scale(look, yb))
        xb = _project(inv, np.stack([cols, row_b], 1))[:, 0]
        above = (row_b[None, :] - (np.arange(top) + 0.5)[:, None]).astype(np.float32)
        board = (above > 0) & (above <= board_h)
        crowd = above > board_h
        seg = np.floor((xb + 100) / 7).astype(np.int64) % len(look.boards)
        board_rgb = np.broadcast_to(look.boards[seg][None], (top, width, 3))
        text = ((np.floor(xb * 2.5).astype(np.int64) % 3) == 0)[None, :] & (above > 0.3 * board_h) \
            & (above < 0.7 * board_h)
        board_rgb = np.where(text[..., None], 255 - board_rgb * 0.8, board_rgb)
        ch = look.crowd.shape[0]
        tx = np.broadcast_to(((xb + 60) * 2.5).astype(np.float32)[None, :], (top, width))
        ty = (above - board_h) / max(1.2 * k, 1.0)
        crowd_rgb = cv2.remap(look.crowd, np.ascontiguousarray(tx), ty, cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_WRAP).astype(np.float32)
        crowd_rgb *= (0.75 + 0.25 * np.clip(1 - ty / ch, 0, 1))[..., None]
        band = img[:top]
        band[:] = np.where(board[..., None], board_rgb, np.where(crowd[..., None], crowd_rgb, band))
        grass[:top] &= ~(board | crowd)

    # Pitch lines, anti-aliased on a mask, only on grass.
    mask = np.zeros((height, width), np.uint8)
    thickness = max(1, round(look.line_px * k))
    polys = [_fixed(_project(hom, p)) for p in PITCH_LINES]
    cv2.polylines(mask, polys, False, 255, thickness, cv2.LINE_AA, shift=3)
    mask[~grass] = 0
    ys, xs = np.nonzero(mask)
    a = mask[ys, xs].astype(np.float32)[:, None] * np.float32(look.line_alpha / 255)
    img[ys, xs] = img[ys, xs] * (1 - a) + np.float32(look.line_color) * a
    return img, grass, mask.astype(np.float32) / 255


def _draw_goals(img: np.ndarray, look: Look, hom: np.ndarray, near_height: float, k: float) -> None:
    h, w = img.shape[:2]
    for gx, back in ((0.0, -2.0), (PITCH_LENGTH, PITCH_LENGTH + 2.0)):
        posts = [(gx, PITCH_WIDTH / 2 - 3.66), (gx, PITCH_WIDTH / 2 + 3.66)]
        ground = _project(hom, posts)
        if not any(0 <= x < w and 0 <= y < h for x, y in ground):
            continue
        tall = [2.44 / 1.8 * near_height * float(_scale(look, y)) for _, y in posts]
        tops = [(x, y - t) for (x, y), t in zip(ground, tall)]
        backs = _project(hom, [(back, p[1]) for p in posts])
        net = np.array([tops[0], tops[1], backs[1], backs[0]])
        overlay = img.copy()
        cv2.fillPoly(overlay, [_fixed(net)], (215, 215, 215), cv2.LINE_AA, shift=3)
        cv2.addWeighted(img, 0.7, overlay, 0.3, 0, dst=img)
        t = max(1, round(k))
        for (x, y), top in zip(ground, tops):
            cv2.line(img, _pt(x, y), _pt(*top), (240, 240, 240), t, cv2.LINE_AA, shift=3)
        cv2.line(img, _pt(*tops[0]), _pt(*tops[1]), (240, 240, 240), t, cv2.LINE_AA, shift=3)


def _pt(x: float, y: float) -> tuple[int, int]:
    return round(x * 8), round(y * 8)


# ---------------------------------------------------------------------------------------- objects
@dataclass
class _Player:
    fx: float
    fy: float
    h: float
    w: float
    kit: Kit
    skin: Color
    hair: Color
    stride: float  # leg phase, radians

    @property
    def box(self) -> Box:
        return (self.fx - self.w / 2, self.fy - self.h, self.fx + self.w / 2, self.fy)


def _draw_player(canvas: np.ndarray, p: _Player, silhouette: bool = False) -> None:
    """An upright player inside its box: legs, shorts, shirt, arms, head. silhouette: all 255."""
    def col(c: Color) -> Color | int:
        return 255 if silhouette else c

    fx, fy, h, w = p.fx, p.fy, p.h, p.w
    lw = max(1, round(0.17 * w))
    aa = cv2.LINE_AA
    swing = math.sin(p.stride)
    for side in (-1, 1):
        hip = (fx + side * 0.17 * w, fy - 0.46 * h)
        knee = (fx + side * 0.17 * w + side * swing * 0.08 * w, fy - 0.25 * h)
        foot = (fx + side * (0.17 + 0.18 * swing * side) * w, fy - 0.03 * h)
        cv2.line(canvas, _pt(*hip), _pt(*knee), col(p.skin), lw, aa, shift=3)
        cv2.line(canvas, _pt(*knee), _pt(*foot), col(p.kit.socks), lw, aa, shift=3)
        cv2.line(canvas, _pt(foot[0], foot[1]), _pt(foot[0] + side * 0.05 * w, fy - 0.01 * h),
                 col((25, 25, 25)), lw, aa, shift=3)
    shorts = np.array([[fx - 0.36 * w, fy - 0.56 * h], [fx + 0.36 * w, fy - 0.56 * h],
                       [fx + 0.38 * w, fy - 0.42 * h], [fx - 0.38 * w, fy - 0.42 * h]])
    cv2.fillPoly(canvas, [_fixed(shorts)], col(p.kit.shorts), aa, shift=3)
    for side in (-1, 1):
        shoulder = (fx + side * 0.36 * w, fy - 0.79 * h)
        elbow = (fx + side * 0.41 * w, fy - 0.66 * h)
        hand = (fx + side * (0.41 - 0.06 * swing * side) * w, fy - 0.53 * h)
        aw = max(1, round(0.14 * w))
        cv2.line(canvas, _pt(*shoulder), _pt(*elbow), col(p.kit.shirt), aw, aa, shift=3)
        cv2.line(canvas, _pt(*elbow), _pt(*hand), col(p.skin), aw, aa, shift=3)
    shirt = np.array([[fx - 0.4 * w, fy - 0.83 * h], [fx + 0.4 * w, fy - 0.83 * h],
                      [fx + 0.33 * w, fy - 0.53 * h], [fx - 0.33 * w, fy - 0.53 * h]])
    cv2.fillPoly(canvas, [_fixed(shirt)], col(p.kit.shirt), aa, shift=3)
    r = 0.075 * h
    head = (fx, fy - h + r + 0.005 * h)
    cv2.circle(canvas, _pt(*head), round(r * 8), col(p.skin), -1, aa, shift=3)
    cv2.ellipse(canvas, _pt(head[0], head[1] - 0.25 * r), (round(r * 8), round(0.75 * r * 8)), 0, 180, 360,
                col(p.hair), -1, aa, shift=3)


def _ball_alpha(cx: float, cy: float, r: float, width: int, height: int) -> tuple[np.ndarray, int, int] | None:
    """Coverage (4x4 supersampled) of the ball disc on its patch, with the patch's origin."""
    x0, y0 = max(0, int(math.floor(cx - r - 1))), max(0, int(math.floor(cy - r - 1)))
    x1, y1 = min(width, int(math.ceil(cx + r + 1))), min(height, int(math.ceil(cy + r + 1)))
    if x1 <= x0 or y1 <= y0:
        return None
    sub = (np.arange(4) + 0.5) / 4
    xs = (np.arange(x0, x1)[:, None] + sub[None, :]).reshape(-1)
    ys = (np.arange(y0, y1)[:, None] + sub[None, :]).reshape(-1)
    inside = ((xs[None, :] - cx) ** 2 + (ys[:, None] - cy) ** 2) <= r * r
    alpha = inside.reshape(y1 - y0, 4, x1 - x0, 4).mean(axis=(1, 3))
    return alpha.astype(np.float32), x0, y0


def _draw_ball(img: np.ndarray, look: Look, cx: float, cy: float, r: float, rng: np.random.Generator) -> None:
    h, w = img.shape[:2]
    patch = _ball_alpha(cx, cy, r, w, h)
    if patch is None:
        return
    alpha, x0, y0 = patch
    ph, pw = alpha.shape
    ny, nx = np.meshgrid((np.arange(ph) + y0 + 0.5 - cy) / r, (np.arange(pw) + x0 + 0.5 - cx) / r, indexing="ij")
    nz = np.sqrt(np.clip(1 - nx * nx - ny * ny, 0, 1))
    light = np.array(look.light) / np.linalg.norm(look.light)
    lambert = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1)
    shade = 0.7 + 0.3 * lambert + 0.1 * lambert ** 12
    for _ in range(int(rng.integers(1, 4))):  # the dark panels of the ball
        sx, sy = rng.uniform(-0.55, 0.55, 2)
        shade = np.where((nx - sx) ** 2 + (ny - sy) ** 2 < 0.09, shade * 0.6, shade)
    colour = np.float32(look.ball_color)[None, None, :] * shade[..., None]
    a = alpha[..., None]
    region = img[y0:y0 + ph, x0:x0 + pw]
    region[:] = np.clip(region * (1 - a) + colour * a + 0.5, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------- players
def _track_positions(look: Look, frame: int, ax: float, ay: float) -> np.ndarray:
    """Pitch positions of every track at a frame: formation shifted with the play, wobble, marking."""
    t = look.tracks
    two_pi = 2 * np.pi
    bx = PITCH_LENGTH / 2 * 0.2 + ax * 0.8 + (t[:, T_BX] - PITCH_LENGTH / 2) * 0.6
    by = PITCH_WIDTH / 2 + (t[:, T_BY] - PITCH_WIDTH / 2) * 0.75 + (ay - PITCH_WIDTH / 2) * 0.35
    keeper = np.isin(t[:, T_KIT], (KIT_KEEPER_A, KIT_KEEPER_B))
    bx = np.where(keeper, t[:, T_BX] + (ax - PITCH_LENGTH / 2) * 0.08, bx)
    ref = t[:, T_KIT] == KIT_REF
    bx = np.where(ref, ax - 7, bx)
    by = np.where(ref, ay + 9 * np.sign(PITCH_WIDTH / 2 - ay + 1e-6), by)
    x = bx + t[:, T_AX] * np.sin(two_pi * frame / t[:, T_PX] + t[:, T_FX])
    y = by + t[:, T_AY] * np.sin(two_pi * frame / t[:, T_PY] + t[:, T_FY])
    for j in np.flatnonzero(t[:, T_LINK] >= 0):  # markers stay close to their opponent
        target = int(t[j, T_LINK])
        x[j] = x[target] + t[j, T_DX] + 0.4 * math.sin(two_pi * frame / t[j, T_PX] + t[j, T_FX])
        y[j] = y[target] + t[j, T_DY] + 0.3 * math.sin(two_pi * frame / t[j, T_PY] + t[j, T_FY])
    return np.stack([np.clip(x, 0.5, PITCH_LENGTH - 0.5), np.clip(y, 0.5, PITCH_WIDTH - 0.5)], 1)


def _inside_fraction(box: Box, width: int, height: int) -> float:
    x1, y1, x2, y2 = box
    iw = max(0.0, min(x2, width) - max(x1, 0))
    ih = max(0.0, min(y2, height) - max(y1, 0))
    return iw * ih / max((x2 - x1) * (y2 - y1), 1e-9)


def _players(look: Look, hom: np.ndarray, frame: int, anchor: tuple[float, float], near_h: float, k: float,
             width: int, height: int, rng: np.random.Generator) -> list[_Player]:
    pos = _track_positions(look, frame, *anchor)
    feet = _project(hom, pos)
    scale = _scale(look, pos[:, 1])
    t = look.tracks
    p4, f4 = look.motion[8:10]
    target = int(_clamp(round(10 + 4.2 * math.sin(2 * np.pi * frame / p4 + f4) + rng.normal(0, 0.5)), 6, 14))
    dist = np.hypot(pos[:, 0] - anchor[0], pos[:, 1] - anchor[1])
    chosen: list[_Player] = []
    for j in np.argsort(dist, kind="stable"):
        h = _clamp(near_h * float(scale[j]), 20 * k, 34 * k)
        p = _Player(float(feet[j, 0]), float(feet[j, 1]), h, h * t[j, T_WIDTH], look.kits[int(t[j, T_KIT])],
                    SKIN_TONES[int(t[j, T_SKIN])], HAIR[int(t[j, T_HAIR])],
                    2 * np.pi * frame / t[j, T_STRIDE] + t[j, T_FX])
        if _inside_fraction(p.box, width, height) >= 0.5 and len(chosen) < target:
            chosen.append(p)
    top = look.far_row * height
    inv = np.linalg.inv(hom)
    while len(chosen) < 6:  # too few in view: a few more players somewhere on the visible pitch
        u = rng.uniform(0.06, 0.94) * width
        v = top + rng.uniform(0.15, 0.97) * (height - top)
        py = _project(inv, [[u, v]])[0, 1]
        h = _clamp(near_h * float(_scale(look, py)), 20 * k, 34 * k)
        kit = look.kits[int(rng.integers(2))]
        chosen.append(_Player(u, v, h, h * rng.uniform(0.37, 0.43), kit, SKIN_TONES[int(rng.integers(4))],
                              HAIR[int(rng.integers(4))], rng.uniform(0, 2 * np.pi)))
    return chosen


# -------------------------------------------------------------------------------------------- ball
def _place_ball(look: Look, hom: np.ndarray, players: list[_Player], line: np.ndarray, grass: np.ndarray,
                anchor: tuple[float, float], near_d: float, k: float, rng: np.random.Generator,
                ) -> tuple[float, float, float, float]:
    """(centre x, centre y, radius, ground y) of the ball; hard cases included, always partly visible."""
    height, width = grass.shape
    inv = np.linalg.inv(hom)

    def radius_at(gy_pitch: float) -> float:
        return _clamp(near_d * float(_scale(look, gy_pitch)), 7 * k, 14 * k) / 2 * rng.uniform(0.95, 1.05)

    def on_grass(u: float, v: float) -> bool:
        return 0 <= u < width and 0 <= v < height and bool(grass[int(v), int(u)])

    for attempt in range(16):
        mode = rng.choice(["open", "open", "open", "behind", "feet", "line", "air"]) if attempt < 12 else "open"
        if mode == "behind" or mode == "feet":
            p = players[int(rng.integers(len(players)))]
            side = rng.choice((-1.0, 1.0))
            gu = p.fx + side * rng.uniform(0.05, 0.45) * p.w
            gv = p.fy - rng.uniform(1.0, 0.3 * p.h) if mode == "behind" else p.fy + rng.uniform(0.5, 3.0) * k
        elif mode == "line":
            cand = np.flatnonzero((line > 0.6).reshape(-1))
            if cand.size == 0:
                continue
            i = int(cand[rng.integers(cand.size)])
            gu, gv = i % width + 0.5, i // width + 0.5
        elif attempt % 2 == 0 and attempt < 12:
            gu, gv = _project(hom, [[anchor[0] + rng.normal(0, 5), anchor[1] + rng.normal(0, 4)]])[0]
        else:
            top = look.far_row * height
            gu, gv = rng.uniform(0.02, 0.98) * width, top + rng.uniform(0.05, 0.98) * (height - top)
        gy = float(_project(inv, [[gu, gv]])[0, 1])
        r = radius_at(gy)
        if mode == "line":
            cx, cy, ground = gu, gv, gv + r
        elif mode == "air":
            lift = rng.uniform(0.3, 2.0) * near_d * float(_scale(look, gy))
            cx, cy, ground = gu, gv - r - lift, gv
        else:
            cx, cy, ground = gu, gv - r, gv
        if not (on_grass(gu, min(gv, height - 1)) and 0.2 * r <= cx <= width - 0.2 * r and r <= cy <= height - 0.2 * r):
            continue
        if _visible_fraction(cx, cy, r, ground, players, width, height) >= (0.5 if mode == "behind" else 0.65):
            return cx, cy, r, ground
    raise RuntimeError("no place for the ball")  # pragma: no cover - open grass always exists


def _visible_fraction(cx: float, cy: float, r: float, ground: float, players: list[_Player], width: int,
                      height: int) -> float:
    patch = _ball_alpha(cx, cy, r, width, height)
    if patch is None:
        return 0.0
    alpha, x0, y0 = patch
    ph, pw = alpha.shape
    front = [p for p in players if p.fy > ground and p.box[0] < x0 + pw and p.box[2] > x0
             and p.box[1] < y0 + ph and p.box[3] > y0]
    if not front:
        return 1.0
    mask = np.zeros((height, width), np.uint8)
    for p in front:
        _draw_player(mask, p, silhouette=True)
    covered = mask[y0:y0 + ph, x0:x0 + pw].astype(np.float32) / 255
    return float((alpha * (1 - covered)).sum() / max(alpha.sum(), 1e-9))


# ------------------------------------------------------------------------------------------- frame
def render_frame(rng: np.random.Generator, width: int, height: int, look: Look, *, frame: int = 0,
                 ball: bool | None = None) -> Frame:
    """One frame of a recording with ``look`` at ``frame``. ball: None = present in ~90% of frames.

    Returns the BGR image, the ball box (x1, y1, x2, y2) in pixels clipped to the image (None for a
    ball-free frame) and the boxes of every drawn player (referee and keepers included).
    """
    k = math.sqrt(width * height / (BASE_WIDTH * BASE_HEIGHT))
    with_ball = bool(rng.random() >= 0.1) if ball is None else ball
    anchor = _anchor(look, frame)
    p1, f1 = look.motion[6:8]
    zoom = look.zoom * (1 + 0.05 * math.sin(2 * np.pi * frame / p1 + f1))
    hom = _camera(look, _clamp(anchor[0], 10, 95), zoom, width, height)
    near_h, near_d = look.player_height * zoom * k, look.ball_diameter * zoom * k

    img, grass, line = _background(look, hom, width, height, k)
    players = _players(look, hom, frame, anchor, near_h, k, width, height, rng)
    ball_at = _place_ball(look, hom, players, line, grass, anchor, near_d, k, rng) if with_ball else None

    # Shadows on the ground, then (anti-aliased drawing needs 8 bits) goals and objects back to front.
    shadow = np.zeros((height, width), np.uint8)
    sdx, sdy, strength = look.shadow
    for p in players:
        centre = _pt(p.fx + sdx * p.h, p.fy + 0.02 * p.h)
        cv2.ellipse(shadow, centre, (round(8 * (0.45 * p.w + abs(sdx) * 0.5 * p.h)), round(8 * max(1.0, sdy * p.h))),
                    0, 0, 360, 255, -1, cv2.LINE_AA, shift=3)
    if ball_at is not None:
        cx, cy, r, ground = ball_at
        cv2.ellipse(shadow, _pt(cx + sdx * 2 * r, ground), (round(8 * r), round(8 * max(0.8, 0.4 * r))), 0, 0, 360,
                    255, -1, cv2.LINE_AA, shift=3)
    img *= (1 - strength / 255 * shadow.astype(np.float32) * grass)[..., None]
    img = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    _draw_goals(img, look, hom, near_h, k)
    order: list[tuple[float, int, _Player | None]] = [(p.fy, i, p) for i, p in enumerate(players)]
    if ball_at is not None:
        order.append((ball_at[3], -1, None))
    for _, _, p in sorted(order, key=lambda o: (o[0], o[1])):
        if p is None:
            _draw_ball(img, look, ball_at[0], ball_at[1], ball_at[2], rng)
        else:
            _draw_player(img, p)

    img = _finish(img, look, rng, k)
    player_boxes = [_clip(p.box, width, height) for p in players]
    ball_box = None
    if ball_at is not None:
        cx, cy, r, _ = ball_at
        ball_box = _clip((cx - r, cy - r, cx + r, cy + r), width, height)
    if look.overlay:
        _scoreboard(img, look, k, [b for b in [ball_box, *player_boxes] if b is not None])
    return Frame(img, ball_box, player_boxes)


def _clip(box: Box, width: int, height: int) -> Box:
    x1, y1, x2, y2 = box
    return _clamp(x1, 0, width), _clamp(y1, 0, height), _clamp(x2, 0, width), _clamp(y2, 0, height)


def _clamp(value: float, low: float, high: float) -> float:
    return float(min(max(value, low), high))


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
