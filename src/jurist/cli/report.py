"""``jurist report``: one or more runs as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from jurist.cli.common import DEFAULT_STORE, StoreOpt, app, fail, out
from jurist.engine.store import Store, StoreError


@app.command()
def report(
    runs: Annotated[list[str], typer.Argument(help="Run ids or names; several are shown side by side.")],
    out_path: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path("report.html"),
    data: Annotated[Optional[Path], typer.Option(help="The items file the runs judged (adds the texts and labels; "
                                                      "the review queue's items are used without it).")] = None,
    task: Annotated[Optional[str], typer.Option(help="With --data: compare or score (default: the runs').")] = None,
    title: Annotated[Optional[str], typer.Option(help="The report's title.")] = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Write an HTML report (charts inlined, works offline) of one run, or of several side by side; a run whose
    judge was audited in the store (`jurist audit`) gets the judge card."""
    from jurist.audits import card_for_run
    from jurist.report.runs import write_runs_report

    try:
        the_store = Store(store, create=False)
    except StoreError as error:
        fail(error)
    records = []
    for ref in runs:
        try:
            record = the_store.find_run(ref)
        except StoreError as error:
            fail(error)
        if record is None:
            fail(f"no run {ref!r} in {store}")
        records.append((record, list(the_store.judgments(record.id))))
    items = {e.item_id: e.item for e in the_store.review_queue(status=None)}
    if data is not None:
        from jurist.io import JuristInputError, load_items

        kind = task or ("compare" if any(j.verdict.kind == "compare" for _, js in records for j in js) else "score")
        try:
            items |= {item.id: item for item in load_items(data, task=kind).items}  # type: ignore[arg-type]
        except JuristInputError as error:
            fail(error)
    name = title or "jurist report · " + " vs ".join(r.name or r.id for r, _ in records)
    cards = [card_for_run(the_store, record) for record, _ in records]
    path = write_runs_report(out_path, records, items=items, title=name, cards=cards)
    out.print(f"report: {path}" + (f" (with the judge card of {', '.join(sorted({c.card.judge for c in cards if c}))})"
                                   if any(cards) else ""))
