"""`balldet configs ...`: pipeline config files."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from balldet.cli.app import configs_app, load_cli_settings, out, reports_errors


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

    settings = load_cli_settings()
    config = process_config(
        get_config(config_name, settings.configs_root), model_type, allow_downloads=settings.allow_downloads,
        frame_patterns=settings.frame_patterns,
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
    root = load_cli_settings().configs_root
    for path in sorted(root.rglob("*.yaml")):
        out.print(str(path.relative_to(root)), highlight=False)
