"""The ``jurist`` command line. One module per group of commands; all register on ``common.app``."""

from jurist.cli import audit, check, correct, judging, jury, learn, rank, runs, templates, trust  # noqa: F401  (importing registers the commands)
from jurist.cli.common import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover
    app()
