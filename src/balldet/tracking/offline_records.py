"""Reading back what ClearML wrote offline: one session folder per task."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class OfflineTask:
    id: str
    name: str
    project: str
    type: str
    tags: list[str]
    parameters: dict[str, dict[str, str]]
    configuration: dict[str, str]
    scalars: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)


def read_offline_task(folder: Path) -> OfflineTask:
    """The task in ``folder`` (``offline-<id>/``); scalars keyed ``<title>/<series>``, last value."""
    folder = Path(folder)
    data = json.loads((folder / "task.json").read_text())
    parameters = {
        section: {name: item.get("value", "") for name, item in values.items()}
        for section, values in (data.get("hyperparams") or {}).items()
    }
    configuration = {k: v.get("value", "") for k, v in (data.get("configuration") or {}).items()}
    artifacts = {a["key"]: a.get("uri", "") for a in (data.get("execution") or {}).get("artifacts", [])}
    scalars: dict[str, float] = {}
    metrics = folder / "metrics.jsonl"
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            for event in json.loads(line) if line.strip() else []:
                if event.get("type") == "training_stats_scalar":
                    scalars[f"{event['metric']}/{event['variant']}"] = float(event["value"])
    return OfflineTask(
        id=data["id"],
        name=data.get("name", ""),
        project=data.get("project_name", ""),
        type=data.get("type", ""),
        tags=list(data.get("tags") or []),
        parameters=parameters,
        configuration=configuration,
        scalars=scalars,
        artifacts=artifacts,
    )
