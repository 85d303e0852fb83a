"""`balldet sync`: upload the offline ClearML sessions of local runs to a server.

Offline, ClearML writes every task to ``<cache_dir>/clearml/offline/offline-<id>/`` (and a zip of
it on close). Once a server is configured, ``balldet sync`` checks it (failing in seconds), imports
each session with ``Task.import_offline_session`` and writes ``offline-<id>.synced`` beside it, so a
second sync uploads nothing twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from balldet.cli.app import app, err, load_cli_settings, out, reports_errors
from balldet.errors import BalldetError, TrackingError

SYNCED_SUFFIX = ".synced"


@dataclass(frozen=True)
class OfflineSession:
    """One offline session: its folder (``offline-<id>``) and/or its zip, and where its mark goes."""

    local_id: str
    folder: Path | None
    archive: Path | None

    @property
    def path(self) -> Path:
        """What clearml imports: the folder when it holds the task, else the zip."""
        if self.folder is not None and (self.folder / "task.json").is_file():
            return self.folder
        return self.archive if self.archive is not None else self.folder  # type: ignore[return-value]

    @property
    def marker(self) -> Path:
        base = self.folder if self.folder is not None else self.archive.with_suffix("")  # type: ignore[union-attr]
        return base.with_name(base.name + SYNCED_SUFFIX)

    @property
    def synced(self) -> bool:
        return self.marker.is_file()

    def server_id(self) -> str | None:
        try:
            return json.loads(self.marker.read_text()).get("server_id")
        except (OSError, ValueError, AttributeError):
            return None


def _session_for(path: Path) -> OfflineSession | None:
    """The session a folder or zip belongs to (``offline-<id>`` or ``offline-<id>.zip``)."""
    name = path.name[: -len(".zip")] if path.name.endswith(".zip") else path.name
    if not name.startswith("offline-"):
        return None
    folder = path.with_name(name)
    archive = path.with_name(name + ".zip")
    folder_ok = folder.is_dir() and (folder / "task.json").is_file()
    archive_ok = archive.is_file()
    if not folder_ok and not archive_ok:
        return None
    return OfflineSession(
        local_id=name,  # offline task ids are "offline-<hex>", the folder name
        folder=folder if folder.is_dir() else None,
        archive=archive if archive_ok else None,
    )


def find_sessions(offline_root: Path) -> list[OfflineSession]:
    """Every session under ``offline_root``, oldest first."""
    if not offline_root.is_dir():
        return []
    found: dict[str, OfflineSession] = {}
    for path in sorted(offline_root.iterdir(), key=lambda p: (p.stat().st_mtime, p.name)):
        session = _session_for(path)
        if session is not None and session.local_id not in found:
            found[session.local_id] = session
    return list(found.values())


def sessions_of_run(run_dir: Path) -> list[OfflineSession]:
    """The sessions a run's ``run.json`` names: each stage's task, then the pipeline task."""
    manifest_path = run_dir / "run.json"
    if not manifest_path.is_file():
        raise BalldetError(
            f"{run_dir} is not a run folder (no run.json)",
            fix="give a folder under the output dir that holds a run.json, or leave --run out",
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as exc:
        raise BalldetError(f"cannot read {manifest_path}: {exc}", fix="re-run the pipeline") from None
    tasks = [stage.get("task") for stage in manifest.get("stages") or [] if isinstance(stage, dict)]
    tasks.append(manifest.get("pipeline_task"))
    sessions: list[OfflineSession] = []
    missing: list[str] = []
    for task in tasks:
        if not isinstance(task, dict) or not task.get("offline_folder"):
            continue
        session = _session_for(Path(task["offline_folder"]))
        if session is None:
            missing.append(str(task["offline_folder"]))
        elif session.local_id not in {s.local_id for s in sessions}:
            sessions.append(session)
    if missing:
        raise BalldetError(
            f"offline session(s) of {run_dir} not found: {', '.join(missing)}",
            fix="the ClearML cache was moved or cleaned; sync what is left without --run",
        )
    return sessions


def describe(session: OfflineSession) -> str:
    """A session as a person recognises it: what the task is (kind, project, name), then where."""
    from balldet.tracking.offline_records import read_offline_task

    if session.folder is not None and (session.folder / "task.json").is_file():
        task = read_offline_task(session.folder)
        return f"{task.type} task {task.name!r} in {task.project}  ({session.local_id}, {session.path})"
    return f"{session.local_id}  ({session.path})"


def _prepare_pipeline_project(session: OfflineSession) -> None:
    """A local run's pipeline task goes into its backend's pipeline (``.../.pipelines/<name>``): make
    that project the way ClearML makes a pipeline's, so the run shows in the pipeline's runs table."""
    from balldet.tracking import clearml_compat
    from balldet.tracking.offline_records import read_offline_task
    from balldet.tracking.tasks import PIPELINE_SYSTEM_TAG

    if session.folder is None or not (session.folder / "task.json").is_file():
        return
    task = read_offline_task(session.folder)
    if PIPELINE_SYSTEM_TAG in task.system_tags and "/.pipelines/" in task.project:
        clearml_compat.ensure_pipeline_project(task.project)


def _write_marker(session: OfflineSession, server_id: str) -> None:
    from balldet.files import write_json_atomic

    write_json_atomic(session.marker, {"local_id": session.local_id, "server_id": server_id})


def _connect_online(settings) -> None:
    """clearml online for this process, with its retries kept low."""
    import os

    from balldet.tracking.server import api_overrides
    from balldet.tracking.session import configure_clearml

    os.environ.pop("CLEARML_OFFLINE_MODE", None)
    configure_clearml(settings.model_copy(update={"clearml_offline": False}))
    from clearml import Task
    from clearml.config import ConfigWrapper

    Task.set_offline(False)
    existing = list(getattr(ConfigWrapper._config, "_overrides_configs", None) or [])
    ConfigWrapper.set_overrides(*existing, api_overrides())


@app.command()
@reports_errors
def sync(
    run: Annotated[
        Path | None, typer.Option("--run", help="Only the sessions of this run folder (its run.json).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be uploaded; upload nothing.")] = False,
) -> None:
    """Upload the offline ClearML sessions of local runs to the configured ClearML server."""
    settings = load_cli_settings()
    offline_root = settings.clearml_dir / "offline"
    sessions = sessions_of_run(run.resolve()) if run is not None else find_sessions(offline_root)
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

    from balldet.tracking.server import OFFLINE_FIX, check_server

    try:
        server = check_server(settings)
    except TrackingError as exc:
        # sync uploads to the server of clearml.conf whatever the settings environment says:
        # running offline is no way out here
        fix = (exc.fix or "").replace(f"; {OFFLINE_FIX}", "").replace(OFFLINE_FIX, "")
        raise TrackingError(exc.message, fix=f"{fix}; sync needs a ClearML server, in any settings environment") \
            from None
    _connect_online(settings)
    from clearml import Task

    uploaded = 0
    for session in pending:
        try:
            _prepare_pipeline_project(session)
            server_id = Task.import_offline_session(str(session.path))
        except Exception as exc:  # clearml raises ValueError and many network errors
            raise TrackingError(
                f"uploading offline session {session.local_id} to {server.api_host} failed after "
                f"{uploaded} of {len(pending)}: {type(exc).__name__}: {exc}",
                fix="check the server, then run `balldet sync` again (synced sessions are skipped)",
            ) from None
        if not server_id:
            raise TrackingError(
                f"ClearML did not import offline session {session.local_id} ({session.path})",
                fix="see the ClearML message above; run `balldet sync` again after fixing it",
            )
        _write_marker(session, str(server_id))
        uploaded += 1
        out.print(f"{session.local_id} → {server_id}", highlight=False)
    out.print(f"uploaded {uploaded} session(s) to {server.api_host}", highlight=False)
