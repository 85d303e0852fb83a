"""A batch to a Label Studio server and its labels back, through Label Studio's API (``label-studio-sdk``,
the ``label`` extra; imported only here, when a command needs it).

**Push** (``balldet label push``):

1. the project: ``--project`` (a title; default ``balldet <batch folder name>``). A project of that title is
   reused when its labeling config is the batch's (:func:`~balldet.labelling.label_studio.labeling_config`),
   else refused; none: it is created with that config.
2. the batch's frames the project does not hold yet (tasks are known by ``data.stem``): their images are
   uploaded to Label Studio (its import endpoint with ``commit_to_project=false``: stored as the project's
   uploads, no task made from them), so the server needs no access to the batch folder;
3. one task per frame, with the model's boxes as predictions, exactly as ``label export --format
   label-studio`` writes them, ``data.image`` the upload's URL: imported in one request; the project's model
   version is set to the batch's weights, so the labeller sees these boxes as pre-annotations.
4. ``<batch>/label_studio.json`` records the server, the project's id and title, for ``label pull``.

Pushing a batch again adds only the frames that are missing. **Pull** (``balldet label pull``) writes the
project's JSON export (every task, with its annotations and predictions) to a file, which ``balldet label
import`` reads like one exported by hand.

Missing settings or a missing SDK are usage errors (exit 2) before anything is sent; a server that cannot be
reached or refuses the token is a :class:`LabelStudioError` (exit 3). The token goes only into the request
headers: no message, record or file of balldet holds it.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel

from balldet.errors import BalldetError, UsageError
from balldet.files import write_bytes_atomic, write_text_atomic
from balldet.labelling.batch import Batch, BatchFrame
from balldet.labelling.label_studio import batch_tasks, labeling_config
from balldet.settings import Settings

INSTALL_HINT = "pip install 'balldet[label]'"
RECORD_FILE = "label_studio.json"  # in the batch folder, written by push
UPLOAD_FILES = 50  # images per upload request
UPLOAD_BYTES = 64 * 2**20
TIMEOUT_S = 120.0


class LabelStudioError(BalldetError):
    """The Label Studio server cannot be used: not reachable, the token refused, a request refused."""

    exit_code = 3


class PushRecord(BaseModel):
    """``<batch>/label_studio.json``: where ``label push`` sent the batch."""

    url: str
    project_id: int
    title: str


@dataclass(frozen=True)
class Pushed:
    record: PushRecord
    added: int  # tasks made now
    present: int  # frames the project held already
    created: bool  # the project was made now


@dataclass(frozen=True)
class Pulled:
    project_id: int
    tasks: int
    annotated: int


def settings_problems(settings: Settings) -> list[tuple[str, str]]:
    """What keeps balldet from talking to Label Studio before anything is sent: settings, the SDK."""
    url, token = settings.label_studio_url.strip(), settings.label_studio_token.get_secret_value().strip()
    problems = []
    if not url:
        problems.append(("label_studio_url", "is not set; set BALLDET_LABEL_STUDIO_URL=http://<host>:8080 (or "
                         "label_studio_url in settings.toml)"))
    elif urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
        problems.append(("label_studio_url", f"{url!r} is not an http(s) address; give e.g. http://127.0.0.1:8080"))
    if not token:
        problems.append(("label_studio_token", "is not set; set BALLDET_LABEL_STUDIO_TOKEN to your API token "
                         "(Label Studio: Account & Settings)"))
    if importlib.util.find_spec("label_studio_sdk") is None:
        problems.append(("balldet[label]", f"label-studio-sdk is not installed; {INSTALL_HINT}"))
    return problems


def connect(settings: Settings) -> Any:
    """A client of the settings' server, the token checked by asking who it belongs to."""
    problems = settings_problems(settings)
    if problems:
        raise UsageError(problems)
    from label_studio_sdk import LabelStudio

    url, token = settings.label_studio_url.strip(), settings.label_studio_token.get_secret_value().strip()

    with _answers(url, "checking the token"):
        client = LabelStudio(base_url=url.rstrip("/"), api_key=token, timeout=TIMEOUT_S)
        client.users.whoami()
    return client


@contextmanager
def _answers(url: str, doing: str) -> Iterator[None]:
    """The SDK's and httpx's failures as one line naming the server and what was being done."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    try:
        yield
    except ApiError as exc:
        if exc.status_code in (401, 403):
            raise LabelStudioError(f"Label Studio at {url} refused the token (HTTP {exc.status_code}) while {doing}",
                                   fix="set BALLDET_LABEL_STUDIO_TOKEN to a token of that server (Account & "
                                   "Settings; a legacy token needs legacy tokens enabled in the organization)"
                                   ) from None
        detail = exc.body.get("detail") if isinstance(exc.body, dict) else exc.body
        raise LabelStudioError(f"Label Studio at {url} answered HTTP {exc.status_code} while {doing}: "
                               f"{str(detail)[:300]}") from None
    except httpx.HTTPError as exc:
        raise LabelStudioError(f"cannot reach Label Studio at {url} while {doing} ({type(exc).__name__}: {exc})",
                               fix="start the server, or set BALLDET_LABEL_STUDIO_URL to its address") from None


def push(folder: Path, batch: Batch, settings: Settings, *, title: str | None = None,
         progress: Callable[[str, int, int], None] | None = None) -> Pushed:
    """Send the batch in ``folder`` to the settings' Label Studio (see the module)."""
    folder = Path(folder)
    title = (title if title is not None else f"balldet {folder.resolve().name}").strip()
    problems = settings_problems(settings)
    if not title:
        problems.append(("--project", "is empty; give the project's title"))
    if problems:
        raise UsageError(problems)
    client = connect(settings)
    url = settings.label_studio_url.strip().rstrip("/")
    config = labeling_config(batch.names)
    with _answers(url, f"finding project {title!r}"):
        found = [p for p in client.projects.list(title=title) if p.title == title]
    if found:
        project = found[0]
        if _normalised(project.label_config) != _normalised(config):
            raise UsageError([("--project", f"project {title!r} (id {project.id}) at {url} has another labeling "
                               "config than this batch's classes; give another --project title")])
        created = False
    else:
        with _answers(url, f"creating project {title!r}"):
            project = client.projects.create(title=title, label_config=config,
                                             description=f"balldet labelling batch {folder.resolve().name}")
        created = True
    with _answers(url, "listing the project's tasks"):
        present = {str((task.data or {}).get("stem")) for task in client.tasks.list(project=project.id)}
    todo = [frame for frame in batch.frames if frame.stem not in present]
    if todo:
        files = _upload(client, url, project.id, folder, todo, progress)
        prefix = urlparse(url).path.rstrip("/") + "/data/"
        tasks = batch_tasks(folder, batch, lambda frame: prefix + files[PurePosixPath(frame.file).name], todo)
        with _answers(url, "importing the tasks"):
            client.projects.import_tasks(project.id, request=tasks)
            # Label Studio pre-labels a task with the predictions of the project's model version only: this
            # batch's model (a reused project may name another one)
            client.projects.update(project.id, model_version=batch.weights)
    record = PushRecord(url=url, project_id=int(project.id), title=title)
    write_text_atomic(folder / RECORD_FILE, record.model_dump_json(indent=2) + "\n")
    return Pushed(record=record, added=len(todo), present=len(batch.frames) - len(todo), created=created)


def _upload(client: Any, url: str, project_id: int, folder: Path, frames: list[BatchFrame],
            progress: Callable[[str, int, int], None] | None) -> dict[str, str]:
    """Upload the frames' images as the project's files; {file name: path under Label Studio's media}."""
    http = client._client_wrapper.httpx_client  # the SDK's own session (its headers carry the token)
    ids: list[int] = []
    chunk: list[BatchFrame] = []
    size = 0
    for k, frame in enumerate(frames, start=1):
        chunk.append(frame)
        size += (folder / frame.file).stat().st_size
        if len(chunk) == UPLOAD_FILES or size >= UPLOAD_BYTES or k == len(frames):
            # one form field per file: Label Studio takes one file of each field
            files = {f"file{n}": (PurePosixPath(f.file).name, (folder / f.file).read_bytes())
                     for n, f in enumerate(chunk)}
            with _answers(url, "uploading images"):
                response = http.request(f"api/projects/{project_id}/import", method="POST",
                                        params={"commit_to_project": "false"}, files=files)
            if response.status_code >= 400:
                raise LabelStudioError(f"Label Studio at {url} answered HTTP {response.status_code} to an upload of "
                                       f"{len(chunk)} image(s) ({chunk[0].file}...): {response.text[:300]}")
            ids += list(response.json().get("file_upload_ids") or [])
            chunk, size = [], 0
            if progress is not None:
                progress("uploading", k, len(frames))
    with _answers(url, "listing the uploaded images"):
        uploads = client.files.list(project_id, ids=json.dumps(ids))
    names: dict[str, str] = {}
    for upload in uploads:
        stored = PurePosixPath(upload.file).name  # `<8 hex>-<file name>`
        names[stored.split("-", 1)[1] if "-" in stored else stored] = upload.file
    lost = [f.file for f in frames if PurePosixPath(f.file).name not in names]
    if lost:
        raise LabelStudioError(f"Label Studio at {url} does not list {len(lost)} uploaded image(s), e.g. {lost[0]}",
                               fix="push again (frames already there are not sent twice)")
    return names


def pull(target: str, out: Path, settings: Settings) -> Pulled:
    """The JSON export of the project ``target`` names (a batch folder that was pushed, or a project id),
    every task with its annotations, written to ``out``."""
    project_id, problems = project_of(target)
    problems += settings_problems(settings)
    if problems or project_id is None:
        raise UsageError(problems)
    client = connect(settings)
    url = settings.label_studio_url.strip().rstrip("/")
    with _answers(url, f"exporting project {project_id}"):
        data = b"".join(client.projects.exports.download_sync(project_id, export_type="JSON",
                                                              download_all_tasks=True))
    try:
        tasks = json.loads(data)
    except ValueError:
        raise LabelStudioError(f"Label Studio at {url} sent an export of project {project_id} that is not JSON") \
            from None
    write_bytes_atomic(Path(out), data)
    annotated = sum(1 for t in tasks if any(not a.get("was_cancelled") for a in t.get("annotations") or []))
    return Pulled(project_id=project_id, tasks=len(tasks), annotated=annotated)


def project_of(target: str) -> tuple[int | None, list[tuple[str, str]]]:
    """The project id a pull ``target`` gives (a number, or the record in a pushed batch folder), or the problem."""
    record = Path(target) / RECORD_FILE
    if not record.is_file() and target.isdigit():
        return int(target), []
    if not record.is_file():
        return None, [("TARGET", f"{target} is neither a project id nor a batch folder that was pushed (no "
                       f"{RECORD_FILE}); run `balldet label push {target}` first, or give the project's id")]
    try:
        return PushRecord.model_validate_json(record.read_text()).project_id, []
    except ValueError as exc:
        return None, [("TARGET", f"{record} is not a push record ({str(exc).splitlines()[0]}); push the batch "
                       "again")]


def _normalised(config: str | None) -> str:
    return "".join((config or "").split())
