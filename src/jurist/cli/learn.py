"""``jurist learn``: fit a learned judge (a probe on the base model's representations) from a golden set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jurist.cli.common import (
    DataSource,
    FieldOpt,
    LabelMapOpt,
    LimitOpt,
    PresetOpt,
    app,
    err,
    fail,
    out,
    table,
    warn_skipped,
)
from jurist.learn.probe import Estimator
from jurist.plan import ProtocolSettings, build_protocol
from jurist.protocols.pairwise import DEFAULT_CRITERIA
from jurist.protocols.pointwise import DEFAULT_RUBRIC


def _fmt(metrics: dict, name: str) -> str:
    value = metrics.get(name)
    ci = metrics.get(f"{name}_ci")
    if value is None:
        return "-"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci and None not in ci else "")


@app.command()
def learn(
    golden: Annotated[Path, typer.Argument(help="Labelled items (JSONL, CSV or Parquet), as for score/compare.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the fitted judge (card.json, weights.npz).")],
    base: Annotated[str, typer.Option(help="Where the features come from: local, local:1.5b, local:PATH.gguf, "
                                           "or encoder (all-MiniLM-L6-v2 on response and reference).")] = "local",
    protocol: Annotated[str, typer.Option(help="compare (pairwise A/B) or score (a scale).")] = "compare",
    criteria: Annotated[str, typer.Option(help="compare: what makes a response better, or @FILE.")] = DEFAULT_CRITERIA,
    rubric: Annotated[str, typer.Option(help="score: rubric text, or @FILE.")] = DEFAULT_RUBRIC,
    scale: Annotated[str, typer.Option(help="score: 1-5, 1-10, pass/fail, yes/no.")] = "1-5",
    layer: Annotated[int | None, typer.Option(help="Read this layer's hidden state (0 = first; the number of "
                                                     "layers = the final normed state) instead of the last one "
                                                     "with the label log-probs: middle layers of small models "
                                                     "often judge better (docs/quality.md).")] = None,
    length_neutral: Annotated[bool, typer.Option(
        "--length-neutral", help="compare: take the responses' length ratio out of the features first, so the "
                                 "probe cannot prefer the longer response as such (docs/quality.md).")] = False,
    estimator: Annotated[Estimator, typer.Option(
        help="logistic (L2, strength by inner cross-validation) or mass-mean (the difference of the two "
             "classes' mean features: no strength to tune; the 0.5B's most accurate pairwise configuration on "
             "the mean in docs/quality.md, round 4). compare and pass/fail only.")] = "logistic",
    folds: Annotated[int, typer.Option(help="Cross-validation folds for the reported metrics.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the fold assignment and the bootstrap.")] = 0,
    field: FieldOpt = None, preset: PresetOpt = None, label_map: LabelMapOpt = None, limit: LimitOpt = None,
) -> None:
    """Fit a judge from human labels: features of the base model, a regularised probe, cross-validated metrics.

    Use it with ``--judge probe:DIR`` in score/compare (pairs: both orders, always).
    The metrics printed are out-of-fold; the fit on the training items is never reported.
    """
    from jurist.learn.learner import learn as fit, make_features
    from jurist.learn.probe import ProbeError, save_probe

    if protocol not in ("compare", "score"):
        raise typer.BadParameter(f"--protocol {protocol!r}: use compare or score")
    if folds < 2:
        raise typer.BadParameter("--folds must be at least 2")
    try:
        judging = build_protocol(protocol, ProtocolSettings(criteria=criteria) if protocol == "compare"
                                 else ProtocolSettings(rubric=rubric, scale=scale))
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    loaded = DataSource(golden, protocol, field, preset, label_map, limit).load()
    warn_skipped([str(e) for e in loaded.errors])
    if base == "encoder" and protocol == "compare":
        fail("--base encoder judges one response against its reference: use --protocol score --scale pass/fail "
             "(or a numeric scale)")
    if base == "encoder" and any(item.reference is None for item in loaded.items):
        missing = next(item for item in loaded.items if item.reference is None)
        where = f"{missing.source.path}:{missing.source.line}" if missing.source else missing.id
        fail(f"{where}: field 'reference' is missing; the encoder judge compares each response with its reference")
    try:
        source = make_features(base, layer=layer)
        with out.status("reading features from the base model...") as status:
            learned = fit(loaded.items, judging, source, folds=folds, seed=seed, length_neutral=length_neutral,
                          estimator=estimator,
                          progress=lambda done, total: status.update(f"features {done}/{total}"))
    except ProbeError as error:
        fail(error)
    card = learned.card
    save_probe(out_dir, card, learned.model)
    rows = [("base", f"{card.base['spec']} (sha256 {card.base['sha256'][:12]}...)"),
            ("features", f"{'+'.join(card.features['groups'])}, dimension {card.features['dimension']}"
                         + (", length-neutral" if card.features.get("length_neutral") else "")),
            ("items", f"{card.data['n']} labelled ({card.data['dropped']} left out), balance {card.data['balance']}"),
            ("estimator", card.features.get("estimator", "logistic")),
            ("regularisation", f"{card.regularisation:g}")]
    if card.kind == "score":
        rows += [(f"CV ({card.cv['folds']}-fold) Spearman", f"{card.cv['spearman']:.3f}"),
                 ("CV MAE", f"{card.cv['mae']:.3f}")]
    else:
        raw, calibrated = card.cv["uncalibrated"], card.cv["calibrated"]
        rows += [(f"CV ({card.cv['folds']}-fold) accuracy", _fmt(calibrated, "accuracy")),
                 ("CV log-loss (calibrated / raw)", f"{calibrated['log_loss']:.3f} / {raw['log_loss']:.3f}"),
                 ("CV ECE (calibrated / raw)", f"{_fmt(calibrated, 'ece')} / {_fmt(raw, 'ece')}"),
                 ("temperature", f"{card.temperature:.3f}")]
    out.print(table(f"learned judge -> {out_dir}", rows))
    for warning in card.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    out.print(f"use it with: jurist {protocol} DATA --judge probe:{out_dir}")

