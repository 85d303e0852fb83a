"""The work of ``balldet track`` (not one of the pipeline's stages): a folder of per-frame
predictions in, one ball position per frame out (:mod:`balldet.tracks`), with the frame sizes from
``--size`` or from the frames themselves, optionally scored against the truth and drawn on the
recording."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from balldet.config import TrackingSection
from balldet.datasets.video import VideoError, is_video, iter_frames, open_recording
from balldet.datasets.yolo import image_size
from balldet.errors import UsageError
from balldet.frame_patterns import DEFAULT_FRAME_PATTERNS
from balldet.stages.predict import frames_in
from balldet.tracks.candidates import Recording, SizeOf, read_recordings
from balldet.tracks.drawing import folder_frames, write_track_video
from balldet.tracks.filter import Track, track_recording
from balldet.tracks.measures import (
    Measures, Truth, best_top1_threshold, labels_folder, measure, read_truth, top1_positions,
)


def parse_size(text: str) -> tuple[int, int] | None:
    """``1920x1080`` as (width, height); None when it is not that."""
    width, sep, height = text.lower().partition("x")
    if sep and width.isdecimal() and height.isdecimal() and int(width) > 0 and int(height) > 0:
        return int(width), int(height)
    return None


@dataclass
class Sizes:
    """Where frame sizes (and, to draw, the frames) come from."""

    size: tuple[int, int] | None = None
    folder: dict[str, Path] | None = None  # stem -> image file
    video: Path | None = None

    def lookup(self) -> SizeOf:
        if self.size is not None:
            fixed = self.size
            return lambda stem: fixed
        if self.video is not None:
            info = open_recording(self.video)
            return lambda stem: (info.width, info.height)
        folder = self.folder or {}
        known: dict[str, tuple[int, int]] = {}

        def size_of(stem: str) -> tuple[int, int]:
            if stem not in known:
                known[stem] = image_size(folder[stem])
            return known[stem]

        return size_of


def frame_sizes(size: str | None, source: Path | None, truth: Path | None) -> Sizes:
    """The frame sizes the options give, checked against the images where there are some; every
    problem at once."""
    problems = []
    fixed = None
    if size is not None:
        fixed = parse_size(size)
        if fixed is None:
            problems.append(("--size", f"{size!r} is not WIDTHxHEIGHT in pixels, e.g. 1920x1080"))
    if size is None and source is None:
        problems.append(("--size", "the frame size is needed to turn the predictions into pixels; give --size "
                         "WIDTHxHEIGHT, or --source with the frames or the video"))
    sizes = Sizes(size=fixed)
    if source is not None:
        if is_video(source):
            try:
                info = open_recording(source)
            except VideoError as exc:
                problems.append(("--source", str(exc)))
            else:
                sizes.video = Path(source)
                if fixed is not None and fixed != (info.width, info.height):
                    problems.append(("--size", f"{size} disagrees with the video {source} "
                                     f"({info.width}x{info.height}); leave --size out"))
        elif Path(source).is_dir():
            sizes.folder = {p.stem: p for p in frames_in(Path(source))}
            if not sizes.folder:
                problems.append(("--source", f"{source} holds no frames (image files); give the frames folder or "
                                 "the video the predictions were made from"))
            elif fixed is not None:
                first = next(iter(sizes.folder.values()))
                if image_size(first) != fixed:
                    found = "x".join(map(str, image_size(first)))
                    problems.append(("--size", f"{size} disagrees with the frames of {source} ({first.name} is "
                                     f"{found}); leave --size out"))
        else:
            problems.append(("--source", f"{source} is neither a folder of frames nor a video file (.mp4, .avi, "
                             "...)"))
    if fixed is not None and source is None and truth is not None and (Path(truth) / "images").is_dir():
        images = frames_in(Path(truth))
        if images and image_size(images[0]) != fixed:
            found = "x".join(map(str, image_size(images[0])))
            problems.append(("--size", f"{size} disagrees with the images beside the truth ({images[0].name} is "
                             f"{found}); give the frames' size"))
    if problems:
        raise UsageError(problems)
    return sizes


def read_predictions(predictions: Path, sizes: Sizes, params: TrackingSection,
                     patterns: Sequence[str] = DEFAULT_FRAME_PATTERNS) -> list[Recording]:
    """The recordings of a predictions folder, each frame's size known (every stem found in the
    frames folder, the video's recording the only one)."""
    recordings = read_recordings(predictions, _checked_lookup(predictions, sizes), ball_class=params.ball_class,
                                 patterns=patterns)
    if sizes.video is not None:
        others = [r.name for r in recordings if r.name != Path(sizes.video).stem]
        if others:
            raise UsageError([("--source", f"the predictions hold recording(s) {', '.join(others[:3])} but the "
                               f"video is {Path(sizes.video).stem}; give the video of each recording, or a "
                               "predictions folder of this one")])
    return recordings


def _checked_lookup(predictions: Path, sizes: Sizes) -> SizeOf:
    if sizes.folder is None:
        return sizes.lookup()
    stems = sorted(p.stem for p in Path(predictions).iterdir() if p.suffix.lower() == ".txt")
    missing = [s for s in stems if s not in sizes.folder]
    if missing:
        raise UsageError([("--source", f"{len(missing)} prediction file(s) have no frame in the source folder "
                           f"(e.g. {missing[0]}); give the frames the predictions were made from")])
    return sizes.lookup()


def track_all(recordings: Sequence[Recording], params: TrackingSection) -> list[Track]:
    return [track_recording(rec, params) for rec in recordings]


@dataclass
class TrackScores:
    recording: str
    track: Measures
    top1: Measures
    top1_threshold: float


def score_tracks(recordings: Sequence[Recording], tracks: Sequence[Track], truth_dir: Path,
                 ball_class: int) -> list[TrackScores]:
    """Each track against the truth, beside the raw top-1 at its best threshold (chosen with hindsight)."""
    truths: list[Truth] = []
    labelled = 0
    for rec in recordings:
        truth, found = read_truth(truth_dir, rec, ball_class)
        truths.append(truth)
        labelled += found
    if labelled == 0:
        raise UsageError([("--truth", f"no label file in {labels_folder(truth_dir)} has the stem of a prediction "
                           "file; give the YOLO labels of the predicted frames (<stem>.txt)")])
    threshold = best_top1_threshold(recordings, truths)
    scores = []
    for rec, track, truth in zip(recordings, tracks, truths):
        tx, ty = top1_positions(rec, threshold)
        scores.append(TrackScores(rec.name, measure(track.x, track.y, truth), measure(tx, ty, truth), threshold))
    return scores


def draw_videos(out: Path, sizes: Sizes, recordings: Sequence[Recording], tracks: Sequence[Track],
                fps: float) -> list[Path]:
    """One video per recording (``out`` itself when there is one recording, else
    ``<out stem>-<recording><suffix>``)."""
    written = []
    for rec, track in zip(recordings, tracks):
        path = out if len(recordings) == 1 else out.with_name(f"{out.stem}-{rec.name}{out.suffix}")
        if sizes.video is not None:
            frames = iter_frames(sizes.video)
        else:
            files = sizes.folder or {}
            frames = folder_frames((int(f), files[s]) for f, s in zip(rec.frames.tolist(), rec.stems))
        write_track_video(path, frames, rec, track, fps)
        written.append(path)
    return written


def counts(track: Track) -> dict[str, int]:
    values = np.bincount(track.source.astype(np.int64), minlength=3)
    return {"none": int(values[0]), "detected": int(values[1]), "interpolated": int(values[2])}
