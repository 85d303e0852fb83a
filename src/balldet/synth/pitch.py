"""The ground of synthetic frames: grass, pitch lines, boards, stands and goals.

Grass and the stands behind the goal lines are a texture in pitch coordinates, made once per
recording and warped by each frame's camera, so they move consistently with the pan and zoom.
The far boards and crowd are drawn per frame along the projected far board line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from balldet.synth.camera import PITCH_LENGTH, PITCH_WIDTH, fixed_point, fixed_points, perspective_scale, project

if TYPE_CHECKING:
    from balldet.synth.look import Look

GRASS_CELL = 1.5  # metres per cell of the grass brightness texture
TEXTURE_MARGIN = (70.0, 20.0)  # metres around the pitch (x, y) covered by the ground texture
TEXTURE_PPM = 4.0  # ground texture pixels a metre

# Texture pixels -> pitch metres (an affine map as 3x3).
TEXTURE_TO_PITCH = np.array([[1 / TEXTURE_PPM, 0, -TEXTURE_MARGIN[0]], [0, 1 / TEXTURE_PPM, -TEXTURE_MARGIN[1]],
                             [0, 0, 1]])


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


PITCH_LINES = _pitch_lines()  # polylines in pitch metres


def pitch_texture(look_rng: np.random.Generator, grass: tuple[float, float, float], stripe_width: float,
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


def render_ground(look: Look, hom: np.ndarray, width: int, height: int, k: float,
                  spots: Sequence[tuple[float, float, float, float]] = ()) -> tuple[np.ndarray, ...]:
    """Ground, far boards and crowd, lines. Returns image (float32), grass mask (bool), line mask (0..1).

    spots: painted discs drawn with the lines, each ``(centre x, centre y, half width, half height)``
    in pixels (the clips draw the penalty and centre spots ball-sized; the other frames draw none).
    """
    warped = cv2.warpPerspective(look.texture, hom @ TEXTURE_TO_PITCH, (width, height), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
    img = warped[..., :3].astype(np.float32)
    grass = warped[..., 3] > 127

    # Far side: advertising boards then the crowd, found per column along the projected board line.
    inv = np.linalg.inv(hom)
    yb = PITCH_WIDTH + look.board_gap
    (u0, v0), (u1, v1) = project(hom, [[0, yb], [PITCH_LENGTH, yb]])
    cols = np.arange(width, dtype=np.float64) + 0.5
    row_b = v0 + (cols - u0) * (v1 - v0) / (u1 - u0)
    top = int(np.clip(math.ceil(row_b.max()), 0, height))
    if top > 0:
        board_h = 0.45 * look.player_height * k * look.zoom * float(perspective_scale(look, yb))
        xb = project(inv, np.stack([cols, row_b], 1))[:, 0]
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
    polys = [fixed_points(project(hom, p)) for p in PITCH_LINES]
    cv2.polylines(mask, polys, False, 255, thickness, cv2.LINE_AA, shift=3)
    for sx, sy, rx, ry in spots:
        cv2.ellipse(mask, fixed_point(sx, sy), (round(8 * rx), round(8 * ry)), 0, 0, 360, 255, -1, cv2.LINE_AA,
                    shift=3)
    mask[~grass] = 0
    ys, xs = np.nonzero(mask)
    a = mask[ys, xs].astype(np.float32)[:, None] * np.float32(look.line_alpha / 255)
    img[ys, xs] = img[ys, xs] * (1 - a) + np.float32(look.line_color) * a
    return img, grass, mask.astype(np.float32) / 255


def draw_goals(img: np.ndarray, look: Look, hom: np.ndarray, near_height: float, k: float) -> None:
    """Posts, crossbar and a translucent net of each goal in view, 2.44 m tall beside 1.8 m players."""
    h, w = img.shape[:2]
    for gx, back in ((0.0, -2.0), (PITCH_LENGTH, PITCH_LENGTH + 2.0)):
        posts = [(gx, PITCH_WIDTH / 2 - 3.66), (gx, PITCH_WIDTH / 2 + 3.66)]
        ground = project(hom, posts)
        if not any(0 <= x < w and 0 <= y < h for x, y in ground):
            continue
        tall = [2.44 / 1.8 * near_height * float(perspective_scale(look, y)) for _, y in posts]
        tops = [(x, y - t) for (x, y), t in zip(ground, tall)]
        backs = project(hom, [(back, p[1]) for p in posts])
        net = np.array([tops[0], tops[1], backs[1], backs[0]])
        overlay = img.copy()
        cv2.fillPoly(overlay, [fixed_points(net)], (215, 215, 215), cv2.LINE_AA, shift=3)
        cv2.addWeighted(img, 0.7, overlay, 0.3, 0, dst=img)
        t = max(1, round(k))
        for (x, y), top in zip(ground, tops):
            cv2.line(img, fixed_point(x, y), fixed_point(*top), (240, 240, 240), t, cv2.LINE_AA, shift=3)
        cv2.line(img, fixed_point(*tops[0]), fixed_point(*tops[1]), (240, 240, 240), t, cv2.LINE_AA, shift=3)
