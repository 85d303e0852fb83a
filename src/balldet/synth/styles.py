"""Drawing a recording's :class:`~balldet.synth.look.Look` from its id, style and seed: grass and its
stripes, line colour, camera, kits, player tracks, crowd and colour grading."""

from __future__ import annotations

import cv2
import numpy as np

from balldet.synth.camera import PITCH_LENGTH, PITCH_WIDTH
from balldet.synth.look import (
    BOARD_COLORS, FORMATION, HAIR, KEEPER_KITS, KIT_A, KIT_B, KIT_KEEPER_A, KIT_KEEPER_B, KIT_REF,
    MARKING, REFEREE_KITS, SKIN_TONES, STYLES, TEAM_KITS, Look, stable_int,
)
from balldet.synth.pitch import pitch_texture


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
