"""The balldet command line. Every user error becomes one clear message and its exit code (2 for bad
input, 3 when the ClearML server cannot be used); a traceback only with ``balldet --debug``."""

from __future__ import annotations

import sys
import traceback

import click
from rich.markup import escape

from balldet.cli import (  # noqa: F401  (registers commands)
    configs, datasets, evaluate, export, label_pick, label_tools, leaderboard, predict, run, sync, track,
)
from balldet.cli.app import app, err
from balldet.errors import BalldetError


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        code = app(args=args, prog_name="balldet", standalone_mode=False)
    except BalldetError as exc:
        if _wants_debug(args):
            traceback.print_exc()
        # The message is text, not markup: `names: [ball, player]` or a path with brackets stays whole.
        err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # a flag typer itself refuses: usage and exit code 2
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        err.print("aborted")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _wants_debug(args: list[str]) -> bool:
    """``--debug`` among the options before the command (``balldet --debug run ...``)."""
    for arg in args:
        if not arg.startswith("-"):
            return False
        if arg == "--debug":
            return True
    return False
