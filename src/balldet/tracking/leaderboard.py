"""One leaderboard for every backend: runs × test datasets × measures, from the pipeline records.

Rows come from the pipeline (controller) tasks balldet writes at the end of each run: offline from
ClearML's session folders, or from the server. Scalars named ``<split>/<dataset>-ver:<v>/<measure>``
become one row per (run, split, dataset).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from balldet.tracking.offline_records import OfflineTask, read_offline_task
from balldet.tracking.tasks import SEEN_PROPERTY

# ClearML keeps a task's user properties as the hyperparameter section "properties".
PROPERTIES_SECTION = "properties"

SPLITS = ("test", "val")
# Measures shown first, in this order; any other measure follows alphabetically.
LEADING_MEASURES = ("mAP@0.5", "mAP@0.5:0.95", "P", "R", "F1")


SEEN_IN_TRAINING = "seen in training"


@dataclass
class LeaderboardRow:
    run: str
    model_type: str
    split: str
    dataset: str
    task_id: str
    tags: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    seen_in_training: bool = False

    @property
    def note(self) -> str:
        return SEEN_IN_TRAINING if self.seen_in_training else ""


def rows_from_scalars(
    run: str, model_type: str, task_id: str, tags: list[str], scalars: dict[str, float], splits: Iterable[str],
    seen: str = "",
) -> list[LeaderboardRow]:
    """Group ``<split>/<dataset>/<measure>`` scalars into rows (dataset names may contain ':')."""
    rows: dict[tuple[str, str], LeaderboardRow] = {}
    for key, value in scalars.items():
        split, _, rest = key.partition("/")
        if split not in splits or "/" not in rest:
            continue
        # Measures may contain '/' too (e.g. top1@0.5/F1); dataset labels end with -ver:<version>.
        marker = rest.find("-ver:")
        cut = rest.find("/", marker) if marker >= 0 else rest.find("/")
        dataset, measure = rest[:cut], rest[cut + 1 :]
        row = rows.setdefault(
            (split, dataset), LeaderboardRow(run, model_type, split, dataset, task_id, list(tags))
        )
        row.metrics[measure] = value
    # the pipeline task's user property: the `<split>/<dataset>` prefixes of data seen in training
    marked = {item.strip() for item in seen.split(",") if item.strip()}
    for row in rows.values():
        row.seen_in_training = f"{row.split}/{row.dataset}" in marked
    return list(rows.values())


def _model_type(tags: list[str], parameters: dict[str, dict[str, str]]) -> str:
    for tag in tags:
        if tag.startswith("model_type:"):
            return tag.split(":", 1)[1]
    return parameters.get("Args", {}).get("model_type", "?")


def _run_name(tags: list[str], fallback: str) -> str:
    for tag in tags:
        if tag.startswith("run:"):
            return tag.split(":", 1)[1]
    return fallback


def offline_rows(
    offline_root: Path, *, project: str | None = None, tags: Iterable[str] = (), splits: Iterable[str] = ("test",)
) -> list[LeaderboardRow]:
    """Rows of every pipeline task recorded offline under ``offline_root`` (ClearML's offline folder)."""
    wanted = set(tags)
    splits = tuple(splits)
    latest: dict[str, OfflineTask] = {}  # one row per run: a resumed run's latest record
    records = sorted(Path(offline_root).glob("offline-*/task.json"), key=lambda p: (p.stat().st_mtime_ns, p.name))
    for task_json in records:
        task = read_offline_task(task_json.parent)
        if task.type != "controller" or not wanted <= set(task.tags):
            continue
        if project and not (task.project == project or task.project.startswith(project + "/")):
            continue
        latest[_run_name(task.tags, task.id)] = task
    rows: list[LeaderboardRow] = []
    for run, task in latest.items():
        seen = task.parameters.get(PROPERTIES_SECTION, {}).get(SEEN_PROPERTY, "")
        rows += rows_from_scalars(
            run, _model_type(task.tags, task.parameters), task.id, task.tags, task.scalars, splits, seen
        )
    return rows


def server_rows(
    *, project: str, tags: Iterable[str] = (), splits: Iterable[str] = ("test",)
) -> list[LeaderboardRow]:
    """Rows of the pipeline tasks of ``project`` (and its sub-projects) on the ClearML server."""
    from clearml import Task

    tasks = Task.get_tasks(
        project_name=project,
        # pipelines keep their runs in hidden sub-projects (<project>/.pipelines/<name>)
        task_filter={"type": ["controller"], "tags": list(tags), "status": ["completed", "published"],
                     "search_hidden": True, "order_by": ["-last_update"]},
    )
    rows: list[LeaderboardRow] = []
    runs: set[str] = set()
    for task in tasks:  # newest first: one row per run
        run = _run_name(list(task.get_tags() or []), task.name)
        if run in runs:
            continue
        runs.add(run)
        scalars = {
            f"{title}/{series}": float(values["last"])
            for title, by_series in task.get_last_scalar_metrics().items()
            for series, values in by_series.items()
        }
        task_tags = list(task.get_tags() or [])
        params = {"Args": {k.split("/", 1)[-1]: v for k, v in task.get_parameters().items() if k.startswith("Args/")}}
        seen = str((task.get_user_properties() or {}).get(SEEN_PROPERTY, {}).get("value", ""))
        rows += rows_from_scalars(run, _model_type(task_tags, params), task.id, task_tags, scalars, splits, seen)
    return rows


def measures(rows: list[LeaderboardRow]) -> list[str]:
    present = {m for row in rows for m in row.metrics}
    leading = [m for m in LEADING_MEASURES if m in present]
    return leading + sorted(present - set(leading))


def sort_rows(rows: list[LeaderboardRow], by: str) -> list[LeaderboardRow]:
    """Per dataset, best first by ``by``; rows without it last."""
    return sorted(rows, key=lambda r: (r.split, r.dataset, -r.metrics.get(by, float("-inf")), r.run))


def table(rows: list[LeaderboardRow], columns: list[str]) -> tuple[list[str], list[list[str]]]:
    header = ["dataset", "run", "model_type", *columns, "note"]
    body = [
        [f"{r.split}/{r.dataset}", r.run, r.model_type, *[_fmt(r.metrics.get(c)) for c in columns], r.note]
        for r in rows
    ]
    return header, body


def _fmt(value: Any) -> str:
    """Four decimals; empty where missing, "n/a" where undefined (the evaluator's -1)."""
    if value is None:
        return ""
    return "n/a" if value == -1.0 or value != value else f"{value:.4f}"


def to_csv(rows: list[LeaderboardRow], columns: list[str]) -> str:
    header, body = table(rows, columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(body)
    return buffer.getvalue()


def to_markdown(rows: list[LeaderboardRow], columns: list[str]) -> str:
    header, body = table(rows, columns)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in body]
    return "\n".join(lines) + "\n"
