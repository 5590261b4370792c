"""verdict (Haize Labs) on the engine benchmark's workload (run by benchmarks/engine.py with verdict's virtualenv).

A ``Pipeline`` with one ``JudgeUnit`` (1-5 Likert score, verdict's default structured-output extractor:
instructor tool calling through litellm) on a ``vLLMModel`` pointed at the mock server's base_url
(litellm's ``hosted_vllm`` OpenAI-compatible provider), with a concurrency rate limiter of the benchmark's
concurrency (verdict's default for unknown providers is OpenAI tier 1: 5 requests a minute), run with
``Pipeline.run_from_list(max_workers=concurrency)``. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of the price list at import
os.environ.setdefault("OPENAI_API_KEY", "EMPTY")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from engine import Meter, synthetic  # noqa: E402  (benchmarks/engine.py: the same items, the same meter)

PROMPT = """Grade the response to the instruction below.

Rubric: Is the response correct and helpful?

[Instruction]
{source.input}
[End of instruction]

[Response]
{source.response}
[End of response]

Give a score from 1 (worst) to 5 (best)."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--model", default="mock-judge")
    args = parser.parse_args()
    os.chdir(tempfile.mkdtemp(prefix="verdict-bench-"))

    from importlib.metadata import version

    from verdict import Pipeline
    from verdict.common.judge import JudgeUnit
    from verdict.model import vLLMModel
    from verdict.scale import DiscreteScale
    from verdict.schema import Schema
    from verdict.util.ratelimit import ConcurrentRateLimiter, RateLimitPolicy

    model = vLLMModel(name=args.model, api_base=args.base_url, api_key="EMPTY",
                      rate_limiter=RateLimitPolicy({ConcurrentRateLimiter(args.concurrency): "requests"}))
    judge = JudgeUnit(DiscreteScale((1, 5))).prompt(PROMPT).via(model, retries=1, temperature=0.0)
    pipeline = Pipeline("bench") >> judge
    data = [Schema.of(input=row["input"], response=row["response"]) for row in synthetic(args.n)]
    with Meter() as meter:
        df, leaves = pipeline.run_from_list(data, max_workers=args.concurrency)
    column = next((c for c in leaves if c.endswith("_score")), leaves[0] if leaves else None)
    scores = [v for v in df[column].tolist() if v is not None and v == v] if column else []
    print(json.dumps({**meter.as_dict(), "judgments": len(df), "scored": len(scores),
                      "mean_score": sum(scores) / max(1, len(scores)) if scores else None,
                      "library": f"verdict {version('verdict')} (litellm {version('litellm')}, "
                                 f"instructor {version('instructor')})",
                      "note": f"JudgeUnit(1-5) structured output (instructor tool call) on vLLMModel(api_base=mock), "
                              f"run_from_list(max_workers={args.concurrency}), "
                              f"ConcurrentRateLimiter({args.concurrency})"}))


if __name__ == "__main__":
    main()
