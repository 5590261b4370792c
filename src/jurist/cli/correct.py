"""``jurist correct``: is each response correct, given (or without) its reference answer?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jurist.cli.planning import judging_command


@judging_command("correct")
def correct(
    data: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet with input, response and reference.")],
    reference: Annotated[str, typer.Option(help="shown: the judge sees the reference answer; hidden: it judges "
                                                "with its own knowledge; adapted: it first revises the response "
                                                "with the reference, then judges against that revision.")] = "shown",
    max_revision_tokens: Annotated[int, typer.Option(help="With --reference adapted: the revision's "
                                                          "length limit in tokens.")] = 512,
) -> None:
    """Judge correctness against a gold answer: P(correct) per item, correct/incorrect, and accuracy vs labels."""
