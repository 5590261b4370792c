"""2,000 judgments under 20% injected faults, on the local engine and on Ray: what was injected, how it ended.

    .venv/bin/python benchmarks/faults.py [--n 2000] [--rate 0.2] [--seed 17] [--engines local,ray] [--json OUT]

A loopback ``jurist.testing.MockOpenAIServer`` answers every prompt with log-probabilities that are a function
of the prompt (``tests/faults.py``: ``answer``), so the right verdict of every item is known: the same
``jurist compare PAIRS --judge URL --model m`` is first run against a server without faults. Then a server with
``FaultPlan(rate, seed)`` injects, on each request with probability ``rate`` and of a kind drawn uniformly:
timeouts (the server stalls 1.5 s, the client gives up at 1 s), 429 with Retry-After 0.01 s, 500/503,
connections reset mid-body, truncated JSON, empty completions, garbage completions and completions without
log-probabilities. Settings: both orders (2 requests an item), 32 requests in flight (16 per Ray actor, 2
actors), ``engine.max_attempts`` 4, ``engine.retry_delay`` 0.01 s.

Printed per engine: verdicts by status, items lost, stored twice and scored wrong (all must be 0), requests per
item at the server (max, mean; at most 2 orders x 4 attempts), retries, wall time; and per fault kind, the
faults injected and how the items they hit ended. ``tests/test_faults.py`` checks the same on a bounded run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]  # this checkout's jurist; tests.faults: the run and its checks
# Ray's workers start from the environment, not from this sys.path: they must import the same jurist
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])

from jurist.engine.store import Store  # noqa: E402
from jurist.testing import FAULT_KINDS  # noqa: E402
from tests.faults import FaultRun, make_pairs, right_verdicts, run_under_faults  # noqa: E402


def report(engine: str, run: FaultRun, n: int, work: Path) -> dict:
    most, mean = run.requests_per_item()
    counted = Store(work / f"{engine}.db", create=False).find_run(engine).totals.get("retries")
    status = run.status
    summary = {"engine": engine, "items": n, "scored": status["scored"], "unscored": status["unscored"],
               "failed": status["failed"], "lost": len(run.lost), "duplicated": len(run.duplicated),
               "scored_wrong": len(run.wrong), "without_reason": len(run.without_reason),
               "requests": sum(run.attempts.values()), "requests_per_item_max": most,
               "requests_per_item_mean": round(mean, 3), "retries": run.retries, "retries_counted": counted, "wall_s": round(run.wall_s, 1),
               "faults": {kind: dict(counts) for kind, counts in run.by_kind().items()}}
    print(f"\n## {engine}: {n} items, {summary['requests']} requests, {len(run.faults)} faults injected, "
          f"wall {summary['wall_s']} s")
    print(f"verdicts: scored {summary['scored']}, unscored {summary['unscored']}, failed {summary['failed']}; "
          f"lost {summary['lost']}, stored twice {summary['duplicated']}, scored wrong {summary['scored_wrong']}, "
          f"not scored without a reason {summary['without_reason']}")
    print(f"requests per item: max {most}, mean {mean:.2f} (2 orders x at most 4 attempts); transport faults "
          f"retried (not on a request's last attempt) {run.retries}; retries the engine counted "
          f"{counted if counted is not None else 'n/a (Ray does not report them)'}")
    print("| fault | injected | item scored right | item unscored | item failed |")
    print("| --- | --- | --- | --- | --- |")
    for kind in FAULT_KINDS:
        counts = summary["faults"][kind]
        print(f"| {kind} | {counts.get('injected', 0)} | {counts.get('scored', 0)} | {counts.get('unscored', 0)} | "
              f"{counts.get('failed', 0)} |")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--engines", default="local,ray")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "pairs.jsonl"
        ids = make_pairs(data, args.n)
        right = right_verdicts(data, work)
        print(f"fault-free run: {len(right)} items; faults at rate {args.rate}, seed {args.seed}")
        for engine in args.engines.split(","):
            run = run_under_faults(data, ids, right, work, engine, args.rate, args.seed)
            results.append(report(engine, run, args.n, work))
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "rate": args.rate, "seed": args.seed, "runs": results},
                                        indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
