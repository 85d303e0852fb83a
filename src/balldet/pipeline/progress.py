"""Progress of long work told as lines, for logs where no progress bar can be drawn."""

from __future__ import annotations

import time
from collections.abc import Callable

from balldet.checks.report import Progress


def throttled_progress(emit: Callable[[str], None], every_s: float = 5.0,
                       clock: Callable[[], float] = time.monotonic) -> Progress:
    """A :data:`Progress` for logs, where a progress bar cannot be drawn: it hands ``emit`` a line
    for a stage once the stage has run ``every_s`` seconds, then at most every ``every_s`` seconds,
    and one at its end. Stages shorter than that say nothing."""
    started: dict[str, float] = {}
    spoken: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        now = clock()
        since = spoken.get(stage, started.setdefault(stage, now))
        if now - since >= every_s or (done >= total and stage in spoken):
            spoken[stage] = now
            emit(f"{stage}: {done}/{total}")

    return progress
