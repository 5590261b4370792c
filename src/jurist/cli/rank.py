"""``jurist rank``: rank N candidates per item with permutation debiasing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from jurist.cli.common import (
    DEFAULT_STORE,
    ConcurrencyOpt,
    DataSource,
    FieldOpt,
    JudgeOpt,
    LimitOpt,
    ModelOpt,
    NameOpt,
    OutOpt,
    ResumeOpt,
    StoreOpt,
    app,
    text_or_file,
)
from jurist.cli.jury import SamplesOpt, TemperatureOpt
from jurist.protocols.listwise import DEFAULT_CRITERIA, ListwiseProtocol
from jurist.strategies.permutations import Permutations


@app.command()
def rank(
    data: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet with input and candidates (a list) or "
                                              "response_1, response_2, ... columns; label: 0-based index of "
                                              "the best, or a full ranking.")],
    judge: JudgeOpt = "local",
    model: ModelOpt = None,
    criteria: Annotated[str, typer.Option(help="What makes a response best, or @FILE.")] = DEFAULT_CRITERIA,
    orders: Annotated[Optional[int], typer.Option(
        help="Permutations per item (default N, the cyclic shifts: every candidate once in every slot).")] = None,
    samples: SamplesOpt = None, temperature: TemperatureOpt = 0.7,
    field: FieldOpt = None, limit: LimitOpt = None,
    out_path: OutOpt = None, store: StoreOpt = DEFAULT_STORE,
    concurrency: ConcurrencyOpt = None, name: NameOpt = None, resume: ResumeOpt = None,
) -> None:
    """Rank each item's candidates: P(best) per candidate over several orders, a ranking, its uncertainty."""
    from jurist.cli.judging import JobOptions, run_job

    try:
        strategy = Permutations(orders, samples=samples, temperature=temperature)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    protocol = ListwiseProtocol(text_or_file(criteria))
    run_job(DataSource(data, "rank", field, None, None, limit), protocol,
            JobOptions(judge, model, False, out_path, None, store, concurrency, name, resume), strategy)
