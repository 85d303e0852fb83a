"""How close a ball track is to the truth, frame by frame, and the same for the raw top-1 detection.

Per recording, over its predicted frames:

* ``within_2px``, ``within_4px``, ``within_8px``, ``within_ball``: of the frames whose truth has a
  ball, the fraction where the reported ball is that close to the true centre (``within_ball``: no
  farther than the ball's own diameter, for balls of any size);
* ``false_ball_rate``: of the ball-free frames (the ball out of the frame), the fraction where a
  ball is reported (-1 when the recording has none);
* ``accuracy``: the fraction of all frames that are right: a ball within its diameter, or no ball
  reported where there is none;
* ``longest_wrong``: the longest run of consecutive predicted frames that are not right.

The raw top-1 is the highest-scoring candidate of a frame whose score reaches a threshold
(:func:`top1_positions`); :func:`best_top1_threshold` finds, with hindsight (on the truth itself),
the threshold that gives it the best accuracy: a comparison that flatters the top-1, not the track.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from balldet.tracks.candidates import Recording

DISTANCES = (2, 4, 8)


@dataclass
class Truth:
    """Where the ball truly is in each predicted frame of a recording (NaN: no ball)."""

    x: np.ndarray
    y: np.ndarray
    diameter: np.ndarray

    @property
    def has_ball(self) -> np.ndarray:
        return ~np.isnan(self.x)


def truth_from_rows(rows: Sequence[np.ndarray], width: np.ndarray, height: np.ndarray, ball_class: int) -> Truth:
    """The truth of each frame from its YOLO rows (``class cx cy w h``); the first ball box counts."""
    m = len(rows)
    x, y, d = np.full(m, np.nan), np.full(m, np.nan), np.full(m, np.nan)
    for i, frame_rows in enumerate(rows):
        frame_rows = np.asarray(frame_rows, np.float64).reshape(-1, 5) if len(frame_rows) else np.empty((0, 5))
        balls = frame_rows[frame_rows[:, 0] == ball_class]
        if len(balls):
            cx, cy, w, h = balls[0, 1:5]
            x[i], y[i] = cx * width[i], cy * height[i]
            d[i] = max(w * width[i], h * height[i])
    return Truth(x, y, d)


def labels_folder(folder: Path) -> Path:
    """A YOLO labels folder as given, or the ``labels/`` of a YOLO dataset folder."""
    folder = Path(folder)
    return folder / "labels" if (folder / "labels").is_dir() else folder


def read_truth(folder: Path, rec: Recording, ball_class: int) -> tuple[Truth, int]:
    """The truth of each predicted frame of ``rec`` from ``<folder>/<stem>.txt`` (a missing file: a
    frame without any box, as YOLO datasets store them); and how many frames had a label file."""
    folder = labels_folder(folder)
    rows, found = [], 0
    for stem in rec.stems:
        path = os.path.join(folder, stem + ".txt")
        try:
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except FileNotFoundError:
            rows.append(np.empty((0, 5)))
            continue
        found += 1
        values = [[float(v) for v in line.split()[:5]] for line in text.splitlines() if line.strip()]
        rows.append(np.array(values, np.float64).reshape(-1, 5))
    return truth_from_rows(rows, rec.width, rec.height, ball_class), found


@dataclass
class Measures:
    frames: int
    ball_frames: int
    within: dict[str, float]  # "2px", "4px", "8px", "ball" -> fraction of ball frames
    false_ball_rate: float
    accuracy: float
    longest_wrong: int

    def as_dict(self, prefix: str) -> dict[str, float]:
        values = {f"{prefix}/within_{k}": v for k, v in self.within.items()}
        values.update({f"{prefix}/false_ball_rate": self.false_ball_rate, f"{prefix}/accuracy": self.accuracy,
                       f"{prefix}/longest_wrong": float(self.longest_wrong)})
        return values


def measure(x: np.ndarray, y: np.ndarray, truth: Truth) -> Measures:
    """Scores of reported positions (NaN: no ball reported) against ``truth``."""
    has_ball = truth.has_ball
    reported = ~np.isnan(x)
    distance = np.hypot(x - truth.x, y - truth.y)  # NaN where either is missing
    ball_frames = int(has_ball.sum())
    free_frames = len(x) - ball_frames

    def share(hit: np.ndarray, of: int) -> float:
        return float(hit.sum() / of) if of else -1.0

    within = {f"{d}px": share(has_ball & (distance <= d), ball_frames) for d in DISTANCES}
    right_ball = has_ball & (distance <= np.maximum(truth.diameter, 1.0))
    within["ball"] = share(right_ball, ball_frames)
    right = right_ball | (~has_ball & ~reported)
    return Measures(
        frames=len(x), ball_frames=ball_frames, within=within,
        false_ball_rate=share(~has_ball & reported, free_frames),
        accuracy=share(right, len(x)), longest_wrong=_longest_run(~right),
    )


def _longest_run(flags: np.ndarray) -> int:
    if not flags.any():
        return 0
    padded = np.r_[False, flags, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())


def frame_top1(rec: Recording) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each frame's highest-scoring candidate: x, y, score (NaN, NaN, -inf for a frame without any)."""
    m = len(rec.frames)
    x, y, score = np.full(m, np.nan), np.full(m, np.nan), np.full(m, -np.inf)
    if rec.candidates:
        # candidates sorted by (frame, score): each frame's last one is its best (first listed on ties)
        order = np.lexsort((-np.arange(rec.candidates), rec.score, rec.frame_of))
        last = order[np.r_[rec.frame_of[order][1:] != rec.frame_of[order][:-1], True]]
        at = rec.frame_of[last]
        x[at], y[at], score[at] = rec.x[last], rec.y[last], rec.score[last]
    return x, y, score


def top1_positions(rec: Recording, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The raw top-1 ball of each frame: its best candidate when that scores at least ``threshold``."""
    x, y, score = frame_top1(rec)
    low = score < threshold
    x[low], y[low] = np.nan, np.nan
    return x, y


def best_top1_threshold(recordings: Sequence[Recording], truths: Sequence[Truth]) -> float:
    """The score threshold at which the raw top-1 is right in most frames, all recordings together."""
    scores, right_if_kept, right_if_dropped = [], [], []
    for rec, truth in zip(recordings, truths):
        x, y, score = frame_top1(rec)
        distance = np.hypot(x - truth.x, y - truth.y)
        scores.append(score)
        dropped = ~truth.has_ball
        # a frame without any candidate reports nothing whatever the threshold
        right_if_kept.append(np.where(np.isfinite(score), truth.has_ball & (distance <= np.maximum(
            truth.diameter, 1.0)), dropped))
        right_if_dropped.append(dropped)
    score = np.concatenate(scores)
    kept, dropped = np.concatenate(right_if_kept), np.concatenate(right_if_dropped)
    order = np.argsort(-score, kind="stable")
    score, kept, dropped = score[order], kept[order], dropped[order]
    # keeping the j best-scoring frames' top-1: right = kept[:j] + dropped[j:]
    right = np.r_[0, np.cumsum(kept)] + np.r_[np.cumsum(dropped[::-1])[::-1], 0]
    # only a j where the score changes (or all frames) is a threshold
    valid = np.r_[True, score[1:] != score[:-1], True] & np.r_[True, np.isfinite(score)]
    j = int(np.flatnonzero(valid)[np.argmax(right[valid])])
    return float(score[j - 1]) if j > 0 else float("inf")
