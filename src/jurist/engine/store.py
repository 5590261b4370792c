"""The Store: one SQLite file (WAL mode) holding the completion cache, runs and judgments.

Completions are keyed by a content hash of (backend spec, the whole request:
rendered messages, labels, decoding parameters), so any run that asks the same
model the same thing reuses the stored answer: a re-run makes no model calls.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from jurist.types import Completion, CompletionRequest, Item, Judgment, Verdict

SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    request TEXT NOT NULL,
    completion TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT,
    command TEXT,
    created REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,
    judge TEXT NOT NULL,
    info TEXT NOT NULL,
    totals TEXT NOT NULL,
    plan TEXT
);
CREATE TABLE IF NOT EXISTS judgments (
    run_id TEXT NOT NULL REFERENCES runs(id),
    item_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    judgment TEXT NOT NULL,
    PRIMARY KEY (run_id, item_id)
);
CREATE TABLE IF NOT EXISTS review_queue (
    run_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    created REAL NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    confidences TEXT NOT NULL,
    item TEXT NOT NULL,
    label TEXT,
    PRIMARY KEY (run_id, item_id)
);
CREATE TABLE IF NOT EXISTS review_labels (
    run_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    annotator TEXT NOT NULL,
    label TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    PRIMARY KEY (run_id, item_id, annotator)
);
CREATE TABLE IF NOT EXISTS artefacts (
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    created REAL NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, kind)
);
"""


# The columns jurist reads from each table: a file whose tables lack them is not a jurist store.
_COLUMNS = {"completions": {"key", "completion"},
            "runs": {"id", "name", "created", "status", "judge", "info", "totals"},
            "judgments": {"run_id", "item_id", "seq", "judgment"}}
_SQLITE_HEADER = b"SQLite format 3\x00"


class StoreError(ValueError):
    """A store file that cannot be used (missing, not SQLite, corrupt, foreign) or a run reference that is
    ambiguous; the message names the file."""


# Columns added after a store's first release: a store made before gets them when opened (old rows: NULL).
MIGRATIONS = (("runs", "plan", "TEXT"), ("judgments", "item_hash", "TEXT"))


def completion_key(backend_spec: str, request: CompletionRequest) -> str:
    payload = json.dumps({"backend": backend_spec, "request": request.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


RUN_COLUMNS = "id, name, command, created, finished, status, judge, info, totals, plan"


class RunRecord(BaseModel):
    """One run: what judged, when, and the totals (counts, tokens, cost)."""

    id: str
    name: str | None = None
    command: str | None = None
    created: float
    finished: float | None = None
    status: str
    judge: dict[str, Any]
    info: dict[str, Any] = Field(default_factory=dict)
    totals: dict[str, Any] = Field(default_factory=dict)
    plan: dict[str, Any] | None = None  # the plan that made the run (``jurist run`` runs it again); None before plans


class Store:
    """SQLite store, safe to share between the engine's tasks (one connection, one lock).

    Writes are committed in small batches (every ``commit_every`` judgments or
    ``commit_interval_s`` seconds, whichever first), so a killed process loses at
    most the last batch, and a resumed run redoes those items from the cache.
    """

    def __init__(self, path: str | Path = ":memory:", commit_every: int = 64, commit_interval_s: float = 0.5,
                 create: bool = True):
        """Open (or, with ``create``, make) the store at ``path``.

        Raises :class:`StoreError` naming the file when it is missing and ``create`` is False (what a
        read-only command wants: a mistyped path must not become an empty store), a directory, not an
        SQLite file, corrupt, or an SQLite file of another program (nothing is written to it then).
        """
        self.path = str(path)
        if self.path != ":memory:":
            _check_file(Path(self.path), create)
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._errors("cannot open"):
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
            self._check_tables()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._migrate()
        self._lock = threading.RLock()
        self._pending = 0
        self._last_commit = time.monotonic()
        self.commit_every = commit_every
        self.commit_interval_s = commit_interval_s
        self._db.execute("BEGIN")

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """SQLite's errors about the file as a StoreError that names it."""
        try:
            yield
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path}: {doing} the store: {error} (is it a jurist store, "
                             "and intact?)") from None

    def _check_tables(self) -> None:
        """Refuse an SQLite file of another program before anything is written to it."""
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in tables & set(_COLUMNS):
            columns = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if not _COLUMNS[table] <= columns:
                raise StoreError(f"{self.path}: not a jurist store (its table {table!r} lacks the columns "
                                 f"{', '.join(sorted(_COLUMNS[table] - columns))})")
        if tables and not tables & set(_COLUMNS):
            raise StoreError(f"{self.path}: not a jurist store (an SQLite file with the tables "
                             f"{', '.join(sorted(tables)[:5])})")

    def _migrate(self) -> None:
        for table, column, kind in MIGRATIONS:
            present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    # -- transactions -------------------------------------------------------------------

    def _maybe_commit(self) -> None:
        self._pending += 1
        if self._pending >= self.commit_every or time.monotonic() - self._last_commit >= self.commit_interval_s:
            self.commit()

    def commit(self) -> None:
        with self._lock:
            self._db.execute("COMMIT")
            self._db.execute("BEGIN")
            self._pending = 0
            self._last_commit = time.monotonic()

    def close(self) -> None:
        with self._lock:
            self._db.execute("COMMIT")
            self._db.close()

    # -- completion cache ---------------------------------------------------------------

    def get_completion(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute("SELECT completion FROM completions WHERE key = ?", (key,)).fetchone()
        return Completion.model_validate_json(row[0]) if row else None

    def put_completion(self, key: str, backend_spec: str, request: CompletionRequest, completion: Completion) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?)",
                (key, backend_spec, request.model_dump_json(), completion.model_dump_json(), time.time()))
            self._maybe_commit()

    def count_completions(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    # -- runs and judgments -------------------------------------------------------------

    def start_run(self, judge: dict[str, Any], name: str | None = None, command: str | None = None,
                  info: dict[str, Any] | None = None, plan: dict[str, Any] | None = None,
                  run_id: str | None = None) -> RunRecord:
        run = RunRecord(id=run_id or uuid.uuid4().hex[:12], name=name, command=command, created=time.time(), status="running",
                        judge=judge, info=info or {}, plan=plan)
        with self._lock:
            self._db.execute("INSERT INTO runs (id, name, command, created, finished, status, judge, info, totals, "
                             "plan) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (run.id, run.name, run.command, run.created, None, run.status, json.dumps(run.judge),
                              json.dumps(run.info), json.dumps(run.totals),
                              json.dumps(plan) if plan is not None else None))
            self.commit()
        return run

    def finish_run(self, run_id: str, status: str, totals: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET finished = ?, status = ?, totals = ? WHERE id = ?",
                             (time.time(), status, json.dumps(totals), run_id))
            self.commit()

    def record_input_errors(self, run_id: str, errors: list[str], keep: int = 20, count: int | None = None) -> None:
        """Add the input rows the loader skipped to a run's totals: ``input_skipped`` (every one counted)
        and ``input_errors`` (the first ``keep`` reasons, each naming file, line and field). A run over a
        file whose rows were mostly bad must say so; the engine's ``skipped`` counts resumed items."""
        with self._lock, self._errors("cannot update"):
            row = self._db.execute("SELECT totals FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise StoreError(f"{self.path}: no run {run_id!r}")
            skipped = len(errors) if count is None else count  # a streamed run counts them all, keeps a few
            totals = json.loads(row[0]) | {"input_skipped": skipped, "input_errors": list(errors[:keep])}
            self._db.execute("UPDATE runs SET totals = ? WHERE id = ?", (json.dumps(totals), run_id))
            self.commit()

    def find_run(self, ref: str) -> RunRecord | None:
        """A run by exact id, else by name (the newest run of that name), else by a prefix of one id.

        Compared as plain strings (no SQL LIKE: ``_`` and ``%`` are characters); an empty ref is no run;
        a prefix of several ids raises :class:`StoreError` naming them.
        """
        if not ref:
            return None
        with self._lock, self._errors("cannot read"):
            row = (self._db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (ref,)).fetchone()
                   or self._db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE name = ? ORDER BY created DESC LIMIT 1",
                                       (ref,)).fetchone())
            prefixed = [] if row else self._db.execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE substr(id, 1, ?) = ? ORDER BY created", (len(ref), ref)).fetchall()
        if len(prefixed) > 1:
            raise StoreError(f"{self.path}: {ref!r} is the start of several run ids: "
                             f"{', '.join(r[0] for r in prefixed)}")
        row = row or (prefixed[0] if prefixed else None)
        return self._run_from_row(row) if row else None

    def runs(self) -> list[RunRecord]:
        with self._lock, self._errors("cannot read"):
            rows = self._db.execute(f"SELECT {RUN_COLUMNS} FROM runs ORDER BY created").fetchall()
        return [self._run_from_row(row) for row in rows]

    @staticmethod
    def _run_from_row(row: tuple[Any, ...]) -> RunRecord:
        return RunRecord(id=row[0], name=row[1], command=row[2], created=row[3], finished=row[4], status=row[5],
                         judge=json.loads(row[6]), info=json.loads(row[7]), totals=json.loads(row[8]),
                         plan=json.loads(row[9]) if row[9] is not None else None)

    def put_judgment(self, run_id: str, seq: int, judgment: Judgment, item_hash: str | None = None) -> None:
        """Keep a judgment; ``item_hash`` (:meth:`Item.content_hash`) lets a resumed run see changed items."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO judgments (run_id, item_id, seq, status, judgment, item_hash) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             (run_id, judgment.item_id, seq, judgment.verdict.status, judgment.model_dump_json(),
                              item_hash))
            self._maybe_commit()

    def has_judgment(self, run_id: str, item_id: str, usable: bool = True) -> bool:
        """Whether the run holds a judgment of the item (``usable``: one that did not fail, so a resumed run
        skips it)."""
        query = "SELECT 1 FROM judgments WHERE run_id = ? AND item_id = ?" + (" AND status != 'failed'" if usable else "")
        with self._lock:
            return self._db.execute(query, (run_id, item_id)).fetchone() is not None

    def status_counts(self, run_id: str) -> dict[str, int]:
        """How many judgments of the run are scored, unscored and failed (counted in SQLite, none loaded)."""
        counts = {"scored": 0, "unscored": 0, "failed": 0}
        with self._lock, self._errors("cannot read"):
            rows = self._db.execute("SELECT status, COUNT(*) FROM judgments WHERE run_id = ? GROUP BY status",
                                    (run_id,)).fetchall()
        counts.update({status: n for status, n in rows})
        return counts

    def judged_ids(self, run_id: str) -> set[str]:
        with self._lock:
            rows = self._db.execute("SELECT item_id FROM judgments WHERE run_id = ?", (run_id,)).fetchall()
        return {row[0] for row in rows}

    def item_hashes(self, run_id: str) -> dict[str, str | None]:
        """The content hash of each item judged in a run (None: judged before hashes were kept)."""
        with self._lock, self._errors("cannot read"):
            rows = self._db.execute("SELECT item_id, item_hash FROM judgments WHERE run_id = ?", (run_id,)).fetchall()
        return {row[0]: row[1] for row in rows}

    def judgments(self, run_id: str) -> Iterator[Judgment]:
        with self._lock, self._errors("cannot read"):
            rows = self._db.execute("SELECT judgment FROM judgments WHERE run_id = ? ORDER BY seq",
                                    (run_id,)).fetchall()
        for row in rows:
            yield Judgment.model_validate_json(row[0])

    def judgment(self, run_id: str, item_id: str) -> Judgment | None:
        """One stored judgment (None when the run has none for the item)."""
        with self._lock, self._errors("cannot read"):
            row = self._db.execute("SELECT judgment FROM judgments WHERE run_id = ? AND item_id = ?",
                                   (run_id, item_id)).fetchone()
        return Judgment.model_validate_json(row[0]) if row else None

    def update_judgment(self, run_id: str, judgment: Judgment) -> None:
        """Replace the stored judgment of ``judgment.item_id`` in a run (its position is kept)."""
        with self._lock:
            self._db.execute("UPDATE judgments SET status = ?, judgment = ? WHERE run_id = ? AND item_id = ?",
                             (judgment.verdict.status, judgment.model_dump_json(), run_id, judgment.item_id))
            self._maybe_commit()

    # -- artefacts: documents made from a run (an audit's judge card) --------------------

    def put_artefact(self, run_id: str, kind: str, body: dict[str, Any]) -> None:
        """Attach a JSON document of ``kind`` to a run (replacing the run's earlier one of that kind); committed
        at once. Raises KeyError when the store has no such run."""
        with self._lock, self._errors("cannot write"):
            if self._db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                raise KeyError(f"no run {run_id!r} in {self.path}")
            self._db.execute("INSERT OR REPLACE INTO artefacts VALUES (?, ?, ?, ?)",
                             (run_id, kind, time.time(), json.dumps(body)))
            self.commit()

    def artefact(self, run_id: str, kind: str) -> dict[str, Any] | None:
        """The document of ``kind`` attached to a run (None: none)."""
        with self._lock, self._errors("cannot read"):
            row = self._db.execute("SELECT body FROM artefacts WHERE run_id = ? AND kind = ?",
                                   (run_id, kind)).fetchone()
        return json.loads(row[0]) if row else None

    def artefacts(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """Every document of ``kind`` as (run id, document), the newest first."""
        with self._lock, self._errors("cannot read"):
            rows = self._db.execute("SELECT run_id, body FROM artefacts WHERE kind = ? ORDER BY created DESC, rowid DESC",
                                    (kind,)).fetchall()
        return [(row[0], json.loads(row[1])) for row in rows]

    # -- human review queue (escalation cascade) ----------------------------------------

    def enqueue_review(self, run_id: str, item: Item, reason: str,
                       confidences: dict[str, float | None] | None = None) -> None:
        """Put an item no automatic judge could decide (unsure, or its answer unreadable) into the human review
        queue. Queued again (a resumed run), a pending entry is updated and an entry a person resolved is kept."""
        with self._lock:
            self._db.execute(
                "INSERT INTO review_queue VALUES (?, ?, ?, 'pending', ?, ?, ?, NULL) ON CONFLICT (run_id, item_id) "
                "DO UPDATE SET reason = excluded.reason, confidences = excluded.confidences, item = excluded.item "
                "WHERE status = 'pending'",
                (run_id, item.id, time.time(), reason, json.dumps(confidences or {}), item.model_dump_json()))
            self.commit()

    def review_queue(self, run_id: str | None = None, status: str | None = "pending") -> list[ReviewEntry]:
        """Queue entries (oldest first), optionally of one run and one status (None: any)."""
        query, args = "SELECT * FROM review_queue WHERE 1 = 1", []
        if run_id is not None:
            query += " AND run_id = ?"
            args.append(run_id)
        if status is not None:
            query += " AND status = ?"
            args.append(status)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY created, rowid", args).fetchall()
        return [ReviewEntry(run_id=r[0], item_id=r[1], created=r[2], status=r[3], reason=r[4],
                            confidences=json.loads(r[5]), item=Item.model_validate_json(r[6]),
                            label=json.loads(r[7]) if r[7] is not None else None) for r in rows]

    def resolve_review(self, run_id: str, item_id: str, label: str | float) -> None:
        """Record the human's label for a queued item."""
        with self._lock:
            cur = self._db.execute("UPDATE review_queue SET status = 'resolved', label = ? WHERE run_id = ? AND item_id = ?",
                                   (json.dumps(label), run_id, item_id))
            if cur.rowcount == 0:
                raise KeyError(f"no review entry for item {item_id!r} in run {run_id!r}")
            self.commit()

    def put_review_label(self, run_id: str, item_id: str, annotator: str, label: str | float, note: str = "") -> None:
        """Record one annotator's label (and note) for a queued item, replacing their earlier one.

        Committed at once, not batched: a label is a person's work and must survive a crash. The queue
        entry is marked resolved with the latest label, so :meth:`review_queue` callers see it decided.
        """
        if not annotator.strip():
            raise ValueError("an annotator name is required")
        with self._lock:
            known = self._db.execute("SELECT 1 FROM review_queue WHERE run_id = ? AND item_id = ?",
                                     (run_id, item_id)).fetchone()
            if known is None:
                raise KeyError(f"no review entry for item {item_id!r} in run {run_id!r}")
            self._db.execute("INSERT OR REPLACE INTO review_labels VALUES (?, ?, ?, ?, ?, ?)",
                             (run_id, item_id, annotator.strip(), json.dumps(label), note, time.time()))
            self._db.execute("UPDATE review_queue SET status = 'resolved', label = ? WHERE run_id = ? AND item_id = ?",
                             (json.dumps(label), run_id, item_id))
            self.commit()

    def review_labels(self, run_id: str | None = None) -> list[ReviewLabel]:
        """Every human label given in the review app (oldest first), optionally of one run."""
        query, args = "SELECT * FROM review_labels", []
        if run_id is not None:
            query += " WHERE run_id = ?"
            args.append(run_id)
        with self._lock, self._errors("cannot read"):
            rows = self._db.execute(query + " ORDER BY created, rowid", args).fetchall()
        return [ReviewLabel(run_id=r[0], item_id=r[1], annotator=r[2], label=json.loads(r[3]), note=r[4], created=r[5])
                for r in rows]


def load_judgments(ref: str, store: str | Path) -> list[Judgment]:
    """The judgments of ``ref``: a judgments file (``.jsonl``/``.parquet`` from ``--out`` or ``jurist export``)
    or a run (id, id prefix or name) in the store at ``store``. A ``StoreError`` says which it is not."""
    from jurist.io import JuristInputError, read_judgments

    path = Path(ref)
    if path.is_file():
        try:
            return read_judgments(path)
        except (JuristInputError, ValueError, KeyError) as error:
            raise StoreError(f"{path}: cannot read judgments: {error}") from None
    if not Path(store).is_file():
        raise StoreError(f"{ref!r} is neither a judgments file nor a run (no store at {store})")
    the_store = Store(store, create=False)
    record = the_store.find_run(ref)
    if record is None:
        raise StoreError(f"{ref!r} is neither a judgments file nor a run in {store}")
    return list(the_store.judgments(record.id))


def _check_file(path: Path, create: bool) -> None:
    """The errors a path can have before SQLite sees it."""
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a store file")
    if not path.exists():
        if not create:
            raise StoreError(f"{path}: no store there (a judging command with --store {path} creates it)")
        return
    try:
        with path.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except OSError as error:
        raise StoreError(f"{path}: cannot read the store: {error.strerror}") from None
    if header and header != _SQLITE_HEADER:  # an empty file is a new store
        raise StoreError(f"{path}: not a jurist store (not an SQLite file)")


class ReviewEntry(BaseModel):
    """An item waiting for (or labelled by) a human reviewer, with the confidence of every judge that saw it."""

    run_id: str
    item_id: str
    created: float
    status: str
    reason: str
    confidences: dict[str, float | None] = Field(default_factory=dict)
    item: Item
    label: str | float | None = None


class ReviewLabel(BaseModel):
    """One annotator's label for one queued item."""

    run_id: str
    item_id: str
    annotator: str
    label: str | float
    note: str = ""
    created: float


def verdict_counts(verdicts: list[Verdict]) -> dict[str, int]:
    counts = {"scored": 0, "unscored": 0, "failed": 0}
    for verdict in verdicts:
        counts[verdict.status] += 1
    return counts
