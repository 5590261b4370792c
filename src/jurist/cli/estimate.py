"""``jurist estimate``: a run's pass rate corrected for the judge's error measured on a golden set."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from jurist.cli.common import (
    DEFAULT_STORE,
    DataSource,
    FieldOpt,
    LabelMapOpt,
    PresetOpt,
    StoreOpt,
    app,
    err,
    fail,
    load_verdicts,
    out,
    table,
)
from jurist.io import JuristInputError
from jurist.metrics.estimation import MIN_YOUDEN, estimate_run


@app.command()
def estimate(
    run: Annotated[str, typer.Argument(help="Run id, id prefix or name (or a judgments .jsonl/.parquet).")],
    golden: Annotated[Path, typer.Option(help="Items a human labelled (JSONL, CSV, Parquet, or a preset's file) "
                                              "whose ids are items of the run: they measure the judge's error.")],
    pass_at: Annotated[Optional[float], typer.Option(help="Scores >= this pass, the judge's and the human's "
                                                          "(default 0.5 on a pass/fail or yes/no scale). For "
                                                          "pairwise runs the rate is A's win rate.")] = None,
    min_youden: Annotated[float, typer.Option(help="Correct only when the lower bound of Youden's J reaches this.")
                          ] = MIN_YOUDEN,
    field: FieldOpt = None, preset: PresetOpt = None, label_map: LabelMapOpt = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write every number as JSON.")] = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """The judge's raw pass rate and the rate corrected for its true/false positive rates (Rogan-Gladen), 95% CIs."""
    judgments = load_verdicts(run, store)
    kinds = {j.verdict.kind for j in judgments}
    task = "compare" if kinds == {"compare"} else "score"
    try:
        loaded = DataSource(golden, task, field, preset, label_map).load()
    except JuristInputError as error:
        fail(error)
    if loaded.errors:
        # A golden set is small and every label counts: a bad line is fixed, not skipped.
        lines = "\n".join(f"  {e}" for e in loaded.errors[:20])
        more = f"\n  ... and {len(loaded.errors) - 20} more" if len(loaded.errors) > 20 else ""
        fail(f"{len(loaded.errors)} bad line(s) in the golden file {golden}:\n{lines}{more}")
    try:
        result = estimate_run(judgments, loaded.items, pass_at=pass_at, min_youden=min_youden)
    except ValueError as error:
        fail(f"{golden} against run {run!r}: {error}")
    rates = result.rates
    rows = [*result.rows()[:1], ("golden items (human pass / fail)", f"{rates.n_positive} / {rates.n_negative}"),
            *result.rows()[1:]]
    out.print(table(f"jurist estimate · {run}", rows))
    if result.state != "corrected":
        err.print(f"[yellow]not corrected ({result.state}):[/yellow] {result.reason}")
    if json_out:
        json_out.write_text(json.dumps(result.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
        out.print(f"json: {json_out}")
