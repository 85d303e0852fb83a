"""What one synthetic recording looks like: grass, lines, camera, kits, player tracks, colour grading.

A :class:`Look` is drawn once per recording from (recording id, style, seed); every frame of the
recording is rendered from it, so a recording keeps its pitch, teams and camera across frames.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

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
