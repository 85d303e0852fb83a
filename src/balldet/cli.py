"""The balldet command line. Every user error becomes one clear message and exit code 2."""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from balldet.errors import BalldetError

app = typer.Typer(
    help="Train and evaluate ball and player detectors as a ClearML pipeline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
configs_app = typer.Typer(help="Pipeline config files: list, validate, JSON Schema.", no_args_is_help=True)
datasets_app = typer.Typer(help="Datasets: the local catalog and synthetic frames.", no_args_is_help=True)
app.add_typer(configs_app, name="configs")
app.add_typer(datasets_app, name="datasets")

# Piped output is not cut at 80 columns: tables and paths stay whole in logs and CI.
out = Console(width=None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", 200)))
err = Console(stderr=True, width=None if sys.stderr.isatty() else int(os.environ.get("COLUMNS", 200)))
_state = {"debug": False}

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(function: F) -> F:
    """Turn a :class:`BalldetError` into one clear message and its exit code (traceback with --debug)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except BalldetError as exc:
            if _state["debug"]:
                traceback.print_exc()
            err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    _state["debug"] = debug


def _settings():
    from balldet.settings import load_settings

    return load_settings()


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
@reports_errors
def run(
    config_name: ConfigName,
    model_type: ModelType,
    project: Annotated[str, typer.Option("--project", help="ClearML project root, e.g. aicska.")],
) -> None:
    """Run the seven-stage pipeline (settings environment from ENV_FOR_DYNACONF)."""
    from balldet.pipeline.request import RunRequest
    from balldet.pipeline.runner import preflight, run_pipeline

    settings = _settings()
    request = RunRequest(config_name=config_name, model_type=model_type, project=project)
    preflight(settings, request)
    err.print(
        f"balldet: env [bold]{settings.env}[/] ({settings.execution}, {settings.mode}, "
        f"clearml {'offline' if settings.clearml_offline else 'online'}) → {settings.project_path(project)}"
    )
    result = run_pipeline(settings, request, on_event=_print_stage_event)
    if result is not None:
        _print_run_result(result)


def _print_stage_event(stage: str, event: str, detail: str) -> None:
    if event == "start":
        err.print(f"[cyan]▶ {stage}[/] ({detail})")
    elif event == "enqueued":
        out.print(f"pipeline enqueued: {detail}")
    else:
        err.print(f"[green]✔ {stage}[/] {detail}")


def _print_run_result(result: Any) -> None:
    if result.report is not None:
        table = Table(title=f"run {result.run_id}")
        table.add_column("dataset")
        names = ["mAP@0.5", "mAP@0.5:0.95", "P", "R", "F1"]
        for name in ["images", *names]:
            table.add_column(name, justify="right")
        for scores in result.report.datasets:
            table.add_row(
                scores.prefix, str(scores.images), *[f"{scores.metrics.get(n, float('nan')):.4f}" for n in names]
            )
        out.print(table)
    out.print(f"run folder:     {result.run_dir}")
    out.print(f"clearml project: {result.clearml_project}  (tags: {', '.join(result.tags)})")
    if result.pipeline_task and result.pipeline_task.get("offline_folder"):
        out.print(f"offline records: {Path(result.pipeline_task['offline_folder']).parent}")


@configs_app.command("validate")
@reports_errors
def configs_validate(
    config_name: Annotated[str, typer.Argument(help="Config path relative to the configs root.")],
    model_type: Annotated[
        str | None, typer.Option("--model_type", "--model-type", help="Also check it agrees.")
    ] = None,
) -> None:
    """Validate a pipeline config; every problem is listed at once (exit code 2)."""
    from balldet.stages.get_config import get_config
    from balldet.stages.process_config import process_config

    settings = _settings()
    config = process_config(
        get_config(config_name, settings.configs_root), model_type, allow_downloads=settings.allow_downloads
    )
    out.print(f"[green]ok[/] {config_name}: model_type={config.model_type}, "
              f"{len(config.train_data.datasets) if config.train_data else 0} train / "
              f"{len(config.test_data.datasets)} test datasets")


@configs_app.command("schema")
def configs_schema() -> None:
    """Print the JSON Schema of pipeline configs (for editors)."""
    from balldet.config import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


@configs_app.command("list")
@reports_errors
def configs_list() -> None:
    """List the config files under the configs root."""
    root = _settings().configs_root
    for path in sorted(root.rglob("*.yaml")):
        out.print(str(path.relative_to(root)), highlight=False)


@datasets_app.command("list")
@reports_errors
def datasets_list() -> None:
    """Show the local dataset catalog."""
    from balldet.data.catalog import LocalCatalog

    settings = _settings()
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
@reports_errors
def datasets_synth(
    images: Annotated[int, typer.Option("--images", min=1, help="Images per dataset.")] = 48,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Rebuild datasets that exist.")] = False,
) -> None:
    """Create the synthetic football datasets in the local catalog (skips those already there)."""
    from rich.progress import Progress

    from balldet.data.catalog import LocalCatalog
    from balldet.data.synth import synthesize

    settings = _settings()
    with Progress(console=err, transient=True) as progress:
        bars: dict[str, Any] = {}

        def on_progress(name: str, done: int, total: int) -> None:
            if name not in bars:
                bars[name] = progress.add_task(name, total=total)
            progress.update(bars[name], completed=done)

        refs = synthesize(
            LocalCatalog(settings.catalog_dir), images_per_dataset=images, seed=seed, force=force,
            progress=on_progress,
        )
    for ref in refs:
        out.print(f"{ref.id}  {ref.label}  ({ref.number_samples} images)", highlight=False)


def main() -> None:
    app(prog_name="balldet")
