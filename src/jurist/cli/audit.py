"""``jurist audit``: perturb a data set, measure how the judge's verdicts move, write a judge card."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from jurist.audits.card import JudgeCard
from jurist.cli.common import (
    DEFAULT_STORE, FieldOpt, JudgeOpt, LabelMapOpt, LimitOpt, ModelOpt, PresetOpt, StoreOpt, app, fail, flag_message,
    out, pairs,
)

_COLOURS = {"pass": "green", "warn": "yellow", "fail": "red", "failed": "red", "not_applicable": "dim"}


@app.command()
def audit(
    data: Annotated[Path, typer.Argument(help="Pairs (input, response_a, response_b, optional label/reference) "
                                              "or a preset's file.")],
    judge: JudgeOpt = "local",
    model: ModelOpt = None,
    probes: Annotated[Optional[str], typer.Option(help="Comma-separated probes (default: all): position, verbosity, "
                                                       "authority, bandwagon, distraction, reflection, "
                                                       "self_preference, master_key, injection, injection_fenced, "
                                                       "injection_delimited.")] = None,
    mitigations: Annotated[str, typer.Option(help="Comma-separated, measured on the same items: swap, hardened, "
                                                  "reference, checklist, jury, or several joined with + "
                                                  "(swap+hardened); '' for none.")] = "swap,hardened,reference",
    jury_with: Annotated[Optional[str], typer.Option(help="The jury mitigation: judges that sit with --judge, "
                                                          "comma-separated.")] = None,
    family: Annotated[Optional[str], typer.Option(help="self_preference: the judge's model family as it appears "
                                                       "in the data's model fields (default qwen for local).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the perturbations (phrasing and position).")] = 0,
    card: Annotated[Optional[Path], typer.Option(help="Write the judge card (JSON) here.")] = None,
    html: Annotated[Optional[Path], typer.Option(help="Write the judge card as an HTML page here.")] = None,
    field: FieldOpt = None, preset: PresetOpt = None, label_map: LabelMapOpt = None, limit: LimitOpt = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Audit the judge: bias and adversarial probes, mitigations measured, one judge card."""
    from jurist.audits import audit as run_audit
    from jurist.plan import PlanError

    for option, path in (("--card", card), ("--html", html)):
        if path is not None and path.is_dir():
            fail(f"{option} {path}: is a directory; give a file name")
    try:
        result = run_audit(data, judge=judge, model=model, probes=_split(probes), mitigations=_split(mitigations) or [],
                           jury_with=_split(jury_with) or [], family=family, seed=seed, store=store, card=card,
                           fields=pairs(field, "--field") or None, preset=preset,
                           label_map=pairs(label_map, "--label-map", "RAW=LABEL") or None, limit=limit)
    except (PlanError, ValueError) as error:
        fail(flag_message(error).replace("`audit.", "`--"))
    show_card(result)
    if card is not None:
        out.print(f"card: {card}")
    if html is not None:
        from jurist.report.card import write_card_html

        write_card_html(html, result)
        out.print(f"html: {html}")


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]


def show_card(card: JudgeCard) -> None:
    """The card as one table: each probe's verdict, baseline rate with its CI, and the best mitigation."""
    grid = Table(title=f"judge card: {card.judge} on {card.data} ({card.n_items} items)")
    for column in ("probe", "verdict", "rate [95% CI] graded (baseline unless named)", "best mitigation"):
        grid.add_column(column)
    for probe, verdict, baseline, best in card.rows():
        grid.add_row(probe, f"[{_COLOURS[verdict]}]{verdict}[/]", baseline, best)
    out.print(grid)
    thresholds = card.thresholds
    out.print(f"fail: 95% CI excludes 0 and |rate| >= {thresholds['fail']}; warn: CI excludes 0, or |rate| >= "
              f"{thresholds['warn']}. Judgments: "
              + ", ".join(f"{name} {cost.requests}" for name, cost in card.cost.items()))
    for note in card.notes:
        out.print(f"note: {note}")
