"""Step verification on ProcessBench: how often the embedded judge finds the first wrong step.

    flock /tmp/jurist-model.lock .venv/bin/python benchmarks/steps_processbench.py       # ~5 min on 2 cores
    .venv/bin/python benchmarks/steps_processbench.py --data ../shared/datasets/steps/processbench_math_sample400.jsonl --limit 40

Data: ``examples/data/processbench_gsm8k_sample.jsonl`` (30 gsm8k trajectories, 15 with an error and 15
without; see examples/data/README.md), in the repository so this runs from a fresh clone.

Printed (ProcessBench's own scores, jurist.apps.steps.first_error_scores, 95% Wilson intervals):
accuracy on the erroneous trajectories (the first error located exactly), on the correct ones (no error
claimed) and their harmonic mean F1, at each threshold on P(step correct); next to two references that
need no judge: "always no error" (F1 0) and "the first step is wrong" (on this sample).
The steps are judged once; the thresholds only re-read the same probabilities.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from jurist.apps.online import OnlineJudge  # noqa: E402
from jurist.apps.steps import (  # noqa: E402
    StepVerifier,
    TrajectoryVerdict,
    first_error,
    first_error_scores,
    load_trajectories,
    step_plan,
)

DEFAULT_DATA = REPO / "examples" / "data" / "processbench_gsm8k_sample.jsonl"


def rethreshold(verdicts: list[TrajectoryVerdict], threshold: float) -> list[TrajectoryVerdict]:
    out = []
    for v in verdicts:
        steps = [s.model_copy(update={"passed": None if s.p_correct is None else s.p_correct >= threshold})
                 for s in v.steps]
        first, reason = first_error(steps)
        out.append(v.model_copy(update={"steps": steps, "first_error": first, "reason": reason}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--judge", default="local")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--thresholds", default="0.3,0.5,0.7,0.8,0.9")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    trajectories = load_trajectories(args.data, limit=args.limit)
    steps = sum(len(t.steps) for t in trajectories)
    print(f"{len(trajectories)} trajectories, {steps} steps, from {args.data}")
    verifier = StepVerifier(OnlineJudge(step_plan(args.judge)))
    started = time.monotonic()
    verdicts = verifier.verify_many(trajectories)
    wall = time.monotonic() - started
    unusable = sum(s.p_correct is None for v in verdicts for s in v.steps)
    print(f"judged {steps} steps in {wall:.0f} s ({unusable} unusable verdicts)")
    report = {"n": len(trajectories), "steps": steps, "wall_s": wall, "thresholds": {}}
    for name, constant in (("always no error", -1), ("the first step is wrong", 0)):
        fake = [v.model_copy(update={"first_error": constant}) for v in verdicts]
        scores = first_error_scores(fake)
        print(f"{name:26s} erroneous {scores.erroneous}  correct {scores.correct}  F1 {scores.f1:.3f}")
    for threshold in (float(t) for t in args.thresholds.split(",")):
        scores = first_error_scores(rethreshold(verdicts, threshold))
        print(f"{'jurist, threshold ' + format(threshold, 'g'):26s} erroneous {scores.erroneous}  "
              f"correct {scores.correct}  F1 {scores.f1:.3f}")
        report["thresholds"][threshold] = scores.model_dump()
    p_right = [s.p_correct for v in verdicts if v.label is not None for s in v.steps
               if s.p_correct is not None and (v.label == -1 or s.index < v.label)]
    p_wrong = [s.p_correct for v in verdicts if v.label is not None and v.label >= 0
               for s in v.steps if s.index == v.label and s.p_correct is not None]
    if p_right and p_wrong:
        print(f"mean P(correct): steps before any error {sum(p_right) / len(p_right):.3f} (n={len(p_right)}), "
              f"first wrong steps {sum(p_wrong) / len(p_wrong):.3f} (n={len(p_wrong)})")
    report["rows"] = [{"id": v.id, "label": v.label, "p": [s.p_correct for s in v.steps]} for v in verdicts]
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
