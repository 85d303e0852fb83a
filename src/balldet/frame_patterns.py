"""How frames are identified by name: the patterns, their defaults and their check. The settings and
pipeline configs hold patterns; :mod:`balldet.datasets.frames` applies them (see there)."""

from __future__ import annotations

import re
from collections.abc import Sequence

DEFAULT_FRAME_PATTERNS: tuple[str, ...] = (
    # a per-video dataset whose files are named by frame number: the recording is the dataset name
    # without its sequence number
    r"^(?P<recording>\d{8}-[^/]+-vs-[^/]+-\d+)-\d+/[^/\d]*(?P<frame>\d+)$",
    # any dataset whose files are named <recording id>_<frame number>
    r"^.*/(?P<recording>[^/]+)_(?P<frame>\d+)$",
)



def compile_frame_patterns(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    """The compiled patterns; ValueError naming every pattern that is not usable and why."""
    compiled, problems = [], []
    for k, pattern in enumerate(patterns):
        try:
            regex = re.compile(pattern)
        except (re.error, RecursionError, OverflowError) as exc:  # the last two: nesting, repeat counts
            problems.append(f"pattern {k + 1} {pattern[:80]!r} is not a regular expression ({exc})")
            continue
        if "frame" not in regex.groupindex:
            problems.append(f"pattern {k + 1} {pattern[:80]!r} has no (?P<frame>...) group for the frame number")
            continue
        compiled.append(regex)
    if not patterns:
        problems.append("give at least one pattern")
    if problems:
        raise ValueError(
            "; ".join(problems) + ". Patterns are matched against '<dataset name>/<file stem>' and "
            "need a (?P<frame>\\d+) group, optionally a (?P<recording>...) group"
        )
    return compiled


def valid_frame_patterns(patterns: list[str] | None) -> list[str] | None:
    """``patterns`` as given when each is usable (None passes); the ValueError of
    :func:`compile_frame_patterns` otherwise. For pydantic validators of settings and configs."""
    if patterns is not None:
        compile_frame_patterns(patterns)
    return patterns
