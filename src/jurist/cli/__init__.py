"""The ``jurist`` command line. One module per group of commands; all register on ``common.app``."""

from jurist.cli import apps, audit, check, correct, doctor, judging, jury, learn, online, rank, runs, templates, trust  # noqa: F401  (importing registers the commands)
from jurist.cli import estimate, leaderboard, offline, report, review  # noqa: F401
from jurist.cli.common import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover
    app()
