"""The embedded judges on the small labelled example sets of docs/judging.md: checklists, correctness, media.

    B="flock /tmp/jurist-model.lock .venv/bin/python benchmarks/example_sets.py"; R=benchmarks/results
    $B check --json $R/example_sets_check_local.json                                              # ~1 min
    $B check --judge local:1.5b --json $R/example_sets_check_local_1.5b.json                      # ~1 min
    $B correct --reference shown --json $R/example_sets_correct_shown_local.json                  # ~1 min
    $B correct --reference hidden --json $R/example_sets_correct_hidden_local.json                # ~1 min
    $B correct --reference adapted --max-revision-tokens 192 \
        --json $R/example_sets_correct_adapted_local.json                                        # ~5 min
    $B correct --judge local:1.5b --json $R/example_sets_correct_shown_local_1.5b.json            # ~2 min
    $B correct --judge local:1.5b --reference hidden --json $R/example_sets_correct_hidden_local_1.5b.json
    $B correct --data examples/data/media_items.jsonl --reference hidden --json $R/example_sets_media_local.json

Each command runs one task through the Python API (``jurist.api.check`` / ``jurist.api.correct``: the same plan
as ``jurist check`` / ``jurist correct``) on a file in the repository, in an in-memory store (no cache from an
earlier run), then computes from the verdicts and the files' ``label`` column:

- ``check`` (default data ``examples/data/checklist_items.jsonl`` with ``--checklist examples/data/checklist.txt``):
  the range and mean of P(yes) over every question of every item and how many are below 0.5; the item scores'
  Spearman correlation with the labels (95% bootstrap interval over items) and AUC; in how many instructions
  (items sharing an ``input``) the response that meets its constraints scores higher; the run's prompt tokens
  and those reused from the KV cache. Then a two-item probe, "Is the response written in French?" for
  "Bonjour" and for an English sentence: the P(yes) of each.
- ``correct`` (default data ``examples/data/reference_correctness.jsonl``): mean P(correct) per
  ``metadata.response_kind`` and per label, the range of P(correct), in how many questions the short correct
  answer beats the wrong one, the AUC (P(a correct response gets a higher P(correct) than an incorrect one);
  95% bootstrap interval resampling ``metadata.question_id``, else items), Spearman with the labels, the
  accuracy of ``top_label`` (threshold 0.5) with a Wilson interval, model calls, prompt tokens and wall time;
  with ``--reference adapted``, how many revisions returned the response unchanged; what each verdict was judged
  from (``metadata.modality``: the text only, or an item's caption or transcript).

``--json OUT`` also writes every item's score.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from jurist import Item  # noqa: E402
from jurist.api import check, correct  # noqa: E402
from jurist.io import load_items  # noqa: E402
from jurist.metrics.agreement import spearman  # noqa: E402
from jurist.metrics.uncertainty import bootstrap, wilson_interval  # noqa: E402

EXAMPLES = REPO / "examples" / "data"
FRENCH_PROBE = [{"id": "french-yes", "input": "Say hello.", "response": "Bonjour"},
                {"id": "french-no", "input": "Say hello.", "response": "Hello, it is nice to meet you."}]


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(a positive item scores higher than a negative one), ties counted half; NaN without both classes."""
    pos, neg = scores[labels > 0.5], scores[labels <= 0.5]
    if not len(pos) or not len(neg):
        return float("nan")
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def totals(run: Any, wall_s: float) -> str:
    s = run.stats
    return (f"{s.get('model_calls', 0)} model calls, {s.get('prompt_tokens', 0)} prompt tokens "
            f"({s.get('cached_prompt_tokens', 0)} reused from the KV cache), {wall_s:.0f} s")


def ranking(scores: list[float], labels: list[float], groups: list[Any] | None) -> dict[str, Any]:
    x, y = np.asarray(scores, float), np.asarray(labels, float)
    rho = spearman(x, y, groups=groups)
    area = bootstrap(auc, x, y, groups=groups)
    print(f"Spearman with the labels {rho.format()}; AUC {area.format()}")
    return {"spearman": rho.model_dump(), "auc": area.model_dump()}


def run_check(args: argparse.Namespace) -> dict[str, Any]:
    data = args.data or EXAMPLES / "checklist_items.jsonl"
    items = {item.id: item for item in load_items(data, "score").items}
    started = time.perf_counter()
    run = check(str(data), checklist=str(args.checklist), judge=args.judge, progress=False)
    wall = time.perf_counter() - started
    p_yes = [p for j in run.judgments for p in (j.verdict.distribution or {}).values()]
    scores = {j.item_id: j.verdict.score for j in run.judgments}
    print(f"{args.judge} on {data}: {len(run.judgments)} items, {len(p_yes)} questions; {totals(run, wall)}")
    print(f"P(yes) over every question: min {min(p_yes):.3f}, max {max(p_yes):.3f}, mean {np.mean(p_yes):.3f}; "
          f"{sum(p < 0.5 for p in p_yes)} of {len(p_yes)} below 0.5")
    ids = [i for i in items if scores.get(i) is not None]
    out = ranking([scores[i] for i in ids], [float(items[i].label) for i in ids], None)  # type: ignore[arg-type]
    by_input: dict[str, dict[float, float]] = defaultdict(dict)
    for i in ids:
        by_input[items[i].input][float(items[i].label)] = scores[i]  # type: ignore[arg-type,index]
    pairs = [v for v in by_input.values() if set(v) == {0.0, 1.0}]
    wins = sum(v[1.0] > v[0.0] for v in pairs)
    print(f"instructions where the response that meets its constraints scores higher: {wins} of {len(pairs)}")
    probe = check([Item(id=row["id"], input=row["input"], candidates=[row["response"]]) for row in FRENCH_PROBE],
                  checklist=["Is the response written in French?"], judge=args.judge, progress=False)
    french = {j.item_id: j.verdict.score for j in probe.judgments}
    print("'Is the response written in French?': P(yes) " +
          ", ".join(f"{row['response']!r} {french[row['id']]:.3f}" for row in FRENCH_PROBE))
    return {"p_yes": {"min": min(p_yes), "max": max(p_yes), "mean": float(np.mean(p_yes)),
                      "below_0.5": sum(p < 0.5 for p in p_yes), "n": len(p_yes)},
            **out, "pairs_won": wins, "pairs": len(pairs), "stats": run.stats, "wall_s": wall,
            "scores": scores, "french_probe": french}


def run_correct(args: argparse.Namespace) -> dict[str, Any]:
    data = args.data or EXAMPLES / "reference_correctness.jsonl"
    items = {item.id: item for item in load_items(data, "score").items}
    started = time.perf_counter()
    run = correct(str(data), reference=args.reference, judge=args.judge,
                  max_revision_tokens=args.max_revision_tokens, progress=False)
    wall = time.perf_counter() - started
    print(f"{args.judge}, --reference {args.reference}, on {data}: {len(run.judgments)} items; {totals(run, wall)}")
    judged = [j for j in run.judgments if j.verdict.score is not None]
    scores = {j.item_id: j.verdict.score for j in judged}
    label = {i: float(items[i].label) for i in scores}  # type: ignore[arg-type]
    meta = {i: items[i].metadata or {} for i in scores}
    modality = Counter(str(j.verdict.metadata.get("modality")) for j in run.judgments)
    print(f"scored {len(judged)} of {len(run.judgments)}; P(correct) from {min(scores.values()):.3f} to "
          f"{max(scores.values()):.3f}; judged from (metadata.modality): {dict(modality)}")
    kinds: dict[str, list[float]] = defaultdict(list)
    for i, s in scores.items():
        kinds[meta[i].get("response_kind") or ("correct" if label[i] else "wrong")].append(s)
    print("mean P(correct): " + ", ".join(f"{k} {np.mean(v):.3f} (n={len(v)})" for k, v in kinds.items()) +
          f"; on correct {np.mean([s for i, s in scores.items() if label[i]]):.3f}, on wrong "
          f"{np.mean([s for i, s in scores.items() if not label[i]]):.3f}")
    questions: dict[Any, dict[str, float]] = defaultdict(dict)
    for i, s in scores.items():
        if "question_id" in meta[i]:
            questions[meta[i]["question_id"]][meta[i].get("response_kind")] = s
    beats = [q["short"] > q["wrong"] for q in questions.values() if {"short", "wrong"} <= set(q)]
    if beats:
        print(f"short correct > wrong: {sum(beats)} of {len(beats)} questions")
    ids = list(scores)
    groups = [meta[i]["question_id"] for i in ids] if all("question_id" in meta[i] for i in ids) else None
    out = ranking([scores[i] for i in ids], [label[i] for i in ids], groups)
    right = sum((j.verdict.top_label == "correct") == bool(float(items[j.item_id].label))  # type: ignore[arg-type]
                for j in run.judgments)
    accuracy = wilson_interval(right, len(run.judgments))
    said_correct = sum(j.verdict.top_label == "correct" for j in run.judgments)
    print(f"accuracy at 0.5: {accuracy} ({right}/{len(run.judgments)}; {said_correct} judged correct)")
    report: dict[str, Any] = {**out, "mean_by_kind": {k: float(np.mean(v)) for k, v in kinds.items()},
                              "short_beats_wrong": sum(beats), "questions": len(beats),
                              "accuracy": accuracy.model_dump(), "stats": run.stats, "wall_s": wall,
                              "scores": scores}
    if args.reference == "adapted":
        same = [j.item_id for j in run.judgments
                if (j.verdict.metadata.get("adapted_reference") or "").strip() == items[j.item_id].candidates[0].strip()]
        wrong_same = [i for i in same if not float(items[i].label)]  # type: ignore[arg-type]
        print(f"revisions identical to the response: {len(same)} of {len(run.judgments)} "
              f"({len(wrong_same)} of the {sum(not v for v in label.values())} wrong responses)")
        report["unchanged_revisions"] = same
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=["check", "correct"])
    parser.add_argument("--judge", default="local")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--checklist", type=Path, default=EXAMPLES / "checklist.txt")
    parser.add_argument("--reference", default="shown", choices=["shown", "hidden", "adapted"])
    parser.add_argument("--max-revision-tokens", type=int, default=512)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    report = run_check(args) if args.task == "check" else run_correct(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"argv": sys.argv[1:], **report}, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
