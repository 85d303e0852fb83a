"""One ball position per frame from a detector's candidates: static spots out, then the best path.

A detector gives each frame several candidates (the ball, a white sock, the penalty spot, a head)
and none when the ball is blurred, hidden or out of the frame. The highest score alone is a poor
ball: it jumps to whatever scores highest in each frame. The ball, though, moves smoothly between
kicks, so the frames around a frame say which of its candidates is the ball. The filter has two
steps; every knob is a field of :class:`balldet.config.TrackingSection` (the config's ``tracking:``
section and ``balldet track``'s options).

**1. Static spots.** The technical camera does not move, so the pitch's own ball-like marks (the
penalty and centre spots) sit on the same pixels all match long, and often score higher than the
ball. Candidates are binned into cells of ``static_radius`` pixels; a cell (with its neighbours)
holding candidates in at least ``static_fraction`` of a recording's frames is a static spot, and
every candidate within ``static_radius`` of it is dropped. A ball at rest (a free kick) stays far
below that fraction of a match; recordings shorter than ``static_min_frames`` are not searched.

**2. The best path (a Viterbi search over candidates).** A track is a sequence of chosen
detections in increasing frame order, split into segments; the frames between two detections of a
segment are bridged (``interpolated``), frames outside every segment have no ball (``none``). Its
value is

* for each chosen detection of score ``s``: ``score_weight * (logit(s) - logit(break_even))``:
  a candidate scoring ``break_even`` is as likely the ball as not; above it a detection adds to the
  track, below it costs (a run of weak candidates on a player is not worth following, and a weak
  candidate on the ball's path is cheaper to bridge than to take);
* for each step from detection ``a`` to ``b``, ``dt`` frames later: minus ``gap_cost`` per
  predicted frame skipped, minus the departure from constant velocity,
  ``min(turn_cost, (|p_b - (p_a + v_a dt)| / (motion_sigma dt))^2)`` where ``v_a`` is the velocity
  the path had arriving at ``a`` — capped, so a kick (a sudden turn) costs ``turn_cost`` once
  instead of breaking the track; a step is only possible when ``dt <= max_gap + 1`` and the ball
  could cover the distance (``max_speed * dt`` plus the two boxes' half sizes);
* for each segment: minus ``start_cost``. An isolated false detection earns less than it costs and
  is dropped; a run of consistent detections earns it back within a few frames.

The best value over all tracks is found by dynamic programming over the candidates in frame order:
``best[b]`` is the value of the best track ending at candidate ``b``, reached either by a step from
a candidate of the last ``max_gap + 1`` frames, or by a new segment after the best track that ends
in an earlier frame. The velocity ``v_a`` is taken from ``a``'s own best predecessor, which makes
the search exact for a first-order model and a (standard) approximation for the velocity term.
Cost: every pair of candidates at most ``max_gap + 1`` frames apart is looked at once.

Bridged frames where the ball is outside the frame are ``none``: the straight line between the
detections leaves it, or the motion before the gap and the motion after it both put the ball
outside (it left and came back on the same side).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from balldet.config import TrackingSection
from balldet.tracks.candidates import Recording

NONE, DETECTED, INTERPOLATED = 0, 1, 2
SOURCE_NAMES = ("none", "detected", "interpolated")


@dataclass
class Track:
    """One recording's ball, one row per predicted frame; x, y, score are NaN where undefined."""

    recording: str
    frames: np.ndarray
    stems: list[str]
    x: np.ndarray
    y: np.ndarray
    score: np.ndarray
    source: np.ndarray  # NONE, DETECTED or INTERPOLATED per frame
    static_spots: list[tuple[float, float]]


def static_spots(rec: Recording, params: TrackingSection) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Which candidates sit on a static spot, and the spots (pixel centres)."""
    n_frames = len(rec.frames)
    is_static = np.zeros(rec.candidates, bool)
    if n_frames < params.static_min_frames or rec.candidates == 0:
        return is_static, []
    r = params.static_radius
    cx = np.floor(rec.x / r).astype(np.int64)
    cy = np.floor(rec.y / r).astype(np.int64)
    span = int(cy.max() - cy.min()) + 3
    cell = (cx - cx.min() + 1) * span + (cy - cy.min() + 1)
    # distinct frames per cell, then summed over each cell's 3x3 neighbourhood
    pairs = np.unique(cell * (n_frames + 1) + rec.frame_of)
    cells, counts = np.unique(pairs // (n_frames + 1), return_counts=True)
    total = np.zeros(len(cells), np.int64)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            probe = cells + dx * span + dy
            at = np.clip(np.searchsorted(cells, probe), 0, len(cells) - 1)
            total += np.where(cells[at] == probe, counts[at], 0)
    hot = cells[total >= params.static_fraction * n_frames]
    if len(hot) == 0:
        return is_static, []
    # a spot: the mean of the candidates in its hot cells; candidates within static_radius of one go
    on_hot = np.isin(cell, hot)
    spots = _merge_cells(rec.x[on_hot], rec.y[on_hot], cell[on_hot], span, r)
    for sx, sy in spots:
        is_static |= np.hypot(rec.x - sx, rec.y - sy) <= 1.5 * r
    return is_static, spots


def _merge_cells(x: np.ndarray, y: np.ndarray, cell: np.ndarray, span: int, r: float) -> list[tuple[float, float]]:
    """Neighbouring hot cells as one spot each, at the mean of their candidates."""
    remaining = set(np.unique(cell).tolist())
    spots = []
    while remaining:
        group, todo = set(), [remaining.pop()]
        while todo:
            c = todo.pop()
            group.add(c)
            for d in (-span - 1, -span, -span + 1, -1, 1, span - 1, span, span + 1):
                if c + d in remaining:
                    remaining.discard(c + d)
                    todo.append(c + d)
        members = np.isin(cell, list(group))
        spots.append((float(x[members].mean()), float(y[members].mean())))
    return spots


def track_recording(rec: Recording, params: TrackingSection) -> Track:
    """The ball of one recording, one row per predicted frame (see the module's docstring)."""
    keep = rec.score >= params.min_score
    rec = rec.subset(keep)
    on_spot, spots = static_spots(rec, params)
    rec = rec.subset(~on_spot)
    chosen, continues = best_path(rec, params)
    return _rows(rec, chosen, continues, spots)


def best_path(rec: Recording, params: TrackingSection) -> tuple[np.ndarray, np.ndarray]:
    """The chosen candidates in frame order, and for each whether it continues the previous one's
    segment (False: it starts a segment)."""
    if rec.candidates == 0:
        return np.empty(0, np.int64), np.empty(0, bool)
    reward = params.score_weight * (_logit(rec.score) - _logit(np.array(params.break_even)))
    back, continues, last = _search(
        np.ascontiguousarray(rec.frame_of, np.int64), rec.frames[rec.frame_of].astype(np.float64),
        np.ascontiguousarray(rec.x, np.float64), np.ascontiguousarray(rec.y, np.float64),
        rec.size.astype(np.float64) / 2, reward.astype(np.float64), float(params.max_gap + 1),
        float(params.max_speed), float(params.gap_cost), float(params.start_cost), float(params.turn_cost),
        1 / params.motion_sigma ** 2,
    )
    chosen = []
    node = last
    while node >= 0:
        chosen.append(node)
        node = back[node]
    chosen_nodes = np.array(chosen[::-1], np.int64)
    return chosen_nodes, continues[chosen_nodes]


# Compiled (numba): the search visits every pair of candidates a few frames apart, ~300 pairs a frame.
# Written as ~30 numpy calls a frame it took 2.9-3.4 s for 100 000 frames (call overhead, not
# arithmetic), as long as reading the 100 000 prediction files; compiled it takes 0.7 s.
# ``cache=True`` keeps the machine code beside the module (numba falls back to its user cache).
@njit(cache=True)
def _search(k, t, x, y, half, reward, reach, max_speed, gap_cost, start_cost, turn_cost, inv_sigma2):
    n = len(k)
    best = np.empty(n)
    back = np.full(n, -1, np.int64)
    continues = np.zeros(n, np.bool_)
    vx = np.zeros(n)
    vy = np.zeros(n)
    weight = np.zeros(n)  # 1/sigma^2 once a candidate has a velocity (0: a segment's first detection)
    prefix_value, prefix_node = 0.0, -1  # the best track ending before the current frame (0: none)
    lo = 0
    b0 = 0
    while b0 < n:
        b1 = b0 + 1
        while b1 < n and k[b1] == k[b0]:
            b1 += 1
        tb = t[b0]
        while lo < b0 and tb - t[lo] > reach:
            lo += 1
        start_value = prefix_value - start_cost
        for b in range(b0, b1):
            value, via = start_value, prefix_node
            for a in range(lo, b0):
                dt = tb - t[a]
                dx = x[b] - x[a]
                dy = y[b] - y[a]
                limit = max_speed * dt + half[a] + half[b]
                if dx * dx + dy * dy > limit * limit:
                    continue
                ex = dx / dt - vx[a]
                ey = dy / dt - vy[a]
                turn = min((ex * ex + ey * ey) * weight[a], turn_cost)
                candidate = best[a] - turn - (k[b] - k[a] - 1) * gap_cost
                if candidate > value:
                    value, via = candidate, a
            best[b] = value + reward[b]
            back[b] = via
            if via >= 0 and value > start_value:
                continues[b] = True
                dt = tb - t[via]
                vx[b] = (x[b] - x[via]) / dt
                vy[b] = (y[b] - y[via]) / dt
                weight[b] = inv_sigma2
        # the frame is done: its tracks can be followed by a new segment from the next frame on
        for b in range(b0, b1):
            if best[b] > prefix_value:
                prefix_value, prefix_node = best[b], b
        b0 = b1
    return back, continues, prefix_node


def _logit(score: np.ndarray) -> np.ndarray:
    p = np.clip(score.astype(np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _rows(rec: Recording, chosen: np.ndarray, continues: np.ndarray, spots: list) -> Track:
    m = len(rec.frames)
    x, y, score = np.full(m, np.nan), np.full(m, np.nan), np.full(m, np.nan)
    source = np.zeros(m, np.int8)
    at = rec.frame_of[chosen]
    x[at], y[at], score[at] = rec.x[chosen], rec.y[chosen], rec.score[chosen]
    source[at] = DETECTED
    t = rec.frames[at].astype(np.float64)
    # each chosen detection's arrival velocity (NaN at a segment's first)
    vx, vy = np.full(len(at), np.nan), np.full(len(at), np.nan)
    steps = np.flatnonzero(continues)
    vx[steps] = (x[at[steps]] - x[at[steps - 1]]) / (t[steps] - t[steps - 1])
    vy[steps] = (y[at[steps]] - y[at[steps - 1]]) / (t[steps] - t[steps - 1])
    for j in steps:
        k0, k1 = at[j - 1], at[j]
        if k1 - k0 < 2:
            continue
        between = np.arange(k0 + 1, k1)
        tf = rec.frames[between].astype(np.float64)
        w = (tf - t[j - 1]) / (t[j] - t[j - 1])
        bx = x[k0] + w * (x[k1] - x[k0])
        by = y[k0] + w * (y[k1] - y[k0])
        inside = _inside(bx, by, rec, between)
        # A ball that left the frame and came back on the same side is not on the straight line
        # between: where the motion before the gap and the motion after it both put it outside the
        # frame, it was out.
        ways = []
        if not np.isnan(vx[j - 1]):
            ways.append(_inside(x[k0] + vx[j - 1] * (tf - t[j - 1]), y[k0] + vy[j - 1] * (tf - t[j - 1]), rec, between))
        if j + 1 < len(at) and continues[j + 1]:
            ways.append(_inside(x[k1] - vx[j + 1] * (t[j] - tf), y[k1] - vy[j + 1] * (t[j] - tf), rec, between))
        if ways:
            inside &= np.logical_or.reduce(ways)
        x[between[inside]], y[between[inside]] = bx[inside], by[inside]
        source[between[inside]] = INTERPOLATED
    return Track(rec.name, rec.frames, rec.stems, x, y, score, source, spots)


def _inside(x: np.ndarray, y: np.ndarray, rec: Recording, frames: np.ndarray) -> np.ndarray:
    return (x >= 0) & (x <= rec.width[frames]) & (y >= 0) & (y <= rec.height[frames])
