"""The escalation cascade on real data: MT-Bench human pairs, the embedded judges.

Three phases; the first two go through a persistent store, so every judgment is paid once:

``judge``
    Runs each judge of ``--chain`` (default ``local,local:1.5b``) over the pairs
    (both orders, probabilities averaged) into ``--store`` (default
    ``~/.cache/jurist/bench/mtbench.db``), one named run per judge. Interrupted
    runs resume; completed pairs come from the completion cache. Slow: start it
    early in the background (``nohup ... judge &``).

``analyse``
    Reads the judgments back (no model call), keeps the pairs every judge has
    judged, and repeats ``--splits`` random golden/test splits: the cascade is
    fitted on the golden part (Learn-then-Test, see
    :mod:`jurist.strategies.cascade`) and evaluated on the rest. Prints, per
    chain and target: the violation rate three ways (realised agreement on the
    auto-decided test items < target; significantly < target, by the exact
    upper bound; and in the "bootstrap world", where a golden set drawn with
    replacement is checked against all pairs, which are then the population),
    coverage per stage, escalation to humans, tokens per item. Also the judges'
    accuracy, calibration, and recalibration fitted on one half and measured on
    the other. ``--split-by-question`` keeps each MT-Bench question on one side.

``simulate``
    The same procedure on synthetic judges with known calibration (no model):
    the violation rate against the exact population agreement.

    python benchmarks/cascade_real.py judge    [--limit N] [--chain local,local:1.5b] [--store DB]
    python benchmarks/cascade_real.py analyse  [--targets 0.6 0.65] [--risk 0.1] [--extra-store DB] [--json OUT]
    python benchmarks/cascade_real.py simulate [--splits 1000] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/datasets/mt_bench/human_pairwise_nontie_200_llmbar.json"
DEFAULT_STORE = Path.home() / ".cache/jurist/bench/mtbench.db"


def run_name(judge: str) -> str:
    return f"cascade-mtbench-{judge}"


def judge_phase(args: argparse.Namespace) -> None:
    from jurist.engine import Store
    from jurist.engine.runner import run
    from jurist.plan import Plan

    store = Store(args.store)
    for spec in args.chain.split(","):
        if spec == "human":
            continue
        t0 = time.monotonic()
        previous = store.find_run(run_name(spec))
        plan = Plan.parse({"task": "compare", "judge": {"spec": spec}, "data": {"preset": "llmbar", "limit": args.limit},
                           "engine": {"concurrency": 1, "progress": False}, "outputs": {"name": run_name(spec)}})
        result = run(plan, args.data, store=store, resume=previous.id if previous else None)
        print(f"{spec}: {len(result.judgments)} judgments, {result.stats.get('model_calls')} model calls, "
              f"{time.monotonic() - t0:.0f} s", flush=True)
    store.close()


def _load(args: argparse.Namespace, specs: list[str]) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Item ids judged (scored) by every judge, and per judge: confidence, correct, tokens, seconds per item."""
    from jurist.engine import Store
    from jurist.io import load_items
    from jurist.strategies.cascade import judgment_confidence, judgment_correct

    items = load_items(args.data, "compare", preset="llmbar").items
    stores = [Store(path) for path in [args.store, *args.extra_store]]
    per_judge: dict[str, dict[str, Any]] = {}
    for spec in specs:
        per_judge[spec] = {}
        for store in stores:  # a judge may have been run into several stores (e.g. in parallel); merge
            run = store.find_run(run_name(spec))
            if run is not None:
                for j in store.judgments(run.id):
                    if j.verdict.ok or j.item_id not in per_judge[spec]:
                        per_judge[spec][j.item_id] = j
        if not per_judge[spec]:
            raise SystemExit(f"no judgments of {spec} in {args.store}: run the judge phase first")
    common = [item.id for item in items if all(item.id in per_judge[s] and per_judge[s][item.id].verdict.ok
                                                 for s in specs)]
    if args.limit:
        common = common[: args.limit]
    labels = {item.id: item.label for item in items}
    by_id = {item.id: item for item in items}
    out: dict[str, dict[str, Any]] = {"_groups": {"ids": common, "question": np.array(
        [str(by_id[i].metadata.get("question_id", i)) for i in common])}}
    for spec in specs:
        js = [per_judge[spec][i] for i in common]
        out[spec] = {
            "confidence": np.array([judgment_confidence(j) for j in js], dtype=float),
            "correct": np.array([float(bool(judgment_correct(j, labels[j.item_id]))) for j in js]),
            "prompt_tokens": float(np.mean([j.verdict.usage.prompt_tokens for j in js])),
            "seconds": float(np.mean([j.latency_s for j in js if not j.cached] or [math.nan])),
            "orders_agree": float(np.mean([bool(j.verdict.orders_agree) for j in js])),
        }
    return common, out


def _describe(spec: str, d: dict[str, Any]) -> dict[str, Any]:
    from jurist.metrics.calibration import brier_score, expected_calibration_error
    from jurist.metrics.uncertainty import wilson_interval

    c, y = d["confidence"], d["correct"]
    margin = 2 * c - 1  # |P(A) - P(B)| for a two-label verdict
    return {
        "judge": spec,
        "n": int(len(c)),
        "accuracy": wilson_interval(int(y.sum()), len(y)).format(),
        "order_consistency": round(d["orders_agree"], 3),
        "margin_median": float(np.median(margin)),
        "margin_p90": float(np.quantile(margin, 0.9)),
        "ece": expected_calibration_error(c, y, binning="quantile", n_bins=5).format(),
        "brier": brier_score(c, y).format(),
        "prompt_tokens_per_pair": round(d["prompt_tokens"]),
        "seconds_per_pair": round(d["seconds"], 2),
        # accuracy of the most confident 25% / 50%: is the confidence informative at all?
        "accuracy_top25": float(y[np.argsort(-c)][: max(1, len(c) // 4)].mean()),
        "accuracy_top50": float(y[np.argsort(-c)][: max(1, len(c) // 2)].mean()),
    }


def _recalibration(d: dict[str, Any], *, splits: int, golden_frac: float, seed: int) -> dict[str, Any]:
    """Fit temperature / Platt / isotonic on a golden part, measure ECE and Brier on the rest."""
    from jurist.metrics.calibration import brier_score, expected_calibration_error, fit_calibrator

    rng = np.random.default_rng(seed)
    c, y = d["confidence"], d["correct"]
    n = len(c)
    n_golden = int(round(n * golden_frac))
    out: dict[str, dict[str, list[float]]] = {m: {"ece": [], "brier": []} for m in ("raw", "temperature", "platt",
                                                                                    "isotonic")}
    temperatures = []
    for _ in range(splits):
        perm = rng.permutation(n)
        g, t = perm[:n_golden], perm[n_golden:]
        for method in out:
            if method == "raw":
                pred = c[t]
            else:
                calibrator = fit_calibrator(method, c[g], y[g])
                pred = calibrator.transform(c[t])
                if method == "temperature":
                    temperatures.append(calibrator.temperature)  # type: ignore[attr-defined]
            out[method]["ece"].append(expected_calibration_error(pred, y[t], n_bins=5, binning="quantile",
                                                                 ci=False).value)
            out[method]["brier"].append(brier_score(pred, y[t], ci=False).value)
    return {"splits": splits, "median_temperature": float(np.median(temperatures)),
            **{m: {k: float(np.mean(v)) for k, v in vals.items()} for m, vals in out.items()}}


def _splits(chain: list[str], data: dict[str, dict[str, Any]], n: int, *, target: float, risk: float,
            splits: int, golden_frac: float, seed: int, groups: np.ndarray | None = None) -> dict[str, Any]:
    """Fit on a random golden part, evaluate on the rest, ``splits`` times.

    With ``groups`` (e.g. the MT-Bench question of each pair) whole groups go to one side, so
    no question is in both the golden and the test part.
    """
    from jurist.strategies.cascade import evaluate_cascade, fit_cascade

    rng = np.random.default_rng(seed)
    n_golden = int(round(n * golden_frac))
    conf = [data[s]["confidence"] for s in chain]
    correct = [data[s]["correct"] for s in chain]
    tokens = [data[s]["prompt_tokens"] for s in chain]
    seconds = [data[s]["seconds"] for s in chain]
    realised, coverage, violations, stage_cov, reached, tok, sec, humans = [], [], 0, [], [], [], [], []
    with_auto = significant = world_auto = world_violations = 0
    world_coverage: list[float] = []
    for _ in range(splits):
        if groups is None:
            perm = rng.permutation(n)
            g, t = perm[:n_golden], perm[n_golden:]
        else:
            names = np.unique(groups)
            chosen = set(rng.permutation(names)[: int(round(len(names) * golden_frac))].tolist())
            mask = np.array([x in chosen for x in groups])
            g, t = np.flatnonzero(mask), np.flatnonzero(~mask)
        thresholds, _ = fit_cascade([c[g] for c in conf], [y[g] for y in correct], target=target, risk=risk)
        test = evaluate_cascade(thresholds, [c[t] for c in conf], [y[t] for y in correct])
        coverage.append(test["coverage"])
        humans.append(test["human"] / len(t))
        stage_cov.append([e["accepted"] / len(t) for e in test["stages"]])
        reached.append([e["reached"] / len(t) for e in test["stages"]])
        tok.append(sum(r * k for r, k in zip(reached[-1], tokens, strict=True)))
        sec.append(sum(r * k for r, k in zip(reached[-1], seconds, strict=True)))
        if test["auto"]:
            with_auto += 1
            realised.append(test["agreement"])
            violations += test["agreement"] < target
            # the test half is small: is the realised agreement *significantly* below the target?
            ok = round(test["agreement"] * test["auto"])
            upper = stats.binomtest(ok, test["auto"]).proportion_ci(0.95, method="exact").high
            significant += upper < target
        # the same fit on a golden set drawn with replacement from all n pairs, checked against all n:
        # in this "bootstrap world" the n pairs are the population, so the guarantee applies exactly
        b = rng.integers(0, n, n_golden)
        b_thresholds, _ = fit_cascade([c[b] for c in conf], [y[b] for y in correct], target=target, risk=risk)
        world = evaluate_cascade(b_thresholds, conf, correct)
        if world["auto"]:
            world_auto += 1
            world_violations += world["agreement"] < target
            world_coverage.append(world["coverage"])
        else:
            world_coverage.append(0.0)
    return {
        "chain": " > ".join([*chain, "human"]),
        "target": target,
        "risk": risk,
        "splits": splits,
        "golden": n_golden if groups is None else "by question",
        "test": n - n_golden if groups is None else "by question",
        "splits_with_auto_decisions": with_auto,
        "violation_rate": violations / splits,
        "significant_violation_rate": significant / splits,
        "population_violation_rate": world_violations / splits,
        "population_coverage_mean": float(np.mean(world_coverage)),
        "population_splits_with_auto": world_auto,
        "realised_agreement_mean": float(np.mean(realised)) if realised else None,
        "realised_agreement_p05": float(np.quantile(realised, 0.05)) if realised else None,
        "coverage_mean": float(np.mean(coverage)),
        "coverage_by_stage": [round(float(x), 4) for x in np.mean(stage_cov, axis=0)],
        "reached_by_stage": [round(float(x), 4) for x in np.mean(reached, axis=0)],
        "to_human": float(np.mean(humans)),
        "prompt_tokens_per_item": float(np.mean(tok)),
        "judge_seconds_per_item": float(np.mean(sec)),
    }


def analyse_phase(args: argparse.Namespace) -> dict[str, Any]:
    specs = [s for s in args.chain.split(",") if s != "human"]
    ids, data = _load(args, specs)
    n = len(ids)
    print(f"pairs judged by every judge ({', '.join(specs)}): {n}")
    if n < 20:
        raise SystemExit("too few pairs to split; judge more first")
    described = [_describe(s, data[s]) for s in specs]
    print("\njudges on these pairs")
    for d in described:
        print("  " + "  ".join(f"{k}={v}" for k, v in d.items()))
    print("\nrecalibration fitted on a random half, ECE (5 equal-mass bins) and Brier on the other half, "
          "mean of 100 splits")
    for spec, d in zip(specs, described, strict=True):
        d["recalibration"] = _recalibration(data[spec], splits=100, golden_frac=args.golden_frac, seed=args.seed)
        r = d["recalibration"]
        print(f"  {spec}: " + "  ".join(f"{m} ECE {r[m]['ece']:.3f} Brier {r[m]['brier']:.3f}"
                                        for m in ("raw", "temperature", "platt", "isotonic"))
              + f"  (median temperature {r['median_temperature']:.4g})")
    chains = [[s] for s in specs] + ([specs] if len(specs) > 1 else [])
    results = []
    print(f"\n{args.splits} random golden/test splits ({args.golden_frac:.0%} golden"
          f"{', whole questions' if args.split_by_question else ''}); "
          "violation = realised agreement on auto-decided test items < target")
    groups = data["_groups"]["question"] if args.split_by_question else None
    for target in args.targets:
        for chain in chains:
            r = _splits(chain, data, n, target=target, risk=args.risk, splits=args.splits,
                        golden_frac=args.golden_frac, seed=args.seed, groups=groups)
            results.append(r)
            print(f"  {r['chain']:32s} target={target:.2f} risk={args.risk:.2f}  "
                  f"violations={r['violation_rate']:.3f} (significant {r['significant_violation_rate']:.3f}, "
                  f"bootstrap-world {r['population_violation_rate']:.3f})  coverage={r['coverage_mean']:.3f} "
                  f"(by stage {r['coverage_by_stage']})  to human={r['to_human']:.3f}  "
                  f"agreement={r['realised_agreement_mean'] if r['realised_agreement_mean'] is None else round(r['realised_agreement_mean'], 3)}"
                  f"  splits with auto={r['splits_with_auto_decisions']}  "
                  f"tokens/item={r['prompt_tokens_per_item']:.0f}  judge s/item={r['judge_seconds_per_item']:.2f}")
    return {"data": str(args.data), "store": str(args.store), "pairs": n, "judges": described, "results": results,
            "settings": {"splits": args.splits, "golden_frac": args.golden_frac, "risk": args.risk,
                         "split_by_question": args.split_by_question,
                         "targets": args.targets, "seed": args.seed}}


SIMULATIONS = [
    # name, judges (confidence ~ 0.5 + 0.5 Beta(a, b); P(right | c) = 0.5 + slope (c - 0.5) + offset), target, risk
    ("calibrated judge", [dict(a=2.0, b=1.2)], 0.85, 0.1),
    ("over-confident judge", [dict(a=3.0, b=1.0, slope=0.8, offset=0.05)], 0.85, 0.1),
    ("calibrated judge, strict", [dict(a=2.0, b=1.2)], 0.9, 0.05),
    ("cheap judge > strong judge", [dict(a=3.0, b=1.0, cost=1.0), dict(a=4.0, b=1.0, offset=0.04, cost=3.0)], 0.9, 0.05),
    ("strong judge alone", [dict(a=4.0, b=1.0, offset=0.04, cost=3.0)], 0.9, 0.05),
    ("judge that cannot reach the target", [dict(a=3.0, b=1.0, slope=0.6)], 0.9, 0.05),
]


def simulate_phase(args: argparse.Namespace) -> dict[str, Any]:
    """The guarantee on synthetic judges with known calibration (LaajMeter-style), many golden/test splits."""
    from jurist.strategies.cascade import SyntheticJudge, simulate_cascade

    rows = []
    print(f"{args.splits} golden sets of {args.golden} synthetic items, test sets of 2000, population of 200,000")
    for name, judges, target, risk in SIMULATIONS:
        t0 = time.monotonic()
        r = simulate_cascade([SyntheticJudge(**j) for j in judges], target=target, risk=risk, n_golden=args.golden,
                             n_test=2000, splits=args.splits, seed=args.seed)
        row = {"name": name, "judges": judges, **r.model_dump(), "seconds": round(time.monotonic() - t0, 1)}
        rows.append(row)
        print(f"  {name:36s} target={target} risk={risk}  violations: population {r.violation_rate:.3f}, "
              f"realised {r.realised_violation_rate:.3f}  coverage {r.mean_coverage:.3f} "
              f"{[round(x, 3) for x in r.stage_coverage]}  agreement {r.mean_agreement:.3f}  "
              f"nothing certified {r.no_decision_rate:.2f}  cost/item {r.mean_cost:.2f}")
    return {"simulations": rows, "settings": {"splits": args.splits, "golden": args.golden, "seed": args.seed}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=["judge", "analyse", "simulate"])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--extra-store", type=Path, action="append", default=[],
                        help="analyse: more stores to read judgments from (judges run in parallel)")
    parser.add_argument("--chain", default="local,local:1.5b")
    parser.add_argument("--limit", type=int, default=None, help="judge / analyse only the first N pairs")
    parser.add_argument("--splits", type=int, default=500)
    parser.add_argument("--golden-frac", type=float, default=0.5)
    parser.add_argument("--risk", type=float, default=0.1)
    parser.add_argument("--targets", type=float, nargs="+", default=[0.6, 0.65, 0.7, 0.75])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--golden", type=int, default=500, help="simulate: golden set size")
    parser.add_argument("--split-by-question", action="store_true",
                        help="analyse: keep all pairs of one MT-Bench question on the same side")
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    args = parser.parse_args(argv)
    if args.phase == "judge":
        judge_phase(args)
        return
    report = analyse_phase(args) if args.phase == "analyse" else simulate_phase(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"\njson: {args.json}")


if __name__ == "__main__":
    sys.exit(main())
