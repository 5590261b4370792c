"""``jurist serve`` (a judge and gate over HTTP) and ``jurist gate-run`` (a stored run held to a bar, for CI)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from jurist.cli.common import DEFAULT_STORE, STORE_ENV, StoreOpt, app, fail, flag_message, out
from jurist.cli.planning import _opt, plan_from_options

TOKEN_ENV = "JURIST_SERVE_TOKEN"


@app.command()
def serve(
    ctx: typer.Context,
    task: Annotated[str, _opt("score, check, correct (gate) or compare, rank.")] = "score",
    judge: Annotated[str, _opt("local, local:1.5b, URL, openai:M.")] = "local",
    model: Annotated[Optional[str], _opt("Model served at an http judge.")] = None,
    rubric: Annotated[Optional[str], _opt("Rubric text, or @FILE.")] = None,
    scale: Annotated[Optional[str], _opt("1-5, 1-10, pass/fail, yes/no.")] = None,
    checklist: Annotated[Optional[str], _opt("task check: a questions file.")] = None,
    criteria: Annotated[Optional[str], _opt("compare, rank: what is better.")] = None,
    plan: Annotated[Optional[Path], _opt("A plan file (YAML, JSON).")] = None,
    set_: Annotated[Optional[list[str]], _opt("Plan FIELD=VALUE (repeatable).", "--set")] = None,
    min_score: Annotated[Optional[float], _opt("Gate: the passing score (default: the scale's midpoint).")] = None,
    confidence: Annotated[float, _opt("Gate: P(pass) to accept, P(fail) to reject.")] = 0.9,
    host: Annotated[str, _opt("Address to bind; not loopback needs --token.")] = "127.0.0.1",
    port: Annotated[int, _opt("Port.")] = 8000,
    token: Annotated[Optional[str], _opt(f"Bearer token required (env {TOKEN_ENV}).", envvar=TOKEN_ENV,
                                         show_envvar=False)] = None,
    store: Annotated[Optional[str], _opt("Keep runs and the cache here (default: memory).")] = None,
    max_body: Annotated[int, _opt("Largest request body, bytes.", min=1)] = 1_000_000,
) -> None:
    """Serve a judge and a quality gate: POST /v1/judge, POST /v1/gate, GET /healthz, docs at /docs."""
    try:
        from jurist.apps.online import OnlineJudge
        from jurist.apps.serve import check_binding, serve as run_service
    except ImportError as error:
        fail(f"{error.name} is missing: pip install 'jurist[serve]'")
    values = {"judge": judge, "model": model, "rubric": rubric, "scale": scale, "checklist": checklist,
              "criteria": criteria, "plan": plan, "set": set_}
    try:
        check_binding(host, token)
        base = None if plan is not None else _plan_for(task)
        the_plan = plan_from_options(base.task if base else task, values, base, ctx)
        online = OnlineJudge(the_plan, store=store or ":memory:")
        out.print(f"jurist serve: task {the_plan.task}, judge {online.judge.spec}, http://{host}:{port} "
                  f"(docs: /docs){', token required' if token else ''}")
        run_service(online, host=host, port=port, token=token, min_score=min_score, confidence=confidence,
                    max_body_bytes=max_body)
    except ValueError as error:
        fail(flag_message(error))


def _plan_for(task: str):  # type: ignore[no-untyped-def]
    from jurist.plan import Plan, PlanError, TASKS

    if task not in TASKS:
        raise PlanError(f"--task {task}: use {', '.join(TASKS)}")
    return Plan(task=task)  # type: ignore[arg-type]


@app.command("gate-run")
def gate_run(
    run: Annotated[str, typer.Argument(help="Run id, id prefix or name.")],
    min_score: Annotated[float, typer.Option(help="The bar: mean score (score/check/correct) or win rate of A "
                                                  "(compare).")],
    confidence: Annotated[float, typer.Option(min=0.5, max=0.999, help="Level of the bootstrap interval.")] = 0.95,
    rule: Annotated[str, typer.Option(help="lower: pass only when the lower bound meets the bar; upper: fail only "
                                           "when the upper bound is below it.")] = "lower",
    max_unscored: Annotated[float, typer.Option(min=0, max=1, help="Largest share of failed/unscored verdicts.")
                            ] = 0.05,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Hold a stored run to a bar for CI: exit 0 when it passes, 1 when it does not (and why), 2 on bad input."""
    from jurist.apps.ci import check_run
    from jurist.engine import Store

    if rule not in ("lower", "upper"):
        fail(f"--rule {rule}: use lower or upper")
    where = store or os.environ.get(STORE_ENV) or DEFAULT_STORE
    if not Path(where).is_file():
        fail(f"no store at {where}")
    try:
        result = check_run(Store(where), run, min_score, confidence=confidence, rule=rule,  # type: ignore[arg-type]
                           max_unscored=max_unscored)
    except (LookupError, ValueError) as error:
        fail(error)
    verdict = "[green]pass[/green]" if result.passed else "[red]fail[/red]"
    out.print(f"{verdict} run {result.run_id}: {result.reason}")
    if result.unusable:
        out.print(f"{result.unusable} of {result.total} verdicts failed or unscored (left out of the interval)")
    if not result.passed:
        raise typer.Exit(1)
