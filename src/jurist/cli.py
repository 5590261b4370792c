"""The ``jurist`` command line: score, compare, runs, export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Column, Table

from jurist.backends import BackendError, resolve_backend
from jurist.backends.models import ModelUnavailable
from jurist.engine import RunResult, Store
from jurist.io import JuristInputError, write_judgments
from jurist.judge import Judge
from jurist.protocols import PairwiseProtocol, PointwiseProtocol
from jurist.protocols.pairwise import DEFAULT_CRITERIA
from jurist.protocols.pointwise import DEFAULT_RUBRIC
from jurist.strategies import Single, Swap

app = typer.Typer(help="Turn any language model into a calibrated, debiased, audited judge.",
                  no_args_is_help=True, add_completion=False)
out = Console()
err = Console(stderr=True)

DEFAULT_STORE = ".jurist/runs.db"

JudgeOpt = Annotated[str, typer.Option(help="local | local:PATH.gguf | http://HOST:PORT/v1 | openai:MODEL")]
ModelOpt = Annotated[Optional[str], typer.Option(help="Model name served at an http judge.")]
FieldOpt = Annotated[Optional[list[str]], typer.Option("--field", help="NAME=COLUMN, e.g. input=instruction.")]
PresetOpt = Annotated[Optional[str], typer.Option(help="Dataset preset: llmbar, autoj, pandalm, hhh, evalbiasbench, "
                                                       "summeval, topical_chat.")]
LabelMapOpt = Annotated[Optional[list[str]], typer.Option("--label-map", help="RAW=LABEL, e.g. 0=A.")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", help="Write verdicts here (.jsonl or .parquet).")]
ReportOpt = Annotated[Optional[Path], typer.Option(help="Write an HTML report here.")]
StoreOpt = Annotated[str, typer.Option(help="SQLite store: runs, judgments and the completion cache.")]


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    result = {}
    for value in values or []:
        key, sep, target = value.partition("=")
        if not sep or not key or not target:
            raise typer.BadParameter(f"{option} {value!r}: expected NAME=VALUE")
        result[key.strip()] = target.strip()
    return result


def _text_or_file(value: str) -> str:
    """``@path`` reads the text from a file."""
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise typer.BadParameter(f"no file {path}")
        return path.read_text(encoding="utf-8").strip()
    return value


def _print_summary(result: RunResult, title: str) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value")
    for name, value in result.summary().rows():
        table.add_row(name, value)
    stats = result.stats
    table.add_row("model calls / cache hits", f"{stats.get('model_calls', 0)} / {stats.get('cache_hits', 0)}")
    table.add_row("prompt tokens (reused from KV cache)",
                  f"{stats.get('prompt_tokens', 0)} ({stats.get('cached_prompt_tokens', 0)})")
    if "cost_usd" in stats:
        table.add_row("cost", f"${stats['cost_usd']:.4f}")
    table.add_row("wall time", f"{stats.get('wall_s', 0):.1f} s")
    out.print(table)


def _run(judge_spec: str, model: str | None, protocol: PairwiseProtocol | PointwiseProtocol, swap: bool,
         explain: bool, data: Path, task: str, field: list[str] | None, preset: str | None,
         label_map: list[str] | None, limit: int | None, out_path: Path | None, report: Path | None,
         store: str, concurrency: int | None, name: str | None, resume: str | None) -> None:
    from jurist.api import run_judge

    try:
        backend = resolve_backend(judge_spec, model)
    except (BackendError, ModelUnavailable) as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    judge = Judge(backend, protocol, (Swap() if swap else Single()) if task == "compare" else Single(), explain)
    try:
        result = run_judge(judge, data, task=task, fields=_pairs(field, "--field") or None, preset=preset,
                           label_map=_pairs(label_map, "--label-map") or None, limit=limit, store=store,
                           concurrency=concurrency, name=name, resume=resume, command=" ".join(sys.argv))
    except (JuristInputError, ValueError) as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    for line in result.input_errors[:20]:
        err.print(f"[yellow]skipped:[/yellow] {line}")
    if len(result.input_errors) > 20:
        err.print(f"[yellow]... and {len(result.input_errors) - 20} more bad rows[/yellow]")
    _print_summary(result, f"jurist {task} · {backend.spec} · run {result.run.id}")
    if out_path:
        write_judgments(out_path, result.judgments)
        out.print(f"verdicts: {out_path}")
    if report:
        from jurist.io import load_items
        from jurist.report import write_report

        loaded = load_items(data, task, fields=_pairs(field, "--field") or None, preset=preset,  # type: ignore[arg-type]
                            label_map=_pairs(label_map, "--label-map") or None, limit=limit)
        write_report(report, title=f"jurist {task}: {data.name}", judgments=result.judgments,
                     items={item.id: item for item in loaded.items}, run=result.run)
        out.print(f"report: {report}")
    if result.run.status != "finished":
        raise typer.Exit(1)


@app.command()
def score(
    data: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet with input and response.")],
    judge: JudgeOpt = "local",
    model: ModelOpt = None,
    rubric: Annotated[str, typer.Option(help="Rubric text, or @FILE.")] = DEFAULT_RUBRIC,
    scale: Annotated[str, typer.Option(help="1-5, 1-10, pass/fail, yes/no.")] = "1-5",
    explain: Annotated[bool, typer.Option(help="Ask for a short rationale after the verdict.")] = False,
    field: FieldOpt = None, preset: PresetOpt = None, label_map: LabelMapOpt = None,
    limit: Annotated[Optional[int], typer.Option(help="Judge only the first N items.")] = None,
    out_path: OutOpt = None, report: ReportOpt = None, store: StoreOpt = DEFAULT_STORE,
    concurrency: Annotated[Optional[int], typer.Option(help="Requests in flight (default 1 local, 8 http).")] = None,
    name: Annotated[Optional[str], typer.Option(help="A name for this run.")] = None,
    resume: Annotated[Optional[str], typer.Option(help="Continue the run with this id or name.")] = None,
) -> None:
    """Grade each response on a scale: expected score, most likely score, distribution, confidence."""
    try:
        protocol = PointwiseProtocol(_text_or_file(rubric), scale)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    _run(judge, model, protocol, False, explain, data, "score", field, preset, label_map, limit, out_path, report,
         store, concurrency, name, resume)


@app.command()
def compare(
    data: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet with input, response_a and response_b.")],
    judge: JudgeOpt = "local",
    model: ModelOpt = None,
    criteria: Annotated[str, typer.Option(help="What makes a response better, or @FILE.")] = DEFAULT_CRITERIA,
    swap: Annotated[bool, typer.Option(help="Judge both orders and combine (removes position bias).")] = True,
    tie: Annotated[bool, typer.Option(help="Let the judge answer 'tie'.")] = False,
    explain: Annotated[bool, typer.Option(help="Ask for a short rationale after the verdict.")] = False,
    field: FieldOpt = None, preset: PresetOpt = None, label_map: LabelMapOpt = None,
    limit: Annotated[Optional[int], typer.Option(help="Judge only the first N items.")] = None,
    out_path: OutOpt = None, report: ReportOpt = None, store: StoreOpt = DEFAULT_STORE,
    concurrency: Annotated[Optional[int], typer.Option(help="Requests in flight (default 1 local, 8 http).")] = None,
    name: Annotated[Optional[str], typer.Option(help="A name for this run.")] = None,
    resume: Annotated[Optional[str], typer.Option(help="Continue the run with this id or name.")] = None,
) -> None:
    """Compare two responses: P(A), P(B), P(tie), a preference, and whether both orders agreed."""
    protocol = PairwiseProtocol(_text_or_file(criteria), allow_tie=tie)
    _run(judge, model, protocol, swap, explain, data, "compare", field, preset, label_map, limit, out_path, report,
         store, concurrency, name, resume)


@app.command()
def runs(store: StoreOpt = DEFAULT_STORE) -> None:
    """List the runs in a store."""
    import datetime

    # Ids are copied into `export`: never wrap or cut them.
    table = Table(Column("id", no_wrap=True, min_width=12), "name", "created", "status", "judge", "protocol",
                  "scored", "unscored", "failed", "model calls", "cache hits")
    for run in Store(store).runs():
        t = run.totals
        table.add_row(run.id, run.name or "", datetime.datetime.fromtimestamp(run.created).strftime("%Y-%m-%d %H:%M"),
                      run.status, str(run.judge.get("judge")), str(run.judge.get("protocol")),
                      *(str(t.get(k, "")) for k in ("scored", "unscored", "failed", "model_calls", "cache_hits")))
    out.print(table)


@app.command()
def export(
    run: Annotated[str, typer.Argument(help="Run id, id prefix or name.")],
    out_path: Annotated[Path, typer.Option("--out", help="Output file.")],
    format: Annotated[Optional[str], typer.Option(help="jsonl or parquet (default: from --out).")] = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Export a run's judgments as JSONL or Parquet."""
    record = Store(store).find_run(run)
    if record is None:
        err.print(f"[red]error:[/red] no run {run!r} in {store}")
        raise typer.Exit(2)
    target = out_path.with_suffix(f".{format}") if format else out_path
    count = write_judgments(target, Store(store).judgments(record.id))
    out.print(f"{count} judgments -> {target}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
