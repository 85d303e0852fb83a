"""The small error hierarchy of balldet.

Every error a user can cause derives from :class:`BalldetError`. The CLI prints ``str(error)`` as
one clear block and exits with ``error.exit_code``; a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

from collections.abc import Iterable


class BalldetError(Exception):
    """Base class: a problem the user can fix. ``exit_code`` 2 means "bad input"."""

    exit_code = 2

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(message if not fix else f"{message}\n  fix: {fix}")


class ProblemList(BalldetError):
    """Several problems found at once (pydantic style): each line names its field and the fix."""

    title = "invalid input"

    def __init__(self, problems: Iterable[tuple[str, str]], *, source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        head = f"{self.title}{' in ' + source if source else ''}: {len(self.problems)} problem(s)"
        lines = [head] + [f"  - {field}: {message}" for field, message in self.problems]
        super().__init__("\n".join(lines))

    @property
    def fields(self) -> list[str]:
        return [field for field, _ in self.problems]


class ConfigError(ProblemList):
    """A pipeline config (or the CLI arguments that go with it) is invalid."""

    title = "invalid pipeline config"


class UsageError(ProblemList):
    """Command-line flags that do not fit together or name something that does not exist."""

    title = "invalid command line"


class SettingsError(BalldetError):
    """settings.toml / ENV_FOR_DYNACONF / BALLDET_* overrides are invalid."""


class DatasetError(BalldetError):
    """A dataset cannot be found, resolved or read."""


class BackendError(BalldetError):
    """A model backend cannot run with what it was given (weights, options)."""


class TrackingError(BalldetError):
    """ClearML cannot be reached or used the way the settings ask."""

    exit_code = 3
