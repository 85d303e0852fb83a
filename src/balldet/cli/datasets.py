"""`balldet datasets ...`: the local catalog and synthetic frames."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from balldet.cli.app import datasets_app, err, load_cli_settings, out, reports_errors


@datasets_app.command("list")
@reports_errors
def datasets_list() -> None:
    """Show the local dataset catalog."""
    from balldet.data.catalog import LocalCatalog

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

    settings = load_cli_settings()
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
