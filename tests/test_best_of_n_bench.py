"""The grouping of benchmarks/best_of_n.py on rated sets: the best is the unique maximum, tied draws are
left out, and the seeded draw is deterministic (no model)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUMMEVAL = REPO / "tests" / "data" / "summeval.jsonl"  # article A57, 6 summaries; S4 and S5 tie at 4.333
DIMENSIONS = ("coherence", "consistency", "fluency", "relevance")


def bench():
    spec = importlib.util.spec_from_file_location("best_of_n_bench", REPO / "benchmarks" / "best_of_n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_best_is_the_unique_maximum_of_a_seeded_draw():
    b = bench()
    score = {json.loads(line)["summary"]: sum(json.loads(line)[d] for d in DIMENSIONS) / 4
             for line in SUMMEVAL.read_text().splitlines()}
    orders = set()
    for seed in range(10):
        groups, tied = b.load("summeval", SUMMEVAL, 4, seed)
        assert (groups, tied) == b.load("summeval", SUMMEVAL, 4, seed)  # the same seed draws the same
        assert len(groups) == 1 and tied == 0  # 4 of 6 always hold one of the three distinct leaders
        group = groups[0]
        assert group["id"] == "A57" and group["input"].startswith("Summarise this news article")
        assert len(set(group["candidates"])) == 4 and set(group["candidates"]) <= set(score)
        human = [score[c] for c in group["candidates"]]
        assert group["human"] == human
        assert all(human[group["best"]] > s for k, s in enumerate(human) if k != group["best"])
        orders.add(tuple(group["candidates"]))
    assert len(orders) > 1  # the seed matters


def test_a_draw_with_a_shared_maximum_is_left_out(tmp_path):
    rows = [{"prompt_id": "P0", "prompt": "a dragon", "story": f"story {k}",
             **dict.fromkeys(("relevance", "coherence", "empathy", "surprise", "engagement", "complexity"), s)}
            for k, s in enumerate([4.0, 4.0, 2.0])]  # P0: two stories share the top score
    rows += [{**row, "prompt_id": "P1", "story": f"other {k}", "relevance": 1.0 + k} for k, row in enumerate(rows)]
    path = tmp_path / "hanna.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    b = bench()
    for seed in range(5):
        groups, tied = b.load("hanna", path, 3, seed)  # every row drawn: only the order depends on the seed
        assert tied == 1 and [g["id"] for g in groups] == ["P1"]
        assert groups[0]["candidates"][groups[0]["best"]] == "other 1"  # relevance 2 > 1 breaks the tie
    assert b.load("hanna", path, 4, 0) == ([], 0)  # too few stories for a draw of 4
