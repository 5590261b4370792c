"""Best-of-N against human preferences on MT-Bench: does the embedded judge pick the answer humans preferred?

    flock /tmp/jurist-model.lock .venv/bin/python benchmarks/best_of_n.py            # ~10 min, 2 cores
    .venv/bin/python benchmarks/best_of_n.py --methods pointwise --limit 8 --json out.json

Data: the MT-Bench human pairs (first turn, non-tie, 200 pairs as processed by LLMBar,
``../shared/datasets/mt_bench/human_pairwise_nontie_200_llmbar.json``; ``--data`` for another copy),
grouped per question. A group's candidates are the distinct answers of its pairs; the human-preferred
answer is the one that won every human comparison it was in while every other answer lost at least
one. 33 of the 75 questions have such an answer (N = 2..6 candidates). Every group counts: a failed
choice is a miss.

Printed per method (jurist.apps.best_of_n with the embedded 0.5B judge): the pick rate of the
human-preferred answer with a 95% Wilson interval, next to the rate of a random pick (its expectation,
mean 1/N) and of the longest answer, and the judgments and model calls used.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from jurist.apps.best_of_n import TASK_OF, Selector  # noqa: E402
from jurist.apps.online import OnlineJudge  # noqa: E402
from jurist.metrics.uncertainty import wilson_interval  # noqa: E402
from jurist.plan import Plan  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "mt_bench" / "human_pairwise_nontie_200_llmbar.json"


def groups(path: Path) -> list[dict]:
    """Questions whose human pairs single out one preferred answer: {input, candidates, best, qid}."""
    by_question: dict[int, list[dict]] = defaultdict(list)
    for row in json.loads(path.read_text(encoding="utf-8")):
        by_question[row["question_id"]].append(row)
    result = []
    for qid, rows in sorted(by_question.items()):
        candidates: dict[str, int] = {}
        for row in rows:
            for key in ("output_1", "output_2"):
                candidates.setdefault(row[key], len(candidates))
        wins, losses = Counter(), Counter()
        for row in rows:
            winner, loser = (row["output_1"], row["output_2"]) if row["label"] == 1 else (row["output_2"], row["output_1"])
            wins[candidates[winner]] += 1
            losses[candidates[loser]] += 1
        undefeated = [c for c in range(len(candidates)) if losses[c] == 0 and wins[c] > 0]
        if len(undefeated) == 1:
            result.append({"qid": qid, "input": rows[0]["input"], "candidates": list(candidates), "best": undefeated[0]})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--judge", default="local")
    parser.add_argument("--methods", default="pointwise,knockout", help="comma-separated: " + ", ".join(TASK_OF))
    parser.add_argument("--limit", type=int, default=None, help="the first N groups")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--store", default=None, help="keep the completions (a rerun then costs no model call)")
    parser.add_argument("--verbose", action="store_true", help="one line per question as it is chosen")
    args = parser.parse_args()
    if not args.data.is_file():
        sys.exit(f"{args.data} not found: give --data (MT-Bench human pairs, LLMBar format)")
    data = groups(args.data)[: args.limit]
    sizes = Counter(len(g["candidates"]) for g in data)
    n = len(data)
    print(f"{n} questions with one human-preferred answer; candidates per question: "
          f"{', '.join(f'N={k}: {v}' for k, v in sorted(sizes.items()))}")
    random_rate = sum(1 / len(g["candidates"]) for g in data) / n
    longest = sum(max(range(len(g["candidates"])), key=lambda k: len(g["candidates"][k])) == g["best"] for g in data)
    report = {"n": n, "random": random_rate, "longest": wilson_interval(longest, n).model_dump(), "methods": {}}
    print(f"{'random pick (expected)':28s} {random_rate:.3f}", flush=True)
    print(f"{'longest answer':28s} {wilson_interval(longest, n)}", flush=True)
    backend = None
    for method in args.methods.split(","):
        plan = Plan.parse({"task": TASK_OF[method], "judge": {"spec": args.judge}})
        online = OnlineJudge(plan, store=args.store, backends={args.judge: backend} if backend is not None else None)
        backend = getattr(online.judge, "backend", None)  # one model for every method
        selector = Selector(online, method)  # type: ignore[arg-type]
        hits = judgments = calls = failed = 0
        started = time.monotonic()
        rows = []
        for group in data:
            chosen = selector.choose(group["input"], group["candidates"])
            hit = chosen.winner == group["best"]
            hits += hit
            failed += chosen.status == "failed"
            judgments += chosen.judgments
            calls += chosen.model_calls
            rows.append({"qid": group["qid"], "n": len(group["candidates"]), "best": group["best"],
                         "winner": chosen.winner, "sure": chosen.sure, "margin": chosen.margin, "status": chosen.status})
            if args.verbose:
                print(f"  q{group['qid']} N={len(group['candidates'])} best {group['best']} chose {chosen.winner} "
                      f"({chosen.status}; so far {hits}/{len(rows)})", flush=True)
        rate = wilson_interval(hits, n)
        wall = time.monotonic() - started
        print(f"{'jurist ' + method:28s} {rate}  judgments {judgments}, model calls {calls}, failed {failed}, "
              f"{wall:.0f} s")
        report["methods"][method] = {"pick_rate": rate.model_dump(), "judgments": judgments, "model_calls": calls,
                                     "failed": failed, "wall_s": wall, "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
