"""The embedded judge's leaderboard of PandaLM's five models next to the humans', and a corrected win rate.

Data: the PandaLM test set (``../shared/datasets/pandalm/testset-v1.json``, preset ``pandalm``): 999 pairs
of responses by five 7B models (bloom-7b, cerebras-gpt-6.7B, llama-7b, opt-7b, pythia-6.9b), every pair of
models compared, ``cmp_key`` naming the models, three human annotators (majority label, ties allowed).
The subset judged is fixed: the first 20 items by ``idx`` of each of the 10 model pairs, 200 items, which
the 0.5B judge does in about 20 minutes on two busy cores (both orders). MT-Bench's human pairs in
``../shared/datasets`` carry no model names (LLMBar's processed copy dropped them), so they cannot be ranked.

1. **Leaderboards**: ``jurist.metrics.ranking.leaderboard`` of the judge's preferences and of the human
   majority labels (a human tie counts half a win each; the judge is asked A or B, both orders averaged),
   with the anchor at the humans' median model; Kendall's tau between the two boards' Bradley-Terry ratings
   with a bootstrap over the items (``rank_agreement``); the separable pairs of each.
2. **Corrected win rate** (``jurist.metrics.estimation``): on the same run, "pass" = response 1 (A) wins.
   The golden set is a seeded random half of the 200 items (their human labels); the truth is the human
   rate over all 200. Prints the judge's raw rate, the Rogan-Gladen corrected one (or the too-weak state,
   and then the correction forced with ``min_youden=0``), and the truth.

From a fresh clone (the judging needs the embedded model, so take the model lock):

    flock /tmp/jurist-model.lock env PYTHONPATH=src .venv/bin/python benchmarks/leaderboard.py \\
        [--store /tmp/jurist-bench-leaderboard.db] [--json reports/leaderboard.json]

The store keeps the completions: a second run makes no model call and prints the same numbers.
``--replay`` reads them from the store without loading the model (no lock needed; any completion missing
from the store is an error, so the numbers are those of the real judge or none):

    env PYTHONPATH=src .venv/bin/python benchmarks/leaderboard.py --replay
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

import jurist
from jurist.backends import ScriptedBackend
from jurist.backends.models import DEFAULT_MODEL, MODELS
from jurist.io import load_items
from jurist.metrics.agreement import accuracy
from jurist.metrics.estimation import estimate_run
from jurist.metrics.ranking import Comparisons, Leaderboard, comparisons_from_judgments, leaderboard, rank_agreement
from jurist.types import Item

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "pandalm" / "testset-v1.json"
PER_PAIR = 20


def subset(path: Path, per_pair: int = PER_PAIR) -> list[Item]:
    """The first ``per_pair`` items by idx of each model pair."""
    loaded = load_items(path, preset="pandalm")
    if loaded.errors:
        raise SystemExit(f"{path}: {len(loaded.errors)} unreadable rows, e.g. {loaded.errors[0]}")
    by_pair: dict[str, list[Item]] = defaultdict(list)
    for item in sorted(loaded.items, key=lambda i: int(i.id)):
        by_pair[item.metadata["cmp_key"]].append(item)
    return [item for key in sorted(by_pair) for item in by_pair[key][:per_pair]]


def _not_stored(request):
    raise RuntimeError("not in the store's completion cache")


def show(title: str, board: Leaderboard) -> None:
    print(f"\n{title} ({board.n} comparisons, anchor {board.anchor})")
    print(f"  {'model':<18} {'Bradley-Terry':>26} {'Elo':>22} {'win rate vs anchor':>26} {'length-controlled':>26}")
    for s in board.standings:
        lc = s.lc_win_rate.format() if s.lc_win_rate else "n/a"
        print(f"  {s.model:<18} {s.rating.format(0):>26} {s.elo.format(0):>22} {s.win_rate.format():>26} {lc:>26}")
    if board.length_coefficient is not None:
        print(f"  length coefficient: {board.length_coefficient}")
    separable = [f"{p.better} > {p.worse}" for p in board.pairs if p.separable]
    print(f"  separable at 95%: {len(separable)} of {len(board.pairs)} pairs: {', '.join(separable) or 'none'}")
    if board.anchor_warning:
        print(f"  warning: {board.anchor_warning}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--store", default="/tmp/jurist-bench-leaderboard.db")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--replay", action="store_true", help="use the store's completions only; load no model")
    args = parser.parse_args()

    items = subset(args.data)
    # The cache is keyed by the backend's spec and the request: a stand-in with the embedded judge's spec
    # finds every stored completion and fails the item it would have to ask the model for.
    judge = ScriptedBackend(_not_stored, spec=f"local:{MODELS[DEFAULT_MODEL].name}") if args.replay else "local"
    run = jurist.compare(items, judge=judge, store=args.store, progress=False)
    missing = sum(j.verdict.status == "failed" for j in run.judgments)
    if args.replay and missing:
        raise SystemExit(f"--replay: {missing} items' completions are not in {args.store}; "
                         "run without --replay, under the model lock")
    judgments = [j for j in run.judgments if j.verdict.ok and j.label is not None]
    print(f"PandaLM subset: {len(items)} items ({PER_PAIR} per model pair), {len(judgments)} scored verdicts; "
          f"model calls {run.stats.get('model_calls')}, cache hits {run.stats.get('cache_hits')}")
    non_tie = [j for j in judgments if j.label != "tie"]
    print(f"judge accuracy vs the human majority (non-tie items): "
          f"{accuracy([j.verdict.preference for j in non_tie], [j.label for j in non_tie])}")

    lengths = {i.id: (float(len(i.candidates[0])), float(len(i.candidates[1]))) for i in items}
    humans = comparisons_from_judgments(judgments, use="labels", lengths=lengths)
    judge = comparisons_from_judgments(judgments, use="verdicts", lengths=lengths)
    human_board = leaderboard(humans, n_resamples=args.resamples)
    median = human_board.standings[len(human_board.standings) // 2].model
    human_board = leaderboard(humans, anchor=median, n_resamples=args.resamples)
    judge_board = leaderboard(judge, anchor=median, n_resamples=args.resamples)
    show("humans (majority label)", human_board)
    show("embedded judge (0.5B, both orders)", judge_board)
    extreme = human_board.standings[0].model
    warned = leaderboard(humans, anchor=extreme, n_resamples=0).anchor_warning
    print(f"\nthe human board with its best model {extreme} as anchor: {warned}")
    tau = rank_agreement(Comparisons.of(judge), Comparisons.of(humans), n_resamples=args.resamples)
    print(f"Kendall tau, judge vs human Bradley-Terry ratings: {tau}")

    rng = np.random.default_rng(0)
    golden_ids = set(rng.choice([j.item_id for j in judgments], size=len(judgments) // 2, replace=False).tolist())
    golden = [i for i in items if i.id in golden_ids]
    estimate = estimate_run(judgments, golden)
    truth = np.mean([j.label == "A" for j in judgments])
    print(f"\nA's win rate over B on the {len(judgments)} items (golden: {len(golden)} of them, seeded):")
    for name, value in estimate.rows():
        print(f"  {name:<34} {value}")
    print(f"  {'truth (human majority)':<34} {truth:.3f}")
    if estimate.corrected is None:  # what the correction would say if forced: its width is the reason it is not
        forced = estimate_run(judgments, golden, min_youden=0.0).corrected
        print(f"  {'corrected, forced (--min-youden 0)':<34} {forced}")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"humans": human_board.model_dump(mode="json"),
                                         "judge": judge_board.model_dump(mode="json"),
                                         "kendall_tau": tau.model_dump(mode="json"),
                                         "estimate": estimate.model_dump(mode="json"), "truth": truth}, indent=2))


if __name__ == "__main__":
    main()
