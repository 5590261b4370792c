"""What the embedded judge's prompt-prefix reuse buys, and proof that it never changes a verdict.

    flock /tmp/jurist-model.lock .venv/bin/python benchmarks/prefix_cache.py [--pairs 12] [--summaries 16]

Two workloads from the repository's example data, on the packaged 0.5B model:

- **pairs, both orders**: MT-Bench human pairs (examples/data/mt_bench_pairs.jsonl); the two orders of a
  pair share the system prompt, the criteria and the question.
- **one article, many summaries**: SummEval summaries of the same article (examples/data/summeval_sample.jsonl)
  graded 1-5 with the default pointwise template, whose rubric and source text come before the response.

Each request is timed twice, alternating per request so machine noise hits both: once as the judge runs it
(the KV cache of the prefix shared with the previous request is reused, in whole 64-token chunks), and once
after ``llm.reset()`` (everything evaluated from scratch). The reuse run goes first for each request, right
after its natural predecessor, so its cache holds what a real run's would. Printed: prompt tokens, the share
reused, the time ratio, and the largest difference in any label probability between the two (expected 0.0:
aligned chunks make every verdict bit-identical to a fresh evaluation).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from jurist.backends.embedded import EmbeddedBackend
from jurist.io import load_items
from jurist.protocols import PairwiseProtocol, PointwiseProtocol
from jurist.types import CompletionRequest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data"


def requests_pairs(n: int) -> list[CompletionRequest]:
    protocol = PairwiseProtocol()
    items = load_items(DATA / "mt_bench_pairs.jsonl", "compare", limit=n).items
    return [protocol.render(item, view) for item in items for view in (0, 1)]


def requests_summaries(n: int) -> list[CompletionRequest]:
    protocol = PointwiseProtocol("How coherent is the summary of the source text: well structured and organised?")
    items = load_items(DATA / "summeval_sample.jsonl", "score").items
    first_article = items[0].input
    return [protocol.render(item) for item in items if item.input == first_article][:n]


def measure(backend: EmbeddedBackend, requests: list[CompletionRequest]) -> dict[str, float]:
    tokens = reused = 0
    with_reuse = without = 0.0
    max_diff = 0.0
    backend.llm.reset()
    for request in requests:
        t0 = time.perf_counter()
        cached = backend._complete_sync(request)
        with_reuse += time.perf_counter() - t0
        tokens += cached.usage.prompt_tokens
        reused += cached.usage.cached_prompt_tokens
        backend.llm.reset()
        t0 = time.perf_counter()
        fresh = backend._complete_sync(request)
        without += time.perf_counter() - t0
        assert fresh.usage.cached_prompt_tokens == 0
        for label, logprob in (cached.label_logprobs or {}).items():
            max_diff = max(max_diff, abs(math.exp(logprob) - math.exp((fresh.label_logprobs or {})[label])))
        # Put the cache back where the real run would have it: holding this request's prompt.
        backend.llm.reset()
        backend._complete_sync(request)
    return {"requests": len(requests), "prompt_tokens": tokens, "reused_share": reused / tokens,
            "s_with_reuse": with_reuse, "s_without": without, "speedup": without / with_reuse,
            "max_prob_diff": max_diff}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=12, help="MT-Bench pairs (two requests each)")
    parser.add_argument("--summaries", type=int, default=16, help="summaries of the first SummEval article")
    args = parser.parse_args()
    backend = EmbeddedBackend()
    backend._complete_sync(requests_pairs(1)[0])  # warm-up: model pages, label token tables
    rows = {"pairs, both orders": measure(backend, requests_pairs(args.pairs)),
            "one article, many summaries": measure(backend, requests_summaries(args.summaries))}
    print(f"{'workload':30} {'requests':>8} {'prompt tok':>10} {'reused':>7} {'s reuse':>8} {'s fresh':>8} "
          f"{'speed-up':>8} {'max |dP|':>9}")
    for name, r in rows.items():
        print(f"{name:30} {r['requests']:8d} {r['prompt_tokens']:10d} {r['reused_share']:7.1%} "
              f"{r['s_with_reuse']:8.1f} {r['s_without']:8.1f} {r['speedup']:8.2f} {r['max_prob_diff']:9.2g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
