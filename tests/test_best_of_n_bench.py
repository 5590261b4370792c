"""The grouping of benchmarks/best_of_n.py on rated sets: the best is the unique maximum, tied draws are
left out, and the seeded draw is deterministic (no model)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

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


def test_openmeva_groups_every_continuation_of_an_opening(tmp_path):
    models = ("fusion", "s2s", "gpt", "gpt_kg", "plan_write")
    rows = [{"doc_id": doc, "prompt": f"[MALE] opening {doc} .", "reference": "ref", "model": m,
             "story": f"{doc} by {m} .", "human": human}
            for doc, scores in (("7", (2.2, 1.0, 3.4, 3.0, 1.8)), ("9", (3.0, 3.0, 1.0, 2.0, 1.2)))
            for m, human in zip(models, scores, strict=True)]
    path = tmp_path / "openmeva.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    b = bench()
    groups, tied = b.load("openmeva", path, b.RATED["openmeva"].n, 0)
    assert tied == 1 and len(groups) == 1  # doc 9: fusion and s2s share the top rating
    group = groups[0]
    assert group["id"] == "7" and group["input"] == "Continue this story in four more sentences: [MALE] opening 7 ."
    assert sorted(group["candidates"]) == sorted(f"7 by {m} ." for m in models)
    assert group["candidates"][group["best"]] == "7 by gpt ."


def test_topical_chat_groups_the_responses_of_a_dialogue(tmp_path):
    dialogue = "hi , do you like football ? \n i do , the raiders mostly . \n\n"
    rows = [{"source": dialogue, "context": "mack had a sack .", "system_id": f"system {k}",
             "system_output": f"reply {k}", "scores": {"overall": overall}}
            for k, overall in enumerate((2.0, 4.33, 3.0, 1.0, 4.0, 2.67))]
    path = tmp_path / "topical.json"
    path.write_text(json.dumps(rows))
    b = bench()
    groups, tied = b.load("topical", path, b.RATED["topical"].n, 0)
    assert tied == 0 and len(groups) == 1
    group = groups[0]
    assert sorted(group["candidates"]) == [f"reply {k}" for k in range(6)]
    assert group["candidates"][group["best"]] == "reply 1"
    assert group["input"].endswith("one turn a line:\nhi , do you like football ?\ni do , the raiders mostly .")
    assert "A fact you may use: mack had a sack ." in group["input"]


def _report(set_name: str, judge: str, rows: list[tuple[int, int, int, int]]) -> dict:
    """A result file of ``best_of_n.py``: rows of (N, best, longest, winner)."""
    return {"set": set_name, "judge": judge, "methods": {"round_robin": {"judgments": 3 * len(rows), "rows": [
        {"n": n, "best": best, "longest": long, "winner": winner} for n, best, long, winner in rows]}}}


def test_pooling_counts_every_group_of_every_set_once():
    b = bench()
    mt = _report("mtbench", "local", [(2, 0, 0, 0), (4, 1, 2, 1)])  # judge 2/2, longest 1/2
    pandalm = _report("pandalm", "local", [(5, 3, 3, 0)])  # judge 0/1, longest 1/1
    pooled = b.pool([mt, pandalm])
    rr = pooled["methods"]["round_robin"]
    assert pooled["n"] == 3 and pooled["sets"] == ["mtbench", "pandalm"]
    assert rr["pick_rate"]["value"] == 2 / 3 and pooled["longest"]["value"] == 2 / 3
    assert abs(rr["minus_longest"]["value"] - 0.0) < 1e-12  # (0 + 1 - 1) / 3
    assert abs(rr["minus_random"]["value"] - ((1 - 1 / 2) + (1 - 1 / 4) + (0 - 1 / 5)) / 3) < 1e-12
    assert abs(pooled["random"] - (1 / 2 + 1 / 4 + 1 / 5) / 3) < 1e-12
    assert rr["judgments"] == 9
    assert rr["versus_longest"]["judge_only"] == 1 and rr["versus_longest"]["longest_only"] == 1
    assert rr["versus_longest"]["mcnemar_p"] == 1.0


def test_pooling_refuses_two_judges():
    b = bench()
    with pytest.raises(SystemExit, match="different judges"):
        b.pool([_report("mtbench", "local", [(2, 0, 0, 0)]), _report("pandalm", "local:1.5b", [(2, 0, 0, 0)])])
