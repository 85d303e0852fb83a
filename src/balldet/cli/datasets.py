"""`balldet datasets ...`: the local catalog, synthetic frames and dataset checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from balldet.cli.app import datasets_app, err, load_cli_settings, out


@datasets_app.command("list")
def datasets_list() -> None:
    """Show the local dataset catalog."""
    from balldet.datasets.catalog import LocalCatalog

    settings = load_cli_settings()
    refs = LocalCatalog(settings.catalog_dir).list()
    table = Table(title=f"local catalog {settings.catalog_dir}")
    for column in ("id", "name", "version", "classes", "samples", "tags"):
        table.add_column(column)
    for ref in refs:
        table.add_row(ref.id, ref.name, ref.version, ",".join(ref.names), str(ref.number_samples), " ".join(ref.tags))
    out.print(table)
    if not refs:
        out.print("the catalog is empty: `balldet datasets synth` creates the synthetic datasets")


@datasets_app.command("synth")
def datasets_synth(
    images: Annotated[
        int | None, typer.Option("--images", min=1, help="Images per dataset (default 48; 12 with --wide); with "
                                 "--clips, frames per clip (default 250).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Rebuild datasets that exist.")] = False,
    wide: Annotated[
        bool, typer.Option("--wide", help="Make the wide datasets instead: whole-pitch 3840x1080 frames of a fixed "
                           "technical camera, ball 4-12 px (tags camera:wide).")
    ] = False,
    clips: Annotated[
        bool, typer.Option("--clips", help="Make the clip datasets instead, for ball tracking: six continuous "
                           "recordings of a camera that does not move (640x384, 25 fps; the ball rolls, is passed, "
                           "lofted, kicked, hidden behind players and out of the picture; the penalty and centre "
                           "spots stay on the same pixels): three to train on, one to validate on, two to test on "
                           "(one dataset), tags camera:fixed. Each has truth.csv (recording,frame,x,y,diameter,"
                           "state) and clips.json beside dataset.json.")
    ] = False,
    video_dir: Annotated[
        Path | None, typer.Option("--video-dir", help="With --clips: also write each clip to this folder as "
                                  "<recording id>.mp4 (25 fps), replacing what is there.")
    ] = None,
) -> None:
    """Create the synthetic football datasets in the local catalog (skips those already there).

    Exit code 2 on bad input (--wide with --clips, --video-dir without --clips).
    """
    from rich.progress import Progress

    from balldet.datasets.catalog import LocalCatalog
    from balldet.errors import UsageError
    from balldet.synth.catalog import synthesize, synthesize_clips, synthesize_wide, write_clip_videos

    if wide and clips:
        raise UsageError([("--wide/--clips", "choose one: wide frames or clips")])
    if video_dir is not None and not clips:
        raise UsageError([("--video-dir", "only with --clips: the videos are of the clips")])
    settings = load_cli_settings()
    if clips:
        count = {} if images is None else {"frames_per_clip": images}
        make = synthesize_clips
    else:
        count = {} if images is None else {"images_per_dataset": images}  # each kind has its own default
        make = synthesize_wide if wide else synthesize
    with Progress(console=err, transient=True) as progress:
        bars: dict[str, Any] = {}

        def on_progress(name: str, done: int, total: int) -> None:
            if name not in bars:
                bars[name] = progress.add_task(name, total=total)
            progress.update(bars[name], completed=done)

        refs = make(LocalCatalog(settings.catalog_dir), seed=seed, force=force, progress=on_progress, **count)
        videos = [] if video_dir is None else write_clip_videos(
            video_dir, seed=seed, progress=lambda _name, done, total: on_progress("videos", done, total), **count)
    for ref in refs:
        out.print(f"{ref.id}  {ref.label}  ({ref.number_samples} images)", highlight=False)
    for path in videos:
        out.print(f"video {path}", highlight=False)


@datasets_app.command("check")
def datasets_check(
    datasets: Annotated[
        list[str],
        typer.Argument(help="Catalog dataset ids, YOLO dataset folders, or ultralytics data.yaml files (every split)."),
    ],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write every finding to this JSON file.")] = None,
    images: Annotated[bool, typer.Option("--images/--no-images", help="Check image headers (slower).")] = True,
    leakage: Annotated[
        bool, typer.Option("--leakage/--no-leakage",
                           help="Look for frames shared between the datasets, and copies inside each.")
    ] = True,
    examples: Annotated[int, typer.Option("--examples", min=0, help="Example files shown per kind.")] = 3,
    frame_patterns: Annotated[
        list[str] | None,
        typer.Option("--frame-pattern", help="Regular expression on '<dataset name>/<file stem>' giving "
                     "(?P<recording>...) and (?P<frame>...); repeat for several, first match wins "
                     "(default: the frame_patterns setting)."),
    ] = None,
) -> None:
    """Check labels, images and leakage between datasets.

    Exit code 0 when nothing but warnings is found, 1 when there are problems, 2 on bad input (unknown id,
    folder without images/ or data.yaml, class names that cannot be known, a frame pattern that is
    not a usable regular expression).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from balldet.cli.evaluate import dataset_refs
    from balldet.checks.defects import check_datasets
    from balldet.checks.leakage import find_leakage
    from balldet.files import write_json_atomic

    frames = _frame_identity(frame_patterns)
    refs = [ref for item in datasets for ref in dataset_refs(item)]
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        bars: dict[str, Any] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in bars:
                bars[stage] = progress.add_task(stage, total=total)
            progress.update(bars[stage], completed=done, total=total)

        # No cache here (unlike prepare_data): a check asked for reads the files as they are now, edits
        # in place included, which the cache keys (folder states) do not see.
        # with the leakage check, one read of each image serves both; without it, headers suffice
        report = check_datasets(refs, images=images, progress=on_progress, fingerprints=leakage)
        if leakage:
            report.extend(find_leakage({"datasets": refs}, progress=on_progress, frames=frames))

    out.print(report.summary(examples=0).splitlines()[0], highlight=False)
    if report.findings:
        from balldet.checks.report import WARNING_KINDS

        table = Table(title="findings (warnings change no exit code)" if report.warnings else "findings")
        for column in ("kind", "count", "examples"):
            table.add_column(column, overflow="fold")
        for kind, count in report.counts.items():
            shown = [f"{f.dataset}/{f.where}: {f.message}" for f in report.by_kind(kind)[:examples]]
            table.add_row(f"{kind} (warning)" if kind in WARNING_KINDS else kind, str(count), "\n".join(shown))
        out.print(table)
    if json_out is not None:
        write_json_atomic(json_out, report.to_json())
        out.print(f"findings written to {json_out}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@datasets_app.command("add")
def datasets_add(
    source: Annotated[Path, typer.Argument(help="A YOLO dataset folder (images/, labels/) or an ultralytics data.yaml "
                                           "(its splits are merged into one dataset).", show_default=False)],
    name: Annotated[str, typer.Option("--name", help="The dataset's name, e.g. class:ball-markup:our-004.",
                                      show_default=False)],
    version: Annotated[str, typer.Option("--version", help="Its version, x.y.z (a name+version that exists is "
                                         "refused).", show_default=False)],
    names: Annotated[
        list[str] | None, typer.Option("--names", help="Class names in class-id order: ball,player or repeated "
                                       "(default: the source's data.yaml names, else its dataset.json).")
    ] = None,
    tags: Annotated[list[str] | None, typer.Option("--tag", help="A tag, e.g. class:ball; repeat for several.")] = None,
    link: Annotated[
        bool, typer.Option("--link", help="Link the catalog to the source's images/ and labels/ folders instead of "
                           "copying them (local catalog only; the folder must then stay as it is).")
    ] = False,
    allow_leakage: Annotated[
        bool, typer.Option("--allow-leakage", help="Register it even when frames of it are in known datasets.")
    ] = False,
    allow_defects: Annotated[
        bool, typer.Option("--allow-defects", help="Register it even with defects (the checks of `datasets check`).")
    ] = False,
    against: Annotated[
        list[str] | None, typer.Option("--against", help="A dataset id to check leakage against; repeat for several "
                                       "(with a server, besides those sharing its class: tag; offline every catalog "
                                       "dataset is compared).")
    ] = None,
    project: Annotated[
        str | None, typer.Option("--project", help="With a server: the ClearML project of a new name (a new version "
                                 "goes where its name is).")
    ] = None,
    frame_patterns: Annotated[
        list[str] | None,
        typer.Option("--frame-pattern", help="Regular expression on '<dataset name>/<file stem>' giving "
                     "(?P<recording>...) and (?P<frame>...); repeat for several, first match wins "
                     "(default: the frame_patterns setting)."),
    ] = None,
) -> None:
    """Check a folder and register it as a dataset: into the local catalog, or as a ClearML Dataset with a server.

    The folder passes the checks of `balldet datasets check` (defects refuse it unless --allow-defects) and a
    leakage check against the known datasets (frames refuse it unless --allow-leakage); then it is copied (or
    linked) into the catalog under a new id, or uploaded to the server. Prints the id to put in a config.
    Exit code 2 on bad input, defects or leaks (nothing registered), 3 when the server cannot be used.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from balldet.registration import add_dataset

    settings = load_cli_settings()
    patterns = list(_frame_identity(frame_patterns).patterns)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        bars: dict[str, Any] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in bars:
                bars[stage] = progress.add_task(stage, total=total)
            progress.update(bars[stage], completed=done, total=total)

        added = add_dataset(source, name=name, version=version, settings=settings, names=names, tags=tags or (),
                            link=link, allow_leakage=allow_leakage, allow_defects=allow_defects,
                            against=against or (), progress=on_progress, project=project, frame_patterns=patterns)
    accepted = ", ".join(f"{kind} {count}" for kind, count in added.findings.items())
    out.print(f"checked against {added.compared} known dataset(s); class names {','.join(added.names)} "
              f"(from {added.names_from})" + (f"; accepted: {accepted}" if accepted else ""), highlight=False,
              soft_wrap=True)  # one line each, however long the paths: scripts read them
    how = "linked" if added.linked else "stored"
    out.print(f"added {added.id}  {added.label} ({added.number_samples} images), {how} in {added.where}"
              + (f", parent {added.parent}" if added.parent else ""), highlight=False, soft_wrap=True)
    out.print(f"put in a config: {added.id}", highlight=False, soft_wrap=True)


def _frame_identity(patterns: list[str] | None) -> Any:
    """``--frame-pattern``, else the ``frame_patterns`` setting, else the built-in patterns: plain
    folders can be checked where there is no settings file at all."""
    from balldet.datasets.frames import DEFAULT_FRAME_IDENTITY, FrameIdentity
    from balldet.errors import BalldetError
    from balldet.settings import NoSettingsFile

    if not patterns:
        try:
            patterns = load_cli_settings().frame_patterns
        except NoSettingsFile:
            return DEFAULT_FRAME_IDENTITY
    try:
        return FrameIdentity(patterns)
    except ValueError as exc:
        raise BalldetError(f"--frame-pattern: {exc}", fix="write each pattern as a Python regular expression "
                           "with a (?P<frame>\\d+) group") from None
