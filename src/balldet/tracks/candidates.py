"""A folder of per-frame prediction files read as recordings of candidates.

Files are ultralytics' ``save_txt`` + ``save_conf`` rows (``class cx cy w h conf``, normalised), one
``<stem>.txt`` per predicted frame, as ``balldet predict`` writes them (an empty file: a frame where
nothing was found). A frame is identified as everywhere else in balldet (:mod:`balldet.datasets.frames`):
the frame patterns are matched against ``<folder name>/<stem>``, so ``<recording>_<frame:06d>.txt``
gives its recording and frame number. Frames of several recordings may share a folder; a frame
number missing from the folder is simply a frame that was not predicted.

Reading 100 000 files is most of ``balldet track``'s time, so every file's rows are parsed in one
numpy call; a file that breaks the row shape is then found and named by a slower second pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from balldet.errors import UsageError
from balldet.frame_patterns import DEFAULT_FRAME_PATTERNS, compile_frame_patterns

SizeOf = Callable[[str], tuple[int, int]]  # file stem -> (width, height) in pixels
ROW_VALUES = 6  # class cx cy w h conf


@dataclass
class Recording:
    """The predicted frames of one recording and their candidates (ball class only), in frame order."""

    name: str
    frames: np.ndarray  # int64 frame numbers, increasing
    stems: list[str]  # the file stem of each frame
    width: np.ndarray  # float64 per frame, pixels
    height: np.ndarray
    # candidates, sorted by frame: index into ``frames``, centre and size in pixels, score
    frame_of: np.ndarray  # int64
    x: np.ndarray
    y: np.ndarray
    size: np.ndarray  # the larger side of the box
    score: np.ndarray

    @property
    def candidates(self) -> int:
        return len(self.score)

    def subset(self, keep: np.ndarray) -> Recording:
        """The same frames with only the candidates where ``keep`` is true."""
        return Recording(self.name, self.frames, self.stems, self.width, self.height, self.frame_of[keep],
                         self.x[keep], self.y[keep], self.size[keep], self.score[keep])


def prediction_files(folder: Path, option: str = "--predictions") -> list[str]:
    """The names of the ``.txt`` files of a predictions folder, sorted; a usage error when there are none.
    (Names, not paths: pathlib's sorting and stat calls cost more than reading 100 000 small files.)"""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError([(option, f"{folder} is not a folder; give the folder `balldet predict --out` wrote")])
    with os.scandir(folder) as entries:
        files = sorted(e.name for e in entries if e.name[-4:].lower() == ".txt" and e.is_file())
    if not files:
        raise UsageError([(option, f"{folder} holds no .txt prediction files; give the folder `balldet predict "
                           "--out` wrote")])
    return files


def identify_stems(folder_name: str, stems: Sequence[str], patterns: Sequence[str] = DEFAULT_FRAME_PATTERNS,
                   option: str = "--predictions") -> tuple[list[str], np.ndarray]:
    """(recording, frame number) of each stem; a usage error naming the stems no pattern numbers and
    the name that would be understood."""
    compiled = compile_frame_patterns(patterns)
    recordings: list[str] = []
    numbers = np.empty(len(stems), np.int64)
    unnumbered = []
    for k, stem in enumerate(stems):
        text = f"{folder_name}/{stem}"
        for regex in compiled:
            match = regex.match(text)
            if match is not None and (match["frame"] or "").isdecimal():
                recording = match["recording"] if "recording" in regex.groupindex else None
                recordings.append(recording or folder_name)
                numbers[k] = int(match["frame"])
                break
        else:
            unnumbered.append(stem)
            recordings.append("")
    if unnumbered:
        shown = ", ".join(f"{s}.txt" for s in unnumbered[:3]) + (" ..." if len(unnumbered) > 3 else "")
        raise UsageError([(option, f"{len(unnumbered)} of {len(stems)} file names give no frame number ({shown}); "
                           "name them <recording>_<frame number>.txt (e.g. 20240416-Cup-A-vs-B-01_000123.txt, the "
                           rf"pattern ^.*/(?P<recording>[^/]+)_(?P<frame>\d+)$), as `balldet predict` does, or give "
                           "--frame-pattern with a (?P<frame>\\d+) group")])
    seen: dict[tuple[str, int], str] = {}
    clashes = []
    for stem, recording, number in zip(stems, recordings, numbers.tolist()):
        other = seen.setdefault((recording, number), stem)
        if other != stem:
            clashes.append(f"{other}.txt and {stem}.txt")
    if clashes:
        raise UsageError([(option, f"{len(clashes)} frame(s) have two prediction files ({'; '.join(clashes[:3])}); "
                           "keep one file per frame")])
    return recordings, numbers


def parse_rows(files: Sequence[str], texts: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """The rows of every file as one ``(n, 6)`` array, and the file index of each row."""
    lines = np.fromiter((t.count(b"\n") + (bool(t) and not t.endswith(b"\n")) for t in texts), np.int64,
                        count=len(texts))
    joined = b" ".join(texts)
    values = np.array(joined.split(), dtype=np.float64) if joined.strip() else np.empty(0)
    if values.size == lines.sum() * ROW_VALUES and np.isfinite(values).all():
        return values.reshape(-1, ROW_VALUES), np.repeat(np.arange(len(texts)), lines)
    rows, owners, problems = [], [], []
    for k, (path, text) in enumerate(zip(files, texts)):
        for n, line in enumerate(text.decode("utf-8", "replace").splitlines(), 1):
            fields = line.split()
            if not fields:
                continue
            try:
                row = [float(v) for v in fields]
            except ValueError:
                row = []
            if len(row) != ROW_VALUES or not np.isfinite(row).all():
                problems.append(f"{path} line {n}: {line.strip()[:60]!r}")
                continue
            rows.append(row)
            owners.append(k)
    if problems:
        raise UsageError([("--predictions", f"{len(problems)} line(s) are not 'class cx cy w h conf' rows "
                           f"({'; '.join(problems[:3])}); predict with `balldet predict` (it saves scores), or "
                           "ultralytics' predict with save_txt=True and save_conf=True")])
    return np.array(rows, np.float64).reshape(-1, ROW_VALUES), np.array(owners, np.int64)


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def read_recordings(folder: Path, size_of: SizeOf, *, ball_class: int = 0,
                    patterns: Sequence[str] = DEFAULT_FRAME_PATTERNS) -> list[Recording]:
    """The recordings of a predictions folder, sorted by name, each with its frames in order."""
    folder = Path(folder)
    files = prediction_files(folder)
    stems = [name[:-4] for name in files]
    recordings, numbers = identify_stems(folder.name, stems, patterns)
    texts = [_read(os.path.join(folder, name)) for name in files]
    rows, owner = parse_rows(files, texts)
    sizes = np.array([size_of(stem) for stem in stems], np.float64).reshape(-1, 2)
    ball = rows[:, 0] == ball_class
    rows, owner = rows[ball], owner[ball]

    names = np.array(recordings)
    out = []
    for name in sorted(set(recordings)):
        members = np.flatnonzero(names == name)
        members = members[np.argsort(numbers[members], kind="stable")]
        position = np.full(len(files), -1, np.int64)
        position[members] = np.arange(len(members))
        mine = position[owner] >= 0
        frame_of = position[owner[mine]]
        order = np.argsort(frame_of, kind="stable")
        frame_of, cand = frame_of[order], rows[mine][order]
        w, h = sizes[members, 0], sizes[members, 1]
        fw, fh = w[frame_of], h[frame_of]
        out.append(Recording(
            name=name, frames=numbers[members], stems=[stems[i] for i in members], width=w, height=h,
            frame_of=frame_of, x=cand[:, 1] * fw, y=cand[:, 2] * fh,
            size=np.maximum(cand[:, 3] * fw, cand[:, 4] * fh), score=cand[:, 5],
        ))
    return out
