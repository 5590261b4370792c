"""``jurist correct``: is each response correct, given (or without) its reference answer?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jurist.cli.check import run_local
from jurist.cli.common import (
    DEFAULT_STORE,
    ConcurrencyOpt,
    DataSource,
    FieldOpt,
    JudgeOpt,
    LabelMapOpt,
    LimitOpt,
    ModelOpt,
    NameOpt,
    OutOpt,
    PresetOpt,
    ReportOpt,
    ResumeOpt,
    StoreOpt,
    VisionOpt,
    app,
    out,
    table,
)
from jurist.cli.judging import JobOptions, _write_outputs


@app.command()
def correct(
    data: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet with input, response and reference.")],
    reference: Annotated[str, typer.Option(help="shown: the judge sees the reference answer; hidden: it judges "
                                                "with its own knowledge; adapted: it first revises the response "
                                                "with the reference, then judges against that revision.")] = "shown",
    max_revision_tokens: Annotated[int, typer.Option(help="With --reference adapted: the revision's "
                                                          "length limit in tokens.")] = 512,
    judge: JudgeOpt = "local",
    model: ModelOpt = None,
    field: FieldOpt = None, preset: PresetOpt = None, label_map: LabelMapOpt = None, limit: LimitOpt = None,
    out_path: OutOpt = None, report: ReportOpt = None, store: StoreOpt = DEFAULT_STORE,
    concurrency: ConcurrencyOpt = None, name: NameOpt = None, resume: ResumeOpt = None, vision: VisionOpt = False,
) -> None:
    """Judge correctness against a gold answer: P(correct) per item, correct/incorrect, and accuracy vs labels."""
    from jurist.metrics.checklist import correctness_summary
    from jurist.protocols.reference import ReferenceProtocol

    try:
        protocol = ReferenceProtocol(reference, max_revision_tokens=max_revision_tokens)  # type: ignore[arg-type]
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    source = DataSource(data, "score", field, preset, label_map, limit)
    job = JobOptions(judge=judge, model=model, out_path=out_path, report=report, store=store,
                     concurrency=concurrency, name=name, resume=resume, vision=vision)
    result = run_local(source, protocol, job, f"correct --reference {reference}")
    out.print(table("correctness", correctness_summary(result.judgments).rows()))
    _write_outputs(source, job, result)
    if result.run.status != "finished":
        raise typer.Exit(1)
