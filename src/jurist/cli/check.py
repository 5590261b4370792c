"""``jurist check``: a response against yes/no questions (P(yes) each, an aggregate, the failed questions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from jurist.backends import BackendError, resolve_backend
from jurist.backends.models import ModelUnavailable
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
    fail,
    out,
    print_summary,
)
from jurist.cli.judging import JobOptions, _write_outputs, judge_source
from jurist.engine import RunResult
from jurist.judge import Judge
from jurist.protocols.base import Protocol

SHOWN_QUESTIONS = 40


def run_local(source: DataSource, protocol: Protocol, job: JobOptions, command: str) -> RunResult:
    """Run ``protocol`` (with its default strategy) over ``source`` in this process; print the summary."""
    try:
        backend = resolve_backend(job.judge, job.model, vision=job.vision)
    except (BackendError, ModelUnavailable) as error:
        fail(error)
    result = judge_source(Judge(backend, protocol), source, job)
    print_summary(result, f"jurist {command} · {backend.spec} · run {result.run.id}")
    return result


def question_table(result: RunResult) -> Table:
    """Pass rate (P(yes) >= 0.5, Wilson 95% CI) and mean P(yes) per question across items."""
    from jurist.metrics.checklist import checklist_summary

    rows = checklist_summary(result.judgments)
    table = Table(title="checklist questions across items", title_justify="left")
    for name, justify in (("question", "left"), ("pass rate [95% CI] n", "right"), ("mean P(yes)", "right"),
                          ("unread", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for stats in rows[:SHOWN_QUESTIONS]:
        table.add_row(stats.question, str(stats.pass_rate),
                      "-" if stats.mean_p_yes is None else f"{stats.mean_p_yes:.3f}", str(stats.unread))
    if len(rows) > SHOWN_QUESTIONS:
        table.caption = f"... and {len(rows) - SHOWN_QUESTIONS} more questions (all in --out)"
    return table


@app.command()
def check(
    data: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet with input, response and optionally a "
                                              "per-item 'checklist' list.")],
    checklist: Annotated[Optional[Path], typer.Option(help="Questions for every item: one per line, or a JSON "
                                                           "list of strings / {question, weight}.")] = None,
    judge: JudgeOpt = "local",
    model: ModelOpt = None,
    field: FieldOpt = None, preset: PresetOpt = None, label_map: LabelMapOpt = None, limit: LimitOpt = None,
    out_path: OutOpt = None, report: ReportOpt = None, store: StoreOpt = DEFAULT_STORE,
    concurrency: ConcurrencyOpt = None, name: NameOpt = None, resume: ResumeOpt = None, vision: VisionOpt = False,
) -> None:
    """Check each response against yes/no questions: P(yes) per question, the mean, and which questions failed."""
    from jurist.protocols.checklist import ChecklistProtocol, load_checklist

    try:
        protocol = ChecklistProtocol(load_checklist(checklist) if checklist is not None else [])
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--checklist") from error
    source = DataSource(data, "score", field, preset, label_map, limit)
    job = JobOptions(judge=judge, model=model, out_path=out_path, report=report, store=store,
                     concurrency=concurrency, name=name, resume=resume, vision=vision)
    result = run_local(source, protocol, job, "check")
    out.print(question_table(result))
    _write_outputs(source, job, result)
    if result.run.status != "finished":
        raise typer.Exit(1)
