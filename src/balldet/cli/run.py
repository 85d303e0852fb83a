"""`balldet run`: the seven-stage pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from balldet.cli.app import app, err, format_measure, load_cli_settings, out


ConfigName = Annotated[
    str,
    typer.Option(
        "--config_name", "--config-name", help="Pipeline config, relative to the configs root."
    ),
]
ModelType = Annotated[
    str, typer.Option("--model_type", "--model-type", help="A model type of the registry.")
]


@app.command()
def run(
    config_name: ConfigName,
    model_type: ModelType,
    project: Annotated[str, typer.Option("--project", help="ClearML project root, e.g. aicska.")],
    resume: Annotated[
        str | None, typer.Option("--resume", help="Continue an interrupted local run (its folder or id).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Redo every stage, even with unchanged inputs.")] = False,
    from_stage: Annotated[
        str | None, typer.Option("--from-stage", help="Redo this stage and the ones after it.")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Remote environments: build the pipeline offline, write each step's script as the "
            "agents will run it, compile them; nothing is enqueued and no server is needed.",
        ),
    ] = False,
) -> None:
    """Run the seven-stage pipeline (settings environment from ENV_FOR_DYNACONF).

    Locally, stages whose inputs are unchanged since an earlier run are reused (--force redoes all).
    """
    from balldet.errors import UsageError
    from balldet.pipeline.request import RunRequest
    from balldet.pipeline.runner import preflight, run_pipeline
    from balldet.pipeline.spec import STAGE_NAMES

    settings = load_cli_settings()
    if from_stage is not None and from_stage not in STAGE_NAMES:
        raise UsageError([("--from-stage", f"unknown stage {from_stage!r}; stages: {', '.join(STAGE_NAMES)}")])
    if (resume or force or from_stage) and settings.execution == "remote":
        raise UsageError([("--resume/--force/--from-stage", "only for local runs; on a server ClearML caches steps")])
    if dry_run and settings.execution != "remote":
        raise UsageError([("--dry-run", f"only for remote environments (ENV_FOR_DYNACONF=remote_debug); "
                            f"{settings.env!r} runs here")])
    from balldet.stages.get_config import canonical_config_name

    request = RunRequest(
        config_name=canonical_config_name(config_name, settings.configs_root), model_type=model_type, project=project,
        resume=resume, force=force, from_stage=from_stage,
    )
    if dry_run:
        from balldet.pipeline.runner import dry_run_remote

        _print_notes(preflight(settings, request, check_server=False).notes)
        _print_dry_run(dry_run_remote(settings, request))
        return
    checked = preflight(settings, request)
    _print_notes(checked.notes)
    err.print(
        f"balldet: env [bold]{settings.env}[/] ({settings.execution}, {settings.mode}, "
        f"clearml {'offline' if settings.clearml_offline else 'online'}) → {settings.project_path(project)}"
    )
    result = run_pipeline(settings, request, checked=checked, on_event=_print_stage_event)
    if result is not None:
        _print_run_result(result)


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)


def _print_dry_run(result: Any) -> None:
    source = result.source
    out.print(f"agents check out {source.repo} at {source.commit} and run from {source.working_dir}/")
    if source.uncommitted_changes:
        err.print("[yellow]warning:[/] this checkout has uncommitted changes; the agents run the commit without them")
    out.print(f"steps install: {', '.join(source.packages)}")
    table = Table(title="steps as the agents will run them")
    for column in ("step", "queue", "script", "compiles"):
        table.add_column(column)
    for index, step in enumerate(result.steps, start=1):
        error = result.errors.get(step.name)
        table.add_row(step.name, step.queue, f"{index:02d}_{step.name}.py", f"[red]{error}[/]" if error else "yes")
    out.print(table)
    out.print(f"rendered scripts: {result.folder}")
    if result.errors:
        raise typer.Exit(1)


def _print_stage_event(stage: str, event: str, detail: str) -> None:
    if stage == "run":
        verb = "continuing run" if event == "resume" else "run"
        err.print(f"[bold]{verb} {detail}[/]  (after an interruption: --resume {detail.split()[0]})",
                  highlight=False)
    elif event == "note":
        err.print(f"  [yellow]{stage}: {detail}[/]", highlight=False)
    elif event == "start":
        err.print(f"[cyan]▶ {stage}[/] ({detail})")
    elif event == "reused":
        err.print(f"[green]↺ {stage}[/] {detail}")
    elif event == "progress":
        err.print(f"  [dim]{stage}: {detail}[/]", highlight=False)
    elif event == "enqueued":
        out.print(f"pipeline enqueued: {detail}")
    elif event == "warning":
        err.print(f"[yellow]warning:[/] {detail}")
    else:
        err.print(f"[green]✔ {stage}[/] {detail}")


def _print_run_result(result: Any) -> None:
    run = result.manifest
    if result.report is not None:
        table = Table(title=f"run {run.run_id}")
        table.add_column("dataset")
        names = ["mAP@0.5", "mAP@0.5:0.95", "P", "R", "F1"]
        for name in ["images", *names]:
            table.add_column(name, justify="right")
        for scores in result.report.datasets:
            table.add_row(scores.shown_as, str(scores.images), *[format_measure(scores.metrics.get(n)) for n in names])
        out.print(table)
    out.print(f"run folder:     {run.run_dir}")
    out.print(f"clearml project: {run.clearml_project}  (tags: {', '.join(run.tags)})")
    if run.pipeline_task and run.pipeline_task.get("offline_folder"):
        out.print(f"offline records: {Path(run.pipeline_task['offline_folder']).parent}")
