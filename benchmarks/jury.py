"""A jury of the 0.5B and 1.5B embedded judges vs each alone, on 200 MT-Bench human pairs.

Each judge runs through the runner (``jurist.run``: the pairwise protocol, both orders, the default
template) over ``../shared/datasets/mt_bench/human_pairwise_nontie_200_llmbar.json`` (preset llmbar)
with a store under ``~/.cache/jurist/bench``. The store's completion cache is keyed by the request's
content (model + rendered prompt), not by a run id, so the first run judges (200 pairs x 2 orders per
judge: about 10 minutes for the 0.5B and 30 for the 1.5B judge on 2 cores) and every later run makes
no model call. From a fresh clone next to ``shared/``, under the shared model lock:

    flock /tmp/jurist-model.lock .venv/bin/python benchmarks/jury.py [--folds 10] [--repeats 20]
    flock /tmp/jurist-model.lock .venv/bin/python benchmarks/jury.py --limit 2     # a smoke run

Aggregations (jurist.strategies.jury.aggregate, the code the engine runs):
mean probability, majority vote (a 1-1 split is an explicit tie, counted as
not correct against the non-tie human labels), and learned weights (logistic
regression on each judge's log-odds) evaluated by K-fold cross-validation:
fitted on K-1 folds, scored on the held-out fold, never in-sample.

``--verify N`` also runs the jury of the two embedded judges through the engine
on the first N items. The completions of both judges' stores are copied into a
scratch store first, so if the rendered requests are unchanged the run makes 0
model calls, and its verdicts must equal the aggregates computed here.

    flock /tmp/jurist-model.lock .venv/bin/python benchmarks/jury.py --verify 10
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from jurist.engine.store import Store
from jurist.metrics.agreement import accuracy, krippendorff_alpha
from jurist.metrics.uncertainty import bootstrap
from jurist.strategies.jury import aggregate, fit_weights
from jurist.types import Judgment

BENCH = Path(os.path.expanduser("~/.cache/jurist/bench"))
DATA = Path(__file__).resolve().parents[2] / "shared/datasets/mt_bench/human_pairwise_nontie_200_llmbar.json"
# each judge's store: a content-keyed completion cache (the names of the stores the numbers were first made in)
JUDGES = {"0.5B": ("local", BENCH / "mtbench.db"), "1.5B": ("local:1.5b", BENCH / "mtbench-1.5b.db")}


def judged(spec: str, store: Path, limit: int | None = None) -> tuple[dict, dict[str, Judgment]]:
    """One judge's verdicts on the MT-Bench pairs: judged through the runner, or read from the cache."""
    from jurist.engine.runner import run
    from jurist.plan import Plan

    if not DATA.is_file():
        raise SystemExit(f"{DATA}: not found (the datasets live in ../shared/datasets next to the repository)")
    plan = Plan.parse({"task": "compare", "judge": {"spec": spec},
                       "data": {"preset": "llmbar", **({"limit": limit} if limit else {})},
                       "outputs": {"name": f"bench-jury-{spec}"}})
    result = run(plan, DATA, store=Store(store))
    print(f"{spec}: {len(result.judgments)} pairs, {result.stats.get('model_calls', 0)} model calls, "
          f"{result.stats.get('cache_hits', 0)} from the cache ({store})", flush=True)
    return result.run.judge, {j.item_id: j for j in result.judgments}


def cv_learned(parts: list[list], labels: list[str], members: list[str], folds: int, seed: int) -> list[str]:
    """Held-out predictions of the learned jury: fit on the other folds, predict each fold."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    predictions: list[str] = [""] * len(labels)
    for fold in np.array_split(order, folds):
        held = set(fold.tolist())
        train = [i for i in range(len(labels)) if i not in held]
        weights = fit_weights([parts[i] for i in train], [labels[i] for i in train], members, "compare")
        for i in fold:
            predictions[i] = aggregate(parts[i], members, "learned", weights).preference  # type: ignore[assignment]
    return predictions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=20, help="CV repeats with different fold splits")
    parser.add_argument("--verify", type=int, default=0, help="run the jury through the engine on N items")
    parser.add_argument("--limit", type=int, default=None, help="the first N pairs only (a smoke run)")
    args = parser.parse_args()
    if args.verify:
        return verify(args.verify)

    loaded = {name: judged(spec, store, args.limit) for name, (spec, store) in JUDGES.items()}
    identities = [{k: v for k, v in judge.items() if k != "judge"} for judge, _ in loaded.values()]
    assert identities[0] == identities[1], f"the two runs used different protocols: {identities}"
    members = list(JUDGES)
    common = sorted(set.intersection(*(set(j) for _, j in loaded.values())), key=lambda s: (len(s), s))
    rows = [[loaded[m][1][i] for m in members] for i in common]
    usable = [(i, r) for i, r in zip(common, rows, strict=True) if all(j.verdict.ok for j in r)]
    labels = [r[0].label for _, r in usable]
    assert all(lab in ("A", "B") for lab in labels)
    parts = [[j.verdict for j in r] for _, r in usable]
    n = len(usable)
    print(f"items: {len(common)} in both runs, {n} scored by both judges; protocol {identities[0]}")

    def report(name: str, pred: list[str]) -> None:
        est = accuracy(pred, labels, n_resamples=5000)
        ties = sum(p == "tie" for p in pred)
        print(f"  {name:<34} {est.value:.3f} [{est.low:.3f}, {est.high:.3f}]  n={est.n}"
              + (f"  ({ties} split votes = tie)" if ties else ""))

    print("\naccuracy vs the human label (95% bootstrap CI, 5000 resamples):")
    alone = {m: [p[k].preference for p in parts] for k, m in enumerate(members)}
    for m in members:
        report(f"{m} alone", alone[m])
    mean = [aggregate(p, members, "mean") for p in parts]
    report("jury: mean probability", [v.preference for v in mean])
    report("jury: majority vote", [aggregate(p, members, "majority").preference for p in parts])
    if n >= 4 * args.folds:  # a smoke run (--limit) has too few items to fit weights on each fold
        cv_runs = [cv_learned(parts, labels, members, args.folds, seed) for seed in range(args.repeats)]
        report(f"jury: learned ({args.folds}-fold CV, split 0)", cv_runs[0])
        cv_acc = [np.mean([p == y for p, y in zip(run, labels, strict=True)]) for run in cv_runs]
        print(f"  learned CV accuracy over {args.repeats} fold splits: mean {np.mean(cv_acc):.3f}, "
              f"range {min(cv_acc):.3f}-{max(cv_acc):.3f}")
        full = fit_weights(parts, labels, members, "compare")
        print(f"  (weights fitted on all {full.n} items, for description only: intercept {full.intercept:+.3f}, "
              f"coef {dict(zip(members, [round(c, 3) for c in full.coef], strict=True))})")
    else:
        print(f"  jury: learned: skipped ({n} items, fewer than 4 per fold)")

    # Paired: the same items, so the difference's CI is much tighter than the two CIs suggest.
    correct = {name: np.array([p == y for p, y in zip(pred, labels, strict=True)], dtype=float)
               for name, pred in {"mean": [v.preference for v in mean], **alone}.items()}
    for other in members:
        diff = bootstrap(lambda x: x.mean(axis=-1), correct["mean"] - correct[other], vectorized=True,
                         n_resamples=5000, seed=0)
        print(f"  paired difference, jury mean - {other} alone: {diff.value:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}]")

    alpha = krippendorff_alpha([alone[m] for m in members], level="nominal", n_resamples=5000)
    print(f"\nKrippendorff's alpha between the two judges (nominal, preferences): "
          f"{alpha.value:.3f} [{alpha.low:.3f}, {alpha.high:.3f}]  n={alpha.n}")
    pa = [[v.p_a for v in p] for p in parts]
    alpha_i = krippendorff_alpha(list(map(list, zip(*pa, strict=True))), level="interval", n_resamples=5000)
    print(f"Krippendorff's alpha on P(A) (interval): {alpha_i.value:.3f} [{alpha_i.low:.3f}, {alpha_i.high:.3f}]")

    flagged = [bool(v.metadata["flagged"]) for v in mean]
    print(f"\nflagged (the judges prefer different responses): {sum(flagged)} of {n}")
    for flag in (True, False):
        idx = [k for k in range(n) if flagged[k] == flag]
        print(f"  {'flagged' if flag else 'not flagged'} (n={len(idx)}):")
        for name, pred in {"jury mean": [mean[k].preference for k in range(n)], **alone}.items():
            est = accuracy([pred[k] for k in idx], [labels[k] for k in idx], n_resamples=5000)
            print(f"    {name:<12} {est.value:.3f} [{est.low:.3f}, {est.high:.3f}]")


def verify(n: int) -> None:
    """The engine's jury on the first n items, answered from the two stored runs' completions."""
    import sqlite3
    import tempfile

    from jurist.backends import resolve_backend
    from jurist.engine import Engine
    from jurist.io import load_items
    from jurist.judge import Judge
    from jurist.protocols import PairwiseProtocol
    from jurist.strategies.jury import Jury

    scratch = Path(tempfile.mkdtemp()) / "jury.db"
    store = Store(str(scratch))
    store.close()
    stored = {name: judged(spec, path, n)[1] for name, (spec, path) in JUDGES.items()}  # judges what is missing
    with sqlite3.connect(scratch) as db:
        for _, path in JUDGES.values():
            db.execute("ATTACH DATABASE ? AS src", (str(path),))
            db.execute("INSERT OR IGNORE INTO completions SELECT * FROM src.completions")
            db.commit()
            db.execute("DETACH DATABASE src")
    items = load_items(DATA, preset="llmbar", limit=n).items
    protocol = PairwiseProtocol()
    jury = Jury([Judge(resolve_backend("local"), protocol), Judge(resolve_backend("local:1.5b"), protocol)])
    result = Engine(jury, Store(str(scratch))).run(items)
    print(f"engine jury on {len(items)} items: model calls {result.stats['model_calls']}, "
          f"cache hits {result.stats['cache_hits']}")
    same = 0
    for judgment in result.judgments:
        parts = [stored[m][judgment.item_id].verdict for m in JUDGES]
        expected = aggregate(parts, jury.specs, "mean")
        same += abs(expected.p_a - judgment.verdict.p_a) < 1e-9 and expected.preference == judgment.verdict.preference
    print(f"verdicts equal to the aggregate of the stored runs: {same} of {len(result.judgments)}")
    print("\n".join(f"  {name}: {value}" for name, value in result.summary().rows()))


if __name__ == "__main__":
    main()
