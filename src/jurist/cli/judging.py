"""``jurist score``, ``jurist compare`` and ``jurist run``: each turns its options into a plan and runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from jurist.cli.common import app, fail
from jurist.cli.common import DEFAULT_STORE, STORE_ENV
from jurist.cli.planning import _opt, execute, judging_command

Template = Annotated[Optional[str], _opt("Template file or name (e.g. hardened).")]


@judging_command("score")
def score(
    data: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet with input and response.")],
    rubric: Annotated[Optional[str], _opt("Rubric text, or @FILE.")] = None,
    scale: Annotated[str, _opt("1-5, 1-10, pass/fail, yes/no.")] = "1-5",
    dimensions: Annotated[Optional[str], _opt("Dimension set (summeval, FILE).")] = None,
    dimension: Annotated[Optional[list[str]], _opt("NAME=RUBRIC (repeatable).", "--dimension")] = None,
    template: Template = None,
) -> None:
    """Grade each response on a scale: expected score, most likely score, distribution, confidence."""


@judging_command("compare")
def compare(
    data: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet with input, response_a and response_b.")],
    criteria: Annotated[Optional[str], _opt("What is better, or @FILE.")] = None,
    swap: Annotated[bool, _opt("--no-swap: one order (biased).", "--swap/--no-swap")] = True,
    tie: Annotated[bool, _opt("Allow a 'tie' answer.", "--tie")] = False,
    template: Template = None,
) -> None:
    """Compare two responses: P(A), P(B), P(tie), a preference, and whether both orders agreed."""


@app.command()
def run(
    ctx: typer.Context,
    plan: Annotated[str, typer.Argument(help="A plan file (YAML/JSON), or a stored run's id or name: run it again.")],
    data: Annotated[Path, typer.Argument(help="JSONL, CSV or Parquet, as the plan's task reads it.")],
    store: Annotated[Optional[str], typer.Option(help=f"Where a run id is looked up [env {STORE_ENV}; default "
                                                      f"{DEFAULT_STORE}].")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="FIELD=VALUE of the plan, e.g. engine.rpm=60.")] = None,
    resume: Annotated[Optional[str], typer.Option(help="Continue this run (id or name).")] = None,
    resume_changed: Annotated[bool, typer.Option("--resume-changed", help="Resume even if the data changed (changed "
                                                 "items are judged again).")] = False,
    dry_run: Annotated[bool, typer.Option(help="Show the first item's prompts; no model call.")] = False,
) -> None:
    """Run a plan file (or a stored run's plan) over data: a whole job written down (docs/plans.md)."""
    import os

    from jurist.engine import Store
    from jurist.engine.store import StoreError
    from jurist.plan import Plan, PlanError

    path = Path(plan)
    if path.is_file():
        try:
            the_plan = Plan.load(path)
        except PlanError as error:
            fail(error)
    else:  # a stored run: its plan
        where = store or os.environ.get(STORE_ENV) or DEFAULT_STORE
        try:
            record = Store(where, create=False).find_run(plan) if Path(where).is_file() else None
        except StoreError as error:  # a corrupt or foreign store: say so, no traceback
            fail(error)
        if record is None:
            fail(f"{plan!r} is neither a plan file nor a run in {where}")
        if record.plan is None:
            fail(f"run {record.id} was made before runs kept their plans: it cannot be run again from the store")
        the_plan = Plan.parse(record.plan, where=f"run {record.id}")
    execute(the_plan.task, data, {"set": set_, "resume": resume, "resume_changed": resume_changed, "dry_run": dry_run,
                                     "store": store}, the_plan, ctx)
