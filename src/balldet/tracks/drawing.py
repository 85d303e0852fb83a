"""A track drawn on its recording, so a person can check it at a glance.

Every predicted frame of the recording becomes a frame of the video: the raw candidates faintly
(thin grey rings, the static spots the filter ignored in blue), the reported ball as a ring
(green where detected, orange where bridged), its last second as a trail, and a caption with the
frame number and the row's ``source``. The video is written under a temporary name and renamed
when complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from balldet.errors import UsageError
from balldet.tracks.candidates import Recording
from balldet.tracks.filter import DETECTED, INTERPOLATED, SOURCE_NAMES, Track

GREEN, ORANGE, GREY, BLUE, WHITE = (60, 220, 60), (0, 150, 255), (200, 200, 200), (255, 120, 0), (255, 255, 255)
CANDIDATE_ALPHA = 0.4


def draw_frame(image: np.ndarray, k: int, rec: Recording, track: Track, candidates: np.ndarray) -> np.ndarray:
    """Frame ``k`` of the track (its index among the predicted frames) drawn on ``image`` (a copy)."""
    out = image.copy()
    faint = out.copy()
    scale = max(1, round(max(out.shape[:2]) / 1000))
    for c in candidates:
        radius = max(4, int(rec.size[c] / 2) + 3)
        cv2.circle(faint, (round(rec.x[c]), round(rec.y[c])), radius, GREY, 1, cv2.LINE_AA)
    for sx, sy in track.static_spots:
        cv2.circle(faint, (round(sx), round(sy)), 6 * scale, BLUE, 1, cv2.LINE_AA)
    cv2.addWeighted(faint, CANDIDATE_ALPHA, out, 1 - CANDIDATE_ALPHA, 0, dst=out)
    trail_from = np.searchsorted(track.frames, track.frames[k] - 25)
    trail = [(round(x), round(y)) for x, y in zip(track.x[trail_from:k + 1], track.y[trail_from:k + 1])
             if x == x and y == y]
    if len(trail) > 1:
        cv2.polylines(out, [np.array(trail, np.int32)], False, WHITE, scale, cv2.LINE_AA)
    source = int(track.source[k])
    if source in (DETECTED, INTERPOLATED):
        colour = GREEN if source == DETECTED else ORANGE
        cv2.circle(out, (round(track.x[k]), round(track.y[k])), 9 * scale, colour, 2 * scale, cv2.LINE_AA)
    caption = f"{track.recording}  frame {int(track.frames[k])}  {SOURCE_NAMES[source]}"
    cv2.putText(out, caption, (10 * scale, 24 * scale), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0),
                3 * scale, cv2.LINE_AA)
    cv2.putText(out, caption, (10 * scale, 24 * scale), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, WHITE, scale,
                cv2.LINE_AA)
    return out


def write_track_video(path: Path, frames: Iterable[tuple[int, np.ndarray]], rec: Recording, track: Track,
                      fps: float) -> int:
    """Draw ``track`` on the recording's ``frames`` (``(frame number, BGR image)``, in order; frames
    that were not predicted are skipped) into the video ``path``; the number of frames written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    index = {int(f): k for k, f in enumerate(track.frames.tolist())}
    starts = np.searchsorted(rec.frame_of, np.arange(len(rec.frames)))
    ends = np.searchsorted(rec.frame_of, np.arange(len(rec.frames)), side="right")
    writer = None
    written = 0
    try:
        for number, image in frames:
            k = index.get(int(number))
            if k is None:
                continue
            if writer is None:
                height, width = image.shape[:2]
                writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
                if not writer.isOpened():
                    raise UsageError([("--video", f"OpenCV cannot write {path}; give a path ending in .mp4")])
            writer.write(draw_frame(image, k, rec, track, np.arange(starts[k], ends[k])))
            written += 1
    except BaseException:
        if writer is not None:
            writer.release()
        partial.unlink(missing_ok=True)
        raise
    if writer is None:
        raise UsageError([("--source", f"no frame of {track.recording} was found in the source; give the "
                           "recording the predictions were made from")])
    writer.release()
    os.replace(partial, path)
    return written


def folder_frames(paths: Iterable[tuple[int, Path]]) -> Iterator[tuple[int, np.ndarray]]:
    """``(frame number, image)`` of image files, read as OpenCV reads them (EXIF orientation applied)."""
    for number, image_path in paths:
        image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        if image is None:
            raise UsageError([("--source", f"cannot read the image {image_path}")])
        yield number, image
