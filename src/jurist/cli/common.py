"""What every ``jurist`` command shares: the Typer app, consoles, option types and data loading."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from typer.core import TyperGroup
from rich.console import Console
from rich.table import Table

from jurist.engine import RunResult
from jurist.io import LoadResult
from jurist.plan import Plan

# `jurist --help` lists commands in the order a user meets them, not in the order modules register them.
COMMAND_ORDER = ("score", "compare", "rank", "check", "correct", "run", "runs", "export", "export-pairs", "meta",
                 "calibrate", "jury-fit", "learn", "templates", "audit", "report", "review", "estimate", "leaderboard",
                 "filter", "annotate", "serve", "gate-run", "best-of-n", "critique", "steps", "doctor")


class _OrderedCommands(TyperGroup):
    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: COMMAND_ORDER.index(n) if n in COMMAND_ORDER else len(COMMAND_ORDER))


QUICK_START = """Turn any language model into a calibrated, debiased, audited judge.

[bold]Quick start[/bold] (the embedded judge: no key, no server):

  jurist compare pairs.jsonl --out verdicts.jsonl     [dim]# input, response_a, response_b[/dim]
  jurist score answers.jsonl --rubric "Is it correct?" [dim]# input, response[/dim]
  jurist compare pairs.jsonl --dry-run                [dim]# the prompts, no model call[/dim]
  jurist run plan.yaml pairs.jsonl                    [dim]# a whole job written down[/dim]

Environment: JURIST_API_KEY (http judges), OPENAI_API_KEY (openai:MODEL), JURIST_STORE (default store).
"""

app = typer.Typer(help=QUICK_START, no_args_is_help=True, cls=_OrderedCommands, rich_markup_mode="rich",
                  context_settings={"help_option_names": ["-h", "--help"]})
out = Console()
err = Console(stderr=True)

DEFAULT_STORE = ".jurist/runs.db"
STORE_ENV = "JURIST_STORE"

# Options that several commands take, declared once.
JudgeOpt = Annotated[str, typer.Option(help="local | local:1.5b | local:best | local:PATH.gguf | probe:DIR | "
                                            "http://HOST:PORT/v1 (with --model) | openai:MODEL.")]
ModelOpt = Annotated[Optional[str], typer.Option(help="Model name served at an http judge.")]
FieldOpt = Annotated[Optional[list[str]], typer.Option("--field", help="NAME=COLUMN, e.g. input=instruction.",
                                                       rich_help_panel="Data")]
PresetOpt = Annotated[Optional[str], typer.Option(help="Dataset preset: llmbar, autoj, pandalm, hhh, evalbiasbench, "
                                                       "summeval, topical_chat.", rich_help_panel="Data")]
LabelMapOpt = Annotated[Optional[list[str]], typer.Option("--label-map", help="RAW=LABEL, e.g. 0=A.",
                                                          rich_help_panel="Data")]
LimitOpt = Annotated[Optional[int], typer.Option(min=1, help="Judge only the first N items.", rich_help_panel="Data")]
StoreOpt = Annotated[str, typer.Option(envvar=STORE_ENV, help="SQLite store: runs, judgments and the completion "
                                                              "cache.")]
ConcurrencyOpt = Annotated[Optional[int], typer.Option(min=1, help="Requests in flight (default 1 local, 8 http).",
                                                       rich_help_panel="Run")]


# option -> the plan field it sets (jurist.cli.planning turns options into a plan with it)
FLAGS: dict[str, str] = {
    "judge": "judge.spec", "model": "judge.model", "jury": "judge.jury", "samples": "judge.samples",
    "explain": "judge.explain", "cascade": "judge.cascade",
    "field": "data.fields", "preset": "data.preset", "label_map": "data.label_map", "limit": "data.limit",
    "out": "outputs.out", "report": "outputs.report", "store": "outputs.store", "name": "outputs.name",
    "concurrency": "engine.concurrency", "timeout": "engine.timeout", "engine": "engine.engine",
    "rubric": "protocol.rubric", "scale": "protocol.scale", "criteria": "protocol.criteria", "tie": "protocol.tie",
    "template": "protocol.template", "dimensions": "protocol.dimensions", "dimension": "protocol.dimension",
    "checklist": "protocol.checklist", "reference": "protocol.reference",
    "max_revision_tokens": "protocol.max_revision_tokens", "swap": "order", "orders": "orders",
}
def flag_message(error: Exception) -> str:
    """An error with each plan field it names shown as the flag that sets it (or as ``--set FIELD=...``)."""
    by_field = {field: "--" + option.replace("_", "-") for option, field in FLAGS.items()}
    by_field["order"] = "--no-swap"
    by_field["resume_changed"] = "--resume-changed"  # a run option, not a plan field

    def flag(match: re.Match[str]) -> str:
        field = match.group(1)
        return by_field.get(field) or (f"--set {field}=..." if "." in field or field in Plan.model_fields else field)

    return re.sub(r"`([a-z_]+(?:\.[a-z_]+)*)`", flag, str(error))


def fail(error: object, code: int = 2) -> NoReturn:
    """Print an error the user can act on and exit (2: bad input or setup)."""
    err.print(f"[red]error:[/red] {error}")
    raise typer.Exit(code)


def pairs(values: list[str] | None, option: str, form: str = "NAME=VALUE") -> dict[str, str]:
    """``NAME=VALUE`` options as a dict."""
    result = {}
    for value in values or []:
        key, sep, target = value.partition("=")
        if not sep or not key or not target:
            raise typer.BadParameter(f"{option} {value!r}: expected {form}")
        result[key.strip()] = target.strip()
    return result


@dataclass(frozen=True)
class DataSource:
    """Where the items come from and how to read them (the --field/--preset/--label-map/--limit options)."""

    path: Path
    task: str
    field: list[str] | None = None
    preset: str | None = None
    label_map: list[str] | None = None
    limit: int | None = None

    @property
    def fields(self) -> dict[str, str] | None:
        return pairs(self.field, "--field") or None

    @property
    def labels(self) -> dict[str, str] | None:
        return pairs(self.label_map, "--label-map") or None

    def load(self) -> LoadResult:
        """The loaded items and the rows that could not be read (``jurist.io.LoadResult``)."""
        from jurist.io import load_items

        return load_items(self.path, self.task, fields=self.fields, preset=self.preset,  # type: ignore[arg-type]
                          label_map=self.labels, limit=self.limit)


def load_verdicts(verdicts: str, store: str) -> list:
    """The judgments of a file or a stored run (``jurist.engine.store.load_judgments``); exit 2 otherwise."""
    from jurist.engine.store import StoreError, load_judgments

    try:
        return load_judgments(verdicts, store)
    except StoreError as error:
        fail(error)


def warn_skipped(errors: list[str], shown: int = 20) -> None:
    for line in errors[:shown]:
        err.print(f"[yellow]skipped:[/yellow] {flag_message(line)}", markup=True, highlight=False)
    if len(errors) > shown:
        err.print(f"[yellow]... and {len(errors) - shown} more bad rows[/yellow]")


def table(title: str, rows: list[tuple[str, str]]) -> Table:
    """A two-column metric/value table."""
    result = Table(title=title, show_header=False, title_justify="left")
    result.add_column("metric", style="bold")
    result.add_column("value")
    for name, value in rows:
        result.add_row(name, value)
    return result


def print_summary(result: RunResult, title: str) -> None:
    stats = result.stats
    rows = list(result.summary().rows())
    rows.append(("model calls / cache hits", f"{stats.get('model_calls', 0)} / {stats.get('cache_hits', 0)}"))
    rows.append(("prompt tokens (reused from KV cache)",
                 f"{stats.get('prompt_tokens', 0)} ({stats.get('cached_prompt_tokens', 0)})"))
    if "cost_usd" in stats:
        rows.append(("cost", f"${stats['cost_usd']:.4f}"))
    rows.append(("wall time", f"{stats.get('wall_s', 0):.1f} s"))
    out.print(table(title, rows))




def version_callback(value: bool) -> None:
    if value:
        from jurist.version import __version__

        out.print(f"jurist {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Annotated[Optional[bool], typer.Option("--version", callback=version_callback, is_eager=True,
                                                         help="Print the version and exit.")] = None) -> None:
    pass
