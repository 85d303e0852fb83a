"""`balldet label export | import | push | pull`: a labelling batch to CVAT or Label Studio and the labelled
result back as a new dataset.

The files: :mod:`balldet.labelling.cvat` and :mod:`balldet.labelling.label_studio`; which frames an export
labels: :mod:`balldet.labelling.labelled`; the import: :mod:`balldet.labelling.importing`; the server:
:mod:`balldet.labelling.label_studio_api`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from balldet.cli.app import err, load_cli_settings, out
from balldet.cli.label import label_app
from balldet.errors import UsageError

FORMATS = ("cvat", "label-studio")


@label_app.command("export")
def export(
    batch: Annotated[Path, typer.Argument(help="The batch folder (`balldet label pick --out`).", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", help="cvat: 'CVAT for images 1.1' (.zip with the images, or .xml); "
                                     "label-studio: tasks JSON with the boxes as predictions.", show_default=False)],
    out_file: Annotated[Path, typer.Option("--out", help="The file to write: .zip or .xml (cvat), .json "
                                           "(label-studio).", show_default=False)],
    image_url: Annotated[str | None, typer.Option("--image-url", help="label-studio: where Label Studio finds the "
                                                  "images; the file name is appended (default: "
                                                  "/data/local-files/?d=<batch folder name>/images/, Label "
                                                  "Studio's local files under the batch's parent folder).")] = None,
) -> None:
    """Write a batch as a file a labelling tool imports: CVAT's task export, or Label Studio's tasks.

    cvat: in CVAT create a task with the batch's labels from the images (the zip's images/), then Upload
    annotations, format CVAT 1.1, this file: the model's boxes arrive as pre-annotations. label-studio: a tasks
    JSON (and the labeling config beside it, <out>.label_config.xml) to import into a project whose images
    --image-url reaches; `balldet label push` does all of it through the API instead.
    """
    from balldet.labelling.batch import read_batch

    problems: list[tuple[str, str]] = []
    if fmt not in FORMATS:
        problems.append(("--format", f"{fmt!r} is not one of {', '.join(FORMATS)}"))
    suffixes = {"cvat": (".zip", ".xml"), "label-studio": (".json",)}.get(fmt, ())
    if suffixes and out_file.suffix.lower() not in suffixes:
        problems.append(("--out", f"{out_file} does not end in {' or '.join(suffixes)}, what --format {fmt} writes"))
    if image_url is not None and fmt != "label-studio":
        problems.append(("--image-url", "only for --format label-studio"))
    try:
        read = read_batch(batch, option="BATCH")
    except UsageError as exc:
        problems += exc.problems
        read = None
    if problems or read is None:
        raise UsageError(problems)
    if fmt == "cvat":
        from balldet.labelling.cvat import write_export

        write_export(batch, read, out_file)
        out.print(f"wrote {out_file}: {len(read.frames)} frame(s), labels {', '.join(read.names)} (CVAT for images "
                  "1.1)", highlight=False)
        return
    import json

    from balldet.files import write_text_atomic
    from balldet.labelling.label_studio import batch_tasks, labeling_config

    prefix = image_url if image_url is not None else f"/data/local-files/?d={batch.resolve().name}/images/"
    tasks = batch_tasks(batch, read, lambda frame: prefix + Path(frame.file).name)
    config = out_file.with_name(out_file.stem + ".label_config.xml")
    write_text_atomic(config, labeling_config(read.names))
    write_text_atomic(out_file, json.dumps(tasks, indent=2) + "\n")
    out.print(f"wrote {out_file}: {len(tasks)} task(s), images at {prefix}<file>; labeling config {config}",
              highlight=False)


@label_app.command("import")
def import_(
    export_file: Annotated[Path, typer.Argument(help="CVAT's export of the task ('CVAT for images 1.1': the .zip or "
                                                "its annotations.xml) or Label Studio's JSON export.",
                                                show_default=False)],
    batch: Annotated[Path, typer.Option("--batch", help="The batch the tool's task was made from.",
                                        show_default=False)],
    name: Annotated[str, typer.Option("--name", help="The new dataset's name, e.g. class:ball-markup:our-004.",
                                      show_default=False)],
    version: Annotated[str, typer.Option("--version", help="Its version, x.y.z.", show_default=False)],
    tags: Annotated[list[str] | None, typer.Option("--tag", help="A tag, e.g. class:ball; repeat for several.")] = None,
    allow_leakage: Annotated[bool, typer.Option("--allow-leakage", help="Register it even when frames of it are in "
                                                "known datasets.")] = False,
    allow_defects: Annotated[bool, typer.Option("--allow-defects", help="Register it even with defects (the checks "
                                                "of `datasets check`).")] = False,
    against: Annotated[list[str] | None, typer.Option("--against", help="A dataset id to check leakage against; "
                                                      "repeat for several (as `datasets add`).")] = None,
    project: Annotated[str | None, typer.Option("--project", help="With a server: the ClearML project of a new "
                                                "name.")] = None,
) -> None:
    """Turn a labelling tool's export of a batch into a new dataset (checked and registered as `datasets add` does).

    Every image of the export must be a frame of the batch, of the frame's size (else exit 2, nothing
    registered). Frames the export does not label (a task nobody annotated or that was skipped) are left out,
    with a warning; a frame labelled without boxes is a frame without a ball. The images come from the batch.
    """
    from balldet.labelling.importing import import_labels

    settings = load_cli_settings()
    with _progress() as on_progress:
        imported = import_labels(export_file, batch, name=name, version=version, settings=settings, tags=tags or (),
                                 allow_leakage=allow_leakage, allow_defects=allow_defects, against=against or (),
                                 project=project, progress=on_progress)
    labelled, added = imported.labelled, imported.added
    for warning in labelled.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)
    total = len(labelled.frames) + len(labelled.not_labelled)
    empty = sum(1 for frame in labelled.frames if not len(frame.classes))
    out.print(f"{labelled.tool}: {len(labelled.frames)} of {total} frame(s) labelled, {imported.boxes} box(es), "
              f"{empty} frame(s) without any", highlight=False)
    accepted = ", ".join(f"{kind} {count}" for kind, count in added.findings.items())
    out.print(f"checked against {added.compared} known dataset(s)" + (f"; accepted: {accepted}" if accepted else ""),
              highlight=False)
    out.print(f"added {added.id}  {added.label} ({added.number_samples} images) in {added.where}", highlight=False)
    out.print(f"put in a config: {added.id}", highlight=False)


@label_app.command("push")
def push(
    batch: Annotated[Path, typer.Argument(help="The batch folder.", show_default=False)],
    project: Annotated[str | None, typer.Option("--project", help="The Label Studio project's title (made if new; "
                                                "default: balldet <batch folder name>).")] = None,
) -> None:
    """Send a batch to the Label Studio server of the settings (label_studio_url, label_studio_token).

    Creates or reuses the project (the batch's classes as its rectangle labels), uploads the frames it does not
    hold yet and makes one task per frame with the model's boxes as predictions. Exit 2 on bad input or missing
    settings, 3 when the server cannot be used.
    """
    from balldet.labelling.batch import read_batch
    from balldet.labelling.label_studio_api import push as push_batch
    from balldet.labelling.label_studio_api import settings_problems

    settings = load_cli_settings()
    problems = settings_problems(settings)
    if project is not None and not project.strip():
        problems.append(("--project", "is empty; give the project's title"))
    try:
        read = read_batch(batch, option="BATCH")
    except UsageError as exc:
        problems = exc.problems + problems
    if problems:
        raise UsageError(problems)
    with _progress() as on_progress:
        pushed = push_batch(batch, read, settings, title=project, progress=on_progress)
    record = pushed.record
    how = "created" if pushed.created else "found"
    out.print(f"project {record.project_id} {record.title!r} ({how}) at {record.url}: {pushed.added} task(s) added, "
              f"{pushed.present} there already", highlight=False)
    out.print(f"label at {record.url}/projects/{record.project_id}/data, then: balldet label pull {batch} --out "
              "<export.json>", highlight=False)


@label_app.command("pull")
def pull(
    target: Annotated[str, typer.Argument(help="A batch folder that was pushed, or a Label Studio project id.",
                                          show_default=False)],
    out_file: Annotated[Path, typer.Option("--out", help="The export to write (.json), for `balldet label import`.",
                                           show_default=False)],
) -> None:
    """Download a Label Studio project's JSON export (every task, its annotations): `balldet label import` reads it."""
    from balldet.labelling.label_studio_api import project_of, settings_problems
    from balldet.labelling.label_studio_api import pull as pull_export

    settings = load_cli_settings()
    problems = project_of(target)[1]
    if out_file.suffix.lower() != ".json":
        problems.append(("--out", f"{out_file} does not end in .json; Label Studio's export is JSON"))
    problems += settings_problems(settings)
    if problems:
        raise UsageError(problems)
    pulled = pull_export(target, out_file, settings)
    out.print(f"wrote {out_file}: project {pulled.project_id}, {pulled.tasks} task(s), {pulled.annotated} annotated",
              highlight=False)


def _progress() -> Any:
    """A rich progress display on stderr; the callback ``(stage, done, total)`` the library calls."""
    from contextlib import contextmanager

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    @contextmanager
    def shown():
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, transient=True) as progress:
            bars: dict[str, Any] = {}

            def on_progress(stage: str, done: int, total: int) -> None:
                if stage not in bars:
                    bars[stage] = progress.add_task(stage, total=total)
                progress.update(bars[stage], completed=done, total=total)

            yield on_progress

    return shown()
