"""The typer apps, the consoles and the error handling every command shares."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

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
            # The message is text, not markup: `names: [ball, player]` or a path with brackets stays whole.
            err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    _state["debug"] = debug


def format_measure(value: float | None) -> str:
    """A measure for a person: 4 decimals, or "n/a" where it is undefined (the evaluator's -1, as
    pycocotools', for a class or area range without ground truth) or missing."""
    if value is None or value != value or value == -1.0:
        return "n/a"
    return f"{value:.4f}"


def load_cli_settings():
    from balldet.settings import load_settings

    return load_settings()
