"""`balldet sync`: upload the offline ClearML sessions of local runs to a server.

Finding the sessions, checking the server and uploading are :mod:`balldet.tracking.offline_sessions`;
this command chooses the sessions and says what happens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from balldet.cli.app import app, err, load_cli_settings, out
from balldet.tracking.offline_sessions import (
    connect_for_upload,
    describe,
    find_sessions,
    sessions_at,
    upload_sessions,
)


@app.command()
def sync(
    run: Annotated[
        Path | None, typer.Option("--run", help="Only the sessions of this run folder (its run.json).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be uploaded; upload nothing.")] = False,
) -> None:
    """Upload the offline ClearML sessions of local runs to the configured ClearML server."""
    settings = load_cli_settings()
    offline_root = settings.clearml_dir / "offline"
    if run is not None:
        from balldet.pipeline.manifest import read_manifest

        sessions = sessions_at(read_manifest(run.resolve(), option="--run").offline_folders(), owner=str(run))
    else:
        sessions = find_sessions(offline_root)
    pending = [s for s in sessions if not s.synced]
    for session in sessions:
        if session.synced:
            err.print(f"already synced: {session.local_id} → {session.server_id() or '?'}", highlight=False)
    if not pending:
        out.print(f"nothing to sync ({len(sessions)} session(s) under {run or offline_root}, all synced)",
                  highlight=False)
        return
    if dry_run:
        for session in pending:
            out.print(f"would upload: {describe(session)}", highlight=False, soft_wrap=True)
        out.print(f"{len(pending)} session(s) to upload (dry run: nothing uploaded)", highlight=False)
        return

    server = connect_for_upload(settings)
    uploaded = upload_sessions(
        pending, server, on_uploaded=lambda session, server_id: out.print(
            f"{session.local_id} → {server_id}", highlight=False
        ),
    )
    out.print(f"uploaded {uploaded} session(s) to {server.api_host}", highlight=False)
