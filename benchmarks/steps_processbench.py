"""Step verification on ProcessBench: how often the embedded judge finds the first wrong step.

    flock /tmp/jurist-model.lock .venv/bin/python benchmarks/steps_processbench.py       # ~5 min on 2 cores
    flock /tmp/jurist-model.lock .venv/bin/python benchmarks/steps_processbench.py --judge local:1.5b \\
        --store ~/.cache/jurist/bench/steps_processbench.db      # ~8 min; a rerun reads the store, no model call
    flock /tmp/jurist-model.lock .venv/bin/python benchmarks/steps_processbench.py --judge local:1.5b \\
        --store ~/.cache/jurist/bench/steps_processbench.db \\
        --data ../shared/datasets/steps/processbench_math_sample400.jsonl --sample 20 --max-steps 4 \\
        --tune examples/data/processbench_gsm8k_sample.jsonl   # threshold chosen on gsm8k, reported on MATH

Data: ``examples/data/processbench_gsm8k_sample.jsonl`` (30 gsm8k trajectories, 15 with an error and 15
without; see examples/data/README.md), in the repository so this runs from a fresh clone. ``--sample N``
draws N trajectories of ``--data`` (N/2 with an error, N/2 without, seeded, only those with at most
``--max-steps`` steps), never the first N of a ProcessBench file (those are sorted by label).

Printed (ProcessBench's own scores, jurist.apps.steps.first_error_scores, 95% Wilson intervals):
accuracy on the erroneous trajectories (the first error located exactly), on the correct ones (no error
claimed) and their harmonic mean F1, next to two references that need no judge: "always no error" (F1 0)
and "the first step is wrong". The results are the fixed default threshold 0.5, and a 2-fold cross-fit
(each half of ``--data`` read at the threshold of the best F1 on the other half). The curve over
``--thresholds`` is printed for reading only: its best F1 is chosen on the data it is reported on. With
``--tune FILE`` the threshold of the best F1 on FILE (judged too; ties go to the one nearest 0.5) is
reported on ``--data``: an honest choice. Threshold-free: the AUC of P(correct) on the steps before the
first error against the first wrong steps (jurist.apps.steps.step_auc, cluster bootstrap over trajectories),
and the same with each first wrong step compared only with right steps at its own index.
The steps are judged once; the thresholds only re-read the same probabilities.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from jurist.apps.online import OnlineJudge  # noqa: E402
from jurist.apps.steps import (  # noqa: E402
    DEFAULT_THRESHOLD,
    StepVerifier,
    Trajectory,
    TrajectoryVerdict,
    first_error_scores,
    load_trajectories,
    step_auc,
    step_plan,
)
from jurist.metrics.uncertainty import Estimate, bootstrap  # noqa: E402

DEFAULT_DATA = REPO / "examples" / "data" / "processbench_gsm8k_sample.jsonl"
# ../shared/datasets/README.md §17: step 0 of math-688 is already wrong (confirmed in ProcessBench issue #9)
LABEL_FIXES = {"math-688": 0}


def shown(path: Path) -> str:
    """The default data as the repository names it, any other path as given."""
    return str(path.relative_to(REPO)) if path.is_absolute() and path.is_relative_to(REPO) else str(path)


def load(path: Path, limit: int | None = None, sample: int | None = None, max_steps: int | None = None,
         seed: int = 0) -> list[Trajectory]:
    trajectories = [t.model_copy(update={"label": LABEL_FIXES.get(t.id, t.label)})
                    for t in load_trajectories(path, limit=None if sample else limit)]
    if sample:
        short = [t for t in trajectories if max_steps is None or len(t.steps) <= max_steps]
        rng = random.Random(seed)
        chosen = {t.id for t in rng.sample([t for t in short if t.label == -1], sample // 2)}
        chosen |= {t.id for t in rng.sample([t for t in short if t.label is not None and t.label >= 0],
                                            sample - sample // 2)}
        trajectories = [t for t in trajectories if t.id in chosen]  # source order
    return trajectories


def judge(verifier: StepVerifier, trajectories: list[Trajectory], name: str) -> list[TrajectoryVerdict]:
    steps = sum(len(t.steps) for t in trajectories)
    started = time.monotonic()
    verdicts = verifier.verify_many(trajectories)
    unusable = sum(s.p_correct is None for v in verdicts for s in v.steps)
    print(f"{name}: {len(trajectories)} trajectories, {steps} steps, judged in {time.monotonic() - started:.0f} s "
          f"({unusable} unusable verdicts)")
    return verdicts


def choose(verdicts: list[TrajectoryVerdict], thresholds: list[float]) -> float:
    """The threshold of the best F1 on these verdicts; ties go to the one nearest the default."""
    return max(thresholds, key=lambda t: (round(first_error_scores([v.at(t) for v in verdicts]).f1, 9),
                                          -abs(t - DEFAULT_THRESHOLD)))


def cross_fitted(verdicts: list[TrajectoryVerdict], thresholds: list[float], seed: int
                 ) -> tuple[list[TrajectoryVerdict], list[float]]:
    """Two folds (half of the erroneous and half of the correct trajectories each, seeded): each fold is read at
    the threshold chosen on the other one, so no trajectory is scored at a threshold chosen on itself."""
    rng = random.Random(seed)
    folds: list[list[int]] = [[], []]
    for erroneous in (False, True):
        members = [n for n, v in enumerate(verdicts) if v.label is not None and (v.label >= 0) == erroneous]
        rng.shuffle(members)
        for k, n in enumerate(members):
            folds[k % 2].append(n)
    out: dict[int, TrajectoryVerdict] = {}
    chosen = []
    for k in (0, 1):
        chosen.append(choose([verdicts[n] for n in folds[1 - k]], thresholds))
        out.update({n: verdicts[n].at(chosen[-1]) for n in folds[k]})
    return [out[n] for n in sorted(out)], chosen


def same_position_auc(verdicts: list[TrajectoryVerdict]) -> Estimate:
    """step_auc with each first wrong step compared only with right steps at the same index (P(yes) can move
    with a step's position, and a first wrong step always comes after the right steps of its trajectory)."""
    rows = [(s.p_correct, v.label == -1 or s.index < v.label, s.index, v.id)
            for v in verdicts if v.label is not None
            for s in v.steps if s.p_correct is not None and (v.label == -1 or s.index <= v.label)]

    def stat(p: np.ndarray, right: np.ndarray, index: np.ndarray) -> float:
        ordered = pairs = 0.0
        for k in np.unique(index):
            good, bad = p[right & (index == k)], p[~right & (index == k)]
            ordered += (good[:, None] > bad[None, :]).sum() + 0.5 * (good[:, None] == bad[None, :]).sum()
            pairs += len(good) * len(bad)
        return ordered / pairs if pairs else math.nan

    p, right, index, groups = (list(column) for column in zip(*rows)) if rows else ([], [], [], [])
    return bootstrap(stat, np.array(p, dtype=float), np.array(right, dtype=bool), np.array(index, dtype=int),
                     groups=groups)


def line(name: str, verdicts: list[TrajectoryVerdict]) -> dict:
    scores = first_error_scores(verdicts)
    print(f"{name:34s} erroneous {scores.erroneous}  correct {scores.correct}  F1 {scores.f1:.3f}")
    return scores.model_dump()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--judge", default="local", help="local, local:1.5b, http://HOST/v1 (with --model), openai:M")
    parser.add_argument("--model", default=None, help="the model served at an http judge")
    parser.add_argument("--store", default=None, help="keep the completions (a rerun then costs no model call)")
    parser.add_argument("--limit", type=int, default=None, help="the first N trajectories, for a smoke run or a "
                        "chunk of the store (not with --sample; the gsm8k sample has its erroneous ones first)")
    parser.add_argument("--sample", type=int, default=None, help="N seeded trajectories, half with an error")
    parser.add_argument("--max-steps", type=int, default=None, help="with --sample: only trajectories this short")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tune", type=Path, default=None, help="choose the threshold on this file, report on --data")
    parser.add_argument("--thresholds", default=",".join(f"{t / 20:g}" for t in range(1, 20)))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    settings = {"model": args.model} if args.model else {}
    store = str(Path(args.store).expanduser()) if args.store else None
    if store:
        Path(store).parent.mkdir(parents=True, exist_ok=True)
    verifier = StepVerifier(OnlineJudge(step_plan(args.judge, **settings), store=store))
    trajectories = load(args.data, args.limit, args.sample, args.max_steps, args.seed)
    verdicts = judge(verifier, trajectories, shown(args.data))
    report: dict = {"judge": args.judge, "data": shown(args.data), "n": len(trajectories),
                    "steps": sum(len(t.steps) for t in trajectories), "ids": [t.id for t in trajectories]}

    print("\nno judge:")
    for name, constant in (("always no error", -1), ("the first step is wrong", 0)):
        report[name] = line(name, [v.model_copy(update={"first_error": constant}) for v in verdicts])
    print(f"\njurist, {args.judge}:")
    default = [v.at(DEFAULT_THRESHOLD) for v in verdicts]
    report["default"] = line(f"threshold {DEFAULT_THRESHOLD:g} (the default)", default)
    folded, chosen = cross_fitted(verdicts, thresholds, args.seed)
    report["cross_fitted"] = {"thresholds": chosen, "scores": line(
        f"threshold {' / '.join(f'{t:g}' for t in chosen)} (2-fold cross-fit)", folded)}
    if args.tune:
        tuned_on = judge(verifier, load(args.tune), shown(args.tune))
        chosen = choose(tuned_on, thresholds)
        report["tuned"] = {"on": shown(args.tune), "threshold": chosen,
                           "on_tune_set": first_error_scores([v.at(chosen) for v in tuned_on]).model_dump(),
                           "scores": line(f"threshold {chosen:g} (best F1 on --tune)",
                                          [v.at(chosen) for v in verdicts])}
    auc = step_auc(verdicts)
    print(f"AUC of P(correct), steps before the first error vs first wrong steps: {auc}")
    report["auc"] = auc.model_dump()
    matched = same_position_auc(verdicts)
    print(f"the same, each first wrong step against right steps at its own index: {matched}")
    report["auc_same_position"] = matched.model_dump()
    p_all = [s.p_correct for v in verdicts for s in v.steps if s.p_correct is not None]
    p_right = [s.p_correct for v in verdicts if v.label is not None for s in v.steps
               if s.p_correct is not None and (v.label == -1 or s.index < v.label)]
    p_wrong = [s.p_correct for v in verdicts if v.label is not None and v.label >= 0
               for s in v.steps if s.index == v.label and s.p_correct is not None]
    if p_all:
        print(f"P(correct) over all steps: min {min(p_all):.3f}, median {statistics.median(p_all):.3f}, "
              f"max {max(p_all):.3f}")
    if p_right and p_wrong:
        print(f"mean P(correct): steps before any error {statistics.mean(p_right):.3f} (n={len(p_right)}), "
              f"first wrong steps {statistics.mean(p_wrong):.3f} (n={len(p_wrong)})")

    print("\nthe threshold curve (best F1 chosen here is in-sample: read it, do not report it):")
    report["curve"] = {t: line(f"threshold {t:g}", [v.at(t) for v in verdicts]) for t in thresholds}
    report["rows"] = [{"id": v.id, "label": v.label, "p": [s.p_correct for s in v.steps]} for v in verdicts]
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
