"""Reading back what ClearML wrote offline: one session folder per task."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from balldet.errors import BalldetError


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
    system_tags: list[str] = field(default_factory=list)


def read_offline_task(folder: Path) -> OfflineTask:
    """The task in ``folder`` (``offline-<id>/``); scalars keyed ``<title>/<series>``, last value.

    A record that cannot be read is one clear error naming the file (exit 2), not a traceback."""
    folder = Path(folder)
    reading = folder / "task.json"
    try:
        data = json.loads(reading.read_text())
        parameters = {
            section: {name: item.get("value", "") for name, item in values.items()}
            for section, values in (data.get("hyperparams") or {}).items()
        }
        configuration = {k: v.get("value", "") for k, v in (data.get("configuration") or {}).items()}
        artifacts = {a["key"]: a.get("uri", "") for a in (data.get("execution") or {}).get("artifacts", [])}
        reading = folder / "metrics.jsonl"
        scalars = _scalars(reading)
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
            system_tags=list(data.get("system_tags") or []),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BalldetError(
            f"the ClearML offline record {reading} cannot be read ({type(exc).__name__}: {exc})",
            fix=f"restore the folder from its zip ({folder.name}.zip) if there is one, or move {folder.name} out "
            f"of {folder.parent}",
        ) from None


def _scalars(metrics: Path) -> dict[str, float]:
    """The last value of each ``<title>/<series>`` scalar in a session's metrics.jsonl."""
    scalars: dict[str, float] = {}
    if metrics.is_file():
        for line in metrics.read_text().splitlines():
            for event in json.loads(line) if line.strip() else []:
                if event.get("type") == "training_stats_scalar":
                    scalars[f"{event['metric']}/{event['variant']}"] = float(event["value"])
    return scalars
