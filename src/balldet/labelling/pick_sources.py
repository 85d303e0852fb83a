"""Where ``balldet label pick`` takes its candidate frames from: videos and frames folders.

A video is one recording, named by its file stem; its candidates are frames 0, ``every``, 2 x
``every``, ... (decode indices, :mod:`balldet.datasets.video`). A frames folder (its own images, or
those of its ``images/``) may hold frames of several recordings; each frame is identified as
everywhere else: the frame patterns matched against ``<folder name>/<file stem>``, the folder's name
standing for the dataset name. Every frame of a folder is a candidate. A frame no pattern numbers is
still a candidate, but only its picture can tell whether it is known.

In the batch a frame is named ``<recording>_<frame:06d>`` (:func:`balldet.datasets.video.frame_name`)
so that it identifies alike wherever it goes; an unnumbered frame keeps its file stem.

Everything here runs before any model is loaded: a source that is missing, a video that does not
open or decode, a folder without frames, and two unnumbered frames that would share a name are
problems of ``--source``, all reported at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from balldet.datasets.dataset import IMAGE_SUFFIXES
from balldet.datasets.frames import FrameIdentity
from balldet.datasets.video import RecordingInfo, VideoError, frame_name, is_video, open_recording

Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class FolderFrame:
    path: Path
    recording: str
    frame: int | None  # None: no pattern gives it a number

    @property
    def stem(self) -> str:
        return self.path.stem if self.frame is None else frame_name(self.recording, self.frame)


@dataclass(frozen=True)
class Source:
    """One ``--source``: a video (``video`` set) or a frames folder (``frames``)."""

    path: Path
    video: RecordingInfo | None = None
    frames: list[FolderFrame] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.path)

    def candidates(self, every: int) -> int:
        """How many candidates it gives (a video: by the frame count its container declares)."""
        return self.video.kept(every) if self.video is not None else len(self.frames)


@dataclass(frozen=True)
class _FolderAsDataset:
    """What frame identity reads of a dataset: its name (and an id for frames it cannot number)."""

    name: str
    id: str


def folder_images(folder: Path) -> list[Path]:
    """The image files of a folder, or of its ``images/``, sorted by name (upper-case suffixes count)."""
    images = folder / "images"
    where = images if images.is_dir() else folder
    return sorted(p for p in where.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def plan_sources(given: list[str], identity: FrameIdentity) -> tuple[list[Source], Problems]:
    """The sources named by ``--source``, and every problem with them."""
    sources: list[Source] = []
    problems: Problems = []
    seen: set[Path] = set()
    for text in given:
        path = Path(text).expanduser()
        if path.resolve() in seen:
            problems.append(("--source", f"{text} is given twice; give each video or folder once"))
            continue
        seen.add(path.resolve())
        if path.is_dir():
            source = _folder_source(path, identity, problems)
        elif is_video(path):
            source = _video_source(path, problems)
        elif path.exists():
            source = None
            problems.append(("--source", f"{text} is neither a video (.mp4, .avi, .mov, .mkv, ...) nor a folder of "
                             "frames; give videos of the recordings or folders of frames"))
        else:
            source = None
            problems.append(("--source", f"{text} does not exist; give a video file or a folder of frames"))
        if source is not None:
            sources.append(source)
    problems += _stem_clashes(sources)
    return sources, problems


def _video_source(path: Path, problems: Problems) -> Source | None:
    try:
        return Source(path, video=open_recording(path))
    except VideoError as exc:
        fix = f"; {exc.fix}" if exc.fix else ""
        problems.append(("--source", f"{exc.message}{fix}"))
        return None


def _folder_source(path: Path, identity: FrameIdentity, problems: Problems) -> Source | None:
    files = folder_images(path)
    if not files:
        videos = sorted(p.name for p in path.iterdir() if p.is_file() and is_video(p))
        hint = f"; it holds {len(videos)} video(s) ({', '.join(videos[:3])}): give each as --source" if videos else ""
        problems.append(("--source", f"no frames in {path} (image files: .jpg, .png, ...){hint}"))
        return None
    identify = identity.for_dataset(_FolderAsDataset(path.resolve().name, f"folder:{path}"))  # type: ignore[arg-type]
    frames = []
    for file in files:
        recording, number = identify(file.stem)
        frames.append(FolderFrame(file, recording if number is not None else path.resolve().name, number))
    return Source(path, frames=frames)


def _stem_clashes(sources: list[Source]) -> Problems:
    """Unnumbered frames of two folders (or one folder's ``a.jpg`` and ``a.png``) that would share a
    name in the batch. Numbered frames that share a (recording, frame) are the same frame given twice:
    the first is kept (see :mod:`balldet.stages.pick`)."""
    owners: dict[str, list[str]] = {}
    for source in sources:
        for frame in source.frames:
            if frame.frame is None:
                owners.setdefault(frame.stem, []).append(str(frame.path))
    clashes = [paths for paths in owners.values() if len(paths) > 1]
    if not clashes:
        return []
    shown = "; ".join(" and ".join(paths) for paths in clashes[:3])
    return [("--source", f"{len(clashes)} frame name(s) without a frame number occur twice ({shown}); each frame "
             "of a batch is named by its file stem: rename one of each, or name frames <recording>_<frame number>")]


def planned_left(sources: Sequence[Source], every: int, known: set[tuple[str, int]]) -> tuple[int, int]:
    """(candidates planned, those left once frames of ``known`` and frames given twice are left out),
    by frame numbers alone: a video's by the frame count its container declares."""
    planned = left = 0
    seen: set[tuple[str, int]] = set()
    for source in sources:
        if source.video is not None:
            identities: list[tuple[str, int | None]] = [(source.video.recording, n)
                                                        for n in range(0, source.video.frames, every)]
        else:
            identities = [(f.recording, f.frame) for f in source.frames]
        for recording, number in identities:
            planned += 1
            if number is None:
                left += 1
            elif (recording, number) not in known and (recording, number) not in seen:
                left += 1
                seen.add((recording, number))
    return planned, left
