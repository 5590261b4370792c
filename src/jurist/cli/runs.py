"""``jurist runs`` and ``jurist export``: what is in the store."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Column, Table

from jurist.cli.common import DEFAULT_STORE, StoreOpt, app, fail, out
from jurist.engine.store import Store, StoreError
from jurist.io import write_judgments


@app.command()
def runs(store: StoreOpt = DEFAULT_STORE) -> None:
    """List the runs in a store."""
    # Ids are copied into `export`: never wrap or cut them.
    table = Table(Column("id", no_wrap=True, min_width=12), "name", "created", "status", "judge", "protocol",
                  "scored", "unscored", "failed", "bad input rows", "model calls", "cache hits")
    for run in _existing(store).runs():
        t = run.totals
        table.add_row(run.id, run.name or "", datetime.datetime.fromtimestamp(run.created).strftime("%Y-%m-%d %H:%M"),
                      run.status, str(run.judge.get("judge")), str(run.judge.get("protocol")),
                      *(str(t.get(k, "")) for k in ("scored", "unscored", "failed", "input_skipped", "model_calls",
                                                   "cache_hits")))
    # A pipe or a CI log is 80 columns wide: print wider rather than squeeze the ids away.
    Console(width=max(out.width, 160)).print(table)


@app.command()
def export(
    run: Annotated[str, typer.Argument(help="Run id, id prefix or name.")],
    out_path: Annotated[Path, typer.Option("--out", help="Output file.")],
    format: Annotated[Optional[str], typer.Option(help="jsonl or parquet (default: from --out).")] = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Export a run's judgments as JSONL or Parquet."""
    the_store = _existing(store)
    try:
        record = the_store.find_run(run)
        if record is None:
            fail(f"no run {run!r} in {store} (give a run id, the start of one, or a run name; see `jurist runs`)")
        target = out_path.with_suffix(f".{format}") if format else out_path
        count = write_judgments(target, the_store.judgments(record.id))
    except StoreError as error:
        fail(error)
    out.print(f"{count} judgments -> {target}")


def _existing(store: str) -> Store:
    """The store at ``store``, opened without creating one (a mistyped path is an error, not an empty store)."""
    try:
        return Store(store, create=False)
    except StoreError as error:
        fail(error)

