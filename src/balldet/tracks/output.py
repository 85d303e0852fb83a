"""``track.csv``: one row per predicted frame, ``recording,frame,x,y,score,source``.

``x,y`` are pixels of the full frame (empty when there is no ball), ``score`` the chosen
detection's (empty unless ``source`` is ``detected``), ``source`` one of ``detected``,
``interpolated``, ``none``. Rows come recording by recording, frames in order. The file is written
whole or not at all (temp name, then rename).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from balldet.files import write_text_atomic
from balldet.tracks.filter import SOURCE_NAMES, Track

COLUMNS = ("recording", "frame", "x", "y", "score", "source")


def track_csv_text(tracks: Iterable[Track]) -> str:
    lines = [",".join(COLUMNS)]
    for track in tracks:
        name = _csv_field(track.recording)
        xs = np.char.mod("%.2f", np.nan_to_num(track.x))
        ys = np.char.mod("%.2f", np.nan_to_num(track.y))
        scores = np.char.mod("%.4f", np.nan_to_num(track.score))
        for frame, x, y, score, source, has_xy, has_score in zip(
            track.frames.tolist(), xs.tolist(), ys.tolist(), scores.tolist(), track.source.tolist(),
            (~np.isnan(track.x)).tolist(), (~np.isnan(track.score)).tolist(),
        ):
            lines.append(f"{name},{frame},{x if has_xy else ''},{y if has_xy else ''},"
                         f"{score if has_score else ''},{SOURCE_NAMES[source]}")
    return "\n".join(lines) + "\n"


def write_track_csv(path: Path, tracks: Iterable[Track]) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(Path(path), track_csv_text(tracks))


def read_track_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a ``track.csv`` (for tests and tools), as strings."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _csv_field(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text
