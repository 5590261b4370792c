"""Juries and self-consistency on the command line.

``jurist compare/score --jury local,local:1.5b --aggregate mean|majority|learned [--weights FILE]``
runs several judges on every item (routed here from ``cli.judging.run_job``);
``jurist jury-fit GOLDEN --jury ... --out weights.json`` fits the learned weights
on a labelled golden set. ``--samples K --temperature T`` (self-consistency)
only picks the strategy, in :func:`sampling_strategy`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from jurist.backends import BackendError, resolve_backend
from jurist.backends.models import ModelUnavailable
from jurist.cli.common import (
    DEFAULT_STORE,
    ConcurrencyOpt,
    DataSource,
    FieldOpt,
    LabelMapOpt,
    LimitOpt,
    ModelOpt,
    PresetOpt,
    StoreOpt,
    app,
    fail,
    out,
    print_summary,
    table,
    text_or_file,
    warn_skipped,
)
from jurist.io import JuristInputError
from jurist.judge import Judge
from jurist.protocols.base import Protocol
from jurist.strategies import Strategy
from jurist.strategies.jury import AGGREGATES, Jury, JuryWeights, aggregate, fit_weights
from jurist.strategies.self_consistency import SelfConsistency

if TYPE_CHECKING:
    from jurist.cli.judging import JobOptions

JuryOpt = Annotated[Optional[str], typer.Option(
    help="Judge with a jury: comma-separated judges of different model families, e.g. local,local:1.5b "
         "(replaces --judge). Reports disagreement and flags items the jurors disagree on.")]
AggregateOpt = Annotated[str, typer.Option(help="How the jury decides: mean (probability), majority (vote; a split "
                                                "is a tie), learned (--weights from `jurist jury-fit`).")]
WeightsOpt = Annotated[Optional[Path], typer.Option(help="Jury weights JSON from `jurist jury-fit` "
                                                         "(with --aggregate learned).")]
SamplesOpt = Annotated[Optional[int], typer.Option(
    help="Self-consistency: sample K answers per view at --temperature without log-probabilities; "
         "the distribution is the vote shares, the confidence the top share.")]
TemperatureOpt = Annotated[float, typer.Option(help="Sampling temperature for --samples.")]


def sampling_strategy(samples: int | None, temperature: float, views: tuple[int, ...]) -> SelfConsistency | None:
    """The self-consistency strategy for ``--samples``, or None without it."""
    if samples is None:
        return None
    try:
        return SelfConsistency(samples, temperature, views)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


def check_job(job: JobOptions, strategy: Strategy | None) -> None:
    """Refuse the combinations a jury or sampling does not run in, rather than quietly doing something else."""
    sampled = isinstance(strategy, SelfConsistency)
    what = "--jury" if job.jury else "--samples"
    if not (job.jury or sampled):
        return
    if job.engine != "local":
        fail(f"{what} runs on the local engine only (not --engine {job.engine})")
    if job.cascade is not None:
        fail(f"{what} and --cascade are two ways to combine judges: choose one")
    if job.aggregate not in AGGREGATES:
        fail(f"--aggregate {job.aggregate!r}: expected one of {', '.join(AGGREGATES)}")
    if job.jury is None and (job.aggregate != "mean" or job.weights is not None):
        fail("--aggregate and --weights need --jury")


def build_jury(specs: str, model: str | None, protocol: Protocol, strategy: Strategy | None, explain: bool,
               how: str = "mean", weights_path: Path | None = None) -> Jury:
    """A Jury from ``--jury a,b,...`` (each member a backend spec), with its weights file if any."""
    names = [s.strip() for s in specs.split(",") if s.strip()]
    if len(names) < 2:
        fail(f"--jury {specs!r}: give at least two judges, separated by commas")
    if how == "learned" and weights_path is None:
        fail("--aggregate learned needs --weights FILE (fit them with `jurist jury-fit`)")
    weights = None
    if weights_path is not None:
        if how != "learned":
            fail("--weights is used by --aggregate learned only")
        try:
            weights = JuryWeights.load(weights_path)
        except ValueError as error:
            fail(error)
    try:
        members = [Judge(resolve_backend(name, model), protocol, strategy, explain) for name in names]
        jury = Jury(members, how, weights)  # type: ignore[arg-type]
    except (BackendError, ModelUnavailable, ValueError) as error:
        fail(error)
    if weights is not None and weights.protocol and weights.protocol != protocol.identity:
        fail(f"{weights_path} was fitted with another protocol ({weights.protocol}); refit with the same "
             "criteria/rubric/scale")
    return jury


def run_jury_job(source: DataSource, protocol: Protocol, job: JobOptions, strategy: Strategy | None) -> None:
    """``--jury``: every member judges every item; one jury verdict per item, with the members' in ``parts``."""
    from jurist.cli.judging import _apply_calibration, _check_calibration, _write_outputs, judge_source

    assert job.jury is not None
    if job.calibration is not None:
        _check_calibration(job.calibration)
    jury = build_jury(job.jury, job.model, protocol, strategy, job.explain, job.aggregate, job.weights)
    result = judge_source(jury, source, job)
    if job.calibration is not None:
        result = _apply_calibration(result, job.calibration, job.store)
    print_summary(result, f"jurist {source.task} · {jury.spec} · {job.aggregate} · run {result.run.id}")
    _write_outputs(source, job, result)
    if result.run.status != "finished":
        raise typer.Exit(1)


@app.command("jury-fit")
def jury_fit(
    golden: Annotated[Path, typer.Argument(help="Labelled JSONL, CSV or Parquet (A/B labels, or numeric scores).")],
    jury: Annotated[str, typer.Option(help="The jury's judges, comma-separated, in the order used later.")],
    out_path: Annotated[Path, typer.Option("--out", help="Write the weights JSON here.")],
    task: Annotated[str, typer.Option(help="compare or score.")] = "compare",
    criteria: Annotated[Optional[str], typer.Option(help="compare: the criteria (or @FILE) used later.")] = None,
    rubric: Annotated[Optional[str], typer.Option(help="score: the rubric (or @FILE) used later.")] = None,
    scale: Annotated[str, typer.Option(help="score: the scale used later.")] = "1-5",
    folds: Annotated[int, typer.Option(help="Report held-out accuracy by K-fold cross-validation (0: skip).")] = 5,
    model: ModelOpt = None,
    field: FieldOpt = None, preset: PresetOpt = None, label_map: LabelMapOpt = None, limit: LimitOpt = None,
    store: StoreOpt = DEFAULT_STORE, concurrency: ConcurrencyOpt = None,
) -> None:
    """Fit learned jury weights on a labelled golden set; prints held-out accuracy next to the mean jury.

    Pairs: logistic regression on each judge's log-odds; scores: least squares on their scores.
    """
    from jurist.api import run_judge
    from jurist.protocols.pairwise import DEFAULT_CRITERIA, PairwiseProtocol
    from jurist.protocols.pointwise import DEFAULT_RUBRIC, PointwiseProtocol

    if task not in ("compare", "score"):
        raise typer.BadParameter(f"--task {task!r}: expected compare or score")
    try:
        protocol: Protocol = (PairwiseProtocol(text_or_file(criteria or DEFAULT_CRITERIA)) if task == "compare"
                              else PointwiseProtocol(text_or_file(rubric or DEFAULT_RUBRIC), scale))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    the_jury = build_jury(jury, model, protocol, None, False)
    source = DataSource(golden, task, field, preset, label_map, limit)
    try:
        result = run_judge(the_jury, source.path, task=task, fields=source.fields,  # type: ignore[arg-type]
                           preset=source.preset, label_map=source.labels, limit=source.limit, store=store,
                           concurrency=concurrency, command=" ".join(sys.argv))
    except (JuristInputError, ValueError) as error:
        fail(error)
    warn_skipped(result.input_errors)
    scored = [j for j in result.judgments if j.verdict.ok and j.label is not None]
    parts = [j.verdict.parts for j in scored]
    labels = [j.label for j in scored]
    try:
        weights = fit_weights(parts, labels, the_jury.specs, task, protocol=protocol.identity)  # type: ignore[arg-type]
    except ValueError as error:
        fail(f"{golden}: {error}")
    weights.save(out_path)
    rows = [("judges", ", ".join(weights.members)), ("golden items used", str(weights.n)),
            ("intercept", f"{weights.intercept:+.3f}")]
    rows += [(f"weight {name}", f"{c:+.3f}") for name, c in zip(weights.members, weights.coef, strict=True)]
    if task == "compare" and folds >= 2 and weights.n >= 2 * folds:
        rows += _cross_validated(parts, labels, the_jury.specs, folds)
    out.print(table(f"jurist jury-fit · {golden.name} · run {result.run.id}", rows))
    out.print(f"weights: {out_path}")


def _cross_validated(parts: list, labels: list, members: list[str], folds: int) -> list[tuple[str, str]]:
    """Held-out accuracy of the learned jury (fit on K-1 folds) next to the mean jury and each judge."""
    import numpy as np

    from jurist.metrics.agreement import accuracy

    usable = [(p, y) for p, y in zip(parts, labels, strict=True) if y in ("A", "B")]
    order = np.random.default_rng(0).permutation(len(usable))
    learned: list[str] = [""] * len(usable)
    for fold in np.array_split(order, folds):
        held = set(fold.tolist())
        fitted = fit_weights([usable[i][0] for i in range(len(usable)) if i not in held],
                             [usable[i][1] for i in range(len(usable)) if i not in held], members, "compare")
        for i in fold:
            learned[i] = aggregate(usable[i][0], members, "learned", fitted).preference  # type: ignore[assignment]
    gold = [y for _, y in usable]
    rows = [(f"accuracy, learned ({folds}-fold CV)", str(accuracy(learned, gold))),
            ("accuracy, mean jury", str(accuracy([aggregate(p, members, "mean").preference for p, _ in usable], gold)))]
    rows += [(f"accuracy, {name} alone", str(accuracy([p[k].preference for p, _ in usable], gold)))
             for k, name in enumerate(members)]
    return rows
