"""The human review app: a small web app over the store's review queue.

Reviewers work through the items the cascade escalated (``review_queue``), one at a time: the
candidates side by side with the judge's verdict, probabilities and rationale; a key per label; a note.
Every label is committed to the store as it is given (``review_labels``), so a crash loses nothing. Several
annotators can label the same items; ``/agreement`` measures them with :mod:`jurist.metrics`, and
``/export.jsonl`` downloads the golden set (:mod:`jurist.report.golden`).

Security: the app binds to loopback by default; on any other address a token is required (``?token=``
once, then a cookie). Every form carries a per-server CSRF token, POSTs from another origin are refused,
and the cookies are ``SameSite=Strict``. A body over ``max_body_bytes`` is a 413; the export is built in
memory under a fixed file name (no request names a file). The guards shared with ``jurist serve`` are in
:mod:`jurist.apps.web`.
"""

from __future__ import annotations

import json
import math
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass
from importlib import resources
from itertools import combinations
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, StrictUndefined, Template
from markupsafe import Markup

from jurist.apps.web import BodyLimit, is_loopback, same_secret
from jurist.engine.store import ReviewEntry, Store
from jurist.metrics.agreement import cohen_kappa, krippendorff_alpha
from jurist.metrics.uncertainty import Estimate
from jurist.report.golden import golden_rows, label_options, task_of

__all__ = ["create_app", "is_loopback"]

ANNOTATOR_COOKIE = "jurist_annotator"
TOKEN_COOKIE = "jurist_token"
# The pages load nothing from anywhere: inline CSS and script only, and no framing (clickjacking).
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "frame-ancestors 'none'")
# Keys for the labels, in label order: A/B/tie by letter, scale points by digit.
_LETTER_KEYS = {"A": "a", "B": "b", "tie": "t"}


@dataclass
class _Shortcut:
    label: str
    key: str


def _shortcuts(options: list[str]) -> list[_Shortcut]:
    if all(o in _LETTER_KEYS for o in options):
        return [_Shortcut(o, _LETTER_KEYS[o]) for o in options]
    return [_Shortcut(o, str(i + 1) if i < 9 else "") for i, o in enumerate(options)]


def _templates() -> dict[str, Template]:
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    folder = resources.files("jurist.report").joinpath("templates")
    env.globals["style"] = Markup(folder.joinpath("review.css").read_text(encoding="utf-8"))  # our CSS, not data
    env.filters["pct"] = lambda p: "" if p is None else f"{p:.3f}"
    env.filters["est"] = lambda e: e.format() if isinstance(e, Estimate) else str(e)
    env.filters["q"] = lambda s: quote(str(s), safe="")
    return {name: env.from_string(folder.joinpath(f"{name}.html.j2").read_text(encoding="utf-8"))
            for name in ("review", "item", "agreement")}


def _agreement(store: Store) -> list[dict[str, Any]]:
    """Per run: Krippendorff's alpha among the annotators and Cohen's kappa for each pair, with CIs."""
    out = []
    entries = {(e.run_id, e.item_id): e for e in store.review_queue(status=None)}
    by_run: dict[str, dict[str, dict[str, Any]]] = defaultdict(lambda: defaultdict(dict))
    for label in store.review_labels():
        by_run[label.run_id][label.annotator][label.item_id] = label.label
    for run_id, raters in sorted(by_run.items()):
        names = sorted(raters)
        items = sorted({i for r in raters.values() for i in r})
        compare = all(task_of(entries[(run_id, i)]) == "compare" for i in items if (run_id, i) in entries)
        data = [[raters[a].get(i) for i in items] for a in names]
        row: dict[str, Any] = {"run": run_id, "annotators": names, "n_items": len(items),
                               "shared": sum(sum(r.get(i) is not None for r in raters.values()) >= 2 for i in items),
                               "alpha": None, "pairs": []}
        if len(names) >= 2:
            if not compare:
                data = [[None if v is None else float(v) for v in r] for r in data]
            row["alpha"] = krippendorff_alpha(data, level="nominal" if compare else "ordinal")
            for a, b in combinations(names, 2):
                both = [i for i in items if i in raters[a] and i in raters[b]]
                if both:
                    kappa = cohen_kappa([raters[a][i] for i in both], [raters[b][i] for i in both],
                                        weights=None if compare else "quadratic")
                    row["pairs"].append((a, b, kappa))
        out.append(row)
    return out


MAX_BODY = 64_000  # bytes: a form holds an annotator name, a label and a note


def create_app(store: Store, *, token: str | None = None, title: str = "jurist review",
               max_body_bytes: int = MAX_BODY) -> FastAPI:
    """The review app over ``store``. With ``token``, every request must present it (a non-loopback bind).
    A request body over ``max_body_bytes`` is a 413."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    templates = _templates()
    csrf = secrets.token_urlsafe(24)

    def render(name: str, request: Request, **context: Any) -> HTMLResponse:
        template = templates[name]
        html = template.render(title=title, csrf=csrf, annotator=request.cookies.get(ANNOTATOR_COOKIE, ""),
                               **context)
        return HTMLResponse(html, headers={"Content-Security-Policy": CSP})

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        if token is not None:
            given = (request.query_params.get("token") or request.cookies.get(TOKEN_COOKIE)
                     or request.headers.get("authorization", "").removeprefix("Bearer "))
            if not given or not same_secret(given, token):
                return PlainTextResponse("a token is required: open the URL printed by `jurist review`", 401)
        if request.method == "POST":
            origin = request.headers.get("origin")
            if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
                return PlainTextResponse("cross-origin request refused", 403)
        response = await call_next(request)
        if token is not None and request.query_params.get("token"):
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    async def checked_form(request: Request) -> Any:
        """The POSTed form, or None when its CSRF token is missing or wrong (read here, not in the
        middleware: a middleware that reads the body leaves the endpoint an empty one)."""
        form = await request.form()
        return form if same_secret(str(form.get("csrf", "")), csrf) else None

    refused = PlainTextResponse("missing or wrong CSRF token: reload the page", 403)

    def queue() -> list[ReviewEntry]:
        return store.review_queue(status=None)

    def done_by(annotator: str) -> set[tuple[str, str]]:
        return {(x.run_id, x.item_id) for x in store.review_labels() if x.annotator == annotator}

    def next_url(annotator: str, after: tuple[str, str] | None = None) -> str:
        entries = queue()
        done = done_by(annotator)
        keys = [(e.run_id, e.item_id) for e in entries]
        start = keys.index(after) + 1 if after in keys else 0
        for key in keys[start:] + keys[:start]:
            if key not in done:
                return f"/item/{quote(key[0], safe='')}/{quote(key[1], safe='')}"
        return "/"

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request) -> HTMLResponse:
        annotator = request.cookies.get(ANNOTATOR_COOKIE, "")
        entries = queue()
        done = done_by(annotator) if annotator else set()
        counts = Counter((x.run_id, x.item_id) for x in store.review_labels())
        runs = Counter(e.run_id for e in entries)
        return render("review", request, entries=entries, done=done, counts=counts, runs=runs,
                      mine=sum((e.run_id, e.item_id) in done for e in entries),
                      next=next_url(annotator) if annotator else "/")

    @app.post("/annotator")
    async def set_annotator(request: Request) -> Response:
        form = await checked_form(request)
        if form is None:
            return refused
        name = str(form.get("name", "")).strip()
        if not name:
            return PlainTextResponse("an annotator name is required", 400)
        response = RedirectResponse(next_url(name), 303)
        response.set_cookie(ANNOTATOR_COOKIE, name, samesite="strict", max_age=90 * 24 * 3600)
        return response

    @app.get("/item/{run_id}/{item_id}", response_class=HTMLResponse)
    def item(request: Request, run_id: str, item_id: str) -> Response:
        annotator = request.cookies.get(ANNOTATOR_COOKIE, "")
        if not annotator:
            return RedirectResponse("/", 303)
        entries = queue()
        keys = [(e.run_id, e.item_id) for e in entries]
        if (run_id, item_id) not in keys:
            return PlainTextResponse(f"no queued item {item_id!r} in run {run_id!r}", 404)
        at = keys.index((run_id, item_id))
        entry = entries[at]
        judgment = store.judgment(run_id, item_id)
        run = store.find_run(run_id)
        scale = run.judge.get("scale") if run is not None else None
        options = label_options(entry, scale if isinstance(scale, list) else None)
        mine = next((x for x in store.review_labels(run_id) if x.item_id == item_id and x.annotator == annotator),
                    None)
        done = done_by(annotator)
        names = ["A", "B"] if task_of(entry) == "compare" else ["response"]
        if len(entry.item.candidates) > 2:
            names = [f"#{i + 1}" for i in range(len(entry.item.candidates))]
        prev_key, next_key = keys[at - 1] if at > 0 else None, keys[at + 1] if at + 1 < len(keys) else None
        return render("item", request, entry=entry, judgment=judgment, verdict=judgment.verdict if judgment else None,
                      shortcuts=_shortcuts(options), mine=mine, position=at + 1, total=len(keys),
                      labelled=sum(k in done for k in keys), candidates=list(zip(names, entry.item.candidates,
                                                                                   strict=False)),
                      prev=prev_key, next=next_key, run=run)

    @app.post("/label")
    async def label(request: Request) -> Response:
        annotator = request.cookies.get(ANNOTATOR_COOKIE, "")
        if not annotator:
            return PlainTextResponse("choose an annotator name first", 400)
        form = await checked_form(request)
        if form is None:
            return refused
        run_id, item_id = str(form.get("run_id", "")), str(form.get("item_id", ""))
        value, note = str(form.get("label", "")), str(form.get("note", ""))
        entry = next((e for e in queue() if e.run_id == run_id and e.item_id == item_id), None)
        if entry is None:
            return PlainTextResponse(f"no queued item {item_id!r} in run {run_id!r}", 404)
        run = store.find_run(run_id)
        scale = run.judge.get("scale") if run is not None else None
        if value not in label_options(entry, scale if isinstance(scale, list) else None):
            return PlainTextResponse(f"label {value!r} is not one of this item's labels", 400)
        store.put_review_label(run_id, item_id, annotator, value, note)
        return RedirectResponse(next_url(annotator, (run_id, item_id)), 303)

    @app.get("/agreement", response_class=HTMLResponse)
    def agreement(request: Request) -> HTMLResponse:
        return render("agreement", request, runs=_agreement(store), nan=math.nan)

    @app.get("/export.jsonl")
    def export(run: str | None = None) -> Response:
        body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in golden_rows(store, run))
        return Response(body, media_type="application/x-ndjson",
                        headers={"Content-Disposition": 'attachment; filename="golden.jsonl"'})

    return app
