"""`balldet label pick`: the frames of new recordings most worth labelling, as a labelling batch.

How frames are scored and picked: :mod:`balldet.labelling.pick`. Every flag problem, every source
that cannot be read and a ``--count`` larger than the frames left (by frame numbers) are reported at
once, exit 2, before any model is loaded; the batch is written whole or not at all."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from balldet.cli.app import err, out
from balldet.cli.label import label_app
from balldet.errors import BalldetError, UsageError

DEFAULT_EVERY = 25  # one frame a second at 25 fps
DEFAULT_TRACK_EVERY = 5  # at most: the track's frames (its max_gap of 12 still bridges two missed ones)
DEFAULT_MIN_GAP = 50  # two seconds at 25 fps


@label_app.command("pick")
def pick(
    source: Annotated[list[str], typer.Option("--source", help="A video (named by its recording id) or a folder "
                                              "of frames (<recording>_<frame>.jpg ...); repeat for more.")],
    weights: Annotated[str, typer.Option("--weights", help="A local run (its id or folder), or a .pt weights file.")],
    count: Annotated[int, typer.Option("--count", help="How many frames to pick.")],
    out_dir: Annotated[Path, typer.Option("--out", help="The batch folder to write (new, or empty).")],
    every: Annotated[int, typer.Option("--every", help="Videos: candidates are frames 0, N, 2N, ...")]
    = DEFAULT_EVERY,
    track_every: Annotated[int | None, typer.Option("--track-every", help="Videos: frames predicted for the ball "
                                                    "track, every M-th (M divides --every; default: its largest "
                                                    "divisor up to 5); 0: no track part.")] = None,
    conf: Annotated[float, typer.Option("--conf", help="Boxes scoring at least this are pre-annotations; also the "
                                        "threshold the scores are measured from.")] = 0.25,
    tile: Annotated[int | None, typer.Option("--slice", help="Also predict tile by tile (tiles of this side) and "
                                             "score where tiles and whole frame disagree; a sliced run's own "
                                             "tiles by default.")] = None,
    overlap: Annotated[float | None, typer.Option("--overlap", help="With --slice: fraction of a tile its "
                                                  "neighbour shares (default 0.2).")] = None,
    no_slice: Annotated[bool, typer.Option("--no-slice", help="Whole frames only, also for a sliced run.")] = False,
    weight_uncertainty: Annotated[float, typer.Option("--weight-uncertainty", help="Weight of the best ball's "
                                                      "uncertainty.")] = 1.0,
    weight_candidates: Annotated[float, typer.Option("--weight-candidates", help="Weight of the undecided ball "
                                                     "candidates.")] = 0.5,
    weight_slice: Annotated[float, typer.Option("--weight-slice", help="Weight of tiles against whole frame.")] = 1.0,
    weight_track: Annotated[float, typer.Option("--weight-track", help="Weight of the ball track against the "
                                                "detector.")] = 1.0,
    spread: Annotated[float, typer.Option("--spread", help="Spread over recordings: a recording's k-th pick needs "
                                          "1 + spread*(k-1) times the score (0: by score alone).")] = 1.0,
    min_gap: Annotated[int, typer.Option("--min-gap", help="Fewest frames between two picks of one recording.")]
    = DEFAULT_MIN_GAP,
    seed: Annotated[int, typer.Option("--seed", help="Orders frames of equal score.")] = 0,
    against: Annotated[list[str] | None, typer.Option("--against", help="Also leave out the frames of this dataset "
                                                      "(id, folder); every catalog dataset always is.")] = None,
    model_type: Annotated[str | None, typer.Option("--model_type", help="The backend of a .pt file (told from the "
                                                   "file when left out).")] = None,
    imgsz: Annotated[int | None, typer.Option("--imgsz", help="Image size the model predicts at.")] = None,
    batch: Annotated[int, typer.Option("--batch", help="Frames (or tiles) per forward pass.")] = 16,
    device: Annotated[str | None, typer.Option("--device", help="cpu, 0, cuda:0 ... (default: the settings').")]
    = None,
) -> None:
    """Pick the frames of new recordings a label would teach the model most, leaving out known frames and
    near-duplicates, and write them with the model's boxes as pre-annotations (a labelling batch)."""
    from balldet.backends.registry import model_types
    from balldet.cli.app import load_cli_settings
    from balldet.cli.predict import _flag_problems
    from balldet.config import SlicingSection
    from balldet.datasets.frames import FrameIdentity
    from balldet.labelling.pick import ScoreWeights
    from balldet.labelling.pick_known import numbered_frames
    from balldet.labelling.pick_sources import plan_sources, planned_left
    from balldet.labelling.pick_write import out_problem

    settings = load_cli_settings()
    problems = _flag_problems(tile, overlap, imgsz, conf, batch, False, no_slice, model_type, model_types())
    if count < 1:
        problems.append(("--count", f"{count}; give at least 1"))
    if every < 1:
        problems.append(("--every", f"{every}; give 1 (every frame) or more"))
    if track_every is None:
        track_every = max(d for d in range(1, DEFAULT_TRACK_EVERY + 1) if every < 1 or every % d == 0)
    if track_every < 0 or (track_every > 0 and every >= 1 and every % track_every):
        problems.append(("--track-every", f"{track_every}; give a divisor of --every {every} (e.g. 5 with --every "
                         "25: candidates are among the frames predicted for the track), or 0 for no track"))
    if conf in (0.0, 1.0):  # outside [0, 1] is one of _flag_problems'
        problems.append(("--conf", f"{conf}; give a score strictly between 0 and 1 (e.g. 0.25)"))
    for flag, value in (("--weight-uncertainty", weight_uncertainty), ("--weight-candidates", weight_candidates),
                        ("--weight-slice", weight_slice), ("--weight-track", weight_track), ("--spread", spread),
                        ("--min-gap", min_gap)):
        if value < 0:
            problems.append((flag, f"{value}; give 0 or more"))
    if overlap is not None and tile is None:
        problems.append(("--overlap", "only applies with --slice <tile>"))
    problem = out_problem(out_dir)
    if problem:
        problems.append(("--out", problem))
    run, weights_file = _weights(weights, settings, problems)
    identity = FrameIdentity(settings.frame_patterns)
    sources, source_problems = plan_sources(source, identity)
    problems += source_problems
    known_refs = _known_refs(settings, against or [], problems)
    if not problems:
        planned, left = planned_left(sources, every, numbered_frames(known_refs, identity))
        if left < count:
            problems.append(("--count", f"{count} frame(s) asked for, but only {left} of the {planned} candidate "
                             "frames are left once those already in a known dataset are left out; ask for at most "
                             f"{left}, or give more --source, or a smaller --every"))
    if problems:
        raise UsageError(problems)

    if run is not None:
        weights_file, kind, run_slicing = run.weights, run.model_type, run.slicing
        if model_type and model_type != kind:
            raise UsageError([("--model_type", f"the run trained {kind}, not {model_type}; leave --model_type out")])
    else:
        from balldet.backends.weights_file import backend_of_weights

        kind, run_slicing = model_type or backend_of_weights(weights_file), None
    given = SlicingSection(tile=tile, **({"overlap": overlap} if overlap is not None else {})) if tile else None
    if run_slicing is not None and not no_slice:
        ways = [given or run_slicing, None]  # the run predicts tile by tile; compared with whole frames
    else:
        ways = [None, given] if given is not None else [None]
    _pick(settings, sources, known_refs, identity, out_dir, ways=ways, weights=weights, weights_file=weights_file,
          kind=kind, tracking=_tracking(weights, settings), every=every, track_every=track_every, conf=conf,
          score_weights=ScoreWeights(uncertainty=weight_uncertainty, candidates=weight_candidates,
                                     slice=weight_slice, track=weight_track),
          count=count, min_gap=min_gap, spread=spread, seed=seed, imgsz=imgsz, batch=batch, device=device)


def _pick(settings, sources, known_refs, identity, out_dir: Path, *, ways, weights, weights_file, kind, tracking,
          device, batch, **options: Any) -> None:
    from balldet.cli.predict import Progress
    from balldet.datasets.video import TruncatedVideo
    from balldet.errors import DatasetError
    from balldet.labelling.pick_known import known_frames
    from balldet.stages.pick import PickRequest, pick_frames

    known = known_frames(known_refs, identity=identity, cache_dir=settings.cache_dir, progress=_HashProgress())
    how = " and ".join("whole frames" if way is None else f"tiles of {way.tile} px" for way in ways)
    err.print(f"picking {options['count']} frames from {len(sources)} source(s) with {kind} weights {weights_file} "
              f"({how}); {len(known.names)} images of {len(known.refs)} known dataset(s) left out", highlight=False)
    label = weights if Path(weights).suffix != ".pt" else str(Path(weights).expanduser().resolve())
    request = PickRequest(sources=sources, known=known, weights=Path(weights_file), weights_label=label,
                          model_type=kind, cache_dir=settings.cache_dir, device=device or settings.device, ways=ways,
                          batch_size=batch, tracking=tracking, **options)
    try:
        result = pick_frames(request, out_dir, progress=Progress())
    except TruncatedVideo as exc:
        raise DatasetError(f"{exc.message}; no batch was written", fix=exc.fix) from exc
    _summary(result, sources)
    out.print(f"batch of {len(result.picked)} frames written to {out_dir} (images/, labels/: pre-annotations at "
              f"conf >= {options['conf']}, predictions/, report.csv: why each was picked, batch.json)",
              highlight=False)


def _summary(result, sources) -> None:
    from balldet.stages.pick import LEFT_OUT

    table = Table(title="candidates")
    for column in ("source", "recording", "sampled", *LEFT_OUT, "picked"):
        table.add_column(column.replace("_", " "), justify="left" if column in ("source", "recording") else "right")
    picked = {id(result.frames[k]) for k in result.picked}
    groups: dict[tuple[int, str], list] = {}
    for frame in result.frames:
        groups.setdefault((frame.source, frame.recording), []).append(frame)
    for (index, recording), frames in groups.items():
        table.add_row(Path(str(sources[index].path)).name, recording, str(len(frames)),
                      *(str(sum(f.left_out == kind for f in frames)) for kind in LEFT_OUT),
                      str(sum(id(f) in picked for f in frames)))
    frames = result.frames
    table.add_row("all", "", str(len(frames)), *(str(sum(f.left_out == kind for f in frames)) for kind in LEFT_OUT),
                  str(len(result.picked)))
    out.print(table)
    out.print(f"skipped while picking: {result.too_close} too close in time to a pick (--min-gap), "
              f"{result.duplicate} near-duplicate(s) of a pick", highlight=False)
    alike = [f for f in frames if f.left_out in ("identical", "near_duplicate")]
    for f in alike[:3]:
        out.print(f"  left out {f.stem}: {f.detail}", highlight=False)
    if len(alike) > 3:
        out.print(f"  ... and {len(alike) - 3} more", highlight=False)


class _HashProgress:
    """Known datasets' images hashed (the first time only: the cache remembers them), every few seconds."""

    EVERY_S = 5.0

    def __init__(self) -> None:
        self.last = time.monotonic()

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < self.EVERY_S:
            return
        self.last = now
        err.print(f"  {stage}: {done}/{total}", highlight=False)


def _weights(weights: str, settings, problems: list) -> tuple[Any, Path | None]:
    """(the run, None) or (None, the .pt file) as ``balldet predict`` reads ``--weights``."""
    from balldet.cli.predict import _find_run

    if Path(weights).suffix == ".pt" or Path(weights).is_file():
        path = Path(weights).expanduser()
        if not path.is_file():
            problems.append(("--weights", f"no weights file {path}"))
        return None, path
    try:
        return _find_run(weights, settings), None
    except UsageError as exc:
        problems += exc.problems
        return None, None


def _known_refs(settings, against: list[str], problems: list) -> list:
    """Every dataset of the local catalog, and the ``--against`` ones."""
    from balldet.cli.evaluate import dataset_refs
    from balldet.datasets.catalog import LocalCatalog

    try:
        refs = list(LocalCatalog(settings.catalog_dir).list())
    except BalldetError as exc:
        problems.append(("catalog", str(exc)))
        refs = []
    for dataset in against:
        try:
            refs += dataset_refs(dataset)
        except BalldetError as exc:
            problems.append(("--against", str(exc)))
    return refs


def _tracking(weights: str, settings):
    """The run's ``tracking:`` section (from its run record), else the tracker's defaults."""
    import yaml
    from pydantic import ValidationError

    from balldet.cli.predict import RUN_RECORD
    from balldet.config import TrackingSection
    from balldet.pipeline.manifest import MANIFEST

    for folder in [Path(weights)] + sorted(Path(settings.output_dir).glob(f"*/*/{weights}")):
        if (folder / MANIFEST).is_file():
            try:
                record = json.loads((folder / RUN_RECORD).read_text())
                section = (yaml.safe_load(record["config"]["content"]) or {}).get("tracking")
                return TrackingSection.model_validate(section) if section is not None else TrackingSection()
            except (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError, ValidationError):
                return TrackingSection()
    return TrackingSection()
