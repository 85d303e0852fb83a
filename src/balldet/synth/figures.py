"""Players and the ball of synthetic frames: where they are and how they are drawn.

Players follow per-recording tracks (a 4-4-2 shifted with the play, markers close to their
opponent) and are drawn as small upright figures. The ball is placed on the grass, hard cases
included (behind or at the feet of a player, on a line, in the air), and always partly visible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from balldet.synth.camera import (
    PITCH_LENGTH,
    PITCH_WIDTH,
    Box,
    clamp,
    fixed_point,
    fixed_points,
    perspective_scale,
    project,
)
from balldet.synth.look import (
    HAIR,
    KIT_KEEPER_A,
    KIT_KEEPER_B,
    KIT_REF,
    SKIN_TONES,
    T_AX,
    T_AY,
    T_BX,
    T_BY,
    T_DX,
    T_DY,
    T_FX,
    T_FY,
    T_HAIR,
    T_KIT,
    T_LINK,
    T_PX,
    T_PY,
    T_SKIN,
    T_STRIDE,
    T_WIDTH,
    Color,
    Kit,
    Look,
)


# ----------------------------------------------------------------------------------------- players
@dataclass
class Player:
    """A player as drawn: feet and size in pixels, kit and looks, leg phase."""

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


def draw_player(canvas: np.ndarray, p: Player, silhouette: bool = False) -> None:
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
        cv2.line(canvas, fixed_point(*hip), fixed_point(*knee), col(p.skin), lw, aa, shift=3)
        cv2.line(canvas, fixed_point(*knee), fixed_point(*foot), col(p.kit.socks), lw, aa, shift=3)
        cv2.line(canvas, fixed_point(foot[0], foot[1]), fixed_point(foot[0] + side * 0.05 * w, fy - 0.01 * h),
                 col((25, 25, 25)), lw, aa, shift=3)
    shorts = np.array([[fx - 0.36 * w, fy - 0.56 * h], [fx + 0.36 * w, fy - 0.56 * h],
                       [fx + 0.38 * w, fy - 0.42 * h], [fx - 0.38 * w, fy - 0.42 * h]])
    cv2.fillPoly(canvas, [fixed_points(shorts)], col(p.kit.shorts), aa, shift=3)
    for side in (-1, 1):
        shoulder = (fx + side * 0.36 * w, fy - 0.79 * h)
        elbow = (fx + side * 0.41 * w, fy - 0.66 * h)
        hand = (fx + side * (0.41 - 0.06 * swing * side) * w, fy - 0.53 * h)
        aw = max(1, round(0.14 * w))
        cv2.line(canvas, fixed_point(*shoulder), fixed_point(*elbow), col(p.kit.shirt), aw, aa, shift=3)
        cv2.line(canvas, fixed_point(*elbow), fixed_point(*hand), col(p.skin), aw, aa, shift=3)
    shirt = np.array([[fx - 0.4 * w, fy - 0.83 * h], [fx + 0.4 * w, fy - 0.83 * h],
                      [fx + 0.33 * w, fy - 0.53 * h], [fx - 0.33 * w, fy - 0.53 * h]])
    cv2.fillPoly(canvas, [fixed_points(shirt)], col(p.kit.shirt), aa, shift=3)
    r = 0.075 * h
    head = (fx, fy - h + r + 0.005 * h)
    cv2.circle(canvas, fixed_point(*head), round(r * 8), col(p.skin), -1, aa, shift=3)
    cv2.ellipse(canvas, fixed_point(head[0], head[1] - 0.25 * r), (round(r * 8), round(0.75 * r * 8)), 0, 180, 360,
                col(p.hair), -1, aa, shift=3)


def place_players(look: Look, hom: np.ndarray, frame: int, anchor: tuple[float, float], near_h: float, k: float,
                  width: int, height: int, rng: np.random.Generator) -> list[Player]:
    """The players in view: the tracks nearest the play, 6 to 14 of them (the count drifts with the frame)."""
    pos = track_positions(look, frame, *anchor)
    feet = project(hom, pos)
    scale = perspective_scale(look, pos[:, 1])
    t = look.tracks
    p4, f4 = look.motion[8:10]
    target = int(clamp(round(10 + 4.2 * math.sin(2 * np.pi * frame / p4 + f4) + rng.normal(0, 0.5)), 6, 14))
    dist = np.hypot(pos[:, 0] - anchor[0], pos[:, 1] - anchor[1])
    chosen: list[Player] = []
    for j in np.argsort(dist, kind="stable"):
        h = clamp(near_h * float(scale[j]), 20 * k, 34 * k)
        p = Player(float(feet[j, 0]), float(feet[j, 1]), h, h * t[j, T_WIDTH], look.kits[int(t[j, T_KIT])],
                   SKIN_TONES[int(t[j, T_SKIN])], HAIR[int(t[j, T_HAIR])],
                   2 * np.pi * frame / t[j, T_STRIDE] + t[j, T_FX])
        if _inside_fraction(p.box, width, height) >= 0.5 and len(chosen) < target:
            chosen.append(p)
    top = look.far_row * height
    inv = np.linalg.inv(hom)
    while len(chosen) < 6:  # too few in view: a few more players somewhere on the visible pitch
        u = rng.uniform(0.06, 0.94) * width
        v = top + rng.uniform(0.15, 0.97) * (height - top)
        py = project(inv, [[u, v]])[0, 1]
        h = clamp(near_h * float(perspective_scale(look, py)), 20 * k, 34 * k)
        kit = look.kits[int(rng.integers(2))]
        chosen.append(Player(u, v, h, h * rng.uniform(0.37, 0.43), kit, SKIN_TONES[int(rng.integers(4))],
                             HAIR[int(rng.integers(4))], rng.uniform(0, 2 * np.pi)))
    return chosen


def track_positions(look: Look, frame: int, ax: float, ay: float) -> np.ndarray:
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


# -------------------------------------------------------------------------------------------- ball
def place_ball(look: Look, hom: np.ndarray, players: list[Player], line: np.ndarray, grass: np.ndarray,
               anchor: tuple[float, float], near_d: float, k: float, rng: np.random.Generator,
               ) -> tuple[float, float, float, float]:
    """(centre x, centre y, radius, ground y) of the ball; hard cases included, always partly visible."""
    height, width = grass.shape
    inv = np.linalg.inv(hom)

    def radius_at(gy_pitch: float) -> float:
        return clamp(near_d * float(perspective_scale(look, gy_pitch)), 7 * k, 14 * k) / 2 * rng.uniform(0.95, 1.05)

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
            gu, gv = project(hom, [[anchor[0] + rng.normal(0, 5), anchor[1] + rng.normal(0, 4)]])[0]
        else:
            top = look.far_row * height
            gu, gv = rng.uniform(0.02, 0.98) * width, top + rng.uniform(0.05, 0.98) * (height - top)
        gy = float(project(inv, [[gu, gv]])[0, 1])
        r = radius_at(gy)
        if mode == "line":
            cx, cy, ground = gu, gv, gv + r
        elif mode == "air":
            lift = rng.uniform(0.3, 2.0) * near_d * float(perspective_scale(look, gy))
            cx, cy, ground = gu, gv - r - lift, gv
        else:
            cx, cy, ground = gu, gv - r, gv
        if not (on_grass(gu, min(gv, height - 1)) and 0.2 * r <= cx <= width - 0.2 * r and r <= cy <= height - 0.2 * r):
            continue
        if visible_fraction(cx, cy, r, ground, players, width, height) >= (0.5 if mode == "behind" else 0.65):
            return cx, cy, r, ground
    raise RuntimeError("no place for the ball")  # pragma: no cover - open grass always exists


def visible_fraction(cx: float, cy: float, r: float, ground: float, players: list[Player], width: int,
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
        draw_player(mask, p, silhouette=True)
    covered = mask[y0:y0 + ph, x0:x0 + pw].astype(np.float32) / 255
    return float((alpha * (1 - covered)).sum() / max(alpha.sum(), 1e-9))


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


def draw_ball(img: np.ndarray, look: Look, cx: float, cy: float, r: float, rng: np.random.Generator) -> None:
    """A lit sphere with a few dark panels, blended by its coverage so a small ball keeps soft edges."""
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


def draw_in_depth_order(img: np.ndarray, look: Look, players: list[Player],
                        ball_at: tuple[float, float, float, float] | None, rng: np.random.Generator) -> None:
    """Players and the ball (``cx, cy, r, ground``), farthest first: the nearer one covers the other
    (ties by the order given, the ball before the players)."""
    order: list[tuple[float, int, Player | None]] = [(p.fy, i, p) for i, p in enumerate(players)]
    if ball_at is not None:
        order.append((ball_at[3], -1, None))
    for _, _, p in sorted(order, key=lambda o: (o[0], o[1])):
        if p is None:
            draw_ball(img, look, ball_at[0], ball_at[1], ball_at[2], rng)
        else:
            draw_player(img, p)
