"""`balldet predict`: a trained model's detections on frames, one ``<image stem>.txt`` per frame, or
on a recording (a video file), one ``<recording>_<frame:06d>.txt`` per frame."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from balldet.cli.app import app, err, load_cli_settings, out
from balldet.cli.evaluate import is_catalog_id
from balldet.config import MAX_STRIDE
from balldet.datasets.video import is_video
from balldet.errors import UsageError

RUN_RECORD = "run_record.json"
TRACK_FILE = "track.csv"  # what --track writes into --out
DEFAULT_CONF = 0.25  # as `yolo predict`; score mAP from predictions kept down to 0.001


@app.command()
def predict(
    weights: Annotated[str, typer.Option("--weights", help="A local run (its id or folder), or a .pt weights file.")],
    source: Annotated[str, typer.Option("--source", help="A folder of frames (or a YOLO dataset folder with "
                                        "images/), a dataset id from the catalog or ClearML, or a video file "
                                        "(.mp4 .avi .mov .mkv .m4v .mpg .webm) named by its recording id.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the <image stem>.txt files (a video's: "
                                          "<recording>_<frame:06d>.txt, frames numbered from 0).")],
    tile: Annotated[int | None, typer.Option("--slice", help="Predict tile by tile, tiles of this side in frame "
                                             "pixels (a multiple of 32); a sliced run's own tile by default.")] = None,
    overlap: Annotated[float | None, typer.Option("--overlap", help="Fraction of a tile its neighbour shares "
                                                  "(with --slice; default 0.2, or the run's).")] = None,
    full_frame: Annotated[bool, typer.Option("--full-frame", help="With --slice: also predict the whole frame "
                                             "and merge.")] = False,
    no_slice: Annotated[bool, typer.Option("--no-slice", help="Predict whole frames, also for a sliced run.")] = False,
    imgsz: Annotated[int | None, typer.Option("--imgsz", help="Image size the model predicts at (tiles: the tile "
                                              "size by default; frames: the backend's).")] = None,
    conf: Annotated[float | None, typer.Option("--conf", help="Keep boxes scoring at least this (0.001 for mAP) "
                                               "[default: 0.25; with --track the tracker's min_score, 0.01].")]
    = None,
    model_type: Annotated[str | None, typer.Option("--model_type", help="The backend of a .pt file (told from the "
                                                   "file when left out).")] = None,
    batch: Annotated[int, typer.Option("--batch", help="Frames (or tiles) per forward pass.")] = 16,
    device: Annotated[str | None, typer.Option("--device", help="cpu, 0, cuda:0 ... (default: the settings').")]
    = None,
    every: Annotated[int, typer.Option("--every", help="With a video: predict frames 0, N, 2N, ... only.")] = 1,
    track: Annotated[bool, typer.Option("--track", help="Also follow the ball (as `balldet track`): one position "
                                        "per frame in <out>/track.csv, with the run's tracking: section or the "
                                        "defaults.")] = False,
) -> None:
    """Predict frames (of a folder, a dataset or a video) with a trained model: whole, or tile by tile and
    merged (--slice)."""
    from balldet.backends.registry import model_types
    from balldet.config import SlicingSection
    from balldet.stages.predict import check_stems, frames_in, predict_frames, predict_video

    settings = load_cli_settings()
    tracking = None
    if conf is None:
        conf = DEFAULT_CONF
        if track:
            from balldet.config import TrackingSection

            conf = TrackingSection().min_score
    problems = _flag_problems(tile, overlap, imgsz, conf, batch, full_frame, no_slice, model_type, model_types())
    if every < 1:
        problems.append(("--every", f"{every}; give 1 (every frame) or more (every N-th frame)"))
    run = None
    weights_file: Path | None = None
    if Path(weights).suffix == ".pt" or Path(weights).is_file():
        weights_file = Path(weights).expanduser()
        if not weights_file.is_file():
            problems.append(("--weights", f"no weights file {weights_file}"))
    else:
        try:
            run = _find_run(weights, settings)
        except UsageError as exc:
            problems += exc.problems
    source_is_folder = Path(source).expanduser().is_dir()
    source_is_video = is_video(source) and not source_is_folder
    video = _checked_video(Path(source).expanduser(), problems) if source_is_video else None
    if not source_is_video and every != 1:
        problems.append(("--every", "only applies to a video source; leave it out, or give a video file"))
    if not source_is_video and not source_is_folder and not is_catalog_id(source):
        problems.append(("--source", f"{source} is neither a folder of frames, a video file nor a dataset id; give "
                         "a folder, a video (.mp4, .avi, ...), or a 32-hex id from `balldet datasets list`"))
    if out_dir.exists() and not out_dir.is_dir():
        problems.append(("--out", f"{out_dir} is a file; give a folder (it is made when missing)"))
    if problems:
        raise UsageError(problems)

    if track:
        tracking = _run_tracking(run.folder) if run is not None and run.folder is not None else None
    if run is not None:
        weights_file, kind, run_slicing = run.weights, run.model_type, run.slicing
        if model_type and model_type != kind:
            raise UsageError([("--model_type", f"the run trained {kind}, not {model_type}; leave --model_type out")])
    else:
        from balldet.backends.weights_file import backend_of_weights

        kind, run_slicing = model_type or backend_of_weights(weights_file), None
    slicing = None
    if tile is not None:
        given = {"overlap": overlap} if overlap is not None else {}
        slicing = SlicingSection(tile=tile, full_frame=full_frame, **given)
    elif run_slicing is not None and not no_slice:
        given = {"overlap": overlap} if overlap is not None else {}
        slicing = run_slicing.model_copy(update={"full_frame": full_frame or run_slicing.full_frame, **given})

    if slicing is None and (overlap is not None or full_frame):
        flag = "--overlap" if overlap is not None else "--full-frame"
        raise UsageError([(flag, "only applies to predicting tile by tile; add --slice <tile>")])
    how = f"tiles of {slicing.tile} px, overlap {slicing.overlap}" + (" + whole frame" if slicing.full_frame else "") \
        if slicing else "whole frames"
    options = dict(weights=weights_file, model_type=kind, cache_dir=settings.cache_dir,
                   device=device or settings.device, slicing=slicing, imgsz=imgsz, conf=conf, batch_size=batch,
                   progress=Progress())
    if video is not None:
        sampled = f", 1 in {every} predicted" if every > 1 else ""
        err.print(f"predicting recording {video.recording} ({video.width}x{video.height}, {video.frames} frames"
                  f"{sampled}) with {kind} weights {weights_file} ({how})", highlight=False)
        count, boxes = _predict_recording(predict_video, video.path, out_dir, every=every, **options)
    else:
        frames = frames_in(Path(source)) if source_is_folder else _dataset_frames(source)
        if not frames:
            hint = _videos_hint(Path(source)) if source_is_folder else ""
            raise UsageError([("--source", f"no frames in {source} (image files: .jpg, .png, ...){hint}")])
        check_stems(frames)
        err.print(f"predicting {len(frames)} frames with {kind} weights {weights_file} ({how})", highlight=False)
        count, boxes = len(frames), predict_frames(frames, out_dir, **options)
    out.print(f"{count} prediction files ({boxes} boxes at conf >= {conf}) written to {out_dir}", highlight=False)
    if track:
        _track(out_dir, video.path if video is not None else None,
               Path(source) if source_is_folder else None if video is not None else _dataset_folder(source), tracking)


def _track(out_dir: Path, video: Path | None, frames_folder: Path | None, tracking) -> None:
    """`balldet track` on what was just predicted: <out>/track.csv."""
    from balldet.config import TrackingSection
    from balldet.stages.track import Sizes, counts, read_predictions, track_all
    from balldet.stages.predict import frames_in
    from balldet.tracks.output import write_track_csv

    params = tracking or TrackingSection()
    sizes = Sizes(video=video) if video is not None else Sizes(folder={p.stem: p for p in frames_in(frames_folder)})
    recordings = read_predictions(out_dir, sizes, params)
    tracks = track_all(recordings, params)
    write_track_csv(out_dir / TRACK_FILE, tracks)
    for t in tracks:
        c = counts(t)
        out.print(f"{t.recording}: {c['detected']} detected, {c['interpolated']} interpolated, {c['none']} without a "
                  "ball", highlight=False)
    out.print(f"track written to {out_dir / TRACK_FILE}", highlight=False)


def _dataset_folder(dataset_id: str) -> Path:
    from balldet.cli.evaluate import dataset_ref

    ref = dataset_ref(dataset_id)
    return ref.images_folder if getattr(ref, "images_folder", None) else ref.path


def _predict_recording(predict_video, video: Path, out_dir: Path, **options) -> tuple[int, int]:
    """predict_video, saying what a video cut short left behind: nothing (see stages.predict)."""
    from balldet.datasets.video import TruncatedVideo
    from balldet.errors import DatasetError

    try:
        return predict_video(video, out_dir, **options)
    except TruncatedVideo as exc:
        dropped = f" (the predictions of frames before {exc.frame} were dropped)" if exc.frame else ""
        raise DatasetError(f"{exc.message}; no prediction file of it was written to {out_dir}{dropped}: a "
                           "recording's predictions are written whole or not at all", fix=exc.fix) from exc


class Progress:
    """Frames done of the total, frames/s and the time left, on stderr: at most every few seconds,
    and at the end. The clock starts at ``(0, total)``: once the model is loaded."""

    EVERY_S = 5.0

    def __init__(self) -> None:
        self.started = self.last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done == 0:
            self.started = self.last = now
            return
        if done < total and now - self.last < self.EVERY_S:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        left = f", {_duration((total - done) / rate)} left" if done < total else f" in {_duration(now - self.started)}"
        err.print(f"  {done}/{total} frames, {rate:.1f} frames/s{left}", highlight=False)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _checked_video(path: Path, problems: list):
    """The video's RecordingInfo once it opens and its first frame decodes; else a problem of
    ``--source`` (naming the file and what to do) and None."""
    from balldet.datasets.video import VideoError, open_recording

    try:
        return open_recording(path)
    except VideoError as exc:
        fix = f"; {exc.fix}" if exc.fix else ""
        problems.append(("--source", f"{exc.message}{fix}"))
        return None


def _videos_hint(folder: Path) -> str:
    videos = sorted(p.name for p in folder.iterdir() if p.is_file() and is_video(p))
    if not videos:
        return ""
    return f"; it holds {len(videos)} video(s) ({', '.join(videos[:3])}): give each as --source <video file>"


def _flag_problems(tile, overlap, imgsz, conf, batch, full_frame, no_slice, model_type, known) -> list:
    problems = []
    if tile is not None and (tile < MAX_STRIDE or tile % MAX_STRIDE):
        problems.append(("--slice", f"{tile} is not a tile side both backends accept; use a positive multiple of "
                         f"{MAX_STRIDE} such as 320 or 640"))
    if overlap is not None and not 0 <= overlap < 1:
        problems.append(("--overlap", f"{overlap} is outside [0, 1); e.g. 0.2"))
    if tile is not None and no_slice:
        problems.append(("--no-slice", "--slice and --no-slice contradict each other; give one"))
    if imgsz is not None and (imgsz < MAX_STRIDE or imgsz % MAX_STRIDE):
        problems.append(("--imgsz", f"{imgsz} is not a positive multiple of {MAX_STRIDE}"))
    if tile is not None and imgsz is not None and imgsz < tile:
        problems.append(("--imgsz", f"{imgsz} is smaller than the tile {tile}: tiles (and balls) would be shrunk; "
                         "leave --imgsz out to predict tiles at their own size"))
    if not 0 <= conf <= 1:
        problems.append(("--conf", f"{conf} is not a score between 0 and 1"))
    if batch < 1:
        problems.append(("--batch", f"{batch}; give at least 1"))
    if model_type is not None and model_type not in known:
        problems.append(("--model_type", f"unknown model type {model_type!r}; known: {', '.join(known)}"))
    return problems


def _find_run(run: str, settings):
    """A run by its folder, or by its id under any project of the output dir."""
    from balldet.pipeline.manifest import MANIFEST

    candidates = [Path(run)] + sorted(Path(settings.output_dir).glob(f"*/*/{run}"))
    for candidate in candidates:
        if (candidate / MANIFEST).is_file():
            return run_weights(candidate)
    raise UsageError([("--weights", f"{run} is neither a .pt file nor a run (no run folder {run}, nor one under "
                       f"{settings.output_dir}/<project>/<mode>/{run})")])


def _dataset_frames(dataset_id: str) -> list[Path]:
    from balldet.cli.evaluate import dataset_ref

    return dataset_ref(dataset_id).image_files()


@dataclass(frozen=True)
class RunWeights:
    """What a run trained, as ``balldet predict`` needs it."""

    weights: Path
    model_type: str
    slicing: Any  # the run's SlicingSection, or None
    folder: Path | None = None


def run_weights(run_dir: Path) -> RunWeights:
    """The weights a local run trained, its backend and its slicing (from its run folder)."""
    from balldet.pipeline.manifest import read_manifest

    manifest = read_manifest(run_dir, option="--weights")
    weights = manifest.artefacts.get("weights")
    if not weights or not Path(weights).is_file():
        raise UsageError([("--weights", f"run {manifest.run_id} has no trained weights (it stopped before "
                           "train_model, or trained nothing); give a finished run or a .pt file")])
    return RunWeights(Path(weights), manifest.request.model_type, _run_slicing(Path(run_dir)), Path(run_dir))


def _run_tracking(run_dir: Path) -> Any:
    """The tracking section of the config a run was started with, or None."""
    from balldet.config import TrackingSection

    return _run_section(run_dir, "tracking", TrackingSection)


def _run_slicing(run_dir: Path) -> Any:
    """The slicing section of the config a run was started with (its run record keeps the text)."""
    from balldet.config import SlicingSection

    return _run_section(run_dir, "slicing", SlicingSection)


def _run_section(run_dir: Path, name: str, model: Any) -> Any:
    """A section of the config a run was started with (its run record keeps the text), or None."""
    import yaml

    from pydantic import ValidationError

    try:
        record = json.loads((run_dir / RUN_RECORD).read_text())
        config = yaml.safe_load(record["config"]["content"]) or {}
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
        return None
    section: Any = config.get(name) if isinstance(config, dict) else None
    try:
        return model.model_validate(section) if section is not None else None
    except ValidationError:
        return None  # the run validated its config; a record that reads otherwise was edited
