"""Listwise ranking with permutation debiasing vs one order, on OpenMEVA-ROC story continuations.

Each prompt (the first sentence of a ROCStories story) has 5 machine continuations
scored 1-5 by humans (mean of 5 annotators). The embedded judge sees all 5 and names
the best; ``Permutations()`` runs the 5 cyclic orders (every story once in every
slot). The same completions also give the one-order ranking (the candidates in
their file order, view 0), so the comparison costs nothing extra.

Metrics per prompt, then averaged with a 95% bootstrap CI over prompts:
Kendall's tau-b between the judge's P(best) (mean over orders) and the human
scores (ties kept), and top-1 accuracy (the judge's best is among the human-best,
ties included). Completions are cached in the store, so a re-run is free.

    flock /tmp/jurist-model.lock .venv/bin/python benchmarks/listwise.py --prompts 40 [--judge local]
"""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from jurist.backends import resolve_backend
from jurist.engine import Engine, EngineConfig, Store
from jurist.judge import Judge
from jurist.metrics.uncertainty import bootstrap
from jurist.protocols.listwise import ListwiseProtocol
from jurist.strategies.permutations import Permutations
from jurist.types import Item

DATA = Path(__file__).resolve().parents[2] / "shared/datasets/openmeva_roc/openmeva_roc_human.jsonl"  # ../shared
CRITERIA = ("Prefer the continuation that is the most coherent and fluent story, consistent with the "
            "first sentence, with sensible events.")


def load(prompts: int) -> list[Item]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for line in DATA.read_text().splitlines():
        row = json.loads(line)
        groups[row["doc_id"]].append(row)
    items = []
    for doc_id in list(groups)[:prompts]:
        rows = sorted(groups[doc_id], key=lambda r: r["model"])  # a fixed order that is not by quality
        items.append(Item(id=doc_id, input=f"Continue this story: {rows[0]['prompt']}",
                          candidates=[r["story"] for r in rows],
                          metadata={"human": [r["human"] for r in rows], "models": [r["model"] for r in rows]}))
    return items


def metrics(p_best: list[float], human: list[float]) -> tuple[float, float]:
    tau = kendalltau(p_best, human).statistic
    best = max(human)
    top = int(np.argmax(p_best))
    return float(tau), float(human[top] == best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=40)
    parser.add_argument("--judge", default="local")
    parser.add_argument("--store", default=os.path.expanduser("~/.cache/jurist/bench/listwise.db"))
    args = parser.parse_args()

    items = load(args.prompts)
    judge = Judge(resolve_backend(args.judge), ListwiseProtocol(CRITERIA), Permutations())
    result = Engine(judge, Store(args.store), EngineConfig(concurrency=1, progress=False)).run(items)
    print(f"judge {judge.spec}: {len(items)} prompts x 5 stories x 5 orders; model calls "
          f"{result.stats['model_calls']}, cache hits {result.stats['cache_hits']}, {result.stats['wall_s']:.0f} s")
    rows = {"permutations (5 orders)": [], "one order (view 0)": []}
    slot_a = []
    slots = np.zeros(5)
    by_model: dict[str, int] = defaultdict(int)
    for judgment in result.judgments:
        v = judgment.verdict
        if not v.ok:
            print(f"  {judgment.item_id}: {v.status} {v.error}")
            continue
        human = judgment.metadata["human"]
        rows["permutations (5 orders)"].append(metrics([v.distribution[str(c)] for c in range(5)], human))
        first = v.parts[0]
        rows["one order (view 0)"].append(metrics([first.distribution[str(c)] for c in range(5)], human))
        slot_a += [part.metadata["permutation"][0] == part.ranking[0] for part in v.parts]
        for part in v.parts:
            slots[part.metadata["permutation"].index(part.ranking[0])] += 1
        by_model[judgment.metadata["models"][first.ranking[0]]] += 1
    print(f"\nscored prompts: {len(rows['one order (view 0)'])}")
    for name, values in rows.items():
        taus, tops = (np.array(x) for x in zip(*values, strict=True))
        tau = bootstrap(lambda x: np.nanmean(x, axis=-1), taus, vectorized=True, n_resamples=5000, seed=0)
        top = bootstrap(lambda x: x.mean(axis=-1), tops, vectorized=True, n_resamples=5000, seed=0)
        print(f"  {name:<24} Kendall tau-b {tau.value:+.3f} [{tau.low:+.3f}, {tau.high:+.3f}]   "
              f"top-1 {top.value:.3f} [{top.low:.3f}, {top.high:.3f}]")
    chance = np.mean([np.mean(np.array(j.metadata["human"]) == max(j.metadata["human"])) for j in result.judgments])
    print(f"  chance top-1 (a random story among the human-best): {chance:.3f}")
    print(f"  share of single-order picks that are slot A: {np.mean(slot_a):.3f} (no bias: 0.200), "
          f"n={len(slot_a)} orders")
    print(f"  single-order picks by slot A..E: {(slots / slots.sum()).round(3).tolist()}")
    print(f"  one-order (view 0) picks by model: {dict(by_model)}")
    mean_human = defaultdict(list)
    for j in result.judgments:
        for model, score in zip(j.metadata["models"], j.metadata["human"], strict=True):
            mean_human[model].append(score)
    print("  mean human score by model: " + ", ".join(f"{m} {np.mean(v):.2f}" for m, v in sorted(mean_human.items())))
    agree = [j.verdict.metadata["views_agree"] for j in result.judgments if j.verdict.ok]
    print(f"  mean share of orders agreeing on the best: {np.mean(agree):.3f}")


if __name__ == "__main__":
    main()
