"""Distributed runs on Ray Data: the same judge, over many machines, with the same idempotence.

``run_on_ray(data, PlanJudge(plan), task=..., out_path=DIR)`` streams the input
(JSONL or Parquet, a file or a directory of files) through ``map_batches`` on
an actor pool. Each actor builds its own judge (one judge, a jury, samples,
dimensions: the whole plan) from a picklable factory (a :class:`PlanJudge`, or any
zero-argument callable returning a judge) and judges all rows of a batch concurrently in ``async def __call__``,
bounded per actor by ``concurrency_per_actor`` requests in flight, with the
engine's retries (and rate limits, split between the actors).

Idempotence: every item gets a key, the SHA-256 of the judge's identity and the
item's content (id, input, candidates, reference). The driver reads the keys
already in ``out_path`` and the actors skip those rows before judging, so a re-run
makes no model calls for finished items and writes no duplicates. Failed verdicts
are judged again, and an item whose content changed is judged again; the newer
row then replaces the older one (one row per item id). ``cache_dir`` adds a
per-actor SQLite completion cache (:class:`~jurist.engine.store.Store`), which
also saves requests that were answered but whose rows were never written.

Results are written by the driver as Parquet part files (written to a temporary
name and renamed, so a file is either complete or absent), with the columns of
:data:`jurist.io.JUDGMENT_COLUMNS` plus ``key``, ``run_id``, ``top_label``,
``model_calls`` and ``cache_hits``; :func:`read_results` reads them back as
:class:`~jurist.types.Judgment` objects.

Ray is an optional extra (``pip install 'jurist[ray]'``): it is imported only
inside the functions of this module, never by ``import jurist``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from jurist.backends.base import Backend, WrappingBackend
from jurist.engine.middleware import (
    ITEM_CALLS,
    CachedBackend,
    CallStats,
    ConcurrencyLimitedBackend,
    RateLimitedBackend,
    RetryingBackend,
)
from jurist.judge import JudgeLike
from jurist.plan import Plan
from jurist.types import Completion, CompletionRequest, Item, Judgment, Verdict

__all__ = ["PlanJudge", "RayRunSummary", "item_key", "read_results", "run_on_ray"]

Task = Literal["score", "compare"]
MANIFEST = "_jurist.json"  # names starting with "_" or "." are ignored by Parquet dataset readers
ITEM_COLUMN = "_jurist_item"  # rows loaded by the driver travel as Item JSON in this column
INVALID = "invalid"  # status of an input row that could not become an Item (reported, never written)
SKIPPED = "skipped"  # status of a row already judged in out_path (counted, never written)


# ---------------------------------------------------------------------------
# the judge, rebuilt in each actor


@dataclass(frozen=True)
class PlanJudge:
    """A picklable recipe for a judge: each Ray actor builds the plan's judge (a Judge, a Jury...) itself."""

    plan: Plan

    def __call__(self) -> JudgeLike:
        return self.plan.build()


def item_key(identity: Mapping[str, Any], item: Item) -> str:
    """The content hash that makes a judgment idempotent: judge identity + the item as the judge sees it.

    The label and metadata are not part of it: they never change a verdict (except a per-item
    ``checklist``, which is kept in metadata). Media fields enter only when present, so the keys of
    items without media stay as they were.
    """
    seen: dict[str, Any] = {"id": item.id, "input": item.input, "candidates": item.candidates,
                            "reference": item.reference}
    media = item.model_dump(include={"images", "frames", "caption", "transcript"}, exclude_defaults=True)
    if item.metadata.get("checklist"):
        media["checklist"] = item.metadata["checklist"]
    payload = json.dumps({"judge": identity, "item": seen | media}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------------
# row dicts -> Items, with jurist.io's field mapping and presets


class _RowMapper:
    """Turns one raw record (a dict from Ray Data) into an Item through :class:`jurist.io.RecordReader`.

    The one difference from reading a whole file: a record without an id cannot fall back to
    its line number (Ray Data does not know it), so a missing id is an error here; ``run_on_ray``
    loads such files in the driver instead.
    """

    def __init__(self, task: Task, fields: Mapping[str, str] | None, preset: str | None,
                 label_map: Mapping[Any, str] | None, path: str, lines: bool = False):
        from jurist.io import RecordReader

        self.reader = RecordReader(task, fields, preset, label_map)
        self.path = path
        self.lines = lines  # records arrive as JSONL text lines (ray.data.read_text), parsed here as io does

    def has_id(self, record: Mapping[str, Any]) -> bool:
        return self.reader.has_id(record)

    def item(self, row: Mapping[str, Any]) -> Item | str:
        """The Item for one row from Ray Data, or the error text for a bad row."""
        from jurist.io import RecordError

        if self.lines:
            if not row["text"].strip():
                return ""  # a blank line: not a row
            try:
                row = self.reader.parse_line(row["text"], self.path)
            except RecordError as error:
                return str(error)
        record = {k: v for k, v in row.items() if v is not None}  # Parquet gives absent values as nulls
        column = self.reader.id_column
        where = f"{self.path}: item {record[column]!r}" if column in record else self.path
        if not self.has_id(record):
            return (f"{where}: field 'id': missing; the ray engine needs an id column "
                    f"(give every row one, or map a column to it in `data.fields`)")
        try:
            return self.reader.item(record)
        except RecordError as error:
            return f"{where}: {error}"


# ---------------------------------------------------------------------------
# the actor


def _output_schema(kind: str) -> Any:
    import pyarrow as pa

    return pa.schema([
        ("item_id", pa.string()), ("key", pa.string()), ("run_id", pa.string()), ("judge", pa.string()),
        ("protocol", pa.string()), ("status", pa.string()), ("kind", pa.string()), ("method", pa.string()),
        ("score", pa.float64()), ("top_label", pa.string()), ("preference", pa.string()), ("p_a", pa.float64()),
        ("p_b", pa.float64()), ("p_tie", pa.float64()), ("confidence", pa.float64()), ("orders_agree", pa.bool_()),
        ("label", pa.float64() if kind == "score" else pa.string()), ("raw", pa.string()), ("error", pa.string()),
        ("latency_s", pa.float64()), ("cached", pa.bool_()), ("model_calls", pa.int64()), ("cache_hits", pa.int64()),
        ("metadata", pa.string()), ("verdict", pa.string()),
    ])


def _row(run_id: str, key: str | None, judgment: Judgment, calls: list[int]) -> dict[str, Any]:
    v = judgment.verdict
    return {
        "item_id": judgment.item_id, "key": key, "run_id": run_id, "judge": judgment.judge,
        "protocol": judgment.protocol, "status": v.status, "kind": v.kind, "method": v.method, "score": v.score,
        "top_label": v.top_label, "preference": v.preference, "p_a": v.p_a, "p_b": v.p_b, "p_tie": v.p_tie,
        "confidence": v.confidence, "orders_agree": v.orders_agree, "label": judgment.label, "raw": v.raw,
        "error": v.error, "latency_s": judgment.latency_s, "cached": judgment.cached, "model_calls": calls[0],
        "cache_hits": calls[1], "metadata": json.dumps(judgment.metadata, ensure_ascii=False, default=str),
        "verdict": v.model_dump_json(),
    }


class _CountingBackend(WrappingBackend):
    """Counts each item's model calls when there is no completion cache (CachedBackend counts otherwise)."""

    def __init__(self, inner: Backend, stats: CallStats):
        super().__init__(inner)
        self.stats = stats

    async def complete(self, request: CompletionRequest) -> Completion:
        completion = await self.inner.complete(request)
        self.stats.count(self.spec, "model_calls")
        calls = ITEM_CALLS.get()
        if calls is not None:
            calls[0] += 1
        return completion



def _claim_cache(cache_dir: str) -> tuple[str, Any]:
    """A per-actor SQLite file in ``cache_dir``: the lowest slot no live actor holds (an flock), so a
    re-run's actors reopen the same files; without flock (Windows), a fresh file per actor."""
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        return str(Path(cache_dir) / f"actor-{uuid.uuid4().hex[:12]}.db"), None
    slot = 0
    while True:
        handle = open(Path(cache_dir) / f"actor-{slot}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return str(Path(cache_dir) / f"actor-{slot}.db"), handle  # held for the actor's lifetime
        except OSError:
            handle.close()
            slot += 1


class JudgeActor:
    """The ``map_batches`` callable: one per actor; judges each batch's rows concurrently.

    Ray Data runs an ``async def __call__`` generator on the actor's event loop and
    feeds it several batches at once; the request semaphore is shared by all of them.
    """

    def __init__(self, factory: Callable[[], JudgeLike], run_id: str, identity: dict[str, Any],
                 done_box: list[Any], mapper_args: dict[str, Any] | None, concurrency: int = 32,
                 max_attempts: int = 4, requests_per_minute: float | None = None,
                 tokens_per_minute: float | None = None, cache_dir: str | None = None, retry_delay_s: float = 0.5):
        import ray

        base = factory()
        self.kind = base.protocol.kind
        self.protocol_name = base.protocol.name
        self.identity = identity
        if base.identity != identity:
            raise ValueError(f"the judge built on a worker differs from the driver's: {base.identity} != {identity}")
        self.run_id = run_id
        done = done_box[0]
        self.done: frozenset[str] = ray.get(done) if isinstance(done, ray.ObjectRef) else done
        self.mapper = _RowMapper(**mapper_args) if mapper_args is not None else None
        self.stats = CallStats()
        self._cache_slot = None
        self.store = None
        if cache_dir:
            from jurist.engine.store import Store

            path, self._cache_slot = _claim_cache(cache_dir)
            self.store = Store(path)

        def wrap(inner: Backend) -> Backend:  # the engine's middleware, around every backend of the judge
            backend: Backend = ConcurrencyLimitedBackend(inner, concurrency)
            if requests_per_minute or tokens_per_minute:
                backend = RateLimitedBackend(backend, requests_per_minute, tokens_per_minute)
            backend = RetryingBackend(backend, self.stats, max_attempts=max_attempts, base_delay_s=retry_delay_s)
            if self.store is not None:
                return CachedBackend(backend, self.store, self.stats)
            return _CountingBackend(backend, self.stats)

        self.judge = base.wrapped(wrap)
        self.schema = _output_schema(self.kind)

    async def _judge(self, item: Item, key: str) -> dict[str, Any]:
        t0 = time.monotonic()
        calls = [0, 0]
        ITEM_CALLS.set(calls)  # this coroutine runs as its own task, with its own context
        try:
            verdict = await self.judge.ajudge(item)
        except Exception as error:  # one bad item never aborts a batch
            verdict = Verdict(status="failed", kind=self.kind,  # type: ignore[arg-type]
                              error=f"{type(error).__name__}: {error}")
        judgment = Judgment(item_id=item.id, protocol=self.protocol_name, judge=self.judge.spec,
                            verdict=verdict, label=item.label, latency_s=time.monotonic() - t0,
                            cached=calls[0] == 0 and calls[1] > 0, metadata=item.metadata)
        return _row(self.run_id, key, judgment, calls)

    def _invalid(self, message: str) -> dict[str, Any]:
        return {"item_id": None, "status": INVALID, "kind": self.kind, "run_id": self.run_id, "error": message}

    async def __call__(self, batch: Any) -> AsyncIterator[Any]:
        import pyarrow as pa

        rows: list[dict[str, Any]] = []
        work = []
        for record in batch.to_pylist():
            if self.mapper is None:
                item: Item | str = Item.model_validate_json(record[ITEM_COLUMN])
            else:
                item = self.mapper.item(record)
            if isinstance(item, str):
                if item:
                    rows.append(self._invalid(item))
                continue
            key = item_key(self.identity, item)
            if key in self.done:
                rows.append({"item_id": item.id, "key": key, "status": SKIPPED, "kind": self.kind})
            else:
                work.append(self._judge(item, key))
        rows.extend(await asyncio.gather(*work))
        if self.store is not None:
            self.store.commit()  # the actor may be killed once the dataset is done: nothing may wait for later
        yield pa.Table.from_pylist(rows, schema=self.schema)


# ---------------------------------------------------------------------------
# the output directory


def _part_files(out: Path) -> list[Path]:
    return sorted(p for p in out.glob("*.parquet") if not p.name.startswith((".", "_")))


def _existing(out: Path) -> dict[Path, Any]:
    """Each part file's (item_id, key, status) columns."""
    import pyarrow.parquet as pq

    return {path: pq.read_table(path, columns=["item_id", "key", "status"]) for path in _part_files(out)}


def _compact(out: Path) -> dict[Path, Any]:
    """Keep one row per item id: its newest non-failed row, else its newest row. Rows judged again
    (failed before, or content changed) thus replace the older ones. Returns :func:`_existing` after."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    existing = _existing(out)
    winner: dict[str, tuple[int, int, bool]] = {}  # item id -> (file number, row, ok)
    for number, table in enumerate(existing.values()):
        for row, (item_id, status) in enumerate(zip(table.column("item_id").to_pylist(),
                                                    table.column("status").to_pylist(), strict=True)):
            ok = status != "failed"
            if item_id not in winner or ok or not winner[item_id][2]:
                winner[item_id] = (number, row, ok)
    changed = False
    for number, (path, table) in enumerate(existing.items()):
        keep = [winner[item_id][:2] == (number, row) for row, item_id in enumerate(table.column("item_id").to_pylist())]
        if all(keep):
            continue
        changed = True
        if any(keep):
            _write_atomic(path, pq.read_table(path).filter(pa.array(keep)))
        else:
            path.unlink()
    return _existing(out) if changed else existing


def _write_atomic(path: Path, table: Any) -> None:
    import pyarrow.parquet as pq

    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        pq.write_table(table, tmp)
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_results(out_path: str | os.PathLike[str]) -> list[Judgment]:
    """Every judgment in a ``run_on_ray`` output directory (one per item id)."""
    from jurist.io import read_judgments

    return [j for path in _part_files(Path(out_path)) for j in read_judgments(path)]


class RayRunSummary(BaseModel):
    """What a distributed run did. Counts (scored/unscored/failed) are over the whole output directory;
    ``judged``, ``model_calls``, ``cache_hits`` and ``wall_s`` are this run's."""

    run_id: str
    out_path: str
    judge: dict[str, Any]
    task: str
    data: str = ""
    rows: int = 0  # input rows that reached the actors
    judged: int = 0
    skipped: int = 0  # already judged in out_path: no model call, nothing written
    scored: int = 0
    unscored: int = 0
    failed: int = 0
    input_errors: list[str] = Field(default_factory=list)
    model_calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0  # the whole call, Ray start-up included
    exec_s: float = 0.0  # the Ray Data execution: actor start-up, reading, judging, writing
    judge_s: float = 0.0  # from the first output batch to the last (steady state; no actor start-up)
    files: list[str] = Field(default_factory=list)
    created: float = Field(default_factory=time.time)

    @property
    def rows_per_s(self) -> float:
        """Items judged per second of execution (actor start-up included)."""
        return self.judged / self.exec_s if self.exec_s > 0 else 0.0

    def judgments(self) -> list[Judgment]:
        return read_results(self.out_path)

    def to_run_result(self, command: str | None = None) -> Any:
        """The output directory as a :class:`~jurist.engine.RunResult` (for summaries and reports)."""
        from jurist.engine.executor import RunResult
        from jurist.engine.store import RunRecord

        stats = {"scored": self.scored, "unscored": self.unscored, "failed": self.failed, "skipped": self.skipped,
                 "model_calls": self.model_calls, "cache_hits": self.cache_hits, "prompt_tokens": self.prompt_tokens,
                 "completion_tokens": self.completion_tokens, "cached_prompt_tokens": 0, "wall_s": self.wall_s}
        run = RunRecord(id=self.run_id, command=command, created=self.created, finished=self.created + self.wall_s,
                        status="finished", judge=self.judge, info={"engine": "ray", "out": self.out_path},
                        totals=stats)
        return RunResult(run=run, judgments=self.judgments(), stats=stats, input_errors=self.input_errors)


# ---------------------------------------------------------------------------
# the run


def _peek_record(path: Path, suffix: str) -> dict[str, Any] | None:
    """The first record of a JSONL / Parquet file (to check that rows carry ids)."""
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=1):
            rows = batch.to_pylist()
            if rows:
                return rows[0]
        return None
    with path.open(encoding="utf-8-sig") as f:
        for line in f:
            if line.strip():
                try:
                    value = json.loads(line)
                except json.JSONDecodeError:
                    return None
                return value if isinstance(value, dict) else None
    return None


STREAMED = (".jsonl", ".ndjson", ".parquet")


def _files(path: Path, suffix: str) -> list[str]:
    return [str(path)] if path.is_file() else sorted(str(p) for p in path.rglob(f"*{suffix}"))


def _read_dataset(ray: Any, data: str | list[str], suffix: str) -> Any:
    """Parquet as typed rows; JSONL as text lines, parsed by the actors exactly as jurist.io parses them
    (no Arrow type inference: a bad line is one bad row, not a failed read)."""
    extensions = [suffix.lstrip(".")]
    if suffix == ".parquet":
        return ray.data.read_parquet(data, file_extensions=extensions)
    return ray.data.read_text(data, drop_empty_lines=True, file_extensions=extensions)


def run_on_ray(
    data: str | os.PathLike[str],
    judge: Callable[[], JudgeLike],
    *,
    task: Task,
    out_path: str | os.PathLike[str],
    fields: Mapping[str, str] | None = None,
    preset: str | None = None,
    label_map: Mapping[Any, str] | None = None,
    limit: int | None = None,
    stream: bool | None = None,
    input_format: Literal["jsonl", "parquet"] | None = None,
    batch_size: int = 256,
    actors: int = 2,
    concurrency_per_actor: int = 32,
    actor_num_cpus: float = 0.5,
    max_attempts: int = 4,
    retry_delay_s: float = 0.5,
    requests_per_minute: float | None = None,
    tokens_per_minute: float | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    rows_per_file: int = 50_000,
    flush_interval_s: float = 60.0,
    ray_address: str | None = None,
    ray_init: Mapping[str, Any] | None = None,
    progress: bool | None = None,
) -> RayRunSummary:
    """Judge ``data`` on Ray Data; results go to Parquet part files in ``out_path``.

    ``data`` is a ``.jsonl``/``.ndjson``/``.parquet`` file or a directory of them
    (streamed by Ray Data), or any file :func:`jurist.io.load_items` reads (CSV,
    JSON: loaded by the driver). A URI (``s3://bucket/pairs/``) is read by the
    workers themselves (``input_format`` names the format of a directory URI);
    local paths must then be visible to every node, except with ``stream=False``.
    ``judge`` is a :class:`PlanJudge` or another picklable zero-argument callable
    returning a judge (anything with :class:`~jurist.judge.JudgeLike`); each actor calls it once. ``fields``, ``preset``,
    ``label_map`` map columns as in :func:`jurist.io.load_items`.

    ``stream=None`` streams when the file type allows it and its first record has
    an id (ids cannot fall back to line numbers on Ray); otherwise the driver loads
    the items with :mod:`jurist.io` (same ids as the local engine) and hands them
    to Ray. ``limit`` takes the first N raw rows when streaming.

    Sizing: ``actors`` async actors, each with ``concurrency_per_actor`` requests in
    flight (a pairwise item with both orders is two requests), fed batches of
    ``batch_size`` rows (>= 250 keeps every actor busy). ``requests_per_minute`` and
    ``tokens_per_minute`` are totals, split evenly between the actors.

    Ray is started locally (``ray.init()``), or joined at ``ray_address``
    (``"auto"``, ``"ray://HEAD:10001"``); an already initialised Ray is used as it
    is. ``ray_init`` passes further ``ray.init`` options (e.g. ``runtime_env``).
    A Ray instance this function started is shut down when it returns.
    """
    try:
        import ray
    except ImportError as error:  # pragma: no cover
        raise ImportError("the ray engine needs Ray Data: pip install 'jurist[ray]'") from error
    from jurist import io

    started = time.monotonic()
    mapper_args = {"task": task, "fields": dict(fields or {}) or None, "preset": preset,
                   "label_map": dict(label_map or {}) or None, "path": str(data)}
    mapper = _RowMapper(**mapper_args)  # checks the options (unknown preset, field names...) before Ray starts
    source = Path(data)
    remote = "://" in str(data)  # s3://, gs://, hdfs://...: read by the workers, streamed, never peeked
    if remote:
        suffix = f".{input_format}" if input_format else Path(str(data).rstrip("/")).suffix.lower()
        if suffix not in STREAMED:
            raise io.JuristInputError(f"{data}: give input_format='jsonl' or 'parquet' for a remote directory")
        stream = True
        read_from: str | list[str] = str(data)
    else:
        if not source.exists():
            raise io.JuristInputError(f"{data}: no such file or directory")
        suffix = source.suffix.lower() if source.is_file() else _directory_suffix(source)
        if stream is None:
            first = _peek_record(Path(_files(source, suffix)[0]), suffix) if suffix in STREAMED else None
            stream = first is not None and mapper.has_id({k: v for k, v in first.items() if v is not None})
        elif stream and suffix not in STREAMED:
            raise io.JuristInputError(f"{data}: cannot stream {suffix or 'these'} files; use .jsonl or .parquet")
        read_from = _files(source, suffix) if stream else []

    the_judge = judge()
    identity = the_judge.identity
    kind = the_judge.protocol.kind
    if kind != task:
        raise ValueError(f"task {task!r} but the judge's protocol is for {kind!r}")

    out = Path(out_path)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / MANIFEST
    if manifest.exists():
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
        if recorded.get("judge") != identity:
            raise ValueError(f"{out} holds the verdicts of another judge ({recorded.get('judge')}); "
                             "use another output directory")
    else:
        manifest.write_text(json.dumps({"judge": identity, "task": task, "created": time.time()}, indent=1),
                            encoding="utf-8")
    existing = _compact(out)  # also repairs a run that died between writing and compacting
    done = frozenset(key for table in existing.values()
                     for key, status in zip(table.column("key").to_pylist(), table.column("status").to_pylist(),
                                            strict=True) if status != "failed")

    summary = RayRunSummary(run_id=uuid.uuid4().hex[:12], out_path=str(out), judge=identity, task=task, data=str(data))
    owns_ray = not ray.is_initialized()
    if owns_ray:
        import logging

        options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                                   "log_to_driver": True, **dict(ray_init or {})}
        ray.init(address=ray_address, **options)
    try:
        ctx = ray.data.DataContext.get_current()
        show = progress if progress is not None else bool(os.isatty(2) and not os.environ.get("CI"))
        ctx.enable_progress_bars = show
        ctx.print_on_execution_start = show
        if stream:
            ds = _read_dataset(ray, read_from, suffix)
            if limit:
                ds = ds.limit(limit)
            actor_mapper: dict[str, Any] | None = {**mapper_args, "lines": suffix != ".parquet"}
        else:
            loaded = io.load_items(source, task, fields=fields, preset=preset, label_map=label_map, limit=limit)
            summary.input_errors.extend(str(e) for e in loaded.errors)
            ds = ray.data.from_items([{ITEM_COLUMN: item.model_dump_json()} for item in loaded.items])
            actor_mapper = None
        ds = _split_blocks(ds, batch_size)
        done_ref = ray.put(done)
        split = max(1, actors)
        ds = ds.map_batches(
            JudgeActor,
            batch_size=batch_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=split),
            num_cpus=actor_num_cpus,
            fn_constructor_kwargs={
                "factory": judge, "run_id": summary.run_id, "identity": identity, "done_box": [done_ref],
                "mapper_args": actor_mapper, "concurrency": concurrency_per_actor, "max_attempts": max_attempts,
                "retry_delay_s": retry_delay_s,
                "requests_per_minute": requests_per_minute / split if requests_per_minute else None,
                "tokens_per_minute": tokens_per_minute / split if tokens_per_minute else None,
                "cache_dir": str(cache_dir) if cache_dir else None,
            },
        )
        _collect(ds, out, summary, rows_per_file, flush_interval_s)
    finally:
        if owns_ray:
            ray.shutdown()

    for table in _compact(out).values():
        for status in table.column("status").to_pylist():
            if status in ("scored", "unscored", "failed"):
                setattr(summary, status, getattr(summary, status) + 1)
    summary.wall_s = round(time.monotonic() - started, 3)
    return summary


def _split_blocks(ds: Any, batch_size: int) -> Any:
    """Blocks of about one batch. A file is read as one block, and an actor task takes whole blocks and
    returns its output only when done: one big block would keep one actor busy and the others idle,
    and no result would arrive before the end. Streaming repartition (no shuffle) where Ray has it."""
    import inspect

    if "target_num_rows_per_block" in inspect.signature(ds.repartition).parameters:
        return ds.repartition(target_num_rows_per_block=batch_size)
    return ds  # older Ray: give many input files (or Parquet row groups) to spread the work


def _directory_suffix(directory: Path) -> str:
    for suffix in STREAMED:
        if any(directory.rglob(f"*{suffix}")):
            return suffix
    from jurist.io import JuristInputError

    raise JuristInputError(f"{directory}: no .parquet or .jsonl files")


def _collect(ds: Any, out: Path, summary: RayRunSummary, rows_per_file: int, flush_interval_s: float) -> None:
    """Stream the actors' output: report bad rows, drop repeated ids, write part files as they fill."""
    import pyarrow as pa

    buffer: list[Any] = []
    buffered = 0
    seen: set[str] = set()
    first: float | None = None
    begin = last_flush = time.monotonic()

    def flush() -> None:
        nonlocal buffer, buffered, last_flush
        if buffered:
            # Names sort in writing order (milliseconds first): _compact keeps the newest row of an item.
            name = f"part-{time.time_ns() // 1_000_000:012x}-{summary.run_id}-{len(summary.files):05d}.parquet"
            _write_atomic(out / name, pa.concat_tables(buffer))
            summary.files.append(name)
        buffer, buffered, last_flush = [], 0, time.monotonic()

    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        if first is None:
            first = time.monotonic()
        rows = batch.to_pylist()
        keep = []
        for row in rows:
            summary.rows += 1
            if row["status"] == INVALID:
                summary.input_errors.append(row["error"])
                keep.append(False)
            elif row["item_id"] in seen:
                summary.input_errors.append(f"{summary.data}: duplicate id {row['item_id']!r} "
                                            "(the first row to arrive was kept)")
                keep.append(False)
            elif row["status"] == SKIPPED:
                seen.add(row["item_id"])
                summary.skipped += 1
                keep.append(False)
            else:
                seen.add(row["item_id"])
                summary.judged += 1
                summary.model_calls += row["model_calls"] or 0
                summary.cache_hits += row["cache_hits"] or 0
                usage = json.loads(row["verdict"]).get("usage") or {}
                summary.prompt_tokens += usage.get("prompt_tokens", 0)
                summary.completion_tokens += usage.get("completion_tokens", 0)
                keep.append(True)
        kept = batch.filter(pa.array(keep, type=pa.bool_())) if not all(keep) else batch
        if kept.num_rows:
            buffer.append(kept)
            buffered += kept.num_rows
        if buffered >= rows_per_file or (buffered and time.monotonic() - last_flush >= flush_interval_s):
            flush()
    flush()
    summary.judge_s = round(time.monotonic() - first, 3) if first is not None else 0.0
    summary.exec_s = round(time.monotonic() - begin, 3)
