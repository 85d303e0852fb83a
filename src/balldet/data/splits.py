"""Validation splits that keep the frames of one recording together.

A frame's identity is its recording and frame number, read from the image file name with
``FRAME_PATTERN`` (``<recording id>_<frame number>``). Frames whose names do not match form one
group per dataset.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict

from balldet.data.dataset import DatasetRef
from balldet.data.prepared import FrameRef

FRAME_PATTERN = re.compile(r"^(?P<recording>.+)_(?P<frame>\d+)$")


def frame_identity(dataset: DatasetRef, stem: str) -> tuple[str, int | None]:
    match = FRAME_PATTERN.match(stem)
    if match:
        return match["recording"], int(match["frame"])
    return f"dataset:{dataset.id}", None


def split_by_recording(datasets: list[DatasetRef], fraction: float, seed: int) -> list[FrameRef]:
    """About ``fraction`` of the frames, as whole recordings, chosen reproducibly from ``seed``.

    With a single recording, the last frames (by frame number) are held out instead, so that
    neighbouring frames still stay on one side.
    """
    groups: dict[str, list[tuple[int, FrameRef]]] = defaultdict(list)
    for ref in datasets:
        for image in ref.image_files():
            recording, frame = frame_identity(ref, image.stem)
            groups[recording].append((frame or 0, FrameRef(dataset_id=ref.id, file=image.name)))
    total = sum(len(g) for g in groups.values())
    if total < 2:
        return []
    wanted = max(1, round(total * fraction))
    if len(groups) == 1:
        (frames,) = groups.values()
        ordered = sorted(frames, key=lambda item: (item[0], item[1].file))
        return [frame for _, frame in ordered[-wanted:]]
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    held: list[FrameRef] = []
    for recording in order[:-1]:  # never hold out every recording
        if len(held) >= wanted:
            break
        held += [frame for _, frame in groups[recording]]
    return sorted(held, key=lambda f: (f.dataset_id, f.file))
