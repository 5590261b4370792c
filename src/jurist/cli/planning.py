"""From command-line options to a plan, and from a plan to a run: what every judging command shares.

The options that every judging command takes (who judges, how the data is read,
where results go, how the engine runs) are declared here once; a command declares
only its own (``--rubric``, ``--criteria``...) and is registered with
:func:`judging_command`. Every option is a plan field (``FLAGS``), so the plan's
own validation checks them all, and its messages (which name plan fields) are
shown with the flags. Anything without a flag is set in a plan file (``--plan``)
or with ``--set FIELD=VALUE``.
"""

from __future__ import annotations

import functools
import inspect
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
import yaml

from jurist.cli.common import (
    DEFAULT_STORE,
    FLAGS,
    STORE_ENV,
    app,
    err,
    fail,
    flag_message,
    out,
    pairs,
    print_summary,
    table,
    warn_skipped,
)
from jurist.engine import RunResult, Store
from jurist.engine.runner import Prepared, first_requests, prepare, run
from jurist.plan import Plan, PlanError

CONVERT: dict[str, Callable[[Any], Any]] = {
    "jury": lambda v: [s.strip() for s in v.split(",") if s.strip()],
    "field": lambda v: pairs(v, "--field"), "label_map": lambda v: pairs(v, "--label-map"),
    "dimension": lambda v: pairs(v, "--dimension", "NAME=RUBRIC or NAME=@FILE"),
    "swap": lambda v: "swap" if v else "single",
}

RUN = "Data and run"  # the second panel of `--help`; the first holds who judges and how


def _opt(help: str, *names: str, panel: str | None = None, **options: Any) -> Any:
    """An option whose help fits one line of `--help` (the long story is in docs/plans.md)."""
    return typer.Option(*names, help=help, show_default=False, rich_help_panel=panel, **options)


# The options every judging command takes, declared once here: (name, annotation, default).
SHARED: list[tuple[str, Any, Any]] = [
    ("judge", Annotated[str, _opt("local, local:1.5b, URL, openai:M.")], "local"),
    ("model", Annotated[Optional[str], _opt("Model served at an http judge.")], None),
    ("jury", Annotated[Optional[str], _opt("Jury: judges, comma-separated.")], None),
    ("samples", Annotated[Optional[int], _opt("Sample K answers per view.")], None),
    ("explain", Annotated[bool, _opt("A rationale after the verdict.", "--explain")], False),
    ("cascade", Annotated[Optional[Path], _opt("Cascade (jurist calibrate).")], None),
    ("field", Annotated[Optional[list[str]], _opt("NAME=COLUMN (repeatable).", "--field", panel=RUN)], None),
    ("preset", Annotated[Optional[str], _opt("Dataset preset: llmbar, hhh, ...", panel=RUN)], None),
    ("label_map", Annotated[Optional[list[str]], _opt("RAW=LABEL (repeatable).", "--label-map", panel=RUN)], None),
    ("limit", Annotated[Optional[int], _opt("Judge the first N items.", panel=RUN)], None),
    ("out", Annotated[Optional[Path], _opt("Verdicts: .jsonl or .parquet.", "--out", panel=RUN)], None),
    ("report", Annotated[Optional[Path], _opt("An HTML report.", panel=RUN)], None),
    ("store", Annotated[Optional[str], _opt(f"Store (env {STORE_ENV}).", panel=RUN, envvar=STORE_ENV,
                                            show_envvar=False)], None),
    ("name", Annotated[Optional[str], _opt("A name for this run.", panel=RUN)], None),
    ("resume", Annotated[Optional[str], _opt("Continue this run (id, name).", panel=RUN)], None),
    ("resume_changed", Annotated[bool, _opt("Resume even if the data changed.", "--resume-changed", panel=RUN)],
     False),
    ("concurrency", Annotated[Optional[int], _opt("Requests in flight.", panel=RUN)], None),
    ("timeout", Annotated[Optional[float], _opt("Seconds per request.", panel=RUN)], None),
    ("engine", Annotated[str, _opt("local or ray (--out: a dir).", panel=RUN)], "local"),
    ("plan", Annotated[Optional[Path], _opt("A plan file (YAML, JSON).", panel=RUN)], None),
    ("set", Annotated[Optional[list[str]], _opt("Plan FIELD=VALUE (repeatable).", "--set", panel=RUN)], None),
    ("dry_run", Annotated[bool, _opt("Show prompts; no model call.", "--dry-run", panel=RUN)], False),
]


Runner = Callable[..., None]  # (task, data, values, ctx=ctx): what a judging command does with its options


def judging_command(task: str, name: str | None = None, runner: Runner | None = None,
                    shared: dict[str, Any] | None = None) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register the command of ``task``: ``func`` declares the data argument and the task's own options (each
    a plan field in ``FLAGS``), with its help as docstring; the shared options are added here, and the command
    turns them all into a plan and runs it.

    A command that puts judges to work on the plan (``jurist filter``) gives its ``name``, its ``runner``
    (called as :func:`execute` is; its own options that are not plan fields are in ``values``) and the
    shared options whose help it words differently (``shared``: name -> annotation; ``--out`` is its output)."""

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        own = list(inspect.signature(func, eval_str=True).parameters.values())
        options = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=(shared or {}).get(n, a), default=d)
                   for n, a, d in SHARED]
        context = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)

        @functools.wraps(func)
        def command(ctx: typer.Context, **values: Any) -> None:
            data = values.pop("data")
            (runner or execute)(task, data, values, ctx=ctx)

        command.__signature__ = inspect.Signature(own + options + [context])  # type: ignore[attr-defined]
        command.__annotations__ = {}
        app.command(name or task)(command)
        return command

    return decorate


def _given(ctx: typer.Context | None, name: str) -> bool:
    """Whether the user gave option ``name`` (on the command line or through its env var), not its default."""
    if ctx is None:
        return True
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def plan_from_options(task: str, values: Mapping[str, Any], base: Plan | None = None,
                      ctx: typer.Context | None = None) -> Plan:
    """The plan of a command: ``base``, the ``--plan`` file or ``{task}``; then the options given, then ``--set``."""
    if base is None:
        base = Plan.load(values["plan"]) if values.get("plan") else Plan(task=task)  # type: ignore[arg-type]
    if base.task != task:
        raise PlanError(f"{values['plan']} is a plan for `jurist {base.task}`, not `jurist {task}`: "
                        f"use `jurist run {values['plan']} DATA`")
    settings: dict[str, Any] = {}
    for option, field in FLAGS.items():
        if option in values and values[option] is not None and _given(ctx, option):
            value = values[option]
            settings[field] = CONVERT[option](value) if option in CONVERT else (
                str(value) if isinstance(value, Path) else value)
    for assignment in values.get("set") or []:
        field, sep, text = assignment.partition("=")
        if not sep or not field:
            raise typer.BadParameter(f"--set {assignment!r}: expected FIELD=VALUE, e.g. engine.rpm=60")
        try:
            settings[field.strip()] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            raise typer.BadParameter(f"--set {assignment!r}: the value is not YAML") from None
    plan = base.with_values(settings) if settings else base
    if not plan.outputs.store:  # the CLI keeps runs (resume, export) unless told otherwise
        plan = plan.with_values({"outputs.store": os.environ.get(STORE_ENV) or DEFAULT_STORE})
    return plan


def execute(task: str, data: Path, values: Mapping[str, Any], base: Plan | None = None,
            ctx: typer.Context | None = None) -> None:
    """Build the plan, check it and its outputs, read the items; then show the prompts (``--dry-run``) or run."""
    try:
        plan = plan_from_options(task, values, base, ctx)
        prepared = prepare(plan, data, dry_run=bool(values.get("dry_run")))
    except Exception as error:  # noqa: BLE001 - every setup problem is the user's to fix: no traceback
        if not _is_setup_error(error):
            raise
        fail(flag_message(error))
    warn_skipped(prepared.input_errors)
    for warning in prepared.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    if values.get("dry_run"):
        show_dry_run(prepared)
        return
    result = run_with_signals(plan, data, prepared, values.get("resume"), bool(values.get("resume_changed")))
    show_result(plan, result)


def _is_setup_error(error: Exception) -> bool:
    from jurist.backends.base import BackendError
    from jurist.backends.models import ModelUnavailable

    return isinstance(error, (ValueError, BackendError, ModelUnavailable, OSError))


def show_dry_run(prepared: Prepared) -> None:
    """The exact prompts of the first item and the labels each is read for; no model is called."""
    try:
        requests = first_requests(prepared)
    except ValueError as error:  # the first item cannot be rendered (no reference, bad media...)
        fail(flag_message(error))
    if not requests:
        fail("no items to show (the data has no readable row)")
    item = prepared.items[0]
    out.print(f"[bold]dry run[/bold]: item {item.id!r} of {len(prepared.items)}; no model call")
    for title, request in requests:
        out.rule(title)
        for message in request.messages:
            out.print(f"[bold]{message.role}:[/bold]", markup=True)
            out.print(message.text, markup=False, highlight=False)
        out.print(f"[bold]labels read:[/bold] {', '.join(request.labels) or '(free text)'}")


def run_with_signals(plan: Plan, data: Path, prepared: Prepared, resume: str | None,
                     resume_changed: bool = False) -> RunResult:
    """Run; on Ctrl-C or SIGTERM, say which run stopped and how to resume it (the run is marked interrupted)."""
    started = time.time()
    previous = signal.getsignal(signal.SIGTERM)
    previous_int = signal.getsignal(signal.SIGINT)
    # SIGTERM becomes SIGINT, which asyncio turns into a clean cancellation of the run. A process started
    # with SIGINT ignored (a background job of a script, a parent that ignored it) would ignore that too,
    # and a SIGTERM would let the run go on: SIGINT gets Python's own handler for the run.
    if previous_int == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
    try:
        return run(plan, data, resume=resume, command=" ".join(sys.argv), prepared=prepared,
                   resume_changed=resume_changed)
    except KeyboardInterrupt:
        _interrupted(plan, started)
    except Exception as error:  # noqa: BLE001
        if not _is_setup_error(error):
            raise
        fail(flag_message(error))
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _interrupted(plan: Plan, started: float) -> None:
    if plan.engine.engine == "ray":  # its run reaches the store only at the end; its output directory resumes
        err.print(f"[yellow]interrupted:[/yellow] the verdicts written so far are in {plan.outputs.out}")
        err.print("resume with: the same command again (items already there are skipped)")
        raise typer.Exit(130)
    runs = [r for r in Store(plan.outputs.store or DEFAULT_STORE).runs() if r.created >= started - 1]
    if not runs:
        fail("interrupted before the run started", code=130)
    run = runs[-1]
    done = sum(run.totals.get(k, 0) for k in ("scored", "unscored", "failed"))
    argv = [a for a in sys.argv if a != "--resume"]
    err.print(f"[yellow]interrupted:[/yellow] run {run.id} ({done} judged, kept in {plan.outputs.store})")
    err.print(f"resume with: {' '.join(argv)} --resume {run.id}")
    raise typer.Exit(130)


def untrusted_judges(plan: Plan) -> list[str]:
    """Notes for the local presets of this plan whose measured worst case is not above chance."""
    from jurist.backends.specs import jury_of, preset_of_spec

    notes = []
    # a jury preset was measured as one judge: its own worst case, not its members'
    specs = [plan.judge.spec] if jury_of(plan.judge.spec) == plan.judge.jury else plan.judge.specs
    for spec in specs:
        preset = preset_of_spec(spec)
        note = preset.untrusted_note() if preset else None
        if note:
            notes.append(note)
    return notes


def show_result(plan: Plan, result: RunResult) -> None:
    """The summary and the task's own tables; exit 1 if the run did not finish or judged nothing."""
    report = result.judge_report
    title = f"jurist {plan.task} · run {result.run.id} · {result.run.judge.get('judge')}"
    if report is not None and hasattr(report, "rows"):  # a cascade: its stages and review queue
        out.print(table(title, report.rows(len(result.judgments))))
    else:
        print_summary(result, title)
    if plan.task == "compare":
        for note in untrusted_judges(plan):
            err.print(f"[yellow]warning:[/yellow] {note}")
    for show in TASK_TABLES.get(plan.task, ()):
        show(result)
    if plan.calibration:
        from jurist.metrics.calibration import load_calibrator

        out.print(f"calibration: {load_calibrator(plan.calibration).kind} from {plan.calibration} "
                  "-> metadata.calibrated_confidence")
    if plan.outputs.out:
        out.print(f"verdicts: {plan.outputs.out}")
    if plan.outputs.report:
        out.print(f"report: {plan.outputs.report}")
    if report is not None and getattr(report, "queued", 0):
        out.print(f"{report.queued} items wait in the review queue of {plan.outputs.store} (run {result.run.id})")
    reason = result.failure
    if reason:
        fail(reason, code=1)
    if result.run.status != "finished":
        raise typer.Exit(1)


def _dimensions_table(result: RunResult) -> None:
    from jurist.metrics.summary import score_summary
    from jurist.strategies.dimensions import dimension_judgments

    present = [j for j in result.judgments if j.verdict.dimensions]
    if not present:
        return
    from rich.table import Table

    names = list(dict.fromkeys(n for j in present for n in j.verdict.dimensions))
    shown = Table(title="per dimension", title_justify="left")
    for column in ("dimension", "scored", "mean score [95% CI]", "top labels"):
        shown.add_column(column)
    for name in names:
        summary = score_summary(dimension_judgments(present, name), n_resamples=1000)
        mean = summary.mean_score
        shown.add_row(name, f"{summary.counts.scored}/{summary.counts.total}",
                      f"{mean.value:.3f} [{mean.low:.3f}, {mean.high:.3f}]",
                      " ".join(f"{k}:{v}" for k, v in summary.top_labels.items()))
    out.print(shown)


SHOWN_QUESTIONS = 40


def _questions_table(result: RunResult) -> None:
    """Pass rate (P(yes) >= 0.5, Wilson 95% CI) and mean P(yes) per question across items."""
    from rich.table import Table

    from jurist.metrics.checklist import checklist_summary

    rows = checklist_summary(result.judgments)
    shown = Table(title="checklist questions across items", title_justify="left")
    for name, justify in (("question", "left"), ("pass rate [95% CI] n", "right"), ("mean P(yes)", "right"),
                          ("unread", "right")):
        shown.add_column(name, justify=justify)  # type: ignore[arg-type]
    for stats in rows[:SHOWN_QUESTIONS]:
        shown.add_row(stats.question, str(stats.pass_rate),
                      "-" if stats.mean_p_yes is None else f"{stats.mean_p_yes:.3f}", str(stats.unread))
    if len(rows) > SHOWN_QUESTIONS:
        shown.caption = f"... and {len(rows) - SHOWN_QUESTIONS} more questions (all in --out)"
    out.print(shown)


def _correctness_table(result: RunResult) -> None:
    from jurist.metrics.checklist import correctness_summary

    out.print(table("correctness", correctness_summary(result.judgments).rows()))


TASK_TABLES: dict[str, tuple[Callable[[RunResult], None], ...]] = {
    "score": (_dimensions_table,), "check": (_questions_table,), "correct": (_correctness_table,)}
