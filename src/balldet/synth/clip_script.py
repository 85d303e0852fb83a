"""The ball's script of a synthetic clip: where it is, frame by frame, in pitch metres and height.

A clip is a sequence of phases, each continuing from where the last one left the ball:

* ``roll``: slow and decelerating on the grass (never to a standstill);
* ``pass``: straight and fast, slowing a little;
* ``kick``: a pass struck in a new direction, at least 75 degrees (in the picture) off the way the
  ball was going: a sudden turn;
* ``loft``: through the air on a parabola and one bounce; the ball rises above its ground point
  and, nearer the camera, grows (by a fifth to a half, more for higher balls) then shrinks again;
* ``hidden``: a pass to a player, then a few frames (up to 6) where the ball is behind that player
  as the camera sees it (the player between camera and ball; the ball is not drawn), before it is
  kicked away; with the frames just before and after, where the player covers the drawn ball,
  it is hidden 3 to 10 frames in a row;
* ``out``: after a pass out of the picture (over the near touchline or towards the other half), a
  while out of play; then a throw-in or a pass back into the picture (a ``pass`` phase; the ball is
  out of the picture, truth state ``out``, from the frame its centre leaves it to the frame it is
  back).

Every clip starts with a roll, then has one each of ``pass`` + ``kick``, ``hidden`` + ``kick``, a
``loft`` and an ``out`` in a random order (180 to 245 frames at 640x384), then random phases until
it is long enough. The script does not depend on the clip's length: a shorter clip is the
start of a longer one. Speeds are physical (a kick 20-28 m/s: 6 to 13 px a frame at 640 wide, where
the camera sees 40-60 m across); sizes in pixels follow the broadcast renderer (see
:mod:`balldet.synth.clip_scene`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from balldet.synth.camera import PITCH_LENGTH, PITCH_WIDTH
from balldet.synth.clip_scene import ClipScene
from balldet.synth.figures import visible_fraction
from balldet.synth.wide import pixels_per_metre

FPS = 25
GRAVITY = 9.81
GROWTH_M = 8.0  # a ball this high is drawn twice its size on the ground: it is nearer the camera
LIFT = 0.8  # pixels a metre of height lifts the ball, per pixel a metre of ground along the touchline
TORSO = 0.62  # where a hidden ball's centre is on the player hiding it: this fraction of the height up
MARGIN = 0.07  # fraction of the width kept between a ball in play and the picture's edges
PHASES = ("roll", "pass", "kick", "loft", "hidden", "out")
TURN_DEG = (75.0, 165.0)  # a kick's turn, in the picture
HIDDEN_FRAMES = (3, 6)  # the scripted ones (fewer when the pass gets behind the player early)
MAX_HIDDEN = 10  # at most this many hidden frames in a row around a scripted hidden stretch
HIDDEN_BELOW = 0.2  # a drawn ball with less of it seen than this (players in front) is hidden


@dataclass
class Script:
    """The ball over the frames of a clip: ground point (pitch metres), height (metres), whether it
    is scripted hidden behind a player (then not drawn), and the phases ``(kind, first index, end
    index)`` (frame indices from the clip's start, end excluded; one after the other, every frame
    in one)."""

    ground: list[np.ndarray] = field(default_factory=list)
    height: list[float] = field(default_factory=list)
    hidden: list[bool] = field(default_factory=list)
    phases: list[tuple[str, int, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ground)


def ball_in_picture(scene: ClipScene, ground: np.ndarray, height: float,
                    ) -> tuple[float, float, float, float, float, float]:
    """The ball with its ground point (pitch metres) and height (metres) in the picture: centre x,
    centre y, radius, ground point x, ground point y, radius on the ground (pixels)."""
    (gu, gv), = scene.to_pixels([ground])
    r0 = float(scene.ball_diameter(ground[1])) / 2
    r = r0 * (1 + height / GROWTH_M)
    lift = height * LIFT * float(pixels_per_metre(scene.hom, [ground])[0]) if height > 0 else 0.0
    return float(gu), float(gv) - r - lift, r, float(gu), float(gv), r0


def write_script(scene: ClipScene, first_frame: int, frames: int, rng: np.random.Generator) -> Script:
    """At least ``frames`` frames of the ball's script (the clip cuts it to length)."""
    return _Writer(scene, first_frame, rng).run(frames)


class _Writer:
    def __init__(self, scene: ClipScene, first_frame: int, rng: np.random.Generator) -> None:
        self.scene, self.first, self.rng = scene, first_frame, rng
        self.s = Script()
        self._feet: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        w, h = scene.width, scene.height
        m = MARGIN * w
        self.box = (m, max(scene.far_v, 0.0) + 0.06 * h, w - m, h - m)  # where the ball may go in play

    # ------------------------------------------------------------------------------ the storyboard
    def run(self, frames: int) -> Script:
        rng = self.rng
        start = self._random_point()
        players = self.scene.players(self.first)
        for _ in range(100):  # the clip opens on a ball in sight
            (u, v), = self.scene.to_pixels([start])
            r = float(self.scene.ball_diameter(start[1])) / 2
            if visible_fraction(u, v - r, r, v, players, self.scene.width, self.scene.height) == 1.0:
                break
            start = self._random_point()
        v0, v1 = rng.uniform(4, 7), rng.uniform(1.2, 2.0)
        target = self._roll_target(start, (v0 + v1) / 2 * rng.uniform(0.6, 1.0), None)
        self._add_phase("roll", self._segment_points(start, target, v0, v1, include_start=True))
        for i in rng.permutation(4):
            (self._pass_then_kick, self._hide, self._loft, self._out)[int(i)]()
        while len(self.s) < frames:
            kind = rng.choice(["roll", "pass", "kick", "kick", "loft"])
            {"roll": self._roll, "pass": self._pass, "kick": self._kick, "loft": self._loft}[str(kind)]()
        return self.s

    def _pass_then_kick(self) -> None:
        self._pass()
        self._kick()

    # ----------------------------------------------------------------------------------- phases
    def _roll(self) -> None:
        v0, v1 = self.rng.uniform(3.5, 7.0), self.rng.uniform(1.2, 2.0)
        target = self._roll_target(self.here, (v0 + v1) / 2 * self.rng.uniform(0.8, 1.4), self._heading())
        self._add_phase("roll", self._segment_points(self.here, target, v0, v1))

    def _pass(self) -> None:
        target = self._pick(10, 22)
        v0 = self.rng.uniform(14, 22)
        self._add_phase("pass", self._segment_points(self.here, target, v0, 0.85 * v0))

    def _kick(self, sideways: bool = False) -> None:
        """A pass turned off the ball's way; ``sideways``: across the picture rather than along the
        line of sight (out from behind a player at once)."""
        heading = self._heading()

        def turned(p: np.ndarray) -> bool:
            way = self.scene.to_pixels(p)[0] - self._pixels(self.here)
            if sideways and abs(way[1]) > 0.6 * np.hypot(*way):
                return False
            if heading is None:
                return True
            cos = float(way @ heading / max(np.linalg.norm(way) * np.linalg.norm(heading), 1e-9))
            return math.cos(math.radians(TURN_DEG[1])) <= cos <= math.cos(math.radians(TURN_DEG[0]))

        target = self._pick(9, 20, extra=turned)
        v0 = self.rng.uniform(20, 28)
        self._add_phase("kick", self._segment_points(self.here, target, v0, 0.85 * v0))

    def _loft(self) -> None:
        rng = self.rng
        speed, flight = rng.uniform(12, 16), rng.uniform(1.3, 1.8)  # m/s along the ground, seconds in the air
        target = self._pick(0.9 * speed * flight, 1.1 * speed * flight)
        start = self.here
        distance = self._metres(target)
        ground = self._segment_points(start, target, speed, speed)
        t = np.arange(1, len(ground) + 1) / len(ground) * flight
        height = 0.5 * GRAVITY * t * (flight - t)
        height *= self._headroom(ground, height)
        # one bounce, a fifth as long, on in the same direction (shortened if it would leave the play)
        way = (target - start) / max(distance, 1e-9)
        bounce = 0.2 * flight
        end = target + way * 0.7 * speed * bounce
        while not self._in_play(end) and bounce > 0.08:
            bounce *= 0.7
            end = target + way * 0.7 * speed * bounce
        hop = self._segment_points(target, end, 0.7 * speed, 0.7 * speed) if self._in_play(end) else []
        t2 = np.arange(1, len(hop) + 1) / max(len(hop), 1) * bounce
        hop_height = 0.5 * GRAVITY * t2 * (bounce - t2)
        if len(hop):
            hop_height *= self._headroom(hop, hop_height)
        self._add_phase("loft", [*ground, *hop], [*height, *hop_height])

    def _hide(self) -> None:
        """A pass to a player who then stands between the camera and the ball for a few frames; then a kick."""
        rng, scene = self.rng, self.scene
        i0 = len(self.s)
        speed = rng.uniform(15, 20)  # a firm pass: slow ones slip behind the player long before they stop
        want = rng.uniform(8, 18)
        hidden = int(rng.integers(HIDDEN_FRAMES[0], HIDDEN_FRAMES[1] + 1))
        options: list[tuple[float, int, int]] = []
        for j in range(len(scene.look.tracks)):
            n = 1
            for _ in range(4):  # frames to get there: the player moves meanwhile
                behind = self._behind(i0 + n - 1, j)
                if behind is None:
                    break
                n = max(1, math.ceil(self._metres(behind) / (0.95 * speed / FPS)))
            if behind is None or not all(self._behind(i0 + n - 1 + m, j) is not None
                                         for m in (1, HIDDEN_FRAMES[1])):
                continue
            # a ball coming from the side goes behind the player at once; one coming along the line
            # of sight would be hidden long before it gets there
            way = self._pixels(behind) - self._pixels(self.here)
            options.append((abs(self._metres(behind) - want) + 20 * abs(way[1]) / max(float(np.hypot(*way)), 1e-9),
                            j, n))
        for _, j, n in sorted(options):
            approach = self._segment_points(self.here, self._behind(i0 + n - 1, j), speed, 0.9 * speed, frames=n)
            covered = self._covered(approach, i0, from_end=True)
            if covered <= MAX_HIDDEN - 3:
                break
        else:  # nobody to hide behind in the picture: a pass instead
            self._pass()
            return
        self._add_phase("pass", approach)
        first = len(self.s)
        mark = (first, len(self.s.phases), rng.bit_generator.state)
        for count in range(min(hidden, MAX_HIDDEN - covered), 0, -1):
            for m in range(count):
                self._append(self._behind(first + m, j), 0.0, hidden=True)
            self.s.phases.append(("hidden", first, len(self.s)))
            self._kick(sideways=True)
            kick = self.s.phases[-1]
            after = self._covered(self.s.ground[kick[1]:kick[2]], kick[1])
            if covered + count + after <= MAX_HIDDEN or count == 1:
                return
            # the ball comes out from behind the player too slowly: fewer frames behind him, another kick
            del self.s.ground[first:], self.s.height[first:], self.s.hidden[first:], self.s.phases[mark[1]:]
            rng.bit_generator.state = mark[2]

    def _covered(self, points: list[np.ndarray], i0: int, from_end: bool = False) -> int:
        """How many frames of a ground path from frame index ``i0`` on have the ball hidden by players
        in front (:data:`HIDDEN_BELOW`) in a row, from its start (or its end)."""
        scene = self.scene
        count = 0
        for m in (range(len(points) - 1, -1, -1) if from_end else range(len(points))):
            cx, cy, r, _, gv, _ = ball_in_picture(scene, points[m], 0.0)
            players = scene.players(self.first + i0 + m)
            if visible_fraction(cx, cy, r, gv, players, scene.width, scene.height) >= HIDDEN_BELOW:
                break
            count += 1
        return count

    def _out(self) -> None:
        """A pass out of the picture, a while out of play, then a throw-in (or a pass back in)."""
        rng, scene = self.rng, self.scene
        w, h = scene.width, scene.height
        far_side = (w + 40.0) if scene.side == 0 else -40.0  # towards the other half

        u, v = self._pixels(self.here)
        top = max(scene.far_v, 0) + 0.35 * h

        def outside(bottom: bool) -> np.ndarray:
            """A point 40 px out of the picture, below it or on the far side, near where the ball is."""
            if bottom:
                return scene.to_pitch([[float(np.clip(u + rng.uniform(-0.15, 0.15) * w, 0.15 * w, 0.85 * w)),
                                        h + 40.0]])[0]
            return scene.to_pitch([[far_side, float(np.clip(v + rng.uniform(-0.1, 0.1) * h, top, 0.85 * h))]])[0]

        exits = outside(True), outside(False)
        nearer = int(self._metres(exits[1]) < self._metres(exits[0]))
        exit_at = exits[nearer if rng.random() < 0.8 else 1 - nearer]
        bottom = exit_at is exits[0]
        v0 = min(max(rng.uniform(16, 24), self._metres(exit_at) / 1.1), 28)  # out within about 1.2 s
        self._add_phase("pass", self._segment_points(self.here, exit_at, v0, 0.85 * v0))
        self._add_phase("out", [exit_at] * int(rng.integers(8, 16)))  # out of play, out of the picture
        back = bottom if rng.random() < 0.7 else not bottom
        enter = outside(back)
        target = self._pick(4, 8, origin=enter)
        speed = rng.uniform(12, 16)
        ground = self._segment_points(enter, target, speed, 0.9 * speed, include_start=True)
        height = [0.0] * len(ground)
        if back:  # a throw-in: thrown from head height, a low arc
            flight = len(ground) / FPS
            t = np.arange(len(ground)) / FPS
            height = list(2.0 * (1 - t / flight) + 0.5 * GRAVITY * t * (flight - t) * 0.25)
        self._add_phase("pass", ground, height)

    # ---------------------------------------------------------------------------------- geometry
    @property
    def here(self) -> np.ndarray:
        return self.s.ground[-1]

    def _metres(self, p: np.ndarray, origin: np.ndarray | None = None) -> float:
        return float(np.hypot(*(p - (self.here if origin is None else origin))))

    def _pixels(self, p: np.ndarray) -> np.ndarray:
        return self.scene.to_pixels(p)[0]

    def _in_play(self, p: np.ndarray) -> bool:
        x, y = p
        if not (0.5 <= x <= PITCH_LENGTH - 0.5 and 0.5 <= y <= PITCH_WIDTH - 0.5):
            return False
        u, v = self._pixels(p)
        x1, y1, x2, y2 = self.box
        return bool(x1 <= u <= x2 and y1 <= v <= y2)

    def _random_point(self) -> np.ndarray:
        x1, y1, x2, y2 = self.box
        for _ in range(1000):
            p = self.scene.to_pitch([[self.rng.uniform(x1, x2), self.rng.uniform(y1, y2)]])[0]
            if self._in_play(p):
                return p
        raise RuntimeError("no pitch in the picture")  # pragma: no cover - the camera frames the spots

    def _pick(self, low: float, high: float, origin: np.ndarray | None = None,
              extra: Callable[[np.ndarray], bool] | None = None) -> np.ndarray:
        """A random point in play ``low`` to ``high`` metres from ``origin`` (default: the ball) that
        ``extra`` takes; after 400 tries, the one of them nearest to that distance."""
        best, miss = None, math.inf
        for _ in range(400):
            p = self._random_point()
            d = self._metres(p, origin)
            if low <= d <= high and (extra is None or extra(p)):
                return p
            if max(low - d, d - high, 0.0) < miss:
                best, miss = p, max(low - d, d - high, 0.0)
        return best

    def _heading(self) -> np.ndarray | None:
        """The ball's way in the picture (px a frame) before the last scripted hidden frames, if it moves."""
        g, hidden = self.s.ground, self.s.hidden
        i = len(g) - 1
        while i > 0 and hidden[i]:
            i -= 1
        if i < 1:
            return None
        way = self._pixels(g[i]) - self._pixels(g[i - 1])
        return way if np.linalg.norm(way) >= 0.3 else None

    def _roll_target(self, start: np.ndarray, distance: float, heading: np.ndarray | None) -> np.ndarray:
        """Where a roll of ``distance`` metres ends, about straight on (``heading``, px) if there is room."""
        rng = self.rng
        for attempt in range(60):
            if heading is not None and attempt < 40:
                angle = math.atan2(*heading[::-1]) + rng.normal(0, 0.35)
                ahead = self._pixels(start) + 40 * np.array([math.cos(angle), math.sin(angle)])
                way = self.scene.to_pitch([ahead])[0] - start
            else:
                way = rng.normal(size=2)
            end = start + way / max(np.linalg.norm(way), 1e-9) * distance
            if self._in_play(end):
                return end
        return self._pick(2, distance, origin=start)

    def _behind(self, index: int, j: int) -> np.ndarray | None:
        """Ground point (pitch) of a ball hidden behind track ``j``'s player at a frame index: its
        centre at the player's torso; None when that is not in play."""
        frame = self.first + index
        if frame not in self._feet:
            self._feet[frame] = self.scene.feet(frame)
        feet, heights = self._feet[frame]
        (fu, fv), h = feet[j], float(heights[j])
        r = float(self.scene.ball_diameter(self.scene.to_pitch([[fu, fv]])[0, 1])) / 2
        for _ in range(2):
            p = self.scene.to_pitch([[fu, fv - TORSO * h + r]])[0]
            r = float(self.scene.ball_diameter(p[1])) / 2
        return p if self._in_play(p) else None

    def _headroom(self, ground: list[np.ndarray], height: np.ndarray) -> float:
        """Scale of a flight's heights that keeps the ball's top 2 px inside the picture."""
        scale = 1.0
        for g, z in zip(ground, height):
            if z <= 0:
                continue
            v = self._pixels(g)[1]
            r0 = float(self.scene.ball_diameter(g[1])) / 2
            ppm = float(pixels_per_metre(self.scene.hom, [g])[0])
            room = v - 2 - 2 * r0 * (1 + z / GROWTH_M)  # pixels above the ground point for the lift
            scale = min(scale, max(room, 0.0) / (z * LIFT * ppm))
        return scale

    # ------------------------------------------------------------------------------- the frames
    def _segment_points(self, start: np.ndarray, end: np.ndarray, v0: float, v1: float,
                        include_start: bool = False, frames: int | None = None) -> list[np.ndarray]:
        """Ground points a frame apart from ``start`` to ``end`` (end included, start only when asked),
        the speed going evenly from v0 to v1 m/s (``frames`` fixes their number instead)."""
        distance = float(np.hypot(*(end - start)))
        n = frames if frames is not None else max(1, round(2 * distance / (v0 + v1) * FPS))
        t = np.arange(0 if include_start else 1, n + 1) / n  # time over the whole segment, 0..1
        s = (v0 * t + 0.5 * (v1 - v0) * t * t) / (v0 + 0.5 * (v1 - v0))  # distance covered, 0..1
        return [start + (end - start) * si for si in s]

    def _append(self, p: np.ndarray, z: float, hidden: bool = False) -> None:
        self.s.ground.append(np.asarray(p, np.float64))
        self.s.height.append(float(z))
        self.s.hidden.append(hidden)

    def _add_phase(self, kind: str, ground: list[np.ndarray], height: list[float] | None = None) -> None:
        first = len(self.s)
        for i, p in enumerate(ground):
            self._append(p, 0.0 if height is None else max(float(height[i]), 0.0))
        self.s.phases.append((kind, first, len(self.s)))
