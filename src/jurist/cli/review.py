"""``jurist review``: the human review app over a store's review queue, and its golden-set export."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Optional

import typer

from jurist.cli.common import DEFAULT_STORE, StoreOpt, app, fail, out
from jurist.engine.store import Store, StoreError


@app.command()
def review(
    store: StoreOpt = DEFAULT_STORE,
    host: Annotated[str, typer.Option(help="Address to serve on; any but loopback needs a token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8765,
    token: Annotated[Optional[str], typer.Option(help="Access token (default on a non-loopback host: a random one, "
                                                      "printed).", envvar="JURIST_REVIEW_TOKEN")] = None,
    export: Annotated[Optional[Path], typer.Option(help="Do not serve: write the labelled items as a golden set "
                                                        "(JSONL for calibrate, learn and meta) and exit.")] = None,
    run: Annotated[Optional[str], typer.Option(help="With --export: only this run (id or name).")] = None,
) -> None:
    """Review the items the judges were unsure of: label them in the browser, measure annotator agreement, export."""
    from jurist.apps.web import DEFAULT_LIMIT_CONCURRENCY, is_loopback
    from jurist.report.review import create_app

    try:
        the_store = Store(store, create=False)
    except StoreError as error:
        fail(error)
    if export is not None:
        from jurist.report.golden import write_golden

        run_id = None
        if run is not None:
            record = the_store.find_run(run)
            if record is None:
                fail(f"no run {run!r} in {store}")
            run_id = record.id
        n = write_golden(export, the_store, run_id)
        out.print(f"golden set: {export} ({n} labelled items)")
        return
    if not is_loopback(host) and token is None:
        token = secrets.token_urlsafe(18)
    import uvicorn

    shown = f"[{host}]" if ":" in host else host
    out.print(f"review app: http://{shown}:{port}/" + (f"?token={token}" if token else ""))
    uvicorn.run(create_app(the_store, token=token), host=host, port=port, log_level="warning",
                limit_concurrency=DEFAULT_LIMIT_CONCURRENCY)
