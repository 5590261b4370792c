"""deepeval on the engine benchmark's workload (run by benchmarks/engine.py with deepeval's own virtualenv).

GEval with fixed evaluation steps (so each test case costs one judgment request, like jurist's pointwise
protocol; without them GEval first asks the model to write the steps) on deepeval's own OpenAI model class
(``GPTModel``) pointed at the mock server's base_url, run through ``deepeval.evaluate`` with its async
executor at the benchmark's concurrency. Prints one JSON line: wall time of ``evaluate`` and what came back.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

os.environ.setdefault("DEEPEVAL_TELEMETRY_OPT_OUT", "1")
os.environ.setdefault("DEEPEVAL_DISABLE_DOTENV", "1")
os.environ.setdefault("DEEPEVAL_NO_INSPECT_PROMPT", "1")
os.environ.setdefault("OPENAI_API_KEY", "EMPTY")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from engine import Meter, synthetic  # noqa: E402  (benchmarks/engine.py: the same items, the same meter)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--model", default="mock-judge")
    args = parser.parse_args()
    os.chdir(tempfile.mkdtemp(prefix="deepeval-bench-"))  # deepeval writes .deepeval/ into the working directory

    from importlib.metadata import version

    from deepeval import evaluate
    from deepeval.evaluate.configs import AsyncConfig, CacheConfig, DisplayConfig, ErrorConfig
    from deepeval.metrics import GEval
    from deepeval.models import GPTModel
    from deepeval.test_case import LLMTestCase, LLMTestCaseParams

    # A model name deepeval knows (it looks up prices and capabilities by name); requests go to the mock server.
    model = GPTModel(model="gpt-4o-mini", base_url=args.base_url, api_key="EMPTY", temperature=0)
    metric = GEval(
        name="Correctness",
        evaluation_steps=["Check whether the response answers the instruction correctly.",
                          "Penalise wrong or unhelpful answers."],
        evaluation_params=[LLMTestCaseParams.INPUT, LLMTestCaseParams.ACTUAL_OUTPUT],
        model=model, async_mode=True)
    cases = [LLMTestCase(input=row["input"], actual_output=row["response"]) for row in synthetic(args.n)]
    with Meter() as meter:
        result = evaluate(cases, [metric],
                          async_config=AsyncConfig(run_async=True, max_concurrent=args.concurrency),
                          display_config=DisplayConfig(show_indicator=False, print_results=False,
                                                       inspect_after_run=False),
                          cache_config=CacheConfig(write_cache=False, use_cache=False),
                          error_config=ErrorConfig(ignore_errors=True))
    scores = [m.score for t in result.test_results for m in (t.metrics_data or []) if m.score is not None]
    errors = [m.error for t in result.test_results for m in (t.metrics_data or []) if m.error]
    print(json.dumps({**meter.as_dict(), "judgments": len(result.test_results), "scored": len(scores),
                      "errors": len(errors), "first_error": errors[0] if errors else None,
                      "mean_score": sum(scores) / max(1, len(scores)), "library": f"deepeval {version('deepeval')}",
                      "note": f"GEval (fixed evaluation steps) on GPTModel(base_url=mock) via evaluate(), "
                              f"AsyncConfig(max_concurrent={args.concurrency}) (deepeval's default is 20)"}))


if __name__ == "__main__":
    main()
