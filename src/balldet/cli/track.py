"""`balldet track`: per-frame predictions in, one ball position per frame out (``track.csv``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from balldet.cli.app import app, err, out
from balldet.config import TrackingSection
from balldet.errors import UsageError

_DEFAULTS = TrackingSection()


def tracking_options(max_speed: float | None, max_gap: int | None, min_score: float | None,
                     start_cost: float | None, static_fraction: float | None, ball_class: int | None,
                     base: TrackingSection | None = None) -> TrackingSection:
    """The filter's parameters: the given options over ``base`` (the defaults); all bad ones at once."""
    from pydantic import ValidationError

    given = {"max_speed": max_speed, "max_gap": max_gap, "min_score": min_score, "start_cost": start_cost,
             "static_fraction": static_fraction, "ball_class": ball_class}
    given = {k: v for k, v in given.items() if v is not None}
    try:
        return TrackingSection.model_validate({**(base or _DEFAULTS).model_dump(), **given})
    except ValidationError as exc:
        raise UsageError([(f"--{'-'.join(str(e['loc'][0]).split('_'))}", f"{e['input']}: {e['msg']}")
                          for e in exc.errors()]) from None


@app.command()
def track(
    predictions: Annotated[Path, typer.Option("--predictions", help="Folder of per-frame prediction files "
                                              "(<recording>_<frame>.txt, as `balldet predict` writes them).")],
    out_csv: Annotated[Path, typer.Option("--out", help="The track: a CSV with recording,frame,x,y,score,source.")],
    size: Annotated[str | None, typer.Option("--size", help="Frame size WIDTHxHEIGHT (or give --source).")] = None,
    source: Annotated[Path | None, typer.Option("--source", help="The frames folder or the video the predictions "
                                                "were made from (frame sizes; needed for --video).")] = None,
    fps: Annotated[float | None, typer.Option("--fps", help="Frames per second of --video (default: the source "
                                              "video's, else 25).")] = None,
    video: Annotated[Path | None, typer.Option("--video", help="Also draw the track on the recording into this "
                                               ".mp4 (needs --source).")] = None,
    truth: Annotated[Path | None, typer.Option("--truth", help="YOLO labels of the predicted frames (<stem>.txt, or "
                                               "a dataset folder with labels/): print how close the track is.")]
    = None,
    max_speed: Annotated[float | None, typer.Option("--max-speed", help=f"Fastest ball, pixels per frame "
                                                    f"[default: {_DEFAULTS.max_speed:g}].")] = None,
    max_gap: Annotated[int | None, typer.Option("--max-gap", help=f"Longest run of frames without a detection "
                                                f"that is bridged [default: {_DEFAULTS.max_gap}].")] = None,
    min_score: Annotated[float | None, typer.Option("--min-score", help=f"Ignore candidates scoring below this "
                                                    f"[default: {_DEFAULTS.min_score:g}].")] = None,
    start_cost: Annotated[float | None, typer.Option("--start-cost", help=f"What a track must earn to be believed "
                                                     f"[default: {_DEFAULTS.start_cost:g}].")] = None,
    static_fraction: Annotated[float | None, typer.Option("--static-fraction", help=f"Candidates on the same "
                                                          f"pixels in this fraction of the frames are part of "
                                                          f"the pitch [default: {_DEFAULTS.static_fraction:g}].")]
    = None,
    ball_class: Annotated[int | None, typer.Option("--ball-class", help="Class id of the ball in the predictions "
                                                   "[default: 0].")] = None,
    frame_patterns: Annotated[list[str] | None, typer.Option("--frame-pattern", help="Regular expression on "
                                                             "'<predictions folder name>/<file stem>' with a "
                                                             "(?P<frame>\\d+) group (repeatable).")] = None,
) -> None:
    """Follow the ball through recordings: one position per predicted frame, from the detector's candidates."""
    from balldet.frame_patterns import DEFAULT_FRAME_PATTERNS, compile_frame_patterns
    from balldet.stages.track import counts, draw_videos, frame_sizes, read_predictions, score_tracks, track_all
    from balldet.tracks.output import write_track_csv

    problems = []
    if not predictions.is_dir():
        problems.append(("--predictions", f"{predictions} is not a folder; give the folder `balldet predict --out` "
                         "wrote"))
    try:
        params = tracking_options(max_speed, max_gap, min_score, start_cost, static_fraction, ball_class)
    except UsageError as exc:
        problems += exc.problems
    if video is not None and source is None:
        problems.append(("--video", "drawing needs the recording; add --source <frames folder | video>"))
    if video is not None and video.suffix.lower() != ".mp4":
        problems.append(("--video", f"{video} does not end in .mp4; give e.g. track.mp4"))
    if fps is not None and fps <= 0:
        problems.append(("--fps", f"{fps}; give the frames per second, e.g. 25"))
    if out_csv.is_dir():
        problems.append(("--out", f"{out_csv} is a folder; give a file name such as track.csv"))
    if truth is not None and not truth.is_dir():
        problems.append(("--truth", f"{truth} is not a folder; give the YOLO labels folder of the frames"))
    patterns = list(frame_patterns or DEFAULT_FRAME_PATTERNS)
    try:
        compile_frame_patterns(patterns)
    except ValueError as exc:
        problems.append(("--frame-pattern", str(exc)))
    try:
        sizes = frame_sizes(size, source, truth)
    except UsageError as exc:
        problems += exc.problems
    if problems:
        raise UsageError(problems)

    started = time.monotonic()
    recordings = read_predictions(predictions, sizes, params, patterns)
    tracks = track_all(recordings, params)
    write_track_csv(out_csv, tracks)
    frames = sum(len(r.frames) for r in recordings)
    seconds = time.monotonic() - started
    err.print(f"{frames} frames of {len(recordings)} recording(s) tracked in {seconds:.1f} s "
              f"({frames / max(seconds, 1e-9):,.0f} frames/s)", highlight=False)
    for t in tracks:
        c = counts(t)
        spots = ", ".join(f"({x:.0f}, {y:.0f})" for x, y in t.static_spots) or "none"
        out.print(f"{t.recording}: {len(t.frames)} frames, {c['detected']} detected, {c['interpolated']} "
                  f"interpolated, {c['none']} without a ball; static spots ignored: {spots}", highlight=False)
    out.print(f"track written to {out_csv}", highlight=False)
    if truth is not None:
        _print_scores(score_tracks(recordings, tracks, truth, params.ball_class))
    if video is not None:
        rate = fps or _source_fps(source) or 25.0
        for path in draw_videos(video, sizes, recordings, tracks, rate):
            out.print(f"video written to {path}", highlight=False)


def _source_fps(source: Path | None) -> float:
    from balldet.datasets.video import is_video, open_recording

    return open_recording(source).fps if source is not None and is_video(source) else 0.0


def _print_scores(scores) -> None:
    from balldet.cli.app import format_measure

    table = Table(title="the track against the truth (top-1: the best candidate at the threshold that suits it "
                  "best, chosen with hindsight)")
    for column in ("recording", "who", "frames", "right", "≤2px", "≤4px", "≤8px", "≤ball", "false ball",
                   "longest wrong"):
        table.add_column(column)
    for s in scores:
        for who, m in (("track", s.track), (f"top-1 ≥ {s.top1_threshold:.3f}", s.top1)):
            table.add_row(s.recording, who, str(m.frames), format_measure(m.accuracy),
                          *(format_measure(m.within[k]) for k in ("2px", "4px", "8px", "ball")),
                          format_measure(m.false_ball_rate), str(m.longest_wrong))
    out.print(table)
