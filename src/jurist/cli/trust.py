"""Trust the judge: ``jurist meta`` (agreement, calibration, consistency) and ``jurist calibrate`` (cascades)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from jurist.audits.card import JudgeCard, StoredCard
from jurist.backends import BackendError
from jurist.backends.models import ModelUnavailable
from jurist.cli.common import (
    DEFAULT_STORE,
    ConcurrencyOpt,
    DataSource,
    FieldOpt,
    LabelMapOpt,
    ModelOpt,
    PresetOpt,
    StoreOpt,
    app,
    err,
    fail,
    load_verdicts,
    out,
    table,
    warn_skipped,
)
from jurist.engine import Store
from jurist.io import JuristInputError
from jurist.plan import ProtocolSettings, build_protocol
from jurist.protocols.pairwise import DEFAULT_CRITERIA
from jurist.protocols.pointwise import DEFAULT_RUBRIC


def _stored_card(verdicts: str, store: str) -> StoredCard | None:
    """The judge card of a run's audit when ``verdicts`` names a run whose store has one (None for a file)."""
    from jurist.audits import card_for_run

    if Path(verdicts).is_file() or not Path(store).is_file():
        return None
    the_store = Store(store, create=False)
    record = the_store.find_run(verdicts)
    return card_for_run(the_store, record) if record is not None else None


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
    dimension: Annotated[Optional[str], typer.Option(help="With rubric dimensions: evaluate this dimension's "
                                                          "verdicts (pair with --labels naming its human score).")] = None,
    card: Annotated[Optional[str], typer.Option(help="Show this judge card: a JSON file (jurist audit --card) or a run "
                                                     "id/name whose judge was audited in --store. A run given as "
                                                     "VERDICTS shows its card without it.")] = None,
) -> None:
    """Trust the judge: agreement with humans (and the human ceiling), calibration, consistency, with 95% CIs."""
    import json as _json

    from jurist.metrics.meta import meta_report

    judgments = load_verdicts(verdicts, store)
    if card is not None:
        _show_card(card, store)
    elif (stored := _stored_card(verdicts, store)) is not None:
        _show_stored(stored)
    if not judgments:
        fail(f"no judgments in {verdicts}")
    if dimension is not None:
        from jurist.strategies.dimensions import dimension_judgments

        try:
            judgments = dimension_judgments(judgments, dimension)
        except ValueError as error:
            fail(error)
    elif any(j.verdict.dimensions for j in judgments):
        names = ", ".join(dict.fromkeys(n for j in judgments for n in j.verdict.dimensions))
        fail(f"these verdicts hold rubric dimensions ({names}): choose one with --dimension NAME "
             "(and its human score with --labels)")
    if binning not in ("uniform", "quantile"):
        raise typer.BadParameter(f"--binning {binning!r}: expected uniform or quantile")
    report = meta_report(judgments, labels=labels, group=group, n_bins=bins, binning=binning)  # type: ignore[arg-type]
    for title, rows in report.sections():
        out.print(table(title, rows))
    if fit_calibration:
        from jurist.metrics.calibration import confidence_and_correct, fit_calibrator
        from jurist.metrics.meta import _majority, labels_of

        gold = [_majority(labels_of(j, labels)) for j in judgments]
        conf, ok = confidence_and_correct(judgments, gold)
        try:
            calibrator = fit_calibrator(fit_calibration, conf, ok)
        except ValueError as error:
            fail(f"{error}")
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
    concurrency: ConcurrencyOpt = None,
) -> None:
    """Fit confidence thresholds for a chain of judges (Learn-then-Test) so auto-decided items meet a target agreement."""
    from jurist.io import PRESETS
    from jurist.strategies.cascade import calibrate_chain

    the_task = task or (PRESETS[preset].task if preset in PRESETS else "compare")
    if the_task not in ("compare", "score"):
        raise typer.BadParameter(f"--task {the_task!r}: expected compare or score")
    try:
        protocol = build_protocol(the_task, ProtocolSettings(criteria=criteria, tie=tie) if the_task == "compare"
                                  else ProtocolSettings(rubric=rubric, scale=scale))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    try:
        loaded = DataSource(golden, the_task, field, preset, label_map, limit).load()
        warn_skipped([str(e) for e in loaded.errors])
        spec = calibrate_chain(loaded.items, chain.split(","), protocol=protocol, target=target_agreement, risk=risk,
                               store=store, swap=swap, tolerance=tolerance, model=model, calibration=calibration,
                               golden_path=golden, concurrency=concurrency, progress=None,
                               command=" ".join(sys.argv))
    except (JuristInputError, BackendError, ModelUnavailable, ValueError) as error:
        fail(f"{error}")
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
    out.print(table(f"jurist calibrate · {' > '.join(s.judge for s in spec.stages)}", rows))
    if not spec.has_human:
        err.print("[yellow]warning:[/yellow] no 'human' stage: the last judge decides every remaining item and no "
                  "agreement is guaranteed")
    out.print(f"cascade: {out_path}  (use with --cascade {out_path})")


def _show_card(ref: str, store: str) -> None:
    """``--card``: a card file, else the card of a run in the store."""
    from jurist.audits import card_for_run, load_card

    if Path(ref).is_file():
        try:
            card = load_card(ref)
        except ValueError as error:
            fail(error)
        _print_card(card)
        return
    the_store = Store(store) if Path(store).is_file() else None
    record = the_store.find_run(ref) if the_store is not None else None
    if the_store is None or record is None:
        fail(f"--card {ref!r}: neither a card file nor a run in {store}")
    stored = card_for_run(the_store, record)
    if stored is None:
        fail(f"--card {ref!r}: no audit of this run's judge ({record.judge.get('judge')}) in {store}: run "
             f"`jurist audit DATA --judge ... --store {store}` first")
    _show_stored(stored)


def _show_stored(stored: StoredCard) -> None:
    _print_card(stored.card)
    out.print(f"[dim]judge card from the store: {stored.link}[/dim]")


def _print_card(card: JudgeCard) -> None:
    from jurist.cli.audit import show_card

    show_card(card)
