"""``jurist filter``, ``jurist annotate`` and ``jurist export-pairs``: judges at work on files, offline.

Filter and annotate are judging commands: they take every shared option (``--judge``, ``--plan``, ``--set``,
``--resume``, ``--engine``...), build the plan as ``jurist score`` does, and stream the file through the
runner (:mod:`jurist.apps.filter`); their ``--out`` is the kept rows or the labels, not the verdicts.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from jurist.cli.common import DEFAULT_STORE, FieldOpt, LabelMapOpt, PresetOpt, StoreOpt, app, err, fail, out, table
from jurist.cli.planning import RUN, _interrupted, _is_setup_error, _opt, judging_command, plan_from_options
from jurist.plan import Plan

Task = Annotated[str, _opt("score (a rubric and scale) or compare (pairs).")]
Rubric = Annotated[Optional[str], _opt("score: rubric text, or @FILE.")]
Scale = Annotated[str, _opt("score: 1-5, 1-10, pass/fail, yes/no.")]
Rejected = Annotated[Optional[Path], _opt("Rows left out, each with its reason.", panel=RUN)]
KEPT = Annotated[Optional[Path], _opt("The kept rows (.jsonl, .csv, .parquet).", "--out", panel=RUN)]
LABELS = Annotated[Optional[Path], _opt("The labelled rows (.jsonl, .parquet).", "--out", panel=RUN)]
# on Ray the verdicts' Parquet parts go to a directory of their own (the plan's outputs.out)
ENGINE = Annotated[str, _opt("local or ray (--set outputs.out=DIR).", panel=RUN)]
OWN = ("keep", "top", "per", "by", "rejected", "task", "rationale")


def _plan(values: dict[str, Any], ctx: typer.Context) -> tuple[Plan, dict[str, Any]]:
    """The plan of the options (its task from --plan, else --task) and the command's own values."""
    own = {name: values.pop(name, None) for name in OWN}
    task = own["task"] or "score"
    if values.get("plan"):
        task = Plan.load(values["plan"]).task
    elif task not in ("score", "compare"):
        raise typer.BadParameter(f"--task {task!r}: expected score or compare")
    return plan_from_options(task, values, ctx=ctx), own


def _work(name: str, data: Path, values: dict[str, Any], ctx: typer.Context, do: Any) -> Any:
    """Build the plan and run ``do(plan, own, target, command)``: returns the target, the command's own options and
    what ``do`` returned; setup errors and Ctrl-C are handled as in the judging commands."""
    target = values.pop("out", None)
    if target is None:
        fail(f"give --out: where jurist {name} writes its rows")
    if values.get("dry_run"):
        fail(f"jurist {name} has no --dry-run: `jurist score DATA --dry-run` (same options) shows the prompts")
    started = time.time()
    plan: Plan | None = None
    try:
        plan, own = _plan(values, ctx)
        return target, own, do(plan, own, target, " ".join(sys.argv))
    except KeyboardInterrupt:
        if plan is None:
            raise
        _interrupted(plan, started)
    except Exception as error:  # noqa: BLE001 - a setup problem or a bad rule: the user's to fix
        if not _is_setup_error(error):
            raise
        from jurist.cli.common import flag_message

        fail(flag_message(error))


def _counts(title: str, rows: list[tuple[str, str]], totals: dict[str, Any]) -> None:
    rows.append(("model calls / cache hits", f"{totals.get('model_calls', 0)} / {totals.get('cache_hits', 0)}"))
    rows.append(("wall time (judging)", f"{totals.get('wall_s', 0):.1f} s"))
    out.print(table(title, rows))


def _run_filter(task: str, data: Path, values: dict[str, Any], ctx: typer.Context) -> None:
    from jurist.apps.filter import filter_file

    def do(plan: Plan, own: dict[str, Any], target: Path, command: str) -> Any:
        return filter_file(plan, data, target, keep=own["keep"], top=own["top"], per=own["per"], by=own["by"],
                           rejected=own["rejected"], resume=values.get("resume"), command=command)

    target, own, report = _work("filter", data, values, ctx, do)
    rows = [("run", report.run_id), ("rows read", str(report.read)), ("kept", str(report.kept))]
    rows += [(f"rejected: {reason}", str(n)) for reason, n in sorted(report.rejected.items())]
    _counts(f"jurist filter · {data.name}", rows, report.totals)
    out.print(f"kept rows: {target}" + (f"; rejected rows: {own['rejected']}" if own["rejected"] else ""))
    if report.rejected.get("not judged"):
        err.print(f"[yellow]{report.rejected['not judged']} rows were not judged:[/yellow] "
                  f"resume with --resume {report.run_id}")
    if report.read and not report.kept and not report.rejected.get("below the bar") and not report.rejected.get(
            "outside the top"):
        fail("no row could be judged (see the rejected rows)", code=1)


@judging_command("score", name="filter", runner=_run_filter, shared={"out": KEPT, "engine": ENGINE})
def filter_(
    data: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet of any size (read as a stream).")],
    keep: Annotated[Optional[str], _opt("Keep rows whose verdict passes, e.g. 'score>=4', 'P(5)>0.5 and "
                                        "confidence>=0.8'.")] = None,
    top: Annotated[Optional[int], _opt("Keep the K best rows (per bucket with --per).", min=1)] = None,
    per: Annotated[Optional[str], _opt("A column: --top K rows per value of it.")] = None,
    by: Annotated[Optional[str], _opt("What --top ranks by (default score; p_a for compare).")] = None,
    rejected: Rejected = None,
    task: Task = "score",
    rubric: Rubric = None,
    scale: Scale = "1-5",
) -> None:
    """Keep the rows a judge passes: streamed in flat memory, resumable, top-k and quotas, rejected rows with reasons."""


def _run_annotate(task: str, data: Path, values: dict[str, Any], ctx: typer.Context) -> None:
    from jurist.apps.filter import annotate_file

    def do(plan: Plan, own: dict[str, Any], target: Path, command: str) -> Any:
        return annotate_file(plan, data, target, rationale=bool(own["rationale"]), rejected=own["rejected"],
                             resume=values.get("resume"), command=command)

    target, own, report = _work("annotate", data, values, ctx, do)
    rows = [("run", report.run_id), ("labelled", str(report.kept))]
    rows += [(f"left out: {reason}", str(n)) for reason, n in sorted(report.rejected.items())]
    _counts(f"jurist annotate · {data.name}", rows, report.totals)
    out.print(f"labels: {target}" + (f"; left out: {own['rejected']}" if own["rejected"] else ""))
    if not report.kept:
        fail("no row could be labelled (see --rejected)", code=1)


@judging_command("score", name="annotate", runner=_run_annotate, shared={"out": LABELS, "engine": ENGINE})
def annotate(
    data: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet of any size (read as a stream).")],
    rationale: Annotated[bool, _opt("Ask for a rationale and write it.", "--rationale")] = False,
    rejected: Rejected = None,
    task: Task = "score",
    rubric: Rubric = None,
    scale: Scale = "1-5",
) -> None:
    """Label every row with the judge: label, label probabilities, confidence (and rationale), for training."""


@app.command("export-pairs")
def export_pairs(
    run: Annotated[str, typer.Argument(help="A pairwise run (id, id prefix or name), or its judgments file.")],
    data: Annotated[Path, typer.Option(help="The run's input (the prompts and the two responses).")],
    out_path: Annotated[Path, typer.Option("--out", help="Preference pairs, JSONL: prompt, chosen, rejected.")],
    min_confidence: Annotated[float, typer.Option(help="Keep verdicts at least this confident.", min=0.0, max=1.0)
                              ] = 0.0,
    field: FieldOpt = None, preset: PresetOpt = None, label_map: LabelMapOpt = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Preference pairs (prompt/chosen/rejected JSONL, what DPO trainers read) from a run's pairwise verdicts."""
    from jurist.apps.rewards import preference_pairs
    from jurist.cli.common import DataSource, load_verdicts, warn_skipped
    from jurist.io import JuristInputError, write_jsonl

    judgments = load_verdicts(run, store)
    try:
        loaded = DataSource(data, "compare", field, preset, label_map).load()
        export = preference_pairs(judgments, {item.id: item for item in loaded.items}, min_confidence)
        count = write_jsonl(out_path, export.pairs)
    except (JuristInputError, ValueError, OSError) as error:
        fail(error)
    warn_skipped([str(e) for e in loaded.errors])
    left = ", ".join(f"{reason} {n}" for reason, n in export.left_out.items() if n)
    out.print(f"{count} pairs -> {out_path} (of {len(judgments)} verdicts; left out: {left or 'none'})")
    if not count:
        fail("no pair passed (see what was left out)", code=1)
