"""Synthetic football datasets in YOLO format, registered in the local catalog.

For offline demos and tests: frames that look like match videos (see :mod:`balldet.synth.render`)
on which a tiny detector learns to find the ball within minutes on a CPU. The datasets mirror the
team's real ones: per-recording ball sets, labelling iterations mixing recordings, a public-style
set and player sets. Image files are named ``<recording id>_<frame number:06d>.jpg``; a frame of a
recording is in at most one dataset. Everything is deterministic from (seed, image size, count).

The wide datasets (:data:`WIDE_DATASETS`, :func:`synthesize_wide`) are whole-pitch frames of a fixed
technical camera (see :mod:`balldet.synth.wide`), made on demand only: they are large and slow to
draw. Their recordings are their own, so they share no frame with the datasets above.

The clip datasets (:data:`CLIP_DATASETS`, :func:`synthesize_clips`), on demand too, are short
continuous recordings of a camera that does not move (see :mod:`balldet.synth.clips`): every frame
of a clip, in order (250 at 25 fps by default, numbered from the clip's first frame), for ball
tracking. Three clips to train on and one to validate on are a dataset each; the two test clips
are one dataset together. Beside ``dataset.json``, ``truth.csv`` has the ball of every frame
(``recording,frame,x,y,diameter,state``: centre and diameter in pixels, empty when the ball is out
of the picture; state ``visible``, ``hidden`` or ``out``) and ``clips.json`` each clip's first
frame, frame count, the pixels of its penalty and centre spots (ball-sized static distractors)
and its script's phases. A label holds the ball whenever it is in the picture, hidden behind a
player included; a frame with the ball out of the picture has an empty label file.
:func:`write_clip_videos` writes the clips as ``<recording id>.mp4``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from balldet.boxes import clip_xyxy, xyxy_to_yolo, yolo_rows
from balldet.datasets.catalog import METADATA_FILE, LocalCatalog
from balldet.datasets.dataset import DatasetInfo, DatasetRef
from balldet.synth.clips import (
    CLIP_FRAMES, CLIP_SIZE, FPS, MAX_FRAMES, Clip, make_clip, render_clip_frame, truth_csv, write_clip_video,
)
from balldet.synth.inventory import (
    CLIP_DATASETS, CLIP_FIRST_FRAMES, CLIP_RECORDINGS, SYNTH_DATASETS, SYNTH_RECORDINGS, SynthDataset, WIDE_DATASETS,
)
from balldet.synth.render import Box, Look, make_look, render_frame, stable_int
from balldet.synth.wide import ASPECT, MIN_WIDTH, WIDE_SIZE, WideCamera, make_wide_camera, render_wide_frame
from balldet.errors import BalldetError, DatasetError

GENERATOR = "balldet-synth/2"  # bump when the rendering changes: existing datasets are rebuilt
WIDE_GENERATOR = "balldet-synth-wide/1"  # the same, for the wide datasets
WIDE_IMAGES_PER_DATASET = 12  # wide frames are large: 12 make ~12 MB of JPEG a dataset
CLIP_GENERATOR = "balldet-synth-clips/1"  # the same, for the clip datasets
TRUTH_FILE = "truth.csv"  # a clip dataset's ball in every frame, beside dataset.json
CLIPS_FILE = "clips.json"  # a clip dataset's clips: first frame, frame count, static spots, phases
SYNTH_FILE = "synth.json"  # how a synthetic dataset was made, beside dataset.json
STAGING_DIR = ".synth-staging"  # in the catalog root; its folders are not catalog entries
FRAMES_PER_RECORDING = 135_000  # 90 minutes at 25 fps
BALL_FREE_FRACTION = 0.1
JPEG_QUALITY = 92

Progress = Callable[[str, int, int], None]
# (planned frame, the recording's look or camera, dataset kind, image size, seed) -> (JPEG, label text)
Renderer = Callable[["PlannedFrame", object, str, tuple[int, int], int], tuple[bytes, str]]
# (dataset, its recordings' looks, cameras or clips) -> more files of the dataset: name -> text
Extras = Callable[["SynthDataset", dict[str, object]], dict[str, str]]


def frame_stem(recording_id: str, frame: int) -> str:
    """File stem of a frame: ``<recording id>_<frame number, 6 digits>``."""
    return f"{recording_id}_{frame:06d}"


@dataclass(frozen=True)
class PlannedFrame:
    recording: str
    frame: int
    ball: bool  # False: a ball-free frame (ball datasets only; its label file is empty)

    @property
    def stem(self) -> str:
        return frame_stem(self.recording, self.frame)


def plan_frames(images_per_dataset: int, seed: int = 0, datasets: Sequence[SynthDataset] | None = None,
                ) -> dict[str, list[PlannedFrame]]:
    """Which frames go into which dataset (of ``datasets``, default :data:`SYNTH_DATASETS`), by name.
    Frames of a recording are drawn at random without replacement across all datasets, so no
    (recording, frame) pair is in two datasets. Each recording has one generator; the datasets of
    :attr:`SynthDataset.draw_round` 0 draw first, those of a later round then draw from the frames
    still free."""
    datasets = SYNTH_DATASETS if datasets is None else datasets
    wants: dict[str, dict[int, list[tuple[str, int]]]] = {}  # recording -> round -> [(dataset, count)]
    for d in datasets:
        share, extra = divmod(images_per_dataset, len(d.recordings))
        for i, rec in enumerate(d.recordings):
            wants.setdefault(rec, {}).setdefault(d.draw_round, []).append((d.name, share + (i < extra)))
    picked: dict[str, list[tuple[str, int]]] = {d.name: [] for d in datasets}
    for rec, rounds in wants.items():
        if sum(n for demands in rounds.values() for _, n in demands) > FRAMES_PER_RECORDING:
            raise BalldetError(f"{images_per_dataset} images per dataset need more frames than recording {rec} has "
                               f"({FRAMES_PER_RECORDING})", fix="ask for fewer images per dataset")
        rng = np.random.default_rng(stable_int("frames", rec, seed))
        free = np.arange(FRAMES_PER_RECORDING)
        for draw_round in sorted(rounds):
            demands = rounds[draw_round]
            frames = rng.choice(free, size=sum(n for _, n in demands), replace=False)
            start = 0
            for name, n in demands:
                picked[name].extend((rec, int(f)) for f in frames[start:start + n])
                start += n
            free = np.setdiff1d(free, frames, assume_unique=True)
    plan: dict[str, list[PlannedFrame]] = {}
    for d in datasets:
        frames = sorted(picked[d.name])
        free: set[int] = set()
        if d.kind == "ball" and len(frames) >= 3:
            n_free = max(1, round(BALL_FREE_FRACTION * len(frames)))
            rng = np.random.default_rng(stable_int("ball-free", d.name, seed))
            free = {int(i) for i in rng.choice(len(frames), size=n_free, replace=False)}
        plan[d.name] = [PlannedFrame(rec, f, i not in free) for i, (rec, f) in enumerate(frames)]
    return plan


def plan_clip_frames(frames_per_clip: int, datasets: Sequence[SynthDataset] = CLIP_DATASETS,
                     ) -> dict[str, list[PlannedFrame]]:
    """Every frame of each clip dataset's clips, in order: ``frames_per_clip`` consecutive frame
    numbers from the clip's first frame (:data:`CLIP_FIRST_FRAMES`). Whether a frame shows the ball
    is the clip's business (``PlannedFrame.ball`` is True throughout)."""
    return {d.name: [PlannedFrame(rec, CLIP_FIRST_FRAMES[rec] + i, True)
                     for rec in d.recordings for i in range(frames_per_clip)] for d in datasets}


def yolo_line(cls: int, box: Box, width: int, height: int) -> str:
    """``class cx cy w h``, normalised, 6 decimals, the box clipped to the image."""
    (row,) = yolo_rows([cls], xyxy_to_yolo(clip_xyxy(box, width, height), width, height))
    return row


def render_planned(frame: PlannedFrame, look: Look, kind: str, image_size: tuple[int, int], seed: int,
                   ) -> tuple[bytes, str]:
    """JPEG bytes and label text of one planned frame."""
    width, height = image_size
    rng = np.random.default_rng(stable_int("frame", frame.recording, frame.frame, seed))
    image, ball, players = render_frame(rng, width, height, look, frame=frame.frame,
                                        ball=frame.ball if kind == "ball" else None)
    return _encode(image, ball, players, kind)


def render_wide_planned(frame: PlannedFrame, camera: WideCamera, kind: str, image_size: tuple[int, int],
                        seed: int) -> tuple[bytes, str]:
    """JPEG bytes and label text of one planned frame of a wide dataset (``camera`` fixes the size)."""
    rng = np.random.default_rng(stable_int("wide-frame", frame.recording, frame.frame, seed))
    image, ball, players = render_wide_frame(rng, camera, frame=frame.frame, ball=frame.ball)
    return _encode(image, ball, players, kind)


def render_clip_planned(frame: PlannedFrame, clip: Clip, kind: str, image_size: tuple[int, int], seed: int,
                        ) -> tuple[bytes, str]:
    """JPEG bytes and label text of one frame of a clip (``clip`` fixes the size and the seed): the
    ball's box whenever it is in the picture (hidden included), clipped to the image."""
    return _encode(render_clip_frame(clip, frame.frame), clip.truth_at(frame.frame).box, [], kind)


def _encode(image: np.ndarray, ball: Box | None, players: list[Box], kind: str) -> tuple[bytes, str]:
    height, width = image.shape[:2]
    boxes = ([ball] if ball is not None else []) if kind == "ball" else players
    lines = [yolo_line(0, b, width, height) for b in boxes if b[2] - b[0] >= 1 and b[3] - b[1] >= 1]
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - cv2 always encodes uint8 BGR
        raise DatasetError("cv2 could not encode a synthetic frame as JPEG")
    return jpeg.tobytes(), "".join(f"{line}\n" for line in lines)


def synthesize(catalog: LocalCatalog, *, images_per_dataset: int = 48, image_size: tuple[int, int] = (320, 192),
               seed: int = 0, force: bool = False, progress: Progress | None = None) -> list[DatasetRef]:
    """Create every dataset of :data:`SYNTH_DATASETS` in ``catalog``; return them in that order.

    A dataset already there, made by the same generator with the same seed, size and count, is left
    untouched unless ``force``. Each dataset is written in a staging folder and renamed into place
    complete (dataset.json included). ``progress(name, done, total)`` is called as frames are written.
    """
    width, height = (int(v) for v in image_size)
    if images_per_dataset < 1:
        raise BalldetError(f"images_per_dataset must be at least 1, got {images_per_dataset}",
                           fix="ask for one image per dataset or more")
    if width < 64 or height < 64:
        raise BalldetError(f"image_size must be at least 64x64 pixels, got {width}x{height}",
                           fix="use the default 320x192 or a larger size")
    looks: dict[str, Look] = {}

    def look(rec: str) -> Look:
        if rec not in looks:
            looks[rec] = make_look(rec, SYNTH_RECORDINGS[rec].style, seed)
        return looks[rec]

    return _synthesize(catalog, SYNTH_DATASETS, GENERATOR, images_per_dataset, (width, height), seed, force,
                       progress, look, render_planned)


def synthesize_wide(catalog: LocalCatalog, *, images_per_dataset: int = WIDE_IMAGES_PER_DATASET,
                    image_size: tuple[int, int] = WIDE_SIZE, seed: int = 0, force: bool = False,
                    progress: Progress | None = None) -> list[DatasetRef]:
    """Create every dataset of :data:`WIDE_DATASETS` in ``catalog``, as :func:`synthesize` does the
    others: whole-pitch frames of a fixed technical camera, at least 3840 pixels wide."""
    width, height = (int(v) for v in image_size)
    if images_per_dataset < 1:
        raise BalldetError(f"images_per_dataset must be at least 1, got {images_per_dataset}",
                           fix="ask for one image per dataset or more")
    if width < MIN_WIDTH or not ASPECT[0] <= width / max(height, 1) <= ASPECT[1]:
        raise BalldetError(f"wide frames are at least {MIN_WIDTH} pixels wide and {ASPECT[0]:g} to {ASPECT[1]:g} "
                           f"times as wide as high, got {width}x{height}",
                           fix=f"use the default {WIDE_SIZE[0]}x{WIDE_SIZE[1]} or another size within those bounds")
    cameras: dict[str, WideCamera] = {}

    def camera(rec: str) -> WideCamera:
        if rec not in cameras:
            cameras[rec] = make_wide_camera(rec, seed, width, height)
        return cameras[rec]

    return _synthesize(catalog, WIDE_DATASETS, WIDE_GENERATOR, images_per_dataset, (width, height), seed, force,
                       progress, camera, render_wide_planned)


def synthesize_clips(catalog: LocalCatalog, *, frames_per_clip: int = CLIP_FRAMES,
                     image_size: tuple[int, int] = CLIP_SIZE, seed: int = 0, force: bool = False,
                     progress: Progress | None = None) -> list[DatasetRef]:
    """Create every dataset of :data:`CLIP_DATASETS` in ``catalog``, as :func:`synthesize` does the
    others: ``frames_per_clip`` consecutive frames of each clip, with ``truth.csv`` and ``clips.json``."""
    width, height = _clip_arguments(frames_per_clip, image_size)
    clips: dict[str, Clip] = {}

    def clip(rec: str) -> Clip:
        if rec not in clips:
            clips[rec] = make_clip(rec, seed=seed, frames=frames_per_clip, first_frame=CLIP_FIRST_FRAMES[rec],
                                   image_size=(width, height))
        return clips[rec]

    def extras(spec: SynthDataset, looks: dict[str, object]) -> dict[str, str]:
        made = [looks[rec] for rec in spec.recordings]
        return {TRUTH_FILE: truth_csv(made), CLIPS_FILE: _compact_json(clips_summary(made))}

    return _synthesize(catalog, CLIP_DATASETS, CLIP_GENERATOR, frames_per_clip, (width, height), seed, force,
                       progress, clip, render_clip_planned, plan=plan_clip_frames(frames_per_clip),
                       count_key="frames_per_clip", extras=extras, extra_files=(TRUTH_FILE, CLIPS_FILE))


def clips_summary(clips: Sequence[Clip]) -> dict:
    """What ``clips.json`` says of some clips: frame rate, size, and per clip its frames, the pixels
    of its static spots and its script's phases."""
    return {"fps": FPS, "clips": [{
        "recording": c.recording, "first_frame": c.first_frame, "frames": len(c.frames), "image_size": list(c.size),
        "spots": {name: [round(x, 2), round(y, 2)] for name, (x, y) in zip(("penalty", "centre"), c.spots)},
        "phases": [[p.kind, p.start, p.end] for p in c.phases],
    } for c in clips]}


def _compact_json(value: object) -> str:
    """JSON with an indent, but lists of plain values (a point, a phase) on one line."""
    text = json.dumps(value, indent=2)
    return re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + ", ".join(v.strip() for v in m[1].split(",")) + "]",
                  text) + "\n"


def write_clip_videos(folder: Path | str, *, frames_per_clip: int = CLIP_FRAMES,
                      image_size: tuple[int, int] = CLIP_SIZE, seed: int = 0,
                      recordings: Sequence[str] = CLIP_RECORDINGS,
                      progress: Progress | None = None) -> list[Path]:
    """Each clip (the frames :func:`synthesize_clips` makes with the same arguments) as
    ``<folder>/<recording id>.mp4`` at 25 fps; existing videos are replaced."""
    width, height = _clip_arguments(frames_per_clip, image_size)
    unknown = [rec for rec in recordings if rec not in CLIP_FIRST_FRAMES]
    if unknown:
        raise BalldetError(f"no clip has the recording id {unknown[0]}", fix=f"use one of {', '.join(CLIP_RECORDINGS)}")
    paths = []
    for rec in recordings:
        clip = make_clip(rec, seed=seed, frames=frames_per_clip, first_frame=CLIP_FIRST_FRAMES[rec],
                         image_size=(width, height))
        paths.append(write_clip_video(clip, folder))
        if progress:
            progress(f"{rec}.mp4", len(paths), len(recordings))
    return paths


def _clip_arguments(frames_per_clip: int, image_size: tuple[int, int]) -> tuple[int, int]:
    width, height = (int(v) for v in image_size)
    if not 1 <= frames_per_clip <= MAX_FRAMES:
        raise BalldetError(f"a clip has 1 to {MAX_FRAMES} frames, got {frames_per_clip}",
                           fix=f"ask for {CLIP_FRAMES} frames (10 seconds) or another count within those bounds")
    if width < 320 or height < 192 or not 1.2 <= width / height <= 2.4:
        raise BalldetError(f"clip frames are at least 320x192 pixels and 1.2 to 2.4 times as wide as high, got "
                           f"{width}x{height}", fix=f"use the default {CLIP_SIZE[0]}x{CLIP_SIZE[1]} or another "
                           "size within those bounds")
    return width, height


def _synthesize(catalog: LocalCatalog, datasets: Sequence[SynthDataset], generator: str, images_per_dataset: int,
                image_size: tuple[int, int], seed: int, force: bool, progress: Progress | None,
                look: Callable[[str], object], render: Renderer, *, plan: dict[str, list[PlannedFrame]] | None = None,
                count_key: str = "images_per_dataset", extras: Extras | None = None,
                extra_files: tuple[str, ...] = ()) -> list[DatasetRef]:
    """Plan (unless ``plan`` is given), then build each dataset not already there as asked;
    ``look(recording)`` is only called for recordings of datasets that are built. ``extras(spec,
    looks)`` gives more files of a dataset (name -> text), ``extra_files`` their names."""
    plan = plan_frames(images_per_dataset, seed, datasets) if plan is None else plan
    refs = []
    for spec in datasets:
        frames = plan[spec.name]
        info = DatasetInfo(id=spec.id, name=spec.name, version=spec.version, tags=list(spec.tags),
                           names=spec.names, number_samples=len(frames))
        recipe = {"generator": generator, "seed": seed, "image_size": list(image_size),
                  count_key: images_per_dataset}
        if not force and _is_current(catalog, info, recipe, extra_files):
            if progress:
                progress(spec.name, len(frames), len(frames))
            refs.append(catalog.get(spec.id))
            continue
        looks = {rec: look(rec) for rec in spec.recordings}
        files = extras(spec, looks) if extras is not None else {}
        refs.append(_build(catalog, spec, info, recipe, frames, looks, image_size, seed, progress, render, files,
                           extra_files))
    return refs


def _is_current(catalog: LocalCatalog, info: DatasetInfo, recipe: dict, extra_files: tuple[str, ...] = ()) -> bool:
    folder = catalog.folder(info.id)
    try:
        if DatasetInfo.model_validate_json((folder / METADATA_FILE).read_text()) != info:
            return False
        if json.loads((folder / SYNTH_FILE).read_text()) != recipe:
            return False
        if not all((folder / name).is_file() for name in extra_files):
            return False
        images = sum(1 for p in (folder / "images").iterdir() if p.is_file())
        labels = sum(1 for p in (folder / "labels").iterdir() if p.suffix == ".txt")
    except (OSError, ValueError):
        return False
    return images == labels == info.number_samples


def _build(catalog: LocalCatalog, spec: SynthDataset, info: DatasetInfo, recipe: dict,
           frames: list[PlannedFrame], looks: dict[str, object], image_size: tuple[int, int], seed: int,
           progress: Progress | None, render: Renderer, files: dict[str, str] | None = None,
           extra_files: tuple[str, ...] = ()) -> DatasetRef:
    staging = catalog.root / STAGING_DIR
    staging.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{info.id}.", dir=staging))
    final = catalog.folder(info.id)
    old: Path | None = None
    try:
        (tmp / "images").mkdir()
        (tmp / "labels").mkdir()
        for done, frame in enumerate(frames, 1):
            jpeg, label = render(frame, looks[frame.recording], spec.kind, image_size, seed)
            (tmp / "images" / f"{frame.stem}.jpg").write_bytes(jpeg)
            (tmp / "labels" / f"{frame.stem}.txt").write_text(label)
            if progress:
                progress(spec.name, done, len(frames))
        for name, text in (files or {}).items():
            (tmp / name).write_text(text)
        (tmp / SYNTH_FILE).write_text(json.dumps(recipe, indent=2) + "\n")
        (tmp / METADATA_FILE).write_text(json.dumps(info.model_dump(), indent=2) + "\n")
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f"{info.id}.old.", dir=staging))
            os.replace(final, old / "dataset")
        try:
            os.rename(tmp, final)
        except OSError:
            if not _is_current(catalog, info, recipe, extra_files):  # unless a concurrent run put the same one there
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and (old / "dataset").exists() and not final.exists():
            os.replace(old / "dataset", final)  # put the previous dataset back
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        try:
            staging.rmdir()  # only when empty: another run may be staging beside us
        except OSError:
            pass
    return catalog.get(info.id)
