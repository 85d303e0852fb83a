"""`balldet configs ...`: pipeline config files."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from balldet.cli.app import configs_app, load_cli_settings, out


@configs_app.command("validate")
def configs_validate(
    config_name: Annotated[str, typer.Argument(help="Config path relative to the configs root.")],
    model_type: Annotated[
        str | None, typer.Option("--model_type", "--model-type", help="Also check it agrees.")
    ] = None,
    skip_datasets: Annotated[
        bool, typer.Option("--skip-datasets", help="Do not look the dataset ids up (catalog or server).")
    ] = False,
) -> None:
    """Validate a pipeline config and look its datasets up; every problem is listed at once (exit code 2)."""
    from balldet.pipeline.runner import check_config

    settings = load_cli_settings()
    checked = check_config(settings, config_name, model_type, datasets=not skip_datasets)
    config = checked.config
    for note in checked.notes:
        out.print(f"[yellow]note:[/] {note}", highlight=False)
    training = f"{len(config.train_ids)} train" if config.trains else "no training (pretrained weights)"
    looked_up = " (dataset ids not looked up)" if skip_datasets else ""
    out.print(f"[green]ok[/] {config_name}: model_type={config.model_type}, {training} / "
              f"{len(config.test_data.datasets)} test datasets{looked_up}", highlight=False)


@configs_app.command("schema")
def configs_schema() -> None:
    """Print the JSON Schema of pipeline configs (for editors)."""
    from balldet.config import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


@configs_app.command("list")
def configs_list() -> None:
    """List the config files under the configs root."""
    root = load_cli_settings().configs_root
    for path in sorted(root.rglob("*.yaml")):
        out.print(str(path.relative_to(root)), highlight=False)
