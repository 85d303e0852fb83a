"""Synthetic football datasets in YOLO format, registered in the local catalog.

For offline demos and tests: frames that look like match videos (see :mod:`balldet.synth.render`)
on which a tiny detector learns to find the ball within minutes on a CPU. The datasets mirror the
team's real ones: per-recording ball sets, labelling iterations mixing recordings, a public-style
set and player sets. Image files are named ``<recording id>_<frame number:06d>.jpg``; a frame of a
recording is in at most one dataset. Everything is deterministic from (seed, image size, count).

The wide datasets (:data:`WIDE_DATASETS`, :func:`synthesize_wide`) are whole-pitch frames of a fixed
technical camera (see :mod:`balldet.synth.wide`), made on demand only: they are large and slow to
draw. Their recordings are their own, so they share no frame with the datasets above.
"""

from __future__ import annotations

import hashlib
import json
import os
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
from balldet.synth.render import Box, Look, make_look, render_frame, stable_int
from balldet.synth.wide import ASPECT, MIN_WIDTH, WIDE_SIZE, WideCamera, make_wide_camera, render_wide_frame
from balldet.errors import BalldetError, DatasetError

GENERATOR = "balldet-synth/2"  # bump when the rendering changes: existing datasets are rebuilt
WIDE_GENERATOR = "balldet-synth-wide/1"  # the same, for the wide datasets
WIDE_IMAGES_PER_DATASET = 12  # wide frames are large: 12 make ~12 MB of JPEG a dataset
SYNTH_FILE = "synth.json"  # how a synthetic dataset was made, beside dataset.json
STAGING_DIR = ".synth-staging"  # in the catalog root; its folders are not catalog entries
FRAMES_PER_RECORDING = 135_000  # 90 minutes at 25 fps
BALL_FREE_FRACTION = 0.1
JPEG_QUALITY = 92

Progress = Callable[[str, int, int], None]
# (planned frame, the recording's look or camera, dataset kind, image size, seed) -> (JPEG, label text)
Renderer = Callable[["PlannedFrame", object, str, tuple[int, int], int], tuple[bytes, str]]


@dataclass(frozen=True)
class SynthRecording:
    id: str
    style: str = "broadcast"  # "broadcast" (technical camera) or "public" (TV broadcast look)


@dataclass(frozen=True)
class SynthDataset:
    name: str
    version: str
    kind: str  # "ball" or "player"
    recordings: tuple[str, ...]
    tags: tuple[str, ...]
    # Frames are drawn round by round, a later round from what earlier ones left: a dataset added in
    # a new round leaves the frames (and so the content) of the existing ones as they were.
    draw_round: int = 0

    @property
    def names(self) -> list[str]:
        return [self.kind]

    @property
    def id(self) -> str:
        return synth_dataset_id(self.name, self.version)


def synth_dataset_id(name: str, version: str) -> str:
    """The fixed 32-hex id of a synthetic dataset, so example configs can refer to it."""
    return hashlib.md5(f"balldet-synth:{name}:{version}".encode()).hexdigest()


R_CSKA_BALTIKA = "20240416-Russian_Cup-CSKA_Moscow-vs-Baltika_Kaliningrad-01"
R_CSKA_SPARTAK = "20240421-Premier_League-CSKA_Moscow-vs-Spartak_Moscow-01"
R_ZENIT_CSKA = "20240427-Premier_League-Zenit_Saint_Petersburg-vs-CSKA_Moscow-01"
R_LOKO_DYNAMO = "20240505-Premier_League-Lokomotiv_Moscow-vs-Dynamo_Moscow-01"
R_KRASNODAR_ROSTOV = "20240512-Russian_Cup-Krasnodar-vs-Rostov-02"
R_RUBIN_AKHMAT = "20240519-Premier_League-Rubin_Kazan-vs-Akhmat_Grozny-01"
R_PUBLIC_1 = "20161023-Premier_League-Chelsea-vs-Manchester_United-01"
R_PUBLIC_2 = "20170401-LaLiga-Barcelona-vs-Granada-01"

SYNTH_RECORDINGS: dict[str, SynthRecording] = {
    r.id: r
    for r in (
        SynthRecording(R_CSKA_BALTIKA), SynthRecording(R_CSKA_SPARTAK), SynthRecording(R_ZENIT_CSKA),
        SynthRecording(R_LOKO_DYNAMO), SynthRecording(R_KRASNODAR_ROSTOV), SynthRecording(R_RUBIN_AKHMAT),
        SynthRecording(R_PUBLIC_1, "public"), SynthRecording(R_PUBLIC_2, "public"),
    )
}

_BALL_RECORDING = ("class:ball", "source:recording")
_BALL_MARKUP = ("class:ball", "source:markup")
_PLAYER_MARKUP = ("class:player", "source:markup")
SYNTH_DATASETS: tuple[SynthDataset, ...] = (
    SynthDataset(f"{R_CSKA_BALTIKA}-001", "1.0.0", "ball", (R_CSKA_BALTIKA,), _BALL_RECORDING),
    SynthDataset(f"{R_CSKA_SPARTAK}-001", "1.0.0", "ball", (R_CSKA_SPARTAK,), _BALL_RECORDING),
    SynthDataset("class:ball-markup:our-001", "1.0.0", "ball", (R_ZENIT_CSKA, R_LOKO_DYNAMO), _BALL_MARKUP),
    SynthDataset("class:ball-markup:tagme-001-02", "1.0.2", "ball",
                 (R_LOKO_DYNAMO, R_KRASNODAR_ROSTOV, R_RUBIN_AKHMAT), _BALL_MARKUP),
    SynthDataset("soccernet_ball_001", "1.0.2", "ball", (R_PUBLIC_1, R_PUBLIC_2), ("class:ball", "source:public")),
    SynthDataset("class:player-markup:our-001", "1.0.0", "player", (R_ZENIT_CSKA, R_RUBIN_AKHMAT), _PLAYER_MARKUP),
    SynthDataset("class:player-markup:tagme-001-01", "1.0.0", "player", (R_LOKO_DYNAMO, R_KRASNODAR_ROSTOV),
                 _PLAYER_MARKUP, draw_round=1),
)
SYNTH_DATASET_IDS: dict[str, str] = {d.name: d.id for d in SYNTH_DATASETS}

# Technical-camera recordings of other matches: two to train on, one to validate on, two held out
# for the markup set that is tested on.
R_WIDE_CSKA_KRASNODAR = "20240526-Premier_League-CSKA_Moscow-vs-Krasnodar-01"
R_WIDE_SPARTAK_ZENIT = "20240602-Premier_League-Spartak_Moscow-vs-Zenit_Saint_Petersburg-01"
R_WIDE_ROSTOV_CSKA = "20240609-Russian_Cup-Rostov-vs-CSKA_Moscow-01"
R_WIDE_DYNAMO_LOKO = "20240616-Premier_League-Dynamo_Moscow-vs-Lokomotiv_Moscow-01"
R_WIDE_ZENIT_RUBIN = "20240623-Premier_League-Zenit_Saint_Petersburg-vs-Rubin_Kazan-01"
_WIDE_RECORDING = ("class:ball", "source:recording", "camera:wide")
WIDE_DATASETS: tuple[SynthDataset, ...] = (
    SynthDataset(f"{R_WIDE_CSKA_KRASNODAR}-001", "1.0.0", "ball", (R_WIDE_CSKA_KRASNODAR,), _WIDE_RECORDING),
    SynthDataset(f"{R_WIDE_SPARTAK_ZENIT}-001", "1.0.0", "ball", (R_WIDE_SPARTAK_ZENIT,), _WIDE_RECORDING),
    SynthDataset("class:ball-markup:wide-001", "1.0.0", "ball", (R_WIDE_ROSTOV_CSKA, R_WIDE_DYNAMO_LOKO),
                 ("class:ball", "source:markup", "camera:wide")),
    SynthDataset("class:ball-markup:wide-tagme-001", "1.0.0", "ball", (R_WIDE_ZENIT_RUBIN,),
                 ("class:ball", "source:markup", "camera:wide")),
)
WIDE_DATASET_IDS: dict[str, str] = {d.name: d.id for d in WIDE_DATASETS}
WIDE_TRAIN_IDS: tuple[str, ...] = tuple(d.id for d in WIDE_DATASETS[:2])  # one recording each
WIDE_TEST_IDS: tuple[str, ...] = (WIDE_DATASETS[2].id,)  # recordings no training set has
WIDE_VAL_IDS: tuple[str, ...] = (WIDE_DATASETS[3].id,)  # a recording of its own, for validation


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


def _synthesize(catalog: LocalCatalog, datasets: Sequence[SynthDataset], generator: str, images_per_dataset: int,
                image_size: tuple[int, int], seed: int, force: bool, progress: Progress | None,
                look: Callable[[str], object], render: Renderer) -> list[DatasetRef]:
    """Plan, then build each dataset not already there as asked; ``look(recording)`` is only called
    for recordings of datasets that are built."""
    plan = plan_frames(images_per_dataset, seed, datasets)
    refs = []
    for spec in datasets:
        frames = plan[spec.name]
        info = DatasetInfo(id=spec.id, name=spec.name, version=spec.version, tags=list(spec.tags),
                           names=spec.names, number_samples=len(frames))
        recipe = {"generator": generator, "seed": seed, "image_size": list(image_size),
                  "images_per_dataset": images_per_dataset}
        if not force and _is_current(catalog, info, recipe):
            if progress:
                progress(spec.name, len(frames), len(frames))
            refs.append(catalog.get(spec.id))
            continue
        looks = {rec: look(rec) for rec in spec.recordings}
        refs.append(_build(catalog, spec, info, recipe, frames, looks, image_size, seed, progress, render))
    return refs


def _is_current(catalog: LocalCatalog, info: DatasetInfo, recipe: dict) -> bool:
    folder = catalog.folder(info.id)
    try:
        if DatasetInfo.model_validate_json((folder / METADATA_FILE).read_text()) != info:
            return False
        if json.loads((folder / SYNTH_FILE).read_text()) != recipe:
            return False
        images = sum(1 for p in (folder / "images").iterdir() if p.is_file())
        labels = sum(1 for p in (folder / "labels").iterdir() if p.suffix == ".txt")
    except (OSError, ValueError):
        return False
    return images == labels == info.number_samples


def _build(catalog: LocalCatalog, spec: SynthDataset, info: DatasetInfo, recipe: dict,
           frames: list[PlannedFrame], looks: dict[str, object], image_size: tuple[int, int], seed: int,
           progress: Progress | None, render: Renderer) -> DatasetRef:
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
        (tmp / SYNTH_FILE).write_text(json.dumps(recipe, indent=2) + "\n")
        (tmp / METADATA_FILE).write_text(json.dumps(info.model_dump(), indent=2) + "\n")
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f"{info.id}.old.", dir=staging))
            os.replace(final, old / "dataset")
        try:
            os.rename(tmp, final)
        except OSError:
            if not _is_current(catalog, info, recipe):  # unless a concurrent run put the same one there
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
