"""Ball-track measures of a test dataset, for ``test_model``: only for datasets whose frames form runs
of consecutive frame numbers of a recording (clips), where a track means something.

The detections are the run's own (in memory, the same the evaluator scores), the truth the
dataset's labels, the frames identified by the config's frame patterns. A recording counts when its
longest run of consecutive frame numbers is at least :data:`MIN_RUN` frames (a second at 25 fps);
the frames of a recording between its runs are tracked as they are (missing frame numbers are time
that passed). Scalars: ``track/<measure>`` for the track and ``track_top1/<measure>`` for the raw
top-1 at the per-frame threshold chosen on the validation frames (or, without any, the one that
suits it best on these frames, chosen with hindsight, and said in ``track_top1/threshold``). The
validation threshold is also the filter's ``break_even`` score: the score at which this model's
top detection is as often the ball as not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from balldet.boxes import Detections, xyxy_to_cxcywh
from balldet.config import TrackingSection
from balldet.datasets.dataset import DatasetRef
from balldet.datasets.frames import FrameIdentity
from balldet.evaluation.frames import FrameTruth
from balldet.tracks.candidates import Recording
from balldet.tracks.filter import track_recording
from balldet.tracks.measures import Measures, Truth, best_top1_threshold, measure, top1_positions, truth_from_rows

MIN_RUN = 25


def recording_from_detections(name: str, frames: Sequence[int], stems: Sequence[str], widths: Sequence[float],
                              heights: Sequence[float], detections: Sequence[Detections],
                              ball_class: int) -> Recording:
    """A recording of candidates from detections in memory (boxes in pixels), frames in the order given."""
    frame_of, x, y, size, score = [], [], [], [], []
    for k, dets in enumerate(detections):
        ball = dets.classes == ball_class
        cxcywh = xyxy_to_cxcywh(dets.boxes[ball]).reshape(-1, 4)
        frame_of.append(np.full(len(cxcywh), k, np.int64))
        x.append(cxcywh[:, 0])
        y.append(cxcywh[:, 1])
        size.append(np.maximum(cxcywh[:, 2], cxcywh[:, 3]))
        score.append(dets.scores[ball].astype(np.float64))

    def cat(parts, dtype=np.float64):
        return np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype)

    return Recording(name, np.asarray(frames, np.int64), list(stems), np.asarray(widths, np.float64),
                     np.asarray(heights, np.float64), cat(frame_of, np.int64), cat(x), cat(y), cat(size), cat(score))


def longest_run(numbers: np.ndarray) -> int:
    if len(numbers) == 0:
        return 0
    breaks = np.flatnonzero(np.diff(numbers) != 1)
    edges = np.r_[-1, breaks, len(numbers) - 1]
    return int(np.diff(edges).max())


def clip_recordings(ref: DatasetRef, images: Sequence[Path], truth: Sequence[FrameTruth],
                    detections: Sequence[Detections], identity: FrameIdentity,
                    ball_class: int) -> list[tuple[Recording, Truth]]:
    """The dataset's recordings whose frames hold a run of at least :data:`MIN_RUN` consecutive numbers."""
    identify = identity.for_dataset(ref)
    groups: dict[str, list[tuple[int, int]]] = {}
    for i, image in enumerate(images):
        recording, number = identify(image.stem)
        if number is not None:
            groups.setdefault(recording, []).append((number, i))
    out = []
    for name in sorted(groups):
        members = sorted(groups[name])
        numbers = np.array([n for n, _ in members], np.int64)
        if longest_run(numbers) < MIN_RUN or len(np.unique(numbers)) != len(numbers):
            continue
        order = [i for _, i in members]
        widths = [truth[i].width for i in order]
        heights = [truth[i].height for i in order]
        rec = recording_from_detections(name, numbers, [images[i].stem for i in order], widths, heights,
                                        [detections[i] for i in order], ball_class)
        out.append((rec, truth_from_rows([truth[i].rows for i in order], rec.width, rec.height, ball_class)))
    return out


def track_metrics(clips: Sequence[tuple[Recording, Truth]], params: TrackingSection,
                  tau: float | None) -> dict[str, float]:
    """``track/...`` and ``track_top1/...`` measures over the clips' frames together (empty: no clips)."""
    if not clips:
        return {}
    recordings = [rec for rec, _ in clips]
    truths = [truth for _, truth in clips]
    threshold = tau if tau is not None else best_top1_threshold(recordings, truths)
    if tau is not None and 0 < tau < 1:
        params = params.model_copy(update={"break_even": tau})
    tracked, top1 = [], []
    for rec, truth in clips:
        track = track_recording(rec, params)
        tracked.append((track.x, track.y, truth))
        top1.append((*top1_positions(rec, threshold), truth))
    metrics = {**_pooled(tracked).as_dict("track"), **_pooled(top1).as_dict("track_top1")}
    metrics["track_top1/threshold"] = float(threshold)
    metrics["track/frames"] = float(sum(len(r.frames) for r in recordings))
    return metrics


def _pooled(parts: Sequence[tuple[np.ndarray, np.ndarray, Truth]]) -> Measures:
    """One set of measures over several recordings' frames (the longest wrong run: the longest of any)."""
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    truth = Truth(*(np.concatenate([getattr(p[2], f) for p in parts]) for f in ("x", "y", "diameter")))
    pooled = measure(x, y, truth)
    pooled.longest_wrong = max(measure(*p).longest_wrong for p in parts)
    return pooled
