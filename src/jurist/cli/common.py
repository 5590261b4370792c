"""What every ``jurist`` command shares: the Typer app, consoles, option types and data loading."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import click
import typer
from typer.core import TyperGroup
from rich.console import Console
from rich.table import Table

from jurist.engine import RunResult
from jurist.io import LoadResult

# `jurist --help` lists commands in the order a user meets them, not in the order modules register them.
COMMAND_ORDER = ("score", "compare", "rank", "check", "correct", "runs", "export", "meta", "calibrate",
                 "jury-fit", "learn", "templates", "doctor")


class _OrderedCommands(TyperGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: COMMAND_ORDER.index(n) if n in COMMAND_ORDER else len(COMMAND_ORDER))


app = typer.Typer(help="Turn any language model into a calibrated, debiased, audited judge.",
                  no_args_is_help=True, add_completion=False, cls=_OrderedCommands)
out = Console()
err = Console(stderr=True)

DEFAULT_STORE = ".jurist/runs.db"

JudgeOpt = Annotated[str, typer.Option(help="local | local:1.5b | local:PATH.gguf | probe:DIR | "
                                            "http://HOST:PORT/v1 | openai:MODEL")]
ModelOpt = Annotated[Optional[str], typer.Option(help="Model name served at an http judge.")]
FieldOpt = Annotated[Optional[list[str]], typer.Option("--field", help="NAME=COLUMN, e.g. input=instruction.")]
PresetOpt = Annotated[Optional[str], typer.Option(help="Dataset preset: llmbar, autoj, pandalm, hhh, evalbiasbench, "
                                                       "summeval, topical_chat.")]
LabelMapOpt = Annotated[Optional[list[str]], typer.Option("--label-map", help="RAW=LABEL, e.g. 0=A.")]
LimitOpt = Annotated[Optional[int], typer.Option(help="Judge only the first N items.")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", help="Write verdicts here (.jsonl or .parquet).")]
ReportOpt = Annotated[Optional[Path], typer.Option(help="Write an HTML report here.")]
StoreOpt = Annotated[str, typer.Option(help="SQLite store: runs, judgments and the completion cache.")]
ConcurrencyOpt = Annotated[Optional[int], typer.Option(help="Requests in flight (default 1 local, 8 http).")]
NameOpt = Annotated[Optional[str], typer.Option(help="A name for this run.")]
ResumeOpt = Annotated[Optional[str], typer.Option(help="Continue the run with this id or name.")]
ExplainOpt = Annotated[bool, typer.Option(help="Ask for a short rationale after the verdict.")]
VisionOpt = Annotated[bool, typer.Option(help="The http judge's model accepts images: send items' images and "
                                              "frames as content parts (else their caption/transcript is judged).")]
EngineOpt = Annotated[str, typer.Option(help="local (this process) or ray (Ray Data; --out is a directory).")]
RayAddressOpt = Annotated[Optional[str], typer.Option(help="With --engine ray: the cluster to join "
                                                             "(auto, ray://HEAD:10001).")]
CascadeOpt = Annotated[Optional[Path], typer.Option(help="Run the escalation cascade fitted by `jurist calibrate` "
                                                         "(replaces --judge); unsure items go to the review queue.")]
RpmOpt = Annotated[Optional[float], typer.Option("--rpm", help="Rate limit: requests per minute.",
                                                rich_help_panel="Engine")]
TpmOpt = Annotated[Optional[float], typer.Option("--tpm", help="Rate limit: prompt + output tokens per minute.",
                                                rich_help_panel="Engine")]
AttemptsOpt = Annotated[int, typer.Option(min=1, help="Attempts per request before the item is recorded as failed "
                                               "(429/5xx/timeouts are retried with backoff).",
                                          rich_help_panel="Engine")]
PriceOpt = Annotated[Optional[str], typer.Option(help="USD per 1M prompt tokens and per 1M output tokens, "
                                                      "'PROMPT,OUTPUT' (e.g. 0.15,0.60): adds the run's cost.",
                                                 rich_help_panel="Engine")]
CalibrationOpt = Annotated[Optional[Path], typer.Option(help="A calibrator JSON (`jurist meta --save-calibration`): "
                                                             "adds metadata.calibrated_confidence to every verdict.")]


def fail(error: object, code: int = 2) -> NoReturn:
    """Print an error the user can act on and exit (2: bad input or setup)."""
    err.print(f"[red]error:[/red] {error}")
    raise typer.Exit(code)


def pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """``NAME=VALUE`` options as a dict."""
    result = {}
    for value in values or []:
        key, sep, target = value.partition("=")
        if not sep or not key or not target:
            raise typer.BadParameter(f"{option} {value!r}: expected NAME=VALUE")
        result[key.strip()] = target.strip()
    return result


def text_or_file(value: str) -> str:
    """``@path`` reads the text from a file."""
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise typer.BadParameter(f"no file {path}")
        return path.read_text(encoding="utf-8").strip()
    return value


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


def warn_skipped(errors: list[str], shown: int = 20) -> None:
    for line in errors[:shown]:
        err.print(f"[yellow]skipped:[/yellow] {line}")
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


def parse_price(value: str | None) -> tuple[float, float] | None:
    """``--price PROMPT,OUTPUT`` (USD per 1M tokens)."""
    if value is None:
        return None
    try:
        prompt, output = (float(part) for part in value.split(","))
    except ValueError:
        raise typer.BadParameter(f"--price {value!r}: expected PROMPT,OUTPUT in USD per 1M tokens, "
                                 "e.g. 0.15,0.60") from None
    if prompt < 0 or output < 0:
        raise typer.BadParameter(f"--price {value!r}: prices cannot be negative")
    return prompt, output
