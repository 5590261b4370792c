"""``jurist check``: a response against yes/no questions (P(yes) each, an aggregate, the failed questions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from jurist.cli.planning import judging_command


@judging_command("check")
def check(
    data: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet with input, response and optionally a "
                                              "per-item 'checklist' list.")],
    checklist: Annotated[Optional[Path], typer.Option(help="Questions for every item: one per line, or a JSON "
                                                           "list of strings / {question, weight}.")] = None,
) -> None:
    """Check each response against yes/no questions: P(yes) per question, the mean, and which questions failed."""
