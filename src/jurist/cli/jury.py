"""``jurist jury-fit``: fit a jury's learned weights on a labelled golden set.

Juries themselves run from ``score``/``compare --jury a,b`` (a plan with ``judge.jury``);
``--set judge.aggregate=learned --set judge.weights=FILE`` uses the weights fitted here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from jurist.cli.common import (
    DEFAULT_STORE,
    ConcurrencyOpt,
    FieldOpt,
    LabelMapOpt,
    LimitOpt,
    ModelOpt,
    PresetOpt,
    StoreOpt,
    app,
    fail,
    out,
    pairs,
    table,
    warn_skipped,
)
from jurist.strategies.jury import aggregate, fit_weights


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
    from jurist.engine.runner import prepare, run as run_plan
    from jurist.io import JuristInputError
    from jurist.backends.base import BackendError
    from jurist.backends.models import ModelUnavailable
    from jurist.cli.planning import flag_message
    from jurist.plan import Plan

    if task not in ("compare", "score"):
        raise typer.BadParameter(f"--task {task!r}: expected compare or score")
    settings = {"criteria": criteria} if task == "compare" else {"rubric": rubric, "scale": scale}
    try:
        plan = Plan.parse({"task": task, "protocol": {k: v for k, v in settings.items() if v is not None},
                           "judge": {"jury": [s.strip() for s in jury.split(",") if s.strip()], "model": model},
                           "data": {"fields": pairs(field, "--field"), "preset": preset,
                                    "label_map": pairs(label_map, "--label-map"), "limit": limit},
                           "engine": {"concurrency": concurrency}, "outputs": {"store": store}}, where="jury-fit")
        prepared = prepare(plan, golden)
        result = run_plan(plan, golden, command=" ".join(sys.argv), prepared=prepared)
    except (JuristInputError, BackendError, ModelUnavailable, ValueError) as error:
        fail(flag_message(error))
    warn_skipped(result.input_errors)
    members, protocol = prepared.judge.specs, prepared.judge.protocol.identity  # type: ignore[attr-defined]
    scored = [j for j in result.judgments if j.verdict.ok and j.label is not None]
    parts = [j.verdict.parts for j in scored]
    labels = [j.label for j in scored]
    try:
        weights = fit_weights(parts, labels, members, task, protocol=protocol)  # type: ignore[arg-type]
    except ValueError as error:
        fail(f"{golden}: {error}")
    weights.save(out_path)
    rows = [("judges", ", ".join(weights.members)), ("golden items used", str(weights.n)),
            ("intercept", f"{weights.intercept:+.3f}")]
    rows += [(f"weight {name}", f"{c:+.3f}") for name, c in zip(weights.members, weights.coef, strict=True)]
    if task == "compare" and folds >= 2 and weights.n >= 2 * folds:
        rows += _cross_validated(parts, labels, members, folds)
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
