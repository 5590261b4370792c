"""The gate's accept precision at its confidence bar, on labelled answers, with the embedded judge.

    flock /tmp/jurist-model.lock .venv/bin/python benchmarks/gate_precision.py        # ~2 min on 2 cores

Data: ``examples/data/reference_correctness.jsonl`` (30 MT-Bench math/reasoning answers, 20 right and 10
wrong, with GPT-4 references; see examples/data/README.md), in the repository. The gate is task
``correct`` with the reference shown: P(pass) = P(correct).

Printed per bar (jurist.apps.gate.decide on the same verdicts; the judge runs once): how many answers
the gate accepts, rejects and escalates, and the accept precision (share of accepted answers that are
right) with a 95% Wilson interval, next to the base rate (share of right answers: the precision of
accepting everything). Twice: with the judge's raw P(correct), and with P(correct) calibrated on
human labels (``Gate.calibrate``, Platt) by 5-fold cross-fitting: each answer is gated by a calibrator
fitted on the other folds only, so no answer's own label decides it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from jurist.apps.gate import Gate, decide, pass_probability  # noqa: E402
from jurist.metrics.calibration import fit_calibrator  # noqa: E402
from jurist.io import load_items  # noqa: E402
from jurist.metrics.uncertainty import wilson_interval  # noqa: E402
from jurist.plan import Plan  # noqa: E402

DEFAULT_DATA = REPO / "examples" / "data" / "reference_correctness.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--judge", default="local")
    parser.add_argument("--bars", default="0.5,0.6,0.7,0.8,0.9")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    items = load_items(args.data, "score").items
    good = {item.id: float(item.label) >= 0.5 for item in items}  # type: ignore[arg-type]
    gate = Gate(Plan.parse({"task": "correct", "judge": {"spec": args.judge}}))
    judgments = gate.judgments(items)
    base = wilson_interval(sum(good.values()), len(good))
    print(f"{len(items)} labelled answers from {args.data}; base rate (right answers) {base}")
    protocol = gate.online.protocol
    p_raw = {j.item_id: pass_probability(j.verdict, protocol, None)[0] if j.verdict.ok else None for j in judgments}
    calibrators = {}
    ids = [item.id for item in items]
    for fold in range(args.folds):  # stratified: right and wrong answers spread over the folds alike
        held = {i for k, i in enumerate(sorted(ids, key=lambda i: (good[i], i))) if k % args.folds == fold}
        fit = [(p_raw[i], good[i]) for i in ids if i not in held and p_raw[i] is not None]
        cal = fit_calibrator("platt", [p for p, _ in fit], [y for _, y in fit])
        calibrators.update({i: cal for i in held})
    report = {"n": len(items), "base_rate": base.model_dump(), "p_pass": p_raw, "bars": {}}
    for name in ("raw", "calibrated (5-fold)"):
        print(f"-- {name} P(correct)")
        for bar in (float(b) for b in args.bars.split(",")):
            decisions = [decide(j.verdict, protocol, confidence=bar, item_id=j.item_id,
                                calibrator=calibrators[j.item_id] if name != "raw" else None) for j in judgments]
            accepted = [d for d in decisions if d.decision == "accept"]
            counts = {kind: sum(d.decision == kind for d in decisions) for kind in ("accept", "reject", "escalate")}
            precision = wilson_interval(sum(good[d.item_id] for d in accepted), len(accepted))
            reject_right = sum(not good[d.item_id] for d in decisions if d.decision == "reject")
            print(f"bar {bar:.2f}: accept {counts['accept']:2d}, reject {counts['reject']:2d}, escalate "
                  f"{counts['escalate']:2d}; accept precision {precision}; rejected answers that were wrong "
                  f"{reject_right}/{counts['reject']}")
            report["bars"][f"{name} {bar}"] = {**counts, "accept_precision": precision.model_dump()}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
