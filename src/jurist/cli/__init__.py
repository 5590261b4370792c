"""The ``jurist`` command line. One module per group of commands; all register on ``common.app``."""

from jurist.cli import check, correct, doctor, judging, jury, learn, rank, runs, templates, trust  # noqa: F401  (importing registers the commands)
from jurist.cli import estimate, leaderboard  # noqa: F401  (issue 15: pass rates corrected for judge error, leaderboards)
from jurist.cli import report, review  # noqa: F401  (issue 16: the HTML report and the review app)
from jurist.cli.common import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover
    app()
