"""The offline ClearML sessions of local runs, and uploading them to a server (``balldet sync``).

Offline, ClearML writes every task to ``<cache_dir>/clearml/offline/offline-<id>/`` (and a zip of
it on close). Once a server is configured, each session is imported with ClearML's offline-session
import and ``offline-<id>.synced`` is written beside it (with the id the server gave the task), so a
second sync uploads nothing twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from balldet.errors import BalldetError, TrackingError
from balldet.settings import Settings
from balldet.tracking import clearml_compat
from balldet.tracking.offline_records import OfflineTask, read_offline_task
from balldet.tracking.server import OFFLINE_FIX, ServerConfig, check_server
from balldet.tracking.session import connect_online

SYNCED_SUFFIX = ".synced"
# What ClearML names a session: its folder ``offline-<hex>`` (the offline task's id), or its zip.
SESSION_PREFIX = "offline-"


@dataclass(frozen=True)
class OfflineSession:
    """One offline session: its folder (``offline-<id>``) and/or its zip, and where its mark goes."""

    local_id: str
    folder: Path | None
    archive: Path | None

    @property
    def recorded(self) -> bool:
        """Whether the folder holds the task (else only the zip does)."""
        return self.folder is not None and (self.folder / "task.json").is_file()

    @property
    def path(self) -> Path:
        """What ClearML imports: the folder when it holds the task, else the zip."""
        if self.recorded or self.archive is None:
            return self.folder  # type: ignore[return-value]  (a session has a folder or a zip)
        return self.archive

    @property
    def marker(self) -> Path:
        """``offline-<id>.synced``, beside the folder or the zip."""
        base = self.folder if self.folder is not None else self.archive.with_suffix("")  # type: ignore[union-attr]
        return base.with_name(base.name + SYNCED_SUFFIX)

    @property
    def synced(self) -> bool:
        return self.marker.is_file()

    def server_id(self) -> str | None:
        """The id the server gave the task when it was uploaded, if the mark says so."""
        try:
            return json.loads(self.marker.read_text()).get("server_id")
        except (OSError, ValueError, AttributeError):
            return None

    def task(self) -> OfflineTask | None:
        """The recorded task, when the folder holds it."""
        return read_offline_task(self.folder) if self.recorded else None  # type: ignore[arg-type]


def session_at(path: Path) -> OfflineSession | None:
    """The session a folder or zip belongs to (``offline-<id>`` or ``offline-<id>.zip``), if any."""
    name = path.name.removesuffix(".zip")
    if not name.startswith(SESSION_PREFIX):
        return None
    folder = path.with_name(name)
    archive = path.with_name(name + ".zip")
    folder_ok = folder.is_dir() and (folder / "task.json").is_file()
    archive_ok = archive.is_file()
    if not folder_ok and not archive_ok:
        return None
    return OfflineSession(
        local_id=name, folder=folder if folder.is_dir() else None, archive=archive if archive_ok else None
    )


def find_sessions(offline_root: Path) -> list[OfflineSession]:
    """Every session under ``offline_root``, oldest first."""
    if not offline_root.is_dir():
        return []
    found: dict[str, OfflineSession] = {}
    for path in sorted(offline_root.iterdir(), key=lambda p: (p.stat().st_mtime, p.name)):
        session = session_at(path)
        if session is not None and session.local_id not in found:
            found[session.local_id] = session
    return list(found.values())


def sessions_at(folders: list[Path], owner: str) -> list[OfflineSession]:
    """The sessions of these offline folders (a run's tasks), each once; all must be there."""
    sessions: list[OfflineSession] = []
    missing: list[str] = []
    for folder in folders:
        session = session_at(Path(folder))
        if session is None:
            missing.append(str(folder))
        elif session.local_id not in {s.local_id for s in sessions}:
            sessions.append(session)
    if missing:
        raise BalldetError(
            f"offline session(s) of {owner} not found: {', '.join(missing)}",
            fix="the ClearML cache was moved or cleaned; sync what is left without --run",
        )
    return sessions


def describe(session: OfflineSession) -> str:
    """A session as a person recognises it: what the task is (kind, project, name), then where."""
    task = session.task()
    if task is None:
        return f"{session.local_id}  ({session.path})"
    return f"{task.type} task {task.name!r} in {task.project}  ({session.local_id}, {session.path})"


def connect_for_upload(settings: Settings) -> ServerConfig:
    """Check the server of clearml.conf in seconds, then take ClearML online for this process."""
    try:
        server = check_server(settings)
    except TrackingError as exc:
        # Uploads go to the server of clearml.conf whatever the settings environment says: running
        # offline is no way out here.
        fix = (exc.fix or "").replace(f"; {OFFLINE_FIX}", "").replace(OFFLINE_FIX, "")
        raise TrackingError(exc.message, fix=f"{fix}; sync needs a ClearML server, in any settings environment") \
            from None
    connect_online(settings)
    return server


def upload_sessions(
    sessions: Sequence[OfflineSession], server: ServerConfig, *, on_uploaded: Callable[[OfflineSession, str], None]
) -> int:
    """Upload ``sessions`` in order (ClearML connected by :func:`connect_for_upload`), marking each
    as it is done; ``on_uploaded`` hears of each (session, server id). The first failure stops the
    upload with what was done: the next sync skips the sessions already marked."""
    from clearml import Task

    from balldet.files import write_json_atomic

    uploaded = 0
    for session in sessions:
        try:
            _prepare_pipeline_project(session)
            server_id = Task.import_offline_session(str(session.path))
        except Exception as exc:  # clearml raises ValueError and many network errors
            raise TrackingError(
                f"uploading offline session {session.local_id} to {server.api_host} failed after "
                f"{uploaded} of {len(sessions)}: {type(exc).__name__}: {exc}",
                fix="check the server, then run `balldet sync` again (synced sessions are skipped)",
            ) from None
        if not server_id:
            raise TrackingError(
                f"ClearML did not import offline session {session.local_id} ({session.path})",
                fix="see the ClearML message above; run `balldet sync` again after fixing it",
            )
        write_json_atomic(session.marker, {"local_id": session.local_id, "server_id": str(server_id)})
        uploaded += 1
        on_uploaded(session, str(server_id))
    return uploaded


def _prepare_pipeline_project(session: OfflineSession) -> None:
    """A local run's pipeline task goes into its backend's pipeline (``.../.pipelines/<name>``): make
    that project the way ClearML makes a pipeline's, so the run shows in the pipeline's runs table."""
    task = session.task()
    if task is not None and clearml_compat.PIPELINE_SYSTEM_TAG in task.system_tags and "/.pipelines/" in task.project:
        clearml_compat.ensure_pipeline_project(task.project)
