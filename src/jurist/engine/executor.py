"""The Engine: runs a judge over many items with bounded concurrency, caching and progress.

Every judgment is written to the store as it completes, so a run that dies can be
resumed (``resume=RUN``): items already judged in that run are skipped, and any
request already answered comes from the completion cache, never paid twice.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from pydantic import BaseModel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from jurist.backends.base import Backend
from jurist.engine.middleware import (
    ITEM_CALLS,
    CachedBackend,
    CallStats,
    ConcurrencyLimitedBackend,
    RateLimitedBackend,
    RetryingBackend,
    check_rate,
)
from jurist.engine.store import RunRecord, Store
from jurist.judge import JudgeLike
from jurist.types import Item, Judgment, Verdict


@dataclass
class EngineConfig:
    """How a run executes. ``prices`` maps a backend spec to (USD per 1M prompt tokens, per 1M output tokens)."""

    concurrency: int = 4
    max_attempts: int = 4
    retry_delay_s: float = 0.5  # before the first retry; doubled after each (RetryingBackend)
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    progress: bool | None = None  # None: on for an interactive terminal, off in CI and pipes
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_rate("requests_per_minute", self.requests_per_minute)
        check_rate("tokens_per_minute", self.tokens_per_minute)


class RunResult(BaseModel):
    """A finished (or interrupted) run, however it ran (this process, Ray, a cascade): its record, its
    judgments in input order, its totals, the input rows that could not be read, and what a judge with
    its own accounting adds (``judge_report``: a cascade's stages and review queue)."""

    run: RunRecord
    judgments: list[Judgment]
    stats: dict[str, Any]
    input_errors: list[str] = []
    judge_report: Any = None

    @property
    def failure(self) -> str | None:
        """Why nothing useful came out: no items, or every judgment failed (the first reason); else None.
        A streamed run (judgments in the store only) is read from its totals."""
        judged = sum(self.stats.get(k, 0) for k in ("scored", "unscored", "failed"))
        if not self.judgments and not judged:
            return "no items were judged" + (f" ({self.input_errors[0]})" if self.input_errors else "")
        if not self.judgments:
            return f"every judgment failed ({judged}; the reasons are in the store)" if (
                self.stats.get("failed") == judged) else None
        if all(j.verdict.status == "failed" for j in self.judgments):
            return f"every judgment failed; the first: {self.judgments[0].verdict.error}"
        return None

    def summary(self) -> Any:
        """Counts, mean score or win rate, and agreement with labels, each with a 95% CI."""
        from jurist.metrics.summary import compare_summary, score_summary

        kind = self.run.judge.get("protocol")
        if kind == "listwise":
            from jurist.metrics.summary import rank_summary

            return rank_summary(self.judgments)
        base = compare_summary(self.judgments) if kind == "pairwise" else score_summary(self.judgments)
        if self.run.judge.get("judge") == "jury":
            from jurist.strategies.jury import JurySummary

            return JurySummary.of(base, self.judgments)
        return base


def show_progress(setting: bool | None) -> bool:
    if setting is not None:
        return setting
    return sys.stderr.isatty() and not os.environ.get("CI")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in ("jurist", "llama-cpp-python", "openai", "pydantic"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


class Engine:
    """Runs ``judge`` over items; results and completions go to ``store``.

    ``store`` defaults to an in-memory SQLite database (caching within the run only);
    pass ``Store("runs.db")`` to keep judgments and never pay twice across runs.
    """

    def __init__(self, judge: JudgeLike, store: Store | None = None, config: EngineConfig | None = None):
        self.judge = judge
        self.store = store or Store(":memory:")
        self.config = config or EngineConfig()

    def _wrapped_judge(self, stats: CallStats) -> JudgeLike:
        def wrap(inner: Backend) -> Backend:
            backend: Backend = ConcurrencyLimitedBackend(inner, self.config.concurrency)
            if self.config.requests_per_minute or self.config.tokens_per_minute:
                backend = RateLimitedBackend(backend, self.config.requests_per_minute, self.config.tokens_per_minute)
            backend = RetryingBackend(backend, stats, max_attempts=self.config.max_attempts,
                                      base_delay_s=self.config.retry_delay_s)
            return CachedBackend(backend, self.store, stats)

        # A jury or a cascade wraps each member's backend: every member gets the cache, retries and limits.
        return self.judge.wrapped(wrap)

    def run(self, items: Iterable[Item], **kwargs: Any) -> RunResult:
        """Synchronous ``arun``."""
        result: list[RunResult] = []

        # The result is not the task's: asyncio.run (3.11) may repr() its task, result included (all judgments).
        async def main() -> None:
            try:
                result.append(await self.arun(items, **kwargs))
            finally:  # pooled connections belong to this event loop, which closes when run returns
                await self.judge.close_connections()

        asyncio.run(main())
        return result[0]

    async def arun(self, items: Iterable[Item], *, name: str | None = None, resume: str | None = None,
                   total: int | None = None, command: str | None = None,
                   info: dict[str, Any] | None = None, plan: dict[str, Any] | None = None,
                   keep: bool = True, resume_changed: bool = False) -> RunResult:
        """Judge every item; ``resume`` (a run id or name) continues that run. ``plan`` is stored with the run.

        ``keep=False`` streams: the judgments go to the store only (the result's list is empty, its totals are
        counted in the store), and a resumed run asks the store item by item what is done, so memory stays
        flat whatever the number of items.

        A resumed run must judge the same data: when an item judged before has other content now (its
        :meth:`Item.content_hash`), or ``info["input"]["sha256"]`` (the input file, given by the runner)
        differs from the run's, it raises :class:`ResumeError` saying what changed; with
        ``resume_changed`` it goes on and judges the changed items again. A streamed run checks the input
        file's hash only (its items are not held to compare).
        """
        if resume is not None:
            run = self.store.find_run(resume)
            if run is None:
                raise ValueError(f"no run {resume!r} in {self.store.path}")
            if run.judge != self.judge.identity:
                raise ValueError(f"run {run.id} was made by a different judge ({run.judge}); start a new run instead")
        else:
            run = self.store.start_run(self.judge.identity, name=name, command=command,
                                       info={"versions": package_versions(), **(info or {})}, plan=plan)
        # A new run has no judgments yet: nothing to read back, and its judgments are kept as they are made.
        done: set[str] = set()
        if resume is not None:
            if keep:
                items = list(items)  # checked before anything is judged
            changed = _changed_items(run, self.store.item_hashes(run.id) if keep else {},
                                     items if keep else [], (info or {}).get("input"),  # type: ignore[arg-type]
                                     allow=resume_changed)
            if keep:
                done = {j.item_id for j in self.store.judgments(run.id) if j.verdict.status != "failed"} - changed
        resumed = resume is not None and not keep
        made: dict[str, tuple[int, Judgment]] = {}
        show = show_progress(self.config.progress)
        stats = CallStats()
        judge = self._wrapped_judge(stats)
        counts = {"scored": 0, "unscored": 0, "failed": 0, "skipped": 0}  # this session, for the progress bar
        started = time.monotonic()
        item_iter = iter(enumerate(items))
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]

        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                            disable=not show, transient=False)
        task = progress.add_task("judging", total=total, status="")

        async def judge_one(seq: int, item: Item) -> None:
            t0 = time.monotonic()
            calls = [0, 0]
            ITEM_CALLS.set(calls)  # each worker task has its own context
            try:
                verdict = await judge.ajudge(item)
            except Exception as error:  # one bad item never aborts a run
                verdict = Verdict(status="failed", kind=self.judge.protocol.kind,  # type: ignore[arg-type]
                                  error=f"{type(error).__name__}: {error}")
            judgment = Judgment(item_id=item.id, protocol=self.judge.protocol.name, judge=self.judge.spec,
                                verdict=verdict, label=item.label, latency_s=time.monotonic() - t0,
                                cached=calls[0] == 0 and calls[1] > 0, metadata=item.metadata)
            self.store.put_judgment(run.id, seq, judgment, item_hash=item.content_hash())
            if keep:
                made[item.id] = (seq, judgment)
            counts[verdict.status] += 1
            if show:
                progress.update(task, advance=1,
                                status=f"unscored {counts['unscored']}  failed {counts['failed']}  "
                                       f"cached {stats.cache_hits}")

        async def worker() -> None:
            for seq, item in item_iter:  # one shared iterator: items are read lazily, memory stays bounded
                if item.id in done or (resumed and self.store.has_judgment(run.id, item.id)):
                    counts["skipped"] += 1
                    if show:
                        progress.update(task, advance=1)
                    continue
                await judge_one(seq, item)

        status = "interrupted"
        try:
            with progress:
                await asyncio.gather(*(worker() for _ in range(max(1, self.config.concurrency))))
            status = "finished"
        finally:
            if not keep:
                judgments = []
                verdicts = self.store.status_counts(run.id)
            else:
                if resume is not None:
                    judgments = list(self.store.judgments(run.id))
                else:  # what the store holds for this run (one judgment per item id, in input order), not read back
                    judgments = [judgment for _, judgment in sorted(made.values(), key=lambda pair: pair[0])]
                verdicts = {"scored": 0, "unscored": 0, "failed": 0}
                for judgment in judgments:
                    verdicts[judgment.verdict.status] += 1
            totals = self._totals(verdicts, counts["skipped"], stats, time.monotonic() - started, run.totals)
            self.store.finish_run(run.id, status, totals)
        finished = self.store.find_run(run.id)
        assert finished is not None
        return RunResult(run=finished, judgments=judgments, stats=totals)

    def _totals(self, verdicts: dict[str, int], skipped: int, stats: CallStats, wall_s: float,
                previous: dict[str, Any]) -> dict[str, Any]:
        """Verdict counts over the whole run; calls, tokens, time and cost added to earlier sessions' (resume)."""
        totals: dict[str, Any] = dict(verdicts)
        spent: dict[str, Any] = {**stats.as_dict(), "wall_s": round(wall_s, 3)}
        price = self.config.prices.get(self.judge.spec)
        if price is not None:
            spent["cost_usd"] = (stats.prompt_tokens * price[0] + stats.completion_tokens * price[1]) / 1e6
        for key, value in spent.items():
            earlier = previous.get(key)
            spent[key] = value + earlier if isinstance(value, (int, float)) and isinstance(earlier, (int, float)) else value
        return {**totals, "skipped": skipped, **spent}


class ResumeError(ValueError):
    """A resumed run whose data changed: the message says which items have other content, or that the input
    file differs."""


def _changed_items(run: RunRecord, stored: dict[str, str | None], items: list[Item],
                   source: dict[str, Any] | None, *, allow: bool) -> set[str]:
    """The ids judged in ``run`` whose content differs now; raise ResumeError unless ``allow``."""
    changed = {item.id for item in items if stored.get(item.id) not in (None, item.content_hash())}
    before = run.info.get("input") or {}
    other_file = bool(source and before.get("sha256") and source.get("sha256") != before["sha256"])
    if allow or not (changed or other_file):
        return changed
    reasons = []
    if other_file:
        assert source is not None
        reasons.append(f"the input differs: the run was made from {before.get('path')} (sha256 "
                       f"{before['sha256'][:12]}), this is {source.get('path')} (sha256 {source['sha256'][:12]})")
    if changed:
        ids = sorted(changed)
        reasons.append(f"{len(ids)} item(s) judged in the run have other content now: "
                       f"{', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}")
    raise ResumeError(f"cannot resume run {run.id}: {'; '.join(reasons)}. Start a new run, or allow it with "
                      "`resume_changed` (the changed items are judged again, the others kept)")


def run_judge(judge: JudgeLike, items: Iterable[Item], *, store: Store | str | None = None,
              config: EngineConfig | None = None, name: str | None = None, resume: str | None = None,
              command: str | None = None, plan: dict[str, Any] | None = None, keep: bool = True,
              total: int | None = None, info: dict[str, Any] | None = None,
              resume_changed: bool = False) -> RunResult:
    """Run any judge over items with the engine: the one place a run is made, kept and settled.

    A judge with its own accounting (a cascade: its review queue, its stages) settles the
    judgments after the run through its ``settle`` method, in the same store. ``keep=False``
    streams (see :meth:`Engine.arun`); ``total`` is the item count a progress bar shows.
    """
    the_store = store if isinstance(store, Store) else Store(store or ":memory:")
    settle = getattr(judge, "settle", None)
    if settle is not None and not keep:
        raise ValueError("a cascade settles its judgments after the run and cannot stream them")
    if settle is not None:  # it needs the items again afterwards; otherwise they stream through once
        items = list(items)
    result = Engine(judge, the_store, config).run(items, name=name, resume=resume, command=command, plan=plan,
                                                  keep=keep, total=total, info=info,
                                                  resume_changed=resume_changed)
    if settle is not None:
        by_id = {item.id: item for item in items}
        judgments, report = settle(result.judgments, by_id, the_store, result.run.id, result.stats)
        the_store.commit()
        result = result.model_copy(update={"judgments": judgments, "judge_report": report})
    return result
