"""Best-of-N against human preferences: does the embedded judge pick the answer humans preferred?

    flock /tmp/jurist-model.lock .venv/bin/python benchmarks/best_of_n.py            # MT-Bench, ~10 min, 2 cores
    .venv/bin/python benchmarks/best_of_n.py --methods pointwise --limit 8 --json out.json
    flock /tmp/jurist-model.lock .venv/bin/python benchmarks/best_of_n.py --set summeval \\
        --store ~/.cache/jurist/bench/best_of_n.db --json benchmarks/results/best_of_n_summeval.json

Sets (``--set``; ``--data`` for another copy of the file), from ``../shared/datasets/``:

- ``mtbench``: the MT-Bench human pairs (first turn, non-tie, 200 pairs as processed by LLMBar,
  ``mt_bench/human_pairwise_nontie_200_llmbar.json``) grouped per question. A group's candidates are
  the distinct answers of its pairs; the human-preferred answer is the one that won every human
  comparison it was in while no other answer did. 33 of the 75 questions have such an answer
  (N = 2..6 candidates).
- ``pandalm``: the PandaLM test set (999 pairs of five models' answers, label the majority of three
  annotators, ``pandalm/testset-v1.json``) grouped per instruction the same way; a tie is not a win.
  84 of the 170 instructions have such an answer (N = 2..5).
- ``summeval``: per news article (100), ``--n`` (4) of its 16 system summaries, drawn with
  ``random.Random(f"{seed}:{article_id}")``; a summary's human score is the mean of its four expert
  ratings (coherence, consistency, fluency, relevance: G-Eval's "overall"). The input is
  ``Summarise this news article in a few sentences.`` and the article.
- ``hanna``: per writing prompt (96), ``--n`` of its 11 stories, drawn the same way; a story's human
  score is the mean of its six criteria (relevance, coherence, empathy, surprise, engagement,
  complexity; each the mean of 3 raters). The input is ``Write a short story for this writing
  prompt:`` and the prompt.
- ``openmeva``: OpenMEVA-ROC, per story opening (200), all 5 of its model continuations (``--n`` 5, in
  an order drawn the same way); a story's human score is its overall rating (1-5, the mean of 5
  annotators). The input is ``Continue this story in four more sentences:`` and the opening sentence.
- ``topical``: Topical-Chat (USR), per dialogue (60), all 6 of its next-turn responses (``--n`` 6: two
  human, four model); a response's human score is its overall rating (1-5, the mean of 3 annotators).
  The input asks for the next turn and gives the knowledge fact and the dialogue, a turn a line.

For the rated sets the human-preferred answer is the drawn candidate with the highest human
score; a draw whose maximum is shared is left out (it is not redrawn). With ``--max-words``, so is a
group whose longest pairwise prompt (the input and its two longest candidates) has more words.
The draw order is the candidates' order. Every group kept counts: a failed choice is a miss.

Printed per method (jurist.apps.best_of_n, the embedded 0.5B judge by default): the pick rate of the
human-preferred answer with a 95% Wilson interval, next to a random pick (its expectation, mean 1/N)
and the longest answer (characters); the paired differences judge - longest and judge - random
(the per-group hit minus the longest answer's hit, or minus 1/N) with a 95% percentile bootstrap
interval over groups; as a check beside that interval (the reading declared before the runs), the
groups only the judge got right and only "longest" got right, with McNemar's exact p on them; and
the judgments and model calls used. ``--store`` keeps every completion:
a rerun, or a larger ``--limit`` after a smaller one, pays only for the groups not judged yet.

``--pool A.json B.json`` runs no model: it reads result files of one judge on several sets and prints
the same figures over all their groups together, for each method in every file. One set's 33 or 84
groups leave an interval about 0.3 or 0.2 wide; the chat sets together (mtbench and pandalm, 117
groups) are the reading that can separate a judge from "longest".
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scipy.stats import binomtest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from jurist.apps.best_of_n import TASK_OF, Selector  # noqa: E402
from jurist.apps.online import OnlineJudge  # noqa: E402
from jurist.io import load_items  # noqa: E402
from jurist.metrics.uncertainty import Estimate, bootstrap, wilson_interval  # noqa: E402
from jurist.plan import Plan  # noqa: E402

SHARED = REPO.parent / "shared" / "datasets"
DATA = {
    "mtbench": SHARED / "mt_bench" / "human_pairwise_nontie_200_llmbar.json",
    "pandalm": SHARED / "pandalm" / "testset-v1.json",
    "summeval": SHARED / "summeval" / "summeval_expert_avg.jsonl",
    "hanna": SHARED / "hanna" / "hanna_story_avg_scores.jsonl",
    "openmeva": SHARED / "openmeva_roc" / "openmeva_roc_human.jsonl",
    "topical": SHARED / "topical_chat" / "topical_chat_usr.json",
}  # the pairwise sets are in PAIRWISE_PRESET, the rated ones in RATED
PAIRWISE_PRESET = {"mtbench": "llmbar", "pandalm": "pandalm"}  # sets of human pairs, grouped per input
SUMMEVAL_DIMENSIONS = ("coherence", "consistency", "fluency", "relevance")
HANNA_CRITERIA = ("relevance", "coherence", "empathy", "surprise", "engagement", "complexity")


def pairwise_groups(items: Iterable[Any]) -> list[dict]:
    """Inputs whose human pairs single out one preferred answer: {id, input, candidates, best}.

    A group's candidates are the distinct answers of its pairs (by text). The preferred answer won
    every human comparison it was in (a tie is not a win); every other answer is not such a one."""
    by_input: dict[str, list[Any]] = defaultdict(list)
    for item in items:
        by_input[item.input or ""].append(item)
    result = []
    for text, pairs in by_input.items():
        candidates: dict[str, int] = {}
        for item in pairs:
            for answer in item.candidates:
                candidates.setdefault(answer, len(candidates))
        wins, not_won = Counter(), Counter()
        for item in pairs:
            a, b = (candidates[c] for c in item.candidates)
            if item.label == "A":
                wins[a] += 1
                not_won[b] += 1
            elif item.label == "B":
                wins[b] += 1
                not_won[a] += 1
            else:  # a tie: neither answer won it
                not_won[a] += 1
                not_won[b] += 1
        undefeated = [c for c in range(len(candidates)) if not_won[c] == 0 and wins[c] > 0]
        if len(undefeated) == 1 and len(candidates) > 1:
            result.append({"id": pairs[0].id, "input": text, "candidates": list(candidates), "best": undefeated[0]})
    return result


def rated_groups(rows: Iterable[dict], key: str, text: str, score: Callable[[dict], float],
                 prompt: Callable[[dict], str], n: int, seed: int) -> tuple[list[dict], int]:
    """Per value of ``key`` (in first-seen order), ``n`` rows drawn with ``random.Random(f"{seed}:{key}")``;
    the best is the drawn row with the highest ``score``. Returns the groups and how many draws were
    left out because their maximum is shared. A group with fewer than ``n`` rows is left out too."""
    by_key: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_key[str(row[key])].append(row)
    result, tied = [], 0
    for value, members in by_key.items():
        if len(members) < n:
            continue
        drawn = random.Random(f"{seed}:{value}").sample(members, n)
        scores = [score(row) for row in drawn]
        top = max(scores)
        if sum(abs(s - top) < 1e-9 for s in scores) > 1:
            tied += 1
            continue
        result.append({"id": value, "input": prompt(drawn[0]), "candidates": [row[text] for row in drawn],
                       "best": scores.index(top), "human": scores})
    return result, tied


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def topical_prompt(row: dict) -> str:
    turns = "\n".join(line.strip() for line in row["source"].strip().splitlines())
    return (f"Write the next turn of this conversation. A fact you may use: {row['context'].strip()}\n\n"
            f"The conversation so far, one turn a line:\n{turns}")


class RatedSet(NamedTuple):
    """How a set of human-rated candidates becomes groups: rows, group key, candidate text, score, input,
    and the candidates drawn per group unless ``--n`` says otherwise."""

    read: Callable[[Path], list[dict]]
    key: str
    text: str
    score: Callable[[dict], float]
    prompt: Callable[[dict], str]
    n: int


RATED = {
    "summeval": RatedSet(read_jsonl, "article_id", "summary",
                         lambda r: sum(r[d] for d in SUMMEVAL_DIMENSIONS) / len(SUMMEVAL_DIMENSIONS),
                         lambda r: f"Summarise this news article in a few sentences.\n\n{r['article']}", 4),
    "hanna": RatedSet(read_jsonl, "prompt_id", "story",
                      lambda r: sum(r[c] for c in HANNA_CRITERIA) / len(HANNA_CRITERIA),
                      lambda r: f"Write a short story for this writing prompt: {r['prompt']}", 4),
    "openmeva": RatedSet(read_jsonl, "doc_id", "story", lambda r: r["human"],
                         lambda r: f"Continue this story in four more sentences: {r['prompt']}", 5),
    "topical": RatedSet(lambda path: json.loads(path.read_text(encoding="utf-8")), "source", "system_output",
                        lambda r: r["scores"]["overall"], topical_prompt, 6),
}


def load(name: str, path: Path, n: int, seed: int) -> tuple[list[dict], int]:
    """The groups of set ``name`` and the number of draws left out for a tie."""
    if name in PAIRWISE_PRESET:
        return pairwise_groups(load_items(path, task="compare", preset=PAIRWISE_PRESET[name]).items), 0
    rated = RATED[name]
    return rated_groups(rated.read(path), rated.key, rated.text, rated.score, rated.prompt, n, seed)


def prompt_words(group: dict) -> int:
    """Words in the group's longest pairwise prompt: the input and its two longest candidates."""
    lengths = sorted((len(c.split()) for c in group["candidates"]), reverse=True)
    return len(group["input"].split()) + sum(lengths[:2])


def longest(group: dict) -> int:
    return max(range(len(group["candidates"])), key=lambda k: len(group["candidates"][k]))


def paired(diffs: list[float]) -> dict:
    """The mean of the per-group differences with a 95% percentile bootstrap interval over groups."""
    return bootstrap(np.mean, np.array(diffs, dtype=float)).model_dump()


def show(estimate: dict) -> str:
    return f"{estimate['value']:+.3f} [{estimate['low']:+.3f}, {estimate['high']:+.3f}]"


def discordant(hits: list[float], longest_hits: list[float]) -> dict:
    """The groups only the judge got right and only "longest" got right, with McNemar's exact p (two-sided)."""
    judge_only = sum(1 for h, b in zip(hits, longest_hits, strict=True) if h and not b)
    longest_only = sum(1 for h, b in zip(hits, longest_hits, strict=True) if b and not h)
    n = judge_only + longest_only
    return {"judge_only": judge_only, "longest_only": longest_only,
            "mcnemar_p": binomtest(judge_only, n).pvalue if n else 1.0}


def summarise(rows: list[dict]) -> dict:
    """One method's result rows ({n, best, longest, winner}): pick rate and its paired differences."""
    hits = [float(row["winner"] == row["best"]) for row in rows]
    longest_hits = [float(row["longest"] == row["best"]) for row in rows]
    return {"pick_rate": wilson_interval(int(sum(hits)), len(rows)).model_dump(),
            "minus_longest": paired([h - b for h, b in zip(hits, longest_hits, strict=True)]),
            "minus_random": paired([h - 1 / row["n"] for h, row in zip(hits, rows, strict=True)]),
            "versus_longest": discordant(hits, longest_hits)}


def print_differences(summary: dict) -> None:
    split = summary["versus_longest"]
    print(f"{'':28s} minus longest {show(summary['minus_longest'])}, minus random {show(summary['minus_random'])} "
          f"(paired, bootstrap)")
    print(f"{'':28s} right where longest was wrong {split['judge_only']}, the reverse {split['longest_only']} "
          f"(McNemar exact p {split['mcnemar_p']:.3f})", flush=True)


def pool(reports: list[dict]) -> dict:
    """Every group of ``reports`` (result files of one judge) together: pick rate and paired differences."""
    judges = {r["judge"] for r in reports}
    if len(judges) != 1:
        sys.exit(f"--pool: the files are of different judges ({', '.join(sorted(judges))}); pool one judge's")
    methods = [m for m in reports[0]["methods"] if all(m in r["methods"] for r in reports)]
    if not methods:
        sys.exit("--pool: no method is in every file")
    pooled: dict[str, Any] = {"sets": [r["set"] for r in reports], "judge": judges.pop(), "methods": {}}
    for method in methods:
        rows = [row for r in reports for row in r["methods"][method]["rows"]]
        pooled["n"] = len(rows)
        pooled["random"] = float(np.mean([1 / row["n"] for row in rows]))
        pooled["longest"] = wilson_interval(sum(row["longest"] == row["best"] for row in rows), len(rows)).model_dump()
        pooled["methods"][method] = {**summarise(rows),
                                     "judgments": sum(r["methods"][method]["judgments"] for r in reports)}
    return pooled


def print_pooled(pooled: dict) -> None:
    print(f"{' + '.join(pooled['sets'])}: {pooled['n']} groups, judge {pooled['judge']}")
    print(f"{'random pick (expected)':28s} {pooled['random']:.3f}")
    print(f"{'longest answer':28s} {pooled['longest']['value']:.3f} "
          f"[{pooled['longest']['low']:.3f}, {pooled['longest']['high']:.3f}]")
    for method, m in pooled["methods"].items():
        print(f"{'jurist ' + method:28s} {Estimate.model_validate(m['pick_rate'])}")
        print_differences(m)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", dest="set_name", choices=sorted(DATA), default="mtbench")
    parser.add_argument("--data", type=Path, default=None, help="the set's file (default: ../shared/datasets/...)")
    defaults = ", ".join(f"{name} {rated.n}" for name, rated in RATED.items())
    parser.add_argument("--n", type=int, default=None, help=f"rated sets: candidates drawn per group ({defaults})")
    parser.add_argument("--seed", type=int, default=0, help="rated sets: the draw's seed")
    parser.add_argument("--max-words", type=int, default=None,
                        help="leave out groups whose input and two longest candidates have more words")
    parser.add_argument("--judge", default="local")
    parser.add_argument("--methods", default="pointwise,knockout", help="comma-separated: " + ", ".join(TASK_OF))
    parser.add_argument("--limit", type=int, default=None, help="the first N groups")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--store", default=None, help="keep the completions (a rerun then costs no model call)")
    parser.add_argument("--verbose", action="store_true", help="one line per group as it is chosen")
    parser.add_argument("--pool", type=Path, nargs="+", default=None, metavar="RESULT_JSON",
                        help="no model: these result files' groups together (one judge, several sets)")
    args = parser.parse_args()
    if args.pool:
        missing = [str(p) for p in args.pool if not p.is_file()]
        if missing:
            sys.exit(f"--pool: not found: {', '.join(missing)}")
        pooled = pool([json.loads(p.read_text()) for p in args.pool])
        print_pooled(pooled)
        if args.json:
            args.json.write_text(json.dumps(pooled, indent=2))
        return
    path = args.data or DATA[args.set_name]
    if args.limit is not None and args.limit < 1:
        sys.exit("--limit: give at least 1")
    if not path.is_file():
        sys.exit(f"{path} not found: give --data (a copy of the {args.set_name} file)")
    if args.n is None and args.set_name in RATED:
        args.n = RATED[args.set_name].n
    if args.n is not None and args.n < 2:
        sys.exit("--n: give at least 2 candidates per group")
    data, tied = load(args.set_name, path, args.n or 0, args.seed)
    cap = args.max_words or sys.maxsize
    too_long = sum(prompt_words(g) > cap for g in data)
    data = [g for g in data if prompt_words(g) <= cap][: args.limit]
    if not data:
        sys.exit(f"{args.set_name}: no group to judge ({tied} draws with a shared maximum, {too_long} over "
                 f"--max-words; a rated set's groups need at least --n candidates)")
    sizes = Counter(len(g["candidates"]) for g in data)
    n = len(data)
    left_out = f"{tied} tied" + (f", {too_long} over {args.max_words} words" if args.max_words else "")
    print(f"{args.set_name}: {n} groups with one human-preferred answer (left out: {left_out}); candidates per group: "
          f"{', '.join(f'N={k}: {v}' for k, v in sorted(sizes.items()))}")
    random_hits = [1 / len(g["candidates"]) for g in data]
    longest_hits = [float(longest(g) == g["best"]) for g in data]
    random_rate = sum(random_hits) / n
    report = {"set": args.set_name, "n": n, "n_per_group": args.n, "seed": args.seed, "tied": tied,
              "too_long": too_long, "max_words": args.max_words, "judge": args.judge, "random": random_rate,
              "longest": wilson_interval(int(sum(longest_hits)), n).model_dump(), "methods": {}}
    print(f"{'random pick (expected)':28s} {random_rate:.3f}", flush=True)
    print(f"{'longest answer':28s} {wilson_interval(int(sum(longest_hits)), n)}", flush=True)
    backend = None
    for method in args.methods.split(","):
        plan = Plan.parse({"task": TASK_OF[method], "judge": {"spec": args.judge}})
        online = OnlineJudge(plan, store=args.store, backends={args.judge: backend} if backend is not None else None)
        backend = getattr(online.judge, "backend", None)  # one model for every method
        selector = Selector(online, method)  # type: ignore[arg-type]
        judgments = calls = failed = 0
        started = time.monotonic()
        rows, hits = [], []
        for group in data:
            chosen = selector.choose(group["input"], group["candidates"])
            hits.append(float(chosen.winner == group["best"]))
            failed += chosen.status == "failed"
            judgments += chosen.judgments
            calls += chosen.model_calls
            rows.append({"id": group["id"], "n": len(group["candidates"]), "best": group["best"],
                         "longest": longest(group), "winner": chosen.winner, "sure": chosen.sure,
                         "margin": chosen.margin, "status": chosen.status})
            if args.verbose:
                print(f"  {group['id']} N={len(group['candidates'])} best {group['best']} chose {chosen.winner} "
                      f"({chosen.status}; so far {int(sum(hits))}/{len(rows)})", flush=True)
        wall = time.monotonic() - started
        summary = summarise(rows)
        print(f"{'jurist ' + method:28s} {Estimate.model_validate(summary['pick_rate'])}  judgments {judgments}, "
              f"model calls {calls}, failed {failed}, {wall:.0f} s")
        print_differences(summary)
        report["methods"][method] = {**summary, "judgments": judgments, "model_calls": calls,
                                     "failed": failed, "wall_s": wall, "rows": rows}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
