"""Coverage of the corrected pass rate's interval, in simulation (no model, about a minute on two cores).

Each setting plants a true pass rate and a judge with a given sensitivity and specificity, draws a golden
set and a run from the same population, and checks whether the 95% interval of
``jurist.metrics.estimation.corrected_pass_rate`` (Rogan-Gladen, BCa bootstrap over run x golden set)
contains the planted rate. It also counts how often the judge is declared too weak.

    PYTHONPATH=src .venv/bin/python benchmarks/estimation.py [--runs 600]
"""

from __future__ import annotations

import argparse

import numpy as np

from jurist.metrics.estimation import corrected_pass_rate

# (true rate, sensitivity, specificity, golden items, run items)
SETTINGS = [
    (0.3, 0.85, 0.80, 300, 2000),
    (0.3, 0.85, 0.80, 400, 2000),
    (0.5, 0.85, 0.80, 400, 2000),
    (0.6, 0.70, 0.90, 300, 500),
    (0.1, 0.90, 0.90, 300, 5000),
    (0.3, 0.65, 0.60, 200, 2000),  # a weak judge: J = 0.25
]


def simulate(seed: int, truth: float, sensitivity: float, specificity: float, golden: int, run: int):
    rng = np.random.default_rng(seed)

    def judged(n: int):
        human = rng.random(n) < truth
        return np.where(human, rng.random(n) < sensitivity, rng.random(n) > specificity), human

    run_pass, _ = judged(run)
    judge, human = judged(golden)
    return corrected_pass_rate(run_pass, judge, human, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=600)
    args = parser.parse_args()
    print(f"{'truth':>5} {'sens':>5} {'spec':>5} {'golden':>6} {'run':>5} | {'coverage':>8} {'too weak':>8} "
          f"{'mean width':>10} {'raw bias':>8}")
    for truth, sens, spec, golden, run in SETTINGS:
        covered = weak = 0
        widths, raw_bias = [], []
        for seed in range(args.runs):
            result = simulate(seed, truth, sens, spec, golden, run)
            raw_bias.append(result.raw.value - truth)
            if result.corrected is None:
                weak += 1
                continue
            covered += result.corrected.low <= truth <= result.corrected.high
            widths.append(result.corrected.high - result.corrected.low)
        corrected = args.runs - weak
        coverage = f"{covered / corrected:.3f}" if corrected else "n/a"
        width = f"{np.mean(widths):.3f}" if widths else "n/a"
        print(f"{truth:5.2f} {sens:5.2f} {spec:5.2f} {golden:6d} {run:5d} | {coverage:>8} {weak / args.runs:8.3f} "
              f"{width:>10} {np.mean(raw_bias):+8.3f}")


if __name__ == "__main__":
    main()
