"""The work of ``balldet label pick`` with the model (not one of the pipeline's stages): predict the
candidates, follow the ball, score, pick, write the batch. What is scored and why:
:mod:`balldet.labelling.pick`.

One pass over each source: a video is decoded once, in order, frames ``0, s, 2s, ...`` predicted
(``s`` = ``track_every``, or ``every`` without the track) while the next ones decode; a folder's
frames are read once each (the bytes give the digest and dHash the checks use, the decoded pixels go
to the model). Only what scoring needs is kept: a candidate's detections and picture signature, the
ball candidates of the frames predicted for the track -- never the frames themselves, so a
recording of any length streams. The picked frames are decoded again at the end (a video: to the
last picked frame) and the batch written whole or not at all (:mod:`balldet.labelling.pick_write`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from balldet.boxes import Detections
from balldet.config import SlicingSection, TrackingSection
from balldet.datasets.video import frame_name, iter_frames, read_ahead
from balldet.errors import UsageError
from balldet.labelling.batch import Batch, BatchFrame
from balldet.labelling.pick import (
    ScoreWeights, ball_candidates, frame_score, main_reason, slice_disagreement, track_disagreement,
    uncertainty, undecided_candidates,
)
from balldet.labelling.pick_known import KnownFrames, Picture, duplicates, picture_of, pictures_known
from balldet.labelling.pick_select import Candidate, select
from balldet.labelling.pick_sources import Source
from balldet.labelling.pick_write import PickedFrame, write_pick
from balldet.slicing.predict import predict_sliced
from balldet.stages.predict import framework_conf, load_model
from balldet.stages.test_model import ball_class
from balldet.tracks.filter import SOURCE_NAMES, track_recording
from balldet.tracks.on_dataset import recording_from_detections

Progress = Callable[[int, int], None]
Way = SlicingSection | None  # how a frame is predicted: tile by tile, or whole (None)
LEFT_OUT = ("known", "identical", "near_duplicate", "repeated", "unreadable")


@dataclass
class PickRequest:
    sources: list[Source]
    known: KnownFrames
    weights: Path
    weights_label: str  # the run id or .pt as given
    model_type: str
    cache_dir: Path
    device: str
    ways: list[Way]  # the first gives the pre-annotations; a second one is compared with it (``slice``)
    imgsz: int | None
    batch_size: int
    every: int
    track_every: int  # 0: no track
    conf: float
    tracking: TrackingSection
    score_weights: ScoreWeights
    count: int
    min_gap: int
    spread: float
    seed: int


@dataclass
class _Frame:
    """A candidate frame: where it is, what the model found, why it is left out (if it is)."""

    source: int
    recording: str
    frame: int | None
    stem: str
    file: Path | None
    width: int = 0
    height: int = 0
    found: Detections | None = None
    second: Detections | None = None
    picture: Picture | None = None
    left_out: str | None = None
    detail: str = ""
    parts: dict[str, float] = field(default_factory=dict)
    score: float = 0.0


@dataclass
class PickResult:
    frames: list[_Frame]
    picked: list[int]
    too_close: int
    duplicate: int
    names: list[str]


def pick_frames(request: PickRequest, out: Path, *, progress: Progress | None = None) -> PickResult:
    """Pick ``request.count`` frames and write their batch to ``out`` (see the module doc); a usage
    error, with nothing written, when fewer can be picked."""
    wrapper = load_model(request.weights, model_type=request.model_type, cache_dir=request.cache_dir,
                         device=request.device)
    names = class_names(wrapper)
    ball = ball_class(names)
    frames, tracked = _predict_all(wrapper, request, ball, progress)
    live = [k for k, f in enumerate(frames) if f.left_out is None]
    excluded, close = pictures_known(request.known, [frames[k].picture for k in live],  # type: ignore[misc]
                                     [(frames[k].recording, frames[k].frame) for k in live])
    for c, why in excluded.items():
        frames[live[c]].left_out, frames[live[c]].detail = why.kind, why.detail
    _track_parts(frames, tracked, request, ball)
    for f in frames:
        if f.left_out is None:
            _score(f, request, ball)
    live_before = live
    live = [k for k in live if frames[k].left_out is None]
    if len(live) < request.count:
        raise UsageError([("--count", f"{request.count} frame(s) asked for, but only {len(live)} candidate(s) are left "
                           f"({_left_out_text(frames)}); ask for at most {len(live)}, or give more "
                           "--source, or a smaller --every")])
    position = {k: c for c, k in enumerate(live_before)}
    remap = {position[k]: i for i, k in enumerate(live)}
    close_live = {remap[a]: {remap[b] for b in others if b in remap} for a, others in close.items() if a in remap}
    candidates = [Candidate(f"{frames[k].source}:{frames[k].recording}", frames[k].frame, frames[k].score)
                  for k in live]
    selection = select(candidates, request.count, min_gap=request.min_gap, spread=request.spread, seed=request.seed,
                       close=close_live, duplicates=lambda i, j: _duplicates(frames[live[i]], frames[live[j]]))
    if len(selection.picked) < request.count:
        raise UsageError([("--count", f"{request.count} frame(s) asked for, but only {len(selection.picked)} of the "
                           f"{len(live)} candidates left can be picked {request.min_gap} or more frames apart "
                           f"(--min-gap) and without near-duplicates ({selection.too_close} too close, "
                           f"{selection.duplicate} duplicates of a pick); ask for fewer, or lower --min-gap")])
    picked = [live[i] for i in selection.picked]
    images = _picked_images(request.sources, {k: frames[k] for k in picked}, request.every)
    rows = [_picked_frame(frames[k], images[k], request) for k in picked]
    batch = Batch(names=names, weights=request.weights_label, model_type=request.model_type,
                  frames=[row.entry for row in rows])
    write_pick(out, batch, rows)
    return PickResult(frames, picked, selection.too_close, selection.duplicate, names)


def class_names(wrapper: Any) -> list[str]:
    """The class names the loaded model carries (ultralytics' and yolov5's models both keep them as
    ``names``, a dict or list by class id; a gap in a dict is ``class<k>``); ``["ball"]`` where a
    model has none."""
    names = getattr(getattr(wrapper, "_model", None), "names", None)
    if isinstance(names, dict) and names:
        return [str(names.get(k, f"class{k}")) for k in range(max(int(k) for k in names) + 1)]
    if isinstance(names, (list, tuple)) and names:
        return [str(n) for n in names]
    return ["ball"]


# --------------------------------------------------------------------------- one pass over the sources


Tracked = dict[tuple[int, str], list[tuple[int, int, int, Detections]]]  # (source, recording) -> frames


def _predict_all(wrapper: Any, request: PickRequest, ball: int, progress: Progress | None,
                 ) -> tuple[list[_Frame], Tracked]:
    stride = request.track_every or request.every
    total = sum(s.video.kept(stride) if s.video is not None else len(s.frames) for s in request.sources)
    frames: list[_Frame] = []
    tracked: Tracked = {}
    seen: set[tuple[str, int]] = set()
    known = request.known.numbered
    second = _SecondWay(wrapper, request) if len(request.ways) > 1 else None
    done = 0
    if progress is not None:
        progress(0, total)
    for index, source in enumerate(request.sources):
        for (frame, data), image, found in _first_way(wrapper, _decoded(index, source, stride), request):
            done += 1
            if progress is not None:
                progress(done, max(total, done))
            if image is not None and frame.frame is not None:
                balls = _balls(found, ball, request.tracking.min_score)
                tracked.setdefault((index, frame.recording), []).append(
                    (frame.frame, image.shape[1], image.shape[0], balls))
            if source.video is not None and frame.frame % request.every:  # type: ignore[operator]
                continue  # predicted for the track only
            frames.append(frame)
            identity = (frame.recording, frame.frame)
            if image is None:
                frame.left_out, frame.detail = "unreadable", f"{frame.file} cannot be decoded as an image"
            elif frame.frame is not None and identity in known:
                frame.left_out = "known"
            elif frame.frame is not None and identity in seen:
                frame.left_out = "repeated"
            else:
                frame.height, frame.width = image.shape[:2]
                frame.found, frame.picture = found, picture_of(image, data)
                if second is not None:
                    second.add(frame, image)
            if frame.frame is not None:
                seen.add(identity)  # type: ignore[arg-type]
    if second is not None:
        second.flush()
    return frames, tracked


def _decoded(index: int, source: Source, stride: int) -> Iterator[tuple[tuple[_Frame, bytes | None], Any]]:
    """``((frame, file bytes), BGR image)`` of the frames of ``source`` to predict, in order (an
    image None: a file that does not decode)."""
    import cv2

    if source.video is not None:
        recording = source.video.recording
        for number, image in iter_frames(source.video.path, every=stride):
            yield (_Frame(index, recording, number, frame_name(recording, number), None), None), image
        return
    for item in source.frames:
        data = item.path.read_bytes()
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
        yield (_Frame(index, item.recording, item.frame, item.stem, item.path), data), image


def _first_way(wrapper: Any, decoded: Iterator, request: PickRequest) -> Iterator[tuple[Any, Any, Detections]]:
    """``(key, image, detections)`` in order: whole frames ``batch_size`` to a forward pass (frames of
    one shape, as :func:`balldet.stages.predict.frame_batches` makes them), or each frame's tiles
    merged; read ahead while the model predicts. A file that does not decode has no detections."""
    way = request.ways[0]
    per_batch = 1 if way is not None else request.batch_size
    keys: list = []
    images: list = []
    for key, image in read_ahead(decoded, per_batch):
        if images and (image is None or len(images) >= per_batch or image.shape != images[0].shape):
            yield from zip(keys, images, _predict(wrapper, images, way, request))
            keys, images = [], []
        if image is None:
            yield key, None, Detections.empty()
            continue
        keys.append(key)
        images.append(image)
    if images:
        yield from zip(keys, images, _predict(wrapper, images, way, request))


def _predict(wrapper: Any, images: list, way: Way, request: PickRequest) -> list[Detections]:
    if not images:
        return []
    if way is None:
        return wrapper.predict_batch(images, image_size=request.imgsz, conf=framework_conf(0.0))
    return list(predict_sliced(wrapper, images, tile=way.tile, overlap=way.overlap, full_frame=way.full_frame,
                               image_size=request.imgsz, batch_size=request.batch_size))


class _SecondWay:
    """The candidates' predictions the other way, a batch of frames of one shape at a time."""

    def __init__(self, wrapper: Any, request: PickRequest) -> None:
        self.wrapper, self.request = wrapper, request
        self.waiting: list[tuple[_Frame, Any]] = []

    def add(self, frame: _Frame, image: Any) -> None:
        if self.waiting and (len(self.waiting) >= self.request.batch_size or image.shape != self.waiting[0][1].shape):
            self.flush()
        self.waiting.append((frame, image))

    def flush(self) -> None:
        found = _predict(self.wrapper, [image for _, image in self.waiting], self.request.ways[1], self.request)
        for (frame, _), detections in zip(self.waiting, found):
            frame.second = detections
        self.waiting = []


def _balls(found: Detections, ball: int, min_score: float) -> Detections:
    keep = (found.classes == ball) & (found.scores >= min_score)
    return Detections(found.boxes[keep], found.scores[keep], found.classes[keep])


# --------------------------------------------------------------------------- scores


def _track_parts(frames: list[_Frame], tracked: Tracked, request: PickRequest, ball: int) -> None:
    """The ``track`` part of each candidate the track can judge (a predicted neighbour within
    ``max_gap + 1`` frames)."""
    if not request.track_every:
        return
    reach = request.tracking.max_gap + 1
    wanted: dict[tuple[int, str], dict[int, _Frame]] = {}
    for f in frames:
        if f.left_out is None and f.frame is not None:
            wanted.setdefault((f.source, f.recording), {})[f.frame] = f
    for key, rows in tracked.items():
        if key not in wanted:
            continue
        rows = sorted({row[0]: row for row in reversed(rows)}.values(), key=lambda row: row[0])  # a number once
        numbers = np.array([row[0] for row in rows], np.int64)
        rec = recording_from_detections(key[1], numbers, [frame_name(key[1], n) for n in numbers],
                                        [row[1] for row in rows], [row[2] for row in rows], [row[3] for row in rows],
                                        ball)
        track = track_recording(rec, request.tracking)
        gaps = np.diff(numbers)
        neighbour = np.zeros(len(numbers), bool)
        neighbour[1:] |= gaps <= reach
        neighbour[:-1] |= gaps <= reach
        for at, number in enumerate(numbers.tolist()):
            frame = wanted[key].get(number)
            if frame is None or not neighbour[at] or frame.found is None:
                continue
            boxes, scores = ball_candidates(frame.found, ball)
            frame.parts["track"] = track_disagreement(
                SOURCE_NAMES[track.source[at]], float(track.x[at]), float(track.y[at]), boxes, scores, request.conf,
                track.static_spots, request.tracking.static_radius)


def _score(frame: _Frame, request: PickRequest, ball: int) -> None:
    found = frame.found if frame.found is not None else Detections.empty()
    parts = {"uncertainty": uncertainty(found, ball, request.conf),
             "candidates": undecided_candidates(found, ball, request.conf)}
    if frame.second is not None:
        parts["slice"] = slice_disagreement(found, frame.second, ball, request.conf)
    parts.update(frame.parts)
    frame.parts = {name: round(value, 6) for name, value in parts.items()}
    frame.score = round(frame_score(frame.parts, request.score_weights), 6)


def _duplicates(a: _Frame, b: _Frame) -> bool:
    return duplicates(a.picture, b.picture, (a.recording, a.frame), (b.recording, b.frame))  # type: ignore[arg-type]


def _left_out_text(frames: list[_Frame]) -> str:
    words = {"known": "already in a known dataset", "identical": "byte-identical to a known image",
             "near_duplicate": "near-duplicates of known images", "repeated": "given twice",
             "unreadable": "unreadable"}
    shown = [f"{n} {words[kind]}" for kind in LEFT_OUT if (n := sum(f.left_out == kind for f in frames))]
    return f"of the {len(frames)} candidate frames: " + (", ".join(shown) if shown else "none")


# --------------------------------------------------------------------------- the picked frames


def _picked_images(sources: list[Source], picked: dict[int, _Frame], every: int) -> dict[int, tuple[bytes, str]]:
    """The image file (bytes, suffix) of each picked frame (by the same key): a video's frame decoded
    again and encoded as PNG (lossless: the pixels the model saw), a folder's file as it is."""
    import cv2

    out: dict[int, tuple[bytes, str]] = {}
    for index, source in enumerate(sources):
        mine = {k: f for k, f in picked.items() if f.source == index}
        if source.video is None:
            for k, f in mine.items():
                out[k] = f.file.read_bytes(), f.file.suffix  # type: ignore[union-attr]
            continue
        if not mine:
            continue
        wanted = {f.frame: k for k, f in mine.items()}
        frames = iter_frames(source.video.path, every=every)
        try:
            for number, image in frames:
                if number in wanted:
                    ok, png = cv2.imencode(".png", image)
                    if not ok:
                        raise RuntimeError(f"OpenCV could not encode frame {number} of {source.path} as PNG")
                    out[wanted.pop(number)] = png.tobytes(), ".png"
                    if not wanted:
                        break
        finally:
            frames.close()
    return out


def _picked_frame(frame: _Frame, image: tuple[bytes, str], request: PickRequest) -> PickedFrame:
    data, suffix = image
    found = frame.found if frame.found is not None else Detections.empty()
    keep = found.scores >= request.conf
    boxes = Detections(found.boxes[keep], found.scores[keep], found.classes[keep])
    entry = BatchFrame(stem=frame.stem, file=f"images/{frame.stem}{suffix}", recording=frame.recording,
                       frame=-1 if frame.frame is None else frame.frame,
                       source=str(request.sources[frame.source].path.resolve()), width=frame.width, height=frame.height,
                       score=frame.score, reasons=dict(frame.parts))
    return PickedFrame(entry, data, boxes, main_reason(frame.parts, request.score_weights))
