"""Which frames to label next: how ``balldet label pick`` scores a frame, and its knobs.

Labelling costs a person's time per frame, and most frames of a match teach a trained detector
nothing: it already finds the ball (or rightly finds none). ``label pick`` samples frames from new
recordings, leaves out what is already labelled, scores the rest by how much a label would teach
the model, and picks the best ones spread over recordings and time. The pieces:

* :mod:`~balldet.labelling.pick_sources`: the candidates -- every ``--every``-th frame of each video
  (frame numbers are decode indices, :mod:`balldet.datasets.video`), every frame of each frames
  folder (recording and number from the file stem by the frame patterns, the folder's name as the
  dataset name);
* :mod:`~balldet.labelling.pick_known`: what is left out -- a (recording, frame) that a known
  dataset holds (every dataset of the local catalog, and ``--against``), a file byte-identical to a
  known one, a near-duplicate picture of a known frame, judged as the leakage check judges it
  (dHash within :data:`~balldet.checks.leakage.MAX_DISTANCE` bits, confirmed on 32x32 thumbnails);
* this module: the score of a frame;
* :mod:`~balldet.labelling.pick_select`: the greedy pick (spread over recordings and time, never two
  near-duplicates);
* :mod:`balldet.stages.pick`: the work with the model (prediction, the track), and
  :mod:`~balldet.labelling.pick_write`: the batch folder (:mod:`~balldet.labelling.batch`).

**The score.** Every part below is a number in [0, 1], computed from the model's detections at score
0.001 for the ball class only (the class named ``ball``, else class 0); the frame's score is their
weighted sum (:class:`ScoreWeights`, ``--weight-*``). All parts read a score ``s`` through one
threshold ``t`` (``--conf``, the score from which a box becomes a pre-annotation): its *confidence*
``c(s) = sigmoid(logit(s) - logit(t))``, 0.5 at the threshold, so "how sure" is measured in
log-odds from the decision the labeller will have to check.

* ``uncertainty``: the binary entropy (bits) of ``c`` of the frame's best ball candidate -- 1 when it
  scores exactly ``t``, about 0.2 at 0.9 or 0.01 with ``t`` = 0.25, 0 with no candidate at all. A box
  the model is unsure of is the classic active-learning pick (least confidence / entropy sampling).
* ``candidates``: how many ball candidates lie in the undecided band ``0.2 <= c <= 0.8`` (within a
  factor 4 of the threshold's odds), as ``1 - 0.5^n``: one is 0.5, three are 0.875. A frame with
  several half-believed balls (a sock, a head, the ball) gets a label that settles all of them.
* ``slice``: whole frame against tiles (``--slice``, or a sliced run's own tiles against the whole
  frame): the difference of the two ways' best-ball confidences, or, when both are confident (``c >=
  0.5``) but their balls lie apart (farther than the larger box), the smaller confidence. One way
  seeing a ball the other misses is a frame whose label teaches the model about small balls.
* ``track``: the ball track (:func:`balldet.tracks.filter.track_recording` over the predicted frames
  of the recording, ``--track-every``) against the detector, on candidates that the track can judge
  (another predicted frame within ``max_gap + 1`` frames): where the track *bridged* the frame
  (``interpolated``: motion says the ball is there, the detector did not find it) ``1 - c`` of the
  best candidate at the track's position; where the track took a detection but the best candidate
  lies elsewhere, ``c`` of that candidate; where the track says there is no ball but a candidate is
  confident (``c >= 0.5``), its ``c``. Candidates on the pitch's static spots, which the track ignores,
  are ignored here too. Both kinds of frame are the detector's errors that motion reveals.

**The pick** (:mod:`~balldet.labelling.pick_select`): candidates are taken in order of their score
divided by ``1 + spread * (frames already picked from the same recording)`` (``--spread``: 0 ranks by
score alone, large values go round the recordings), skipping a frame closer than ``--min-gap`` frames
to a pick of its recording or a near-duplicate of a pick. Equal scores are ordered by ``--seed``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from balldet.boxes import Detections, xyxy_to_cxcywh

UNDECIDED = (0.2, 0.8)  # confidences of a candidate the labeller has to decide on
NEAR_PX = 4.0  # smallest distance, in pixels, at which two balls are told apart
PARTS = ("uncertainty", "candidates", "slice", "track")
WHY = {
    "uncertainty": "the best ball's score is near the threshold",
    "candidates": "several undecided ball candidates",
    "slice": "tiles and whole frame disagree",
    "track": "the ball track and the detector disagree",
}


class ScoreWeights(BaseModel):
    """How much each part counts in a frame's score (``--weight-<part>``; 0 switches a part off)."""

    model_config = ConfigDict(extra="forbid")

    uncertainty: float = Field(default=1.0, ge=0)
    candidates: float = Field(default=0.5, ge=0)
    slice: float = Field(default=1.0, ge=0)
    track: float = Field(default=1.0, ge=0)


def confidence(scores: np.ndarray | float, threshold: float) -> np.ndarray:
    """``sigmoid(logit(s) - logit(t))``: 0.5 at the threshold, symmetric in log-odds around it."""
    s = np.clip(np.asarray(scores, np.float64), 1e-6, 1 - 1e-6)
    t = min(max(threshold, 1e-6), 1 - 1e-6)
    odds = (s / (1 - s)) / (t / (1 - t))
    return odds / (1 + odds)


def entropy(p: float) -> float:
    """Binary entropy in bits."""
    if p <= 0 or p >= 1:
        return 0.0
    return float(-(p * math.log2(p) + (1 - p) * math.log2(1 - p)))


def ball_candidates(detections: Detections, ball_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The ball boxes as ``(N, 4)`` centre x, y, width, height in pixels and their scores, best first."""
    keep = detections.classes == ball_class
    boxes, scores = detections.boxes[keep], detections.scores[keep]
    order = np.argsort(-scores, kind="stable")
    return xyxy_to_cxcywh(boxes[order]).reshape(-1, 4), scores[order]


def uncertainty(detections: Detections, ball_class: int, threshold: float) -> float:
    _, scores = ball_candidates(detections, ball_class)
    return entropy(float(confidence(scores[0], threshold))) if len(scores) else 0.0


def undecided_candidates(detections: Detections, ball_class: int, threshold: float) -> float:
    _, scores = ball_candidates(detections, ball_class)
    c = confidence(scores, threshold)
    n = int(((c >= UNDECIDED[0]) & (c <= UNDECIDED[1])).sum())
    return 1.0 - 0.5 ** n


def slice_disagreement(first: Detections, second: Detections, ball_class: int, threshold: float) -> float:
    """How far the best balls of two ways of predicting one frame disagree (see the module doc)."""
    boxes_a, scores_a = ball_candidates(first, ball_class)
    boxes_b, scores_b = ball_candidates(second, ball_class)
    c_a = float(confidence(scores_a[0], threshold)) if len(scores_a) else 0.0
    c_b = float(confidence(scores_b[0], threshold)) if len(scores_b) else 0.0
    part = abs(c_a - c_b)
    if c_a >= 0.5 and c_b >= 0.5:
        apart = math.hypot(*(boxes_a[0, :2] - boxes_b[0, :2]))
        if apart > max(NEAR_PX, boxes_a[0, 2:].max(), boxes_b[0, 2:].max()):
            part = max(part, min(c_a, c_b))
    return part


def track_disagreement(source: str, x: float, y: float, boxes: np.ndarray, scores: np.ndarray, threshold: float,
                       spots: list[tuple[float, float]], spot_radius: float) -> float:
    """How far the track (``source`` one of ``detected``, ``interpolated``, ``none``, at ``x, y``) and
    the frame's ball candidates (``boxes`` centre x, y, w, h; ``scores``; best first) disagree."""
    keep = np.ones(len(scores), bool)
    for sx, sy in spots:  # the pitch's own marks: the track ignores them, so do we
        keep &= np.hypot(boxes[:, 0] - sx, boxes[:, 1] - sy) > 1.5 * spot_radius
    boxes, c = boxes[keep], confidence(scores[keep], threshold)
    if source == "none":
        return float(c[0]) if len(c) and c[0] >= 0.5 else 0.0
    reach = np.maximum(boxes[:, 2:].max(axis=1), NEAR_PX) if len(c) else np.empty(0)
    at_track = np.hypot(boxes[:, 0] - x, boxes[:, 1] - y) <= reach if len(c) else np.empty(0, bool)
    if source == "interpolated":
        return 1.0 - (float(c[at_track].max()) if at_track.any() else 0.0)
    # detected: the track took one candidate; is the detector's best another one?
    return float(c[0]) if len(c) and not at_track[0] else 0.0


def frame_score(parts: Mapping[str, float], weights: ScoreWeights) -> float:
    """The weighted sum of the parts a frame has (a part that could not be computed counts 0)."""
    return float(sum(getattr(weights, name) * value for name, value in parts.items()))


def main_reason(parts: Mapping[str, float], weights: ScoreWeights) -> str:
    """The part that adds most to the score, in words ("" when nothing does)."""
    weighted = {name: getattr(weights, name) * value for name, value in parts.items()}
    best = max(weighted, key=lambda name: weighted[name], default=None)
    return WHY[best] if best is not None and weighted[best] > 0 else ""
