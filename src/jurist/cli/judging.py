"""``jurist score`` and ``jurist compare``: run a judge over a dataset, locally, on Ray, or as a cascade."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from jurist.backends import BackendError, resolve_backend
from jurist.backends.models import ModelUnavailable
from jurist.cli import templates
from jurist.cli.common import (
    DEFAULT_STORE,
    CalibrationOpt,
    CascadeOpt,
    ConcurrencyOpt,
    DataSource,
    EngineOpt,
    ExplainOpt,
    FieldOpt,
    JudgeOpt,
    LabelMapOpt,
    LimitOpt,
    ModelOpt,
    NameOpt,
    OutOpt,
    PresetOpt,
    RayAddressOpt,
    ReportOpt,
    ResumeOpt,
    StoreOpt,
    AttemptsOpt,
    PriceOpt,
    RpmOpt,
    TpmOpt,
    VisionOpt,
    app,
    err,
    fail,
    out,
    parse_price,
    print_summary,
    table,
    warn_skipped,
)
from jurist.cli.jury import AggregateOpt, JuryOpt, SamplesOpt, TemperatureOpt, WeightsOpt, sampling_strategy
from jurist.cli.templates import DimensionOpt, DimensionsOpt, ExamplesOpt, TemplateOpt
from jurist.engine import EngineConfig, RunResult, Store
from jurist.io import JuristInputError, write_judgments
from jurist.judge import Judge
from jurist.protocols.base import Protocol
from jurist.protocols.dimensions import DimensionsProtocol
from jurist.protocols.pairwise import DEFAULT_CRITERIA
from jurist.protocols.pointwise import DEFAULT_RUBRIC
from jurist.strategies import Single, Strategy, Swap
from jurist.strategies.dimensions import Dimensions
from jurist.strategies.jury import Jury


@dataclass(frozen=True)
class JobOptions:
    """How to run a judge over a data source: where, with what, and where the results go."""

    judge: str = "local"
    model: str | None = None
    explain: bool = False
    out_path: Path | None = None
    report: Path | None = None
    store: str = DEFAULT_STORE
    concurrency: int | None = None
    name: str | None = None
    resume: str | None = None
    engine: str = "local"
    ray_address: str | None = None
    cascade: Path | None = None
    calibration: Path | None = None
    vision: bool = False
    jury: str | None = None
    aggregate: str = "mean"
    weights: Path | None = None
    rpm: float | None = None
    tpm: float | None = None
    max_attempts: int = 4
    price: tuple[float, float] | None = None

    def engine_config(self, judge_spec: str) -> EngineConfig:
        """The engine settings of this job for a judge (concurrency defaults to what the judge can serve)."""
        from jurist.api import default_concurrency

        return EngineConfig(concurrency=self.concurrency or default_concurrency(judge_spec),
                            max_attempts=self.max_attempts, requests_per_minute=self.rpm,
                            tokens_per_minute=self.tpm, prices={judge_spec: self.price} if self.price else {})


def run_job(source: DataSource, protocol: Protocol, job: JobOptions, strategy: Strategy | None = None) -> None:
    """Run ``protocol`` over ``source`` as ``job`` says; print the summary, write verdicts and report."""
    from jurist.cli.jury import check_job, run_jury_job

    check_job(job, strategy)
    if job.jury:
        return run_jury_job(source, protocol, job, strategy)
    if job.cascade is not None:
        return _run_cascade(source, protocol, job)
    if job.calibration is not None:
        _check_calibration(job.calibration)
    if job.engine != "local":
        return _run_ray(source, protocol, job, strategy)

    try:
        backend = resolve_backend(job.judge, job.model, vision=job.vision)
    except (BackendError, ModelUnavailable) as error:
        fail(error)
    judge = Judge(backend, protocol, strategy, job.explain)
    result = judge_source(judge, source, job)
    if job.calibration is not None:
        result = _apply_calibration(result, job.calibration, job.store)
    print_summary(result, f"jurist {source.task} · {backend.spec} · run {result.run.id}")
    if isinstance(protocol, DimensionsProtocol):
        templates.print_dimensions(result.judgments, protocol.names)
    _write_outputs(source, job, result)
    if result.run.status != "finished":
        raise typer.Exit(1)


def judge_source(judge: Judge | Jury, source: DataSource, job: JobOptions) -> RunResult:
    """Run a judge (or a jury) over ``source`` with the job's store and engine settings; warn about bad rows."""
    from jurist.api import run_judge

    try:
        result = run_judge(judge, source.path, task=source.task, fields=source.fields,  # type: ignore[arg-type]
                           preset=source.preset, label_map=source.labels, limit=source.limit, store=job.store,
                           name=job.name, resume=job.resume, command=" ".join(sys.argv),
                           config=job.engine_config(judge.spec))
    except (JuristInputError, ValueError) as error:
        fail(error)
    warn_skipped(result.input_errors)
    return result


def _write_outputs(source: DataSource, job: JobOptions, result: RunResult, ray: bool = False) -> None:
    if job.out_path and not ray:
        write_judgments(job.out_path, result.judgments)
        out.print(f"verdicts: {job.out_path}")
    if job.report:
        from jurist.report import write_report

        items = {item.id: item for item in source.load().items}
        write_report(job.report, title=f"jurist {source.task}: {source.path.name}", judgments=result.judgments,
                     items=items, run=result.run)
        out.print(f"report: {job.report}")


def _run_ray(source: DataSource, protocol: Protocol, job: JobOptions, strategy: Strategy | None) -> None:
    """``--engine ray``: the same judge on Ray Data (jurist.engine.distributed); verdicts go to Parquet in --out."""
    if job.engine != "ray":
        raise typer.BadParameter(f"--engine {job.engine!r}: expected local or ray")
    if job.out_path is None:
        fail("--engine ray writes Parquet part files: give --out DIR")
    from jurist.engine.distributed import JudgeSpec, run_on_ray

    spec = JudgeSpec(job.judge, protocol, model=job.model, explain=job.explain,
                     strategy="swap" if isinstance(strategy, Swap) else "single" if strategy else None,
                     backend_options={"vision": True} if job.vision else {})
    try:
        summary = run_on_ray(source.path, spec, task=source.task, out_path=job.out_path,  # type: ignore[arg-type]
                             fields=source.fields, preset=source.preset, label_map=source.labels,
                             limit=source.limit, concurrency_per_actor=job.concurrency or 32,
                             ray_address=job.ray_address)
    except (BackendError, ModelUnavailable, JuristInputError, ValueError, ImportError) as error:
        fail(error)
    result = summary.to_run_result(" ".join(sys.argv))
    warn_skipped(result.input_errors)
    print_summary(result, f"jurist {source.task} · ray · {summary.judge.get('judge')} · run {summary.run_id}")
    out.print(f"verdicts: {job.out_path}/ ({summary.judged} judged now, {summary.skipped} already there)")
    _write_outputs(source, job, result, ray=True)


def _check_calibration(path: Path) -> None:
    """A bad calibrator file is an error before any model call, not after the run."""
    from jurist.metrics.calibration import load_calibrator

    try:
        load_calibrator(path)
    except ValueError as error:
        fail(error)


def _apply_calibration(result: RunResult, path: Path, store: str) -> RunResult:
    """Add ``metadata["calibrated_confidence"]`` to a run's verdicts, in the result and in the store."""
    from jurist.metrics.calibration import apply_calibration, load_calibrator

    try:
        calibrator = load_calibrator(path)
    except ValueError as error:
        fail(error)
    judgments = apply_calibration(result.judgments, calibrator)
    the_store = Store(store)
    for judgment in judgments:
        the_store.update_judgment(result.run.id, judgment)
    the_store.close()
    out.print(f"calibration: {calibrator.kind} from {path} -> metadata.calibrated_confidence")
    return result.model_copy(update={"judgments": judgments})


def _run_cascade(source: DataSource, protocol: Protocol, job: JobOptions) -> None:
    """``--cascade FILE``: run the chain; items no judge is confident about go to the review queue."""
    from jurist.strategies.cascade import load_cascade, run_cascade

    assert job.cascade is not None
    try:
        spec = load_cascade(job.cascade)
        if spec.task != source.task:
            raise ValueError(f"{job.cascade} was fitted for `jurist {spec.task}`, not `jurist {source.task}`")
        loaded = source.load()
    except (JuristInputError, ValueError) as error:
        fail(error)
    if spec.protocol and spec.protocol != protocol.identity:
        err.print(f"[yellow]warning:[/yellow] the cascade was fitted with another protocol ({spec.protocol}); "
                  "its guarantee applies to that protocol")
    errors = [str(e) for e in loaded.errors]
    warn_skipped(errors)
    try:
        result = run_cascade(spec, loaded.items, protocol=protocol, store=job.store, name=job.name,
                             command=" ".join(sys.argv), concurrency=job.concurrency, progress=None,
                             input_errors=errors)
    except (BackendError, ModelUnavailable, ValueError) as error:
        fail(error)
    chain = " > ".join(s.judge for s in spec.stages)
    out.print(table(f"jurist {source.task} · cascade {chain} · run {result.run_id}", result.rows()))
    if job.out_path:
        write_judgments(job.out_path, result.judgments)
        out.print(f"verdicts: {job.out_path} (metadata.cascade says which stage decided)")
    if result.queued:
        out.print(f"{result.queued} items wait in the review queue of {job.store} (run {result.run_id})")


@app.command()
def score(
    data: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet with input and response.")],
    judge: JudgeOpt = "local",
    model: ModelOpt = None,
    rubric: Annotated[str, typer.Option(help="Rubric text, or @FILE.")] = DEFAULT_RUBRIC,
    scale: Annotated[str, typer.Option(help="1-5, 1-10, pass/fail, yes/no.")] = "1-5",
    explain: ExplainOpt = False,
    field: FieldOpt = None, preset: PresetOpt = None, label_map: LabelMapOpt = None, limit: LimitOpt = None,
    out_path: OutOpt = None, report: ReportOpt = None, store: StoreOpt = DEFAULT_STORE,
    concurrency: ConcurrencyOpt = None, name: NameOpt = None, resume: ResumeOpt = None,
    engine: EngineOpt = "local", ray_address: RayAddressOpt = None,
    cascade: CascadeOpt = None, calibration: CalibrationOpt = None, vision: VisionOpt = False,
    jury: JuryOpt = None, aggregate: AggregateOpt = "mean", weights: WeightsOpt = None,
    samples: SamplesOpt = None, temperature: TemperatureOpt = 0.7,
    dimension: DimensionOpt = None, dimensions: DimensionsOpt = None,
    template: TemplateOpt = None, examples: ExamplesOpt = None,
    rpm: RpmOpt = None, tpm: TpmOpt = None, max_attempts: AttemptsOpt = 4, price: PriceOpt = None,
) -> None:
    """Grade each response on a scale: expected score, most likely score, distribution, confidence."""
    strategy = sampling_strategy(samples, temperature, (0,)) or Single()
    source = DataSource(data, "score", field, preset, label_map, limit)
    protocol = templates.score_protocol(source, rubric, scale, dimension, dimensions, template, examples)
    if isinstance(protocol, DimensionsProtocol):
        unsupported = [name for name, used in (("--explain", explain), ("--engine ray", engine != "local"),
                                               ("--cascade", cascade), ("--jury", jury), ("--samples", samples))
                       if used]
        if unsupported:
            fail(f"{', '.join(unsupported)}: not available with --dimension/--dimensions")
        strategy = Dimensions(protocol)
    run_job(source, protocol,
            JobOptions(judge, model, explain, out_path, report, store, concurrency, name, resume, engine,
                       ray_address, cascade, calibration, vision=vision, jury=jury, aggregate=aggregate,
                       weights=weights, rpm=rpm, tpm=tpm, max_attempts=max_attempts, price=parse_price(price)),
            strategy)


@app.command()
def compare(
    data: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet with input, response_a and response_b.")],
    judge: JudgeOpt = "local",
    model: ModelOpt = None,
    criteria: Annotated[str, typer.Option(help="What makes a response better, or @FILE.")] = DEFAULT_CRITERIA,
    swap: Annotated[bool, typer.Option(help="Judge both orders and combine (removes position bias).")] = True,
    tie: Annotated[bool, typer.Option(help="Let the judge answer 'tie'.")] = False,
    explain: ExplainOpt = False,
    field: FieldOpt = None, preset: PresetOpt = None, label_map: LabelMapOpt = None, limit: LimitOpt = None,
    out_path: OutOpt = None, report: ReportOpt = None, store: StoreOpt = DEFAULT_STORE,
    concurrency: ConcurrencyOpt = None, name: NameOpt = None, resume: ResumeOpt = None,
    engine: EngineOpt = "local", ray_address: RayAddressOpt = None,
    cascade: CascadeOpt = None, calibration: CalibrationOpt = None, vision: VisionOpt = False,
    jury: JuryOpt = None, aggregate: AggregateOpt = "mean", weights: WeightsOpt = None,
    samples: SamplesOpt = None, temperature: TemperatureOpt = 0.7,
    template: TemplateOpt = None, examples: ExamplesOpt = None,
    rpm: RpmOpt = None, tpm: TpmOpt = None, max_attempts: AttemptsOpt = 4, price: PriceOpt = None,
) -> None:
    """Compare two responses: P(A), P(B), P(tie), a preference, and whether both orders agreed."""
    if judge.startswith("probe:") and not swap:
        # a probe scores each order alone; only the two orders combined are order-symmetric (jurist.learn.probe)
        fail("--judge probe:DIR judges both orders: --no-swap is not available for a learned pairwise judge")
    source = DataSource(data, "compare", field, preset, label_map, limit)
    protocol = templates.compare_protocol(source, criteria, tie, template, examples)
    strategy = sampling_strategy(samples, temperature, (0, 1) if swap else (0,)) or (Swap() if swap else Single())
    run_job(source, protocol,
            JobOptions(judge, model, explain, out_path, report, store, concurrency, name, resume, engine,
                       ray_address, cascade, calibration, vision=vision, jury=jury, aggregate=aggregate,
                       weights=weights, rpm=rpm, tpm=tpm, max_attempts=max_attempts, price=parse_price(price)),
            strategy)
