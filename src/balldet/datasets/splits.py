"""Validation splits that keep the frames of one recording together.

A frame's identity is its recording and frame number, read from the dataset name and the image
file name (:mod:`balldet.datasets.frames`). Frames that no pattern matches form one group per dataset.
"""

from __future__ import annotations

import random
from collections import defaultdict

from balldet.datasets.dataset import DatasetRef
from balldet.datasets.frames import DEFAULT_FRAME_IDENTITY, FrameIdentity
from balldet.datasets.prepared import FrameRef


def split_by_recording(datasets: list[DatasetRef], fraction: float, seed: int,
                       frames: FrameIdentity = DEFAULT_FRAME_IDENTITY) -> list[FrameRef]:
    """About ``fraction`` of the frames, as whole recordings, chosen reproducibly from ``seed``;
    ``frames`` tells each frame's recording.

    With a single recording, the last frames (by frame number) are held out instead, so that
    neighbouring frames still stay on one side.
    """
    # (frame number, dataset id, file name): a FrameRef only for the frames held out, since
    # building one per frame was most of a cached prepare_data run at 100k images.
    groups: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for ref in datasets:
        identify = frames.for_dataset(ref)
        for name in ref.image_names():
            # the stem: every listed image name ends in an image suffix
            recording, frame = identify(name.rpartition(".")[0])
            groups[recording].append((frame or 0, ref.id, name))
    total = sum(len(g) for g in groups.values())
    if total < 2:
        return []
    wanted = max(1, round(total * fraction))
    if len(groups) == 1:
        (frames,) = groups.values()
        ordered = sorted(frames, key=lambda item: (item[0], item[2]))
        return [FrameRef(dataset_id=dataset_id, file=name) for _, dataset_id, name in ordered[-wanted:]]
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    held: list[tuple[int, str, str]] = []
    for recording in order[:-1]:  # never hold out every recording
        if len(held) >= wanted:
            break
        held += groups[recording]
    return [FrameRef(dataset_id=dataset_id, file=name) for dataset_id, name in sorted((d, n) for _, d, n in held)]
