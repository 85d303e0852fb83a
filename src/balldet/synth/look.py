"""What one synthetic recording looks like: grass, lines, camera, kits, player tracks, colour grading.

A :class:`Look` is drawn once per recording from (recording id, style, seed); every frame of the
recording is rendered from it, so a recording keeps its pitch, teams and camera across frames.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cv2
import numpy as np

from balldet.synth.camera import PITCH_LENGTH, PITCH_WIDTH
from balldet.synth.pitch import pitch_texture

Color = tuple[int, int, int]

STYLES = ("broadcast", "public")


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

# Columns of Look.tracks: one numeric table, so every player's position is computed at once.
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
    texture = pitch_texture(rng, grass, stripe_width, stripe_offset, stripe_contrast, checker, side_gap, crowd,
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
