"""`balldet label ...`: the labelling loop. The commands live in cli/label_pick.py (pick) and
cli/label_tools.py (export, import, push, pull); this module holds their group."""

from __future__ import annotations

import typer

from balldet.cli.app import app

label_app = typer.Typer(help="The labelling loop: pick frames, send them to a labelling tool, bring labels back.",
                        no_args_is_help=True)
app.add_typer(label_app, name="label")
