"""Label Studio's files: the labeling config and tasks (with the model's boxes as predictions) balldet
writes for a batch, and the JSON export Label Studio writes after labelling.

**Tasks** (what Label Studio imports, by file or through its API): one task per frame::

    {"data": {"image": <URL>, "stem": <stem>, "recording": ..., "frame": ..., "pick_score": ...},
     "predictions": [{"model_version": <weights>, "score": <best box score>,
                      "result": [{"id", "from_name": "label", "to_name": "image", "type": "rectanglelabels",
                                  "original_width", "original_height", "image_rotation": 0, "score",
                                  "value": {"x", "y", "width", "height", "rotation": 0,
                                            "rectanglelabels": [<class>]}}]}]}

``x``, ``y`` (the top-left corner), ``width`` and ``height`` are percent of the frame's width and height, as
Label Studio stores rectangles. ``from_name``/``to_name`` are the names of :func:`labeling_config`. The
labeller sees the boxes as a prediction to accept, move, delete or add to; ``pick_score`` (why ``label pick``
chose the frame) can be sorted on in Label Studio's data manager. ``stem`` names the frame for the way back.

**The export** (Label Studio's "JSON" export, by hand or ``label pull``): the same tasks with
``annotations``; each annotation has ``result`` (rectangles as above), ``was_cancelled`` (the labeller
skipped the task) and times. Of a task's annotations the latest that was not cancelled counts (by
``updated_at``, then ``created_at``, then id): the labeller's last word. A task is matched to its frame by
``data.stem``, else by the file name in ``data.image`` (see :mod:`balldet.labelling.labelled`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse
from xml.sax.saxutils import quoteattr

from balldet.errors import UsageError
from balldet.labelling.batch import Batch, BatchFrame
from balldet.labelling.labelled import Collector, Labelled
from balldet.labelling.prelabels import prelabels

FROM_NAME = "label"  # the RectangleLabels control
TO_NAME = "image"  # the Image object, and the task data key holding its URL
TOOL = "Label Studio"


def labeling_config(names: list[str]) -> str:
    """The labeling config of a batch: an image and a rectangle tool with one label per class."""
    labels = "".join(f"\n    <Label value={quoteattr(name)}/>" for name in names)
    return (f'<View>\n  <Image name="{TO_NAME}" value="${TO_NAME}"/>\n'
            f'  <RectangleLabels name="{FROM_NAME}" toName="{TO_NAME}">{labels}\n  </RectangleLabels>\n</View>\n')


def batch_tasks(folder: Path, batch: Batch, image_url: Callable[[BatchFrame], str],
                frames: list[BatchFrame] | None = None) -> list[dict[str, Any]]:
    """One task per frame of ``batch`` (or of ``frames``), its image at ``image_url(frame)``."""
    return [_task(Path(folder), batch, frame, image_url(frame)) for frame in (frames or batch.frames)]


def _task(folder: Path, batch: Batch, frame: BatchFrame, url: str) -> dict[str, Any]:
    task: dict[str, Any] = {"data": {TO_NAME: url, "stem": frame.stem, "recording": frame.recording,
                                     "frame": frame.frame, "pick_score": frame.score}}
    boxes = prelabels(folder, batch, frame)
    if len(boxes):
        result = []
        for k, (cls, (x1, y1, x2, y2)) in enumerate(zip(boxes.classes.tolist(), boxes.corners.tolist())):
            region: dict[str, Any] = {
                "id": f"p{k}", "from_name": FROM_NAME, "to_name": TO_NAME, "type": "rectanglelabels",
                "original_width": frame.width, "original_height": frame.height, "image_rotation": 0,
                "value": {"x": 100.0 * x1 / frame.width, "y": 100.0 * y1 / frame.height,
                          "width": 100.0 * (x2 - x1) / frame.width, "height": 100.0 * (y2 - y1) / frame.height,
                          "rotation": 0, "rectanglelabels": [batch.names[cls]]},
            }
            if boxes.scores is not None:
                region["score"] = float(boxes.scores[k])
            result.append(region)
        prediction: dict[str, Any] = {"model_version": batch.weights, "result": result}
        if boxes.scores is not None:
            prediction["score"] = float(boxes.scores.max())
        task["predictions"] = [prediction]
    return task


def read_export(path: Path, batch: Batch) -> Labelled:
    """A Label Studio JSON export of ``batch``'s tasks, read against the batch (see the module);
    a :class:`UsageError` listing every problem (field ``EXPORT``)."""
    path = Path(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError([("EXPORT", f"cannot read {path} as JSON ({exc}); give Label Studio's JSON export")]) from None
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list) or any(not isinstance(t, dict) for t in tasks):
        raise UsageError([("EXPORT", f"{path} is not a list of Label Studio tasks; export the project as JSON")])
    if tasks and all("data" not in t for t in tasks):
        raise UsageError([("EXPORT", f"{path} holds no task 'data': it looks like Label Studio's JSON-MIN or CSV "
                           "export; export the project as JSON (the full format)")])
    collector = Collector(tool=TOOL, batch=batch, where=str(path))
    for number, task in enumerate(tasks, start=1):
        _read_task(collector, task, f"task {task.get('id', f'#{number}')}")
    labelled = collector.result()
    if collector.problems:
        raise UsageError([("EXPORT", problem) for problem in collector.problems], source=str(path))
    return labelled


def _read_task(collector: Collector, task: dict[str, Any], what: str) -> None:
    data = task.get("data") if isinstance(task.get("data"), dict) else {}
    name = data.get("stem") or image_name(str(data.get(TO_NAME, "")))
    if not name:
        collector.problems.append(f"{what}: no data.{TO_NAME} and no data.stem; export the project as JSON")
        return
    annotation = latest_annotation(task.get("annotations") or [])
    if annotation is None:
        collector.known(str(name), what)
        return  # nobody labelled it, or it was skipped: left out (the collector counts the frame as missing)
    regions = [r for r in annotation.get("result") or [] if isinstance(r, dict)]
    boxes = [r for r in regions if r.get("type") == "rectanglelabels"]
    size = _size(boxes[0]) if boxes else None
    frame = collector.frame(str(name), size, what)
    if frame is None:
        return
    for region in regions:
        if region.get("type") != "rectanglelabels":
            collector.ignore(str(region.get("type")))
            continue
        value = region.get("value") or {}
        labels = value.get("rectanglelabels") or []
        if _size(region) != size:
            collector.problems.append(f"{what}: its boxes give two image sizes ({_size(region)} and {size})")
            continue
        if len(labels) != 1:
            collector.problems.append(f"{what}: a box with {len(labels)} labels ({', '.join(map(str, labels))}); "
                                      "give each box one label")
            continue
        try:
            x, y, w, h = (float(value[k]) for k in ("x", "y", "width", "height"))
            rotation = float(value.get("rotation") or 0.0)
        except (KeyError, TypeError, ValueError):
            collector.problems.append(f"{what}: a box without numeric x, y, width, height: {value!r}")
            continue
        x1, y1 = x / 100.0 * frame.width, y / 100.0 * frame.height
        corners = (x1, y1, x1 + w / 100.0 * frame.width, y1 + h / 100.0 * frame.height)
        # Label Studio turns a rectangle about its top-left corner.
        collector.box(frame, str(labels[0]), corners, rotation=rotation, pivot=(x1, y1))


def _size(region: dict[str, Any]) -> tuple[int, int] | None:
    width, height = region.get("original_width"), region.get("original_height")
    if width is None or height is None:
        return None
    try:
        return int(width), int(height)
    except (TypeError, ValueError):
        return None


def latest_annotation(annotations: list[Any]) -> dict[str, Any] | None:
    """The annotation that counts: the latest one not cancelled (skipped), or None."""
    done = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
    if not done:
        return None
    return max(done, key=lambda a: (_time(a.get("updated_at")), _time(a.get("created_at")), _number(a.get("id"))))


def _time(text: Any) -> float:
    try:
        return datetime.fromisoformat(str(text)).timestamp()
    except ValueError:
        return float("-inf")


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("-inf")


def image_name(url: str) -> str:
    """The file name an image URL of a task points at: ``/data/upload/3/1a2b3c4d-x.png``,
    ``/data/local-files/?d=batch/images/x.png``, ``s3://bucket/x.png``, ``http://host/x.png?sig=...``."""
    parsed = urlparse(url)
    local = parse_qs(parsed.query).get("d")
    path = local[0] if local else unquote(parsed.path)
    return path.rstrip("/").rsplit("/", 1)[-1]
