"""``jurist rank``: rank N candidates per item with permutation debiasing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from jurist.cli.planning import judging_command


@judging_command("rank")
def rank(
    data: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet with input and candidates (a list) or "
                                              "response_1, response_2, ... columns; label: 0-based index of "
                                              "the best, or a full ranking.")],
    criteria: Annotated[Optional[str], typer.Option(help="What makes a response best, or @FILE.")] = None,
    orders: Annotated[Optional[int], typer.Option(
        help="Permutations per item (default N, the cyclic shifts: every candidate once in every slot).")] = None,
) -> None:
    """Rank each item's candidates: P(best) per candidate over several orders, a ranking, its uncertainty."""
