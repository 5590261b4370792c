"""``jurist best-of-n``, ``jurist steps`` and ``jurist critique``: the online applications over a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from jurist.cli.common import app, fail, flag_message, out, table, warn_skipped
from jurist.cli.planning import _opt


def _write(path: Path | None, rows: list[dict[str, Any]]) -> None:
    if path is not None:
        from jurist.io import write_jsonl

        write_jsonl(path, rows)
        out.print(f"results: {path}")


def _judge_settings(model: Optional[str]) -> dict[str, Any]:
    return {"model": model} if model else {}


@app.command("best-of-n")
def best_of_n(
    data: Annotated[Path, typer.Argument(help="JSONL/CSV/Parquet: input and candidates (or response_1, ...); "
                                              "label: the best index (optional).")],
    method: Annotated[str, _opt("pointwise, round_robin, knockout, listwise.")] = "pointwise",
    judge: Annotated[str, _opt("local, local:1.5b, URL, openai:M.")] = "local",
    model: Annotated[Optional[str], _opt("Model served at an http judge.")] = None,
    criteria: Annotated[Optional[str], _opt("Pairwise/listwise: what is better.")] = None,
    rubric: Annotated[Optional[str], _opt("Pointwise: the rubric.")] = None,
    limit: Annotated[Optional[int], _opt("The first N rows.", min=1)] = None,
    out_path: Annotated[Optional[Path], _opt("Choices as JSONL.", "--out")] = None,
) -> None:
    """Choose the best candidate of each row: winner, margin, how sure, judgments used."""
    from jurist.apps.best_of_n import TASK_OF, Selector
    from jurist.apps.online import OnlineJudge
    from jurist.io import load_items
    from jurist.metrics.uncertainty import wilson_interval
    from jurist.plan import Plan

    if method not in TASK_OF:
        fail(f"--method {method}: use {', '.join(TASK_OF)}")
    setting = {"rubric": rubric} if method == "pointwise" else {"criteria": criteria}
    try:
        plan = Plan.parse({"task": TASK_OF[method], "judge": {"spec": judge, **_judge_settings(model)},
                           "protocol": {k: v for k, v in setting.items() if v is not None}})
        loaded = load_items(data, "rank", limit=limit)
        selector = Selector(OnlineJudge(plan), method)  # type: ignore[arg-type]
    except ValueError as error:
        fail(flag_message(error))
    warn_skipped([str(e) for e in loaded.errors])
    rows, hits, labelled, judgments = [], 0, 0, 0
    for item in loaded.items:
        chosen = selector.choose(item.input, item.candidates, item.reference)
        judgments += chosen.judgments
        best = item.label[0] if isinstance(item.label, list) else item.label
        if best is not None:
            labelled += 1
            hits += chosen.winner is not None and chosen.winner == int(best)
        rows.append({"id": item.id, **chosen.model_dump(exclude={"candidate"}), "label": best})
    shown = [("rows", str(len(rows))), ("judgments", str(judgments)),
             ("failed", str(sum(r["status"] == "failed" for r in rows)))]
    if labelled:
        shown.append(("picked the labelled best", str(wilson_interval(hits, labelled))))
    out.print(table(f"jurist best-of-n · {method}", shown))
    _write(out_path, rows)


@app.command()
def steps(
    data: Annotated[Path, typer.Argument(help="JSONL: problem (or input), steps, label (first wrong step, -1 none; "
                                              "optional).")],
    judge: Annotated[str, _opt("local, local:1.5b, URL, openai:M.")] = "local",
    model: Annotated[Optional[str], _opt("Model served at an http judge.")] = None,
    threshold: Annotated[float, _opt("A step fails below this P(correct).", min=0, max=1)] = 0.5,
    limit: Annotated[Optional[int], _opt("The first N trajectories.", min=1)] = None,
    out_path: Annotated[Optional[Path], _opt("Per-step probabilities as JSONL.", "--out")] = None,
) -> None:
    """Verify each trajectory step by step: P(step correct) per step and the first failing step."""
    from jurist.apps.online import OnlineJudge
    from jurist.apps.steps import StepVerifier, first_error_scores, load_trajectories, step_auc, step_plan

    try:
        trajectories = load_trajectories(data, limit=limit)
        verifier = StepVerifier(OnlineJudge(step_plan(judge, **_judge_settings(model))), threshold)
    except ValueError as error:
        fail(flag_message(error))
    verdicts = verifier.verify_many(trajectories)
    rows = [{"id": v.id, "first_error": v.first_error, "label": v.label, "reason": v.reason,
             "p_correct": [s.p_correct for s in v.steps]} for v in verdicts]
    shown = [("trajectories", str(len(rows))), ("steps", str(sum(len(r["p_correct"]) for r in rows))),
             ("no error found", str(sum(r["first_error"] == -1 for r in rows))),
             ("unknown (an unusable verdict)", str(sum(r["first_error"] is None for r in rows)))]
    if any(v.label is not None for v in verdicts):
        shown += first_error_scores(verdicts).rows()
        # the signal at no threshold: 0.5 is none (right steps vs first wrong steps, bootstrap over trajectories)
        shown.append(("step AUC, right vs first wrong steps", step_auc(verdicts).format()))
    out.print(table(f"jurist steps · threshold {threshold:g}", shown))
    _write(out_path, rows)


@app.command()
def critique(
    data: Annotated[Path, typer.Argument(help="JSONL/CSV/Parquet: input and response.")],
    judge: Annotated[str, _opt("local, local:1.5b, URL, openai:M.")] = "local",
    model: Annotated[Optional[str], _opt("Model served at an http judge.")] = None,
    limit: Annotated[Optional[int], _opt("The first N rows.", min=1)] = None,
    out_path: Annotated[Path, _opt("Issues as JSONL, one row per response (for an editor).", "--out")] = Path(
        "critiques.jsonl"),
) -> None:
    """List concrete issues with each response as JSON, for an editor (the refine loop's critique)."""
    from jurist.apps.refine import critique as critique_one
    from jurist.io import load_items
    from jurist.plan import Plan

    try:
        plan = Plan.parse({"task": "score", "judge": {"spec": judge, **_judge_settings(model)}})
        critic = plan.backend(judge)
        loaded = load_items(data, "score", limit=limit)
    except ValueError as error:
        fail(flag_message(error))
    warn_skipped([str(e) for e in loaded.errors])
    rows = []
    for item in loaded.items:
        notes = critique_one(critic, item.response, item.input)
        rows.append({"id": item.id, **notes.model_dump(exclude={"raw"})})
    out.print(table("jurist critique", [("responses", str(len(rows))),
                                         ("issues", str(sum(len(r["issues"]) for r in rows))),
                                         ("no issue list read", str(sum(r["error"] is not None for r in rows)))]))
    _write(out_path, rows)
