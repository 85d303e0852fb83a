"""The balldet command line. Every user error becomes one clear message and exit code 2."""

from balldet.cli import configs, datasets, evaluate, leaderboard, run, sync  # noqa: F401  (registers commands)
from balldet.cli.app import app


def main() -> None:
    app(prog_name="balldet")
