"""`balldet leaderboard`: one table of runs x datasets x measures for every backend."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from balldet.cli.app import app, load_cli_settings, out


class Split(str, Enum):
    test = "test"
    val = "val"
    all = "all"


class Source(str, Enum):
    auto = "auto"
    offline = "offline"
    server = "server"


@app.command()
def leaderboard(
    project: Annotated[str, typer.Option("--project", help="ClearML project root, e.g. aicska.")] = "",
    tag: Annotated[list[str], typer.Option("--tag", help="Only runs with this tag (repeatable).")] = [],  # noqa: B006
    split: Annotated[Split, typer.Option("--split", help="Which results.")] = Split.test,
    metric: Annotated[str, typer.Option("--metric", help="Measure to rank by and chart.")] = "mAP@0.5",
    source: Annotated[
        Source, typer.Option("--source", help="offline (records here), server, or auto (by settings).")
    ] = Source.auto,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the table as CSV.")] = None,
    markdown_out: Annotated[Path | None, typer.Option("--markdown", help="Write the table as Markdown.")] = None,
    png_out: Annotated[Path | None, typer.Option("--png", help="Write a chart of --metric as PNG.")] = None,
) -> None:
    """One table of runs × test datasets × measures, for every backend."""
    from balldet.files import write_text_atomic
    from balldet.tracking import leaderboard as board

    settings = load_cli_settings()
    splits = board.SPLITS if split is Split.all else (split.value,)
    prefix = settings.project_path(project) if project else None
    if source is Source.server or (source is Source.auto and not settings.clearml_offline):
        from balldet.tracking.session import configure_clearml

        configure_clearml(settings.model_copy(update={"clearml_offline": False}))
        rows = board.server_rows(project=prefix or "", tags=tag, splits=splits)
    else:
        rows = board.offline_rows(settings.clearml_dir / "offline", project=prefix, tags=tag, splits=splits)
    if not rows:
        out.print("no runs found" + (f" in {prefix}" if prefix else "") + (f" tagged {', '.join(tag)}" if tag else ""))
        return
    rows = board.sort_rows(rows, metric)
    columns = board.measures(rows)
    shown = [c for c in columns if c in board.LEADING_MEASURES or c == metric]
    header, body = board.table(rows, shown)
    view = Table(title=f"leaderboard ({len({r.task_id for r in rows})} runs), ranked by {metric}")
    for name in header:
        view.add_column(name, justify="right" if name not in ("dataset", "run", "model_type") else "left")
    for line in body:
        view.add_row(*line)
    out.print(view)
    if csv_out:
        write_text_atomic(csv_out, board.to_csv(rows, columns))
    if markdown_out:
        write_text_atomic(markdown_out, board.to_markdown(rows, columns))
    if png_out:
        from balldet.evaluation.plots import plot_leaderboard

        plot_leaderboard(
            [{"run": r.run, "model_type": r.model_type, "dataset": f"{r.split}/{r.dataset}", **r.metrics} for r in rows],
            png_out, metric,
        )
    for target in (csv_out, markdown_out, png_out):
        if target:
            out.print(f"written: {target}")
