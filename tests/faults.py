"""A judging run under injected faults and what must hold of it (issue 17, item 1).

Shared by ``tests/test_faults.py`` (bounded runs) and ``benchmarks/faults.py`` (2,000 judgments on both
engines, the figures in docs/reliability.md). The judge is ``jurist compare DATA --judge URL --model m``
against a :class:`jurist.testing.MockOpenAIServer` whose answers are a function of the prompt, so the run
is first made without faults (the right verdicts) and then with a :class:`jurist.testing.FaultPlan`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from jurist.cli import app
from jurist.engine.store import Store
from jurist.testing import FAULT_KINDS, TRANSPORT_FAULTS, FaultPlan, MockOpenAIServer
from jurist.types import Judgment, Verdict

MARK = re.compile(r"\[item (\S+)\]")  # every prompt names its item: the server's counts are per item


def answer(messages: list[dict[str, Any]]) -> dict[str, float]:
    """P(first response better) from a hash of the prompt: deterministic, different for each order."""
    digest = int(hashlib.sha256(messages[-1]["content"].encode("utf-8")).hexdigest()[:8], 16)
    p = 0.05 + 0.9 * (digest % 1000) / 1000
    return {"A": p, "B": 1 - p}


def make_pairs(path: Path, n: int) -> list[str]:
    """``n`` pairs with ids ``q0``..; returns the ids in input order."""
    ids = [f"q{k}" for k in range(n)]
    path.write_text("".join(json.dumps({"id": i, "input": f"[item {i}] Which answer is right?",
                                        "response_a": f"an answer to {i}", "response_b": f"another answer to {i}",
                                        "label": "AB"[k % 2]}) + "\n" for k, i in enumerate(ids)), encoding="utf-8")
    return ids


def judge(data: Path, server: MockOpenAIServer, store: Path, *, name: str, engine: str = "local",
          out: Path | None = None, concurrency: int = 32, timeout_s: float = 1.0, retry_delay_s: float = 0.01,
          max_attempts: int = 4) -> tuple[list[Judgment], float, str]:
    """``jurist compare`` over ``data`` against ``server``; the stored judgments, the wall time and the output."""
    args = ["compare", str(data), "--judge", server.base_url, "--model", "m", "--store", str(store), "--name", name,
            "--concurrency", str(concurrency), "--timeout", str(timeout_s), "--engine", engine,
            "--set", f"engine.retry_delay={retry_delay_s}", "--set", f"engine.max_attempts={max_attempts}",
            "--set", "engine.progress=false"]
    if out is not None:
        args += ["--out", str(out)]
    started = time.monotonic()
    result = CliRunner().invoke(app, args)
    wall = time.monotonic() - started
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    run = Store(store, create=False).find_run(name)
    assert run is not None and run.status == "finished", result.output
    return list(Store(store, create=False).judgments(run.id)), wall, result.output


def _same(got: Verdict, right: Verdict) -> bool:
    """A scored verdict is right when it is the fault-free one; a view read from text (its log-probabilities
    were missing) must prefer what the fault-free view preferred."""
    if got.method == "logprobs":
        return (got.preference, got.p_a, got.p_b) == (right.preference, right.p_a, right.p_b)
    if len(got.parts) != len(right.parts):
        return False
    for part, right_part in zip(got.parts, right.parts, strict=True):
        if part.method == "logprobs" and (part.p_a, part.p_b) != (right_part.p_a, right_part.p_b):
            return False
        if part.preference != right_part.preference:
            return False
    return True


@dataclass
class FaultRun:
    """What a run under faults left, checked against the input ids and the fault-free verdicts."""

    ids: list[str]
    judgments: list[Judgment]
    right: dict[str, Verdict]
    attempts: Counter[str]  # requests per item id, counted at the server
    faults: list[tuple[str, str]]  # (item id, fault kind) of every injected fault
    retries: int
    wall_s: float
    rows: list[str] = field(default_factory=list)  # item ids of the Ray engine's Parquet rows (empty locally)

    @classmethod
    def of(cls, ids: list[str], judgments: list[Judgment], right: dict[str, Verdict], server: MockOpenAIServer,
           wall_s: float, rows: list[str] | None = None) -> FaultRun:
        def item(prompt: str) -> str:
            match = MARK.search(prompt)
            return match.group(1) if match else "?"

        attempts: Counter[str] = Counter()
        for prompt, count in server.attempts.items():
            attempts[item(prompt)] += count
        # every transport fault is retried but one on a request's last attempt, which ends that request failed (a
        # request can also time out on a loaded machine: the engine's own count may be higher)
        transport = sum(kind in TRANSPORT_FAULTS for _, kind in server.fault_log)
        failed_requests = sum(part.status == "failed" for j in judgments for part in j.verdict.parts)
        return cls(ids, judgments, right, attempts, [(item(p), kind) for p, kind in server.fault_log],
                   transport - failed_requests, wall_s, rows or [])

    @property
    def lost(self) -> list[str]:
        return sorted(set(self.ids) - {j.item_id for j in self.judgments})

    @property
    def duplicated(self) -> list[str]:
        counts = Counter([j.item_id for j in self.judgments]) + Counter(self.rows)
        limit = 2 if self.rows else 1  # on Ray each item is one Parquet row and one store row
        return sorted(i for i, n in counts.items() if n > limit)

    @property
    def status(self) -> Counter[str]:
        return Counter(j.verdict.status for j in self.judgments)

    @property
    def wrong(self) -> list[str]:
        """Items scored with another verdict than the fault-free run's (a garbage completion scored...)."""
        return [j.item_id for j in self.judgments
                if j.verdict.status == "scored" and not _same(j.verdict, self.right[j.item_id])]

    @property
    def without_reason(self) -> list[str]:
        return [j.item_id for j in self.judgments if j.verdict.status != "scored" and not j.verdict.error]

    def by_kind(self) -> dict[str, Counter[str]]:
        """For each fault kind: how the items it hit ended (scored, unscored, failed)."""
        final = {j.item_id: j.verdict.status for j in self.judgments}
        table: dict[str, Counter[str]] = {kind: Counter() for kind in FAULT_KINDS}
        for item_id, kind in self.faults:
            table[kind]["injected"] += 1
            table[kind][final.get(item_id, "lost")] += 1
        return table

    def requests_per_item(self) -> tuple[int, float]:
        counts = [self.attempts[i] for i in self.ids]
        return max(counts), sum(counts) / len(counts)

    def check(self, views: int = 2, max_attempts: int = 4) -> None:
        """0 lost, 0 duplicated, no wrong score, a reason for every verdict that is not scored, retries bounded."""
        assert not self.lost, f"{len(self.lost)} items lost: {self.lost[:5]}"
        assert not self.duplicated, f"{len(self.duplicated)} items stored twice: {self.duplicated[:5]}"
        assert len(self.judgments) == len(self.ids)
        assert not self.wrong, f"{len(self.wrong)} items scored wrong: {self.wrong[:5]}"
        assert not self.without_reason, self.without_reason[:5]
        most, _ = self.requests_per_item()
        assert most <= views * max_attempts, f"an item was asked {most} times"
        assert set(self.attempts) <= set(self.ids)


def right_verdicts(data: Path, work: Path) -> dict[str, Verdict]:
    """The verdicts of a run without faults: what every scored verdict under faults must be."""
    with MockOpenAIServer(answer) as clean:
        judgments, _, _ = judge(data, clean, work / "clean.db", name="clean")
    return {j.item_id: j.verdict for j in judgments}


def run_under_faults(data: Path, ids: list[str], right: dict[str, Verdict], work: Path, engine: str = "local",
                     rate: float = 0.2, seed: int = 17) -> FaultRun:
    """``jurist compare`` on ``engine`` against a server injecting faults at ``rate`` (store: ``work/ENGINE.db``,
    Ray's Parquet rows: ``work/ENGINE-out``); 32 requests in flight (16 per Ray actor)."""
    out = work / f"{engine}-out" if engine == "ray" else None
    with MockOpenAIServer(answer, faults=FaultPlan(rate=rate, seed=seed, timeout_s=1.5)) as server:
        got, wall, _ = judge(data, server, work / f"{engine}.db", name=engine, engine=engine, out=out,
                             concurrency=16 if engine == "ray" else 32)
    rows: list[str] = []
    if out is not None:
        import pyarrow.parquet as pq

        rows = [r for p in sorted(out.glob("*.parquet"))
                for r in pq.read_table(p, columns=["item_id"]).column("item_id").to_pylist()]
    return FaultRun.of(ids, got, right, server, wall, rows)
