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
EngineOpt = Annotated[str, typer.Option(help="local (this process) or ray (Ray Data; --out is a directory).")]
RayAddressOpt = Annotated[Optional[str], typer.Option(help="With --engine ray: the cluster to join "
                                                             "(auto, ray://HEAD:10001).")]
CascadeOpt = Annotated[Optional[Path], typer.Option(help="Run the escalation cascade fitted by `jurist calibrate` "
                                                         "(replaces --judge); unsure items go to the review queue.")]
CalibrationOpt = Annotated[Optional[Path], typer.Option(help="A calibrator JSON (`jurist meta --save-calibration`): "
                                                             "adds metadata.calibrated_confidence to every verdict.")]


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
         store: str, concurrency: int | None, name: str | None, resume: str | None, engine: str = "local",
         ray_address: str | None = None, calibration: Path | None = None) -> None:
    from jurist.api import run_judge

    if calibration is not None:
        _check_calibration(calibration)
    if engine != "local":
        return _run_ray(judge_spec, model, protocol, swap, explain, data, task, field, preset, label_map, limit,
                        out_path, report, concurrency, engine, ray_address)

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
    if calibration is not None:
        result = _apply_calibration(result, calibration, store)
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


def _run_ray(judge_spec: str, model: str | None, protocol: PairwiseProtocol | PointwiseProtocol, swap: bool,
             explain: bool, data: Path, task: str, field: list[str] | None, preset: str | None,
             label_map: list[str] | None, limit: int | None, out_path: Path | None, report: Path | None,
             concurrency: int | None, engine: str, ray_address: str | None) -> None:
    """``--engine ray``: the same judge on Ray Data (jurist.engine.distributed); verdicts go to Parquet in --out."""
    if engine != "ray":
        raise typer.BadParameter(f"--engine {engine!r}: expected local or ray")
    if out_path is None:
        err.print("[red]error:[/red] --engine ray writes Parquet part files: give --out DIR")
        raise typer.Exit(2)
    from jurist.engine.distributed import JudgeSpec, run_on_ray

    fields, labels = _pairs(field, "--field") or None, _pairs(label_map, "--label-map") or None
    spec = JudgeSpec(judge_spec, protocol, model=model, explain=explain,
                     strategy=("swap" if swap else "single") if task == "compare" else "single")
    try:
        summary = run_on_ray(data, spec, task=task, out_path=out_path,  # type: ignore[arg-type]
                             fields=fields, preset=preset, label_map=labels, limit=limit,
                             concurrency_per_actor=concurrency or 32, ray_address=ray_address)
    except (BackendError, ModelUnavailable, JuristInputError, ValueError, ImportError) as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    result = summary.to_run_result(" ".join(sys.argv))
    for line in result.input_errors[:20]:
        err.print(f"[yellow]skipped:[/yellow] {line}")
    if len(result.input_errors) > 20:
        err.print(f"[yellow]... and {len(result.input_errors) - 20} more bad rows[/yellow]")
    _print_summary(result, f"jurist {task} · ray · {summary.judge.get('judge')} · run {summary.run_id}")
    out.print(f"verdicts: {out_path}/ ({summary.judged} judged now, {summary.skipped} already there)")
    if report:
        from jurist.io import load_items
        from jurist.report import write_report

        loaded = load_items(data, task, fields=fields, preset=preset,  # type: ignore[arg-type]
                            label_map=labels, limit=limit)
        write_report(report, title=f"jurist {task}: {data.name}", judgments=result.judgments,
                     items={item.id: item for item in loaded.items}, run=result.run)
        out.print(f"report: {report}")


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
    engine: EngineOpt = "local", ray_address: RayAddressOpt = None,
    cascade: CascadeOpt = None, calibration: CalibrationOpt = None,
) -> None:
    """Grade each response on a scale: expected score, most likely score, distribution, confidence."""
    try:
        protocol = PointwiseProtocol(_text_or_file(rubric), scale)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    if cascade is not None:
        return _run_cascade(cascade, protocol, data, "score", field, preset, label_map, limit, out_path, store,
                            concurrency, name)
    _run(judge, model, protocol, False, explain, data, "score", field, preset, label_map, limit, out_path, report,
         store, concurrency, name, resume, engine=engine, ray_address=ray_address, calibration=calibration)


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
    engine: EngineOpt = "local", ray_address: RayAddressOpt = None,
    cascade: CascadeOpt = None, calibration: CalibrationOpt = None,
) -> None:
    """Compare two responses: P(A), P(B), P(tie), a preference, and whether both orders agreed."""
    protocol = PairwiseProtocol(_text_or_file(criteria), allow_tie=tie)
    if cascade is not None:
        return _run_cascade(cascade, protocol, data, "compare", field, preset, label_map, limit, out_path, store,
                            concurrency, name)
    _run(judge, model, protocol, swap, explain, data, "compare", field, preset, label_map, limit, out_path, report,
         store, concurrency, name, resume, engine=engine, ray_address=ray_address, calibration=calibration)


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
    # A pipe or a CI log is 80 columns wide: print wider rather than squeeze the ids away.
    Console(width=max(out.width, 160)).print(table)


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


# -- trust the judge: meta, calibrate, --cascade, --calibration ------------------------------------


def _table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value")
    for name, value in rows:
        table.add_row(name, value)
    return table


def _check_calibration(path: Path) -> None:
    """A bad calibrator file is an error before any model call, not after the run."""
    from jurist.metrics.calibration import load_calibrator

    try:
        load_calibrator(path)
    except ValueError as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error


def _apply_calibration(result: RunResult, path: Path, store: str) -> RunResult:
    """Add ``metadata["calibrated_confidence"]`` to a run's verdicts, in the result and in the store."""
    from jurist.metrics.calibration import apply_calibration, load_calibrator

    try:
        calibrator = load_calibrator(path)
    except ValueError as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    judgments = apply_calibration(result.judgments, calibrator)
    the_store = Store(store)
    for judgment in judgments:
        the_store.update_judgment(result.run.id, judgment)
    the_store.close()
    out.print(f"calibration: {calibrator.kind} from {path} -> metadata.calibrated_confidence")
    return result.model_copy(update={"judgments": judgments})


def _run_cascade(path: Path, protocol: PairwiseProtocol | PointwiseProtocol, data: Path, task: str,
                 field: list[str] | None, preset: str | None, label_map: list[str] | None, limit: int | None,
                 out_path: Path | None, store: str, concurrency: int | None, name: str | None) -> None:
    """``--cascade FILE``: run the chain; items no judge is confident about go to the review queue."""
    from jurist.io import load_items
    from jurist.strategies.cascade import load_cascade, run_cascade

    try:
        spec = load_cascade(path)
        if spec.task != task:
            raise ValueError(f"{path} was fitted for `jurist {spec.task}`, not `jurist {task}`")
        loaded = load_items(data, task, fields=_pairs(field, "--field") or None, preset=preset,  # type: ignore[arg-type]
                            label_map=_pairs(label_map, "--label-map") or None, limit=limit)
    except (JuristInputError, ValueError) as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    if spec.protocol and spec.protocol != protocol.identity:
        err.print(f"[yellow]warning:[/yellow] the cascade was fitted with another protocol ({spec.protocol}); "
                  "its guarantee applies to that protocol")
    for line in [str(e) for e in loaded.errors][:20]:
        err.print(f"[yellow]skipped:[/yellow] {line}")
    try:
        result = run_cascade(spec, loaded.items, protocol=protocol, store=store, name=name,
                             command=" ".join(sys.argv), concurrency=concurrency, progress=None,
                             input_errors=[str(e) for e in loaded.errors])
    except (BackendError, ModelUnavailable, ValueError) as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    chain = " > ".join(s.judge for s in spec.stages)
    out.print(_table(f"jurist {task} · cascade {chain} · run {result.run_id}", result.rows()))
    if out_path:
        write_judgments(out_path, result.judgments)
        out.print(f"verdicts: {out_path} (metadata.cascade says which stage decided)")
    if result.queued:
        out.print(f"{result.queued} items wait in the review queue of {store} (run {result.run_id})")


def _load_verdicts(verdicts: str, store: str) -> list:
    from jurist.io import read_judgments

    path = Path(verdicts)
    if path.is_file():
        try:
            return read_judgments(path)
        except (JuristInputError, ValueError, KeyError) as error:
            err.print(f"[red]error:[/red] {path}: cannot read judgments: {error}")
            raise typer.Exit(2) from error
    if not Path(store).is_file():
        err.print(f"[red]error:[/red] {verdicts!r} is neither a judgments file nor a run (no store at {store})")
        raise typer.Exit(2)
    the_store = Store(store)
    record = the_store.find_run(verdicts)
    if record is None:
        err.print(f"[red]error:[/red] {verdicts!r} is neither a judgments file nor a run in {store}")
        raise typer.Exit(2)
    return list(the_store.judgments(record.id))


@app.command()
def meta(
    verdicts: Annotated[str, typer.Argument(help="Judgments (.jsonl/.parquet from --out or export) or a run id/name.")],
    labels: Annotated[str, typer.Option(help="Where the human labels are: 'label', or a metadata field holding "
                                             "one label or a list (one per annotator, e.g. human_labels).")] = "label",
    group: Annotated[Optional[str], typer.Option(help="Metadata field for within-group correlations "
                                                      "(e.g. article_id).")] = None,
    bins: Annotated[int, typer.Option(help="Bins of the reliability diagram and ECE.")] = 10,
    binning: Annotated[str, typer.Option(help="uniform (equal width) or quantile (equal mass) bins.")] = "uniform",
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write every number as JSON.")] = None,
    fit_calibration: Annotated[Optional[str], typer.Option(help="Fit a calibrator on these verdicts: "
                                                                "temperature, platt or isotonic.")] = None,
    save_calibration: Annotated[Optional[Path], typer.Option(help="Where to save it (for --calibration).")] = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Trust the judge: agreement with humans (and the human ceiling), calibration, consistency, with 95% CIs."""
    import json as _json

    from jurist.metrics.meta import meta_report

    judgments = _load_verdicts(verdicts, store)
    if not judgments:
        err.print(f"[red]error:[/red] no judgments in {verdicts}")
        raise typer.Exit(2)
    if binning not in ("uniform", "quantile"):
        raise typer.BadParameter(f"--binning {binning!r}: expected uniform or quantile")
    report = meta_report(judgments, labels=labels, group=group, n_bins=bins, binning=binning)  # type: ignore[arg-type]
    for title, rows in report.sections():
        out.print(_table(title, rows))
    if fit_calibration:
        from jurist.metrics.calibration import confidence_and_correct, fit_calibrator
        from jurist.metrics.meta import _majority, labels_of

        gold = [_majority(labels_of(j, labels)) for j in judgments]
        conf, ok = confidence_and_correct(judgments, gold)
        try:
            calibrator = fit_calibrator(fit_calibration, conf, ok)
        except ValueError as error:
            err.print(f"[red]error:[/red] {error}")
            raise typer.Exit(2) from error
        target = save_calibration or Path(f"calibration-{fit_calibration}.json")
        calibrator.save(target)
        out.print(f"calibrator ({calibrator.kind}, fitted on {calibrator.n_fit} labelled verdicts): {target}")
    if json_out:
        json_out.write_text(_json.dumps(report.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
        out.print(f"json: {json_out}")


@app.command()
def calibrate(
    golden: Annotated[Path, typer.Argument(help="Labelled items (JSONL, CSV, Parquet, or a preset's file).")],
    chain: Annotated[str, typer.Option(help="Judges from cheap to strong, comma-separated, ending with "
                                            "'human' for the review queue, e.g. local,local:1.5b,human.")] = "local,human",
    target_agreement: Annotated[float, typer.Option(help="Agreement with humans the auto-decided items must reach.")] = 0.9,
    risk: Annotated[float, typer.Option(help="Allowed probability that they do not (over golden-set draws).")] = 0.05,
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the fitted cascade.")] = Path("cascade.json"),
    task: Annotated[Optional[str], typer.Option(help="compare or score (default: the preset's, else compare).")] = None,
    model: ModelOpt = None,
    criteria: Annotated[str, typer.Option(help="compare: what makes a response better, or @FILE.")] = DEFAULT_CRITERIA,
    tie: Annotated[bool, typer.Option(help="compare: let the judge answer 'tie'.")] = False,
    swap: Annotated[bool, typer.Option(help="compare: judge both orders and combine.")] = True,
    rubric: Annotated[str, typer.Option(help="score: rubric text, or @FILE.")] = DEFAULT_RUBRIC,
    scale: Annotated[str, typer.Option(help="score: 1-5, 1-10, pass/fail, yes/no.")] = "1-5",
    tolerance: Annotated[float, typer.Option(help="score: |top score - label| <= this counts as agreement.")] = 0.0,
    calibration: Annotated[Optional[str], typer.Option(help="Also fit a calibrator per stage: temperature, "
                                                            "platt or isotonic.")] = None,
    field: FieldOpt = None, preset: PresetOpt = None, label_map: LabelMapOpt = None,
    limit: Annotated[Optional[int], typer.Option(help="Use only the first N items.")] = None,
    store: StoreOpt = DEFAULT_STORE,
    concurrency: Annotated[Optional[int], typer.Option(help="Requests in flight (default 1 local, 8 http).")] = None,
) -> None:
    """Fit confidence thresholds for a chain of judges (Learn-then-Test) so auto-decided items meet a target agreement."""
    from jurist.io import PRESETS, load_items
    from jurist.strategies.cascade import calibrate_chain

    the_task = task or (PRESETS[preset].task if preset in PRESETS else "compare")
    if the_task not in ("compare", "score"):
        raise typer.BadParameter(f"--task {the_task!r}: expected compare or score")
    try:
        protocol: PairwiseProtocol | PointwiseProtocol = (
            PairwiseProtocol(_text_or_file(criteria), allow_tie=tie) if the_task == "compare"
            else PointwiseProtocol(_text_or_file(rubric), scale))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    try:
        loaded = load_items(golden, the_task, fields=_pairs(field, "--field") or None, preset=preset,  # type: ignore[arg-type]
                            label_map=_pairs(label_map, "--label-map") or None, limit=limit)
        for line in [str(e) for e in loaded.errors][:20]:
            err.print(f"[yellow]skipped:[/yellow] {line}")
        spec = calibrate_chain(loaded.items, chain.split(","), protocol=protocol, target=target_agreement, risk=risk,
                               store=store, swap=swap, tolerance=tolerance, model=model, calibration=calibration,
                               golden_path=golden, concurrency=concurrency, progress=None,
                               command=" ".join(sys.argv))
    except (JuristInputError, BackendError, ModelUnavailable, ValueError) as error:
        err.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    spec.save(out_path)
    rows = [("golden items (labelled)", f"{spec.golden['labelled']} of {spec.golden['n']}"),
            ("target agreement / risk", f"{spec.target} / {spec.risk}"),
            ("method", spec.method)]
    n = spec.golden["labelled"]
    for k, (stage, cost) in enumerate(zip(spec.stages, spec.fitted_on["stages"], strict=False)):
        fit = stage.fit
        if fit is None:
            continue
        thr = ("accept all (no guarantee)" if stage.threshold is None
               else "accept none (no threshold certified)" if stage.threshold == float("inf")
               else f"conf >= {stage.threshold:.6g}")
        rows.append((f"stage {k + 1}: {stage.judge}", thr))
        agreement = f", agreement {fit.agreement:.3f}" if fit.accepted else ""
        p = f", p = {fit.p_value:.3g}" if fit.p_value is not None else ""
        rows.append(("  golden items reached / accepted", f"{fit.n} / {fit.accepted} ({fit.accepted / n:.1%} of all)"
                     f"{agreement}{p}"))
        rows.append(("  cost", f"{cost['prompt_tokens']} prompt tokens; {cost['model_calls']} model calls, "
                               f"{cost.get('cache_hits', 0)} cache hits, {cost['wall_s']:.1f} s"))
    rows.append(("coverage on the golden set", f"{spec.fitted_on['coverage']:.1%}"))
    if spec.has_human:
        rows.append(("to human review (golden set)", f"{spec.fitted_on['human']} ({spec.fitted_on['human'] / n:.1%})"))
    out.print(_table(f"jurist calibrate · {' > '.join(s.judge for s in spec.stages)}", rows))
    if not spec.has_human:
        err.print("[yellow]warning:[/yellow] no 'human' stage: the last judge decides every remaining item and no "
                  "agreement is guaranteed")
    out.print(f"cascade: {out_path}  (use with --cascade {out_path})")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
