"""The typer apps and the consoles every command shares. Errors are handled once, in
:func:`balldet.cli.main`."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.console import Console

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


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """Train and evaluate ball and player detectors as a ClearML pipeline."""
    # --debug is read where errors are handled (balldet.cli.main), before any command runs.


def format_measure(value: float | None) -> str:
    """A measure for a person: 4 decimals, or "n/a" where it is undefined (the evaluator's -1, as
    pycocotools', for a class or area range without ground truth) or missing."""
    if value is None or value != value or value == -1.0:
        return "n/a"
    return f"{value:.4f}"


def load_cli_settings():
    from balldet.settings import load_settings

    return load_settings()
