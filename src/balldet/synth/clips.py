"""Synthetic clips: short continuous recordings of a fixed camera with the ball's truth in every frame.

For ball tracking (one ball position a frame from a detector's candidates): a clip is one
recording id, a camera that never moves (:mod:`balldet.synth.clip_scene`: a penalty spot and the
centre spot, painted discs of the ball's size, always at the same pixels), and consecutive frames
at 25 fps (250 by default, numbered from an offset such as 1000) in which the ball rolls, is passed,
lofted (rising above its ground point, growing as it nears the camera, then shrinking), kicked in
new directions, hidden behind a player for a few frames and out of the picture for a while
(:mod:`balldet.synth.clip_script`). Players move smoothly along the look's tracks. Frames are drawn
by the broadcast renderer's code (:func:`~balldet.synth.render.compose_frame`).

Truth, per frame: the ball's centre and diameter in pixels and its state:

* ``visible``: in the picture and seen (partly covered by a player at most);
* ``hidden``: in the picture but not seen: behind a player (the scripted stretches, where it is not
  drawn at all, and any frame where players in front cover more than 4/5 of the drawn ball);
* ``out``: not in the picture (its centre outside the image; then there is no position).

Everything is deterministic from (recording id, seed, image size, first frame); a frame's pixels
depend on nothing but the clip and its number, and a shorter clip is the start of a longer one.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

from balldet.errors import DatasetError
from balldet.synth.camera import Box
from balldet.synth.clip_scene import ClipScene, make_clip_scene, static_ground
from balldet.synth.clip_script import FPS, HIDDEN_BELOW, PHASES, ball_in_picture, write_script
from balldet.synth.figures import Player, visible_fraction
from balldet.synth.look import stable_int
from balldet.synth.render import compose_frame

__all__ = ["CLIP_FRAMES", "CLIP_SIZE", "FIRST_FRAME", "FPS", "PHASES", "STATES", "TRUTH_COLUMNS", "BallTruth",
           "Clip", "Phase", "make_clip", "read_video", "render_clip_frame", "truth_csv", "write_clip_video"]

CLIP_SIZE = (640, 384)
CLIP_FRAMES = 250  # 10 seconds at 25 fps
FIRST_FRAME = 1000
STATES = ("visible", "hidden", "out")
TRUTH_COLUMNS = ("recording", "frame", "x", "y", "diameter", "state")
MAX_FRAMES = 25 * 60 * 10  # ten minutes


@dataclass(frozen=True)
class BallTruth:
    """The ball at one frame: centre and diameter in pixels (None when ``out``) and its state."""

    frame: int
    state: str
    x: float | None = None
    y: float | None = None
    diameter: float | None = None

    @property
    def box(self) -> Box | None:
        """(x1, y1, x2, y2) around the whole ball, not clipped to the image; None when out."""
        if self.x is None or self.y is None or self.diameter is None:
            return None
        r = self.diameter / 2
        return self.x - r, self.y - r, self.x + r, self.y + r


class Phase(NamedTuple):
    """A part of a clip's script: its kind (one of :data:`PHASES`), first frame number and the one after its last."""

    kind: str
    start: int
    end: int


class _Ball(NamedTuple):
    cx: float
    cy: float
    r: float
    ground_u: float
    ground_v: float
    shadow_r: float
    drawn: bool


@dataclass(frozen=True, eq=False)
class Clip:
    """One synthetic recording: its fixed camera, frames ``first_frame ..`` with the ball's truth and
    the script's phases (eq=False: identity)."""

    recording: str
    seed: int
    scene: ClipScene
    first_frame: int
    truth: tuple[BallTruth, ...]
    phases: tuple[Phase, ...]
    _balls: tuple[_Ball, ...]
    _players: tuple[tuple[Player, ...], ...]

    @property
    def frames(self) -> range:
        return range(self.first_frame, self.first_frame + len(self.truth))

    @property
    def size(self) -> tuple[int, int]:
        return self.scene.width, self.scene.height

    @property
    def spots(self) -> list[tuple[float, float]]:
        """Pixel centres of the penalty spot and the centre spot (the same in every frame)."""
        return [(x, y) for x, y, _, _ in self.scene.spots]

    def truth_at(self, frame: int) -> BallTruth:
        return self.truth[self._index(frame)]

    def players(self, frame: int) -> list[Player]:
        return list(self._players[self._index(frame)])

    def _index(self, frame: int) -> int:
        i = frame - self.first_frame
        if not 0 <= i < len(self.truth):
            raise IndexError(f"frame {frame} is not in clip {self.recording} "
                             f"({self.frames.start}..{self.frames.stop - 1})")
        return i


def make_clip(recording: str, *, seed: int = 0, frames: int = CLIP_FRAMES, first_frame: int = FIRST_FRAME,
              image_size: tuple[int, int] = CLIP_SIZE) -> Clip:
    """A clip of ``frames`` frames numbered from ``first_frame``: camera, script, players and truth."""
    if not 1 <= frames <= MAX_FRAMES:
        raise DatasetError(f"a clip has 1 to {MAX_FRAMES} frames, not {frames}", fix="ask for fewer frames")
    width, height = (int(v) for v in image_size)
    scene = make_clip_scene(recording, seed, width, height)
    rng = np.random.default_rng(stable_int("clip-script", recording, seed, width, height, first_frame))
    script = write_script(scene, first_frame, frames, rng)
    balls, players, truth = [], [], []
    for i in range(frames):
        frame = first_frame + i
        ground, z, scripted_hidden = script.ground[i], script.height[i], script.hidden[i]
        cx, cy, r, gu, gv, r0 = ball_in_picture(scene, ground, z)
        on_frame = scene.players(frame)
        ball = _Ball(cx, cy, r, gu, gv, r0 * max(0.4, 1 - z / 15), not scripted_hidden)
        if not (0 <= cx < width and 0 <= cy < height):
            state = "out"
        elif scripted_hidden or visible_fraction(cx, cy, r, gv, on_frame, width, height) < HIDDEN_BELOW:
            state = "hidden"
        else:
            state = "visible"
        balls.append(ball)
        players.append(tuple(on_frame))
        truth.append(BallTruth(frame, state) if state == "out" else BallTruth(frame, state, cx, cy, 2 * r))
    phases = tuple(Phase(kind, first_frame + a, first_frame + min(b, frames))
                   for kind, a, b in script.phases if a < frames)
    return Clip(recording, seed, scene, first_frame, tuple(truth), phases, tuple(balls), tuple(players))


def render_clip_frame(clip: Clip, frame: int) -> np.ndarray:
    """The BGR image of one frame of the clip (deterministic from the clip and the frame number)."""
    i = clip._index(frame)
    scene = clip.scene
    ground, grass = static_ground(scene)
    b = clip._balls[i]
    rng = np.random.default_rng(stable_int("clip-frame", clip.recording, frame, clip.seed))
    ball_at = (b.cx, b.cy, b.r, b.ground_v) if b.drawn else None
    shadow = (b.ground_u, b.ground_v, b.shadow_r) if b.drawn else None
    return compose_frame(ground.copy(), grass, scene.look, scene.hom, list(clip._players[i]), ball_at,
                         scene.near_h, scene.k, rng, ball_shadow=shadow)


def truth_csv(clips: Iterable[Clip]) -> str:
    """``recording,frame,x,y,diameter,state`` for every frame of the clips (x, y, diameter empty when out)."""
    lines = [",".join(TRUTH_COLUMNS)]
    for clip in clips:
        for t in clip.truth:
            if t.state == "out":
                lines.append(f"{clip.recording},{t.frame},,,,out")
            else:
                lines.append(f"{clip.recording},{t.frame},{t.x:.3f},{t.y:.3f},{t.diameter:.3f},{t.state}")
    return "\n".join(lines) + "\n"


def write_clip_video(clip: Clip, folder: Path | str) -> Path:
    """The clip as ``<folder>/<recording>.mp4`` (mp4v, 25 fps), written beside under a temporary
    name and renamed once OpenCV reads back every frame at the clip's size."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{clip.recording}.mp4"
    fd, name = tempfile.mkstemp(prefix=f".{clip.recording}.", suffix=".mp4", dir=folder)
    os.close(fd)
    tmp = Path(name)
    try:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), FPS, clip.size)
        if not writer.isOpened():
            raise DatasetError(f"OpenCV cannot write {final} (mp4v)",
                               fix="use an OpenCV build with video support (opencv-python has it)")
        try:
            for frame in clip.frames:
                writer.write(render_clip_frame(clip, frame))
        finally:
            writer.release()
        count, size = read_video(tmp)
        if (count, size) != (len(clip.frames), clip.size):
            raise DatasetError(f"{final}: OpenCV reads back {count} frames of {size[0]}x{size[1]}, "
                               f"not {len(clip.frames)} of {clip.size[0]}x{clip.size[1]}")
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def read_video(path: Path | str) -> tuple[int, tuple[int, int]]:
    """(frames OpenCV decodes, (width, height) of the first) of a video file."""
    cap = cv2.VideoCapture(str(path))
    count, size = 0, (0, 0)
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                break
            if count == 0:
                size = (image.shape[1], image.shape[0])
            count += 1
    finally:
        cap.release()
    return count, size


def speed(clip: Clip) -> np.ndarray:
    """Pixels the ball's centre moves from each frame to the next (NaN where either is out)."""
    xy = np.array([(np.nan, np.nan) if t.x is None else (t.x, t.y) for t in clip.truth], np.float64)
    return np.hypot(*np.diff(xy, axis=0).T) if len(xy) > 1 else np.zeros(0)

