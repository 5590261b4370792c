"""Rebuild the demo data in examples/data and the raw-format test copies in tests/data.

Usage: python examples/data/make_samples.py /work/shared/datasets

The datasets directory is the collection described in examples/data/README.md
(public files at pinned commits). This script is only needed to regenerate the
committed files; nothing else in the repository reads that directory.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "data"
TESTS = ROOT / "tests" / "data"

MT_BENCH_PAIRS = 40
MT_BENCH_MAX_CHARS = 2500  # len(input) + len(output_1) + len(output_2)


def _jsonl(path: Path) -> list[dict]:
    # split on "\n" only: str.splitlines() also splits on U+2028 etc. inside JSON strings
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def _write_json(path: Path, data: object, indent: int = 4) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=indent) + "\n", encoding="utf-8")


def mt_bench_pairs(src: Path) -> list[dict]:
    """40 short MT-Bench human pairs, stratified by label so A/B stays 20/20 (source: 101/99).

    Rule: keep records with len(input)+len(output_1)+len(output_2) < 2500 (132 of 200;
    65 label 1, 67 label 2); with rng = random.Random(0) draw rng.sample(label-1 records, 20)
    then rng.sample(label-2 records, 20); write them in source order.
    """
    data = json.loads((src / "mt_bench" / "human_pairwise_nontie_200_llmbar.json").read_text(encoding="utf-8"))
    short = [
        (n, r)
        for n, r in enumerate(data, start=1)
        if len(r["input"]) + len(r["output_1"]) + len(r["output_2"]) < MT_BENCH_MAX_CHARS
    ]
    rng = random.Random(0)
    picked: list[tuple[int, dict]] = []
    for label in (1, 2):
        stratum = [(n, r) for n, r in short if r["label"] == label]
        picked += rng.sample(stratum, MT_BENCH_PAIRS // 2)
    picked.sort(key=lambda nr: nr[0])
    return [
        {
            "id": f"mtb-{n:03d}",
            "input": r["input"],
            "response_a": r["output_1"],
            "response_b": r["output_2"],
            "label": {1: "A", 2: "B"}[r["label"]],
            "metadata": {
                "question_id": r["question_id"],
                "category": r["category"],
                "turn": r["turn"],
                "source_record": n,
            },
        }
        for n, r in picked
    ]


def summeval_sample(src: Path) -> list[dict]:
    """The 16 summaries of each of the 2 articles with the shortest article text (A57, A25)."""
    rows = _jsonl(src / "summeval" / "summeval_expert_avg.jsonl")
    length = {r["article_id"]: len(r["article"]) for r in rows}
    shortest = sorted(length, key=lambda a: (length[a], a))[:2]
    dims = ("coherence", "consistency", "fluency", "relevance")
    return [
        {
            "id": f"{r['article_id']}/{r['summary_id']}",
            "input": r["article"],
            "response": r["summary"],
            "label": r["coherence"],
            "metadata": {"article_id": r["article_id"], "summary_id": r["summary_id"], **{d: r[d] for d in dims}},
        }
        for a in shortest
        for r in rows
        if r["article_id"] == a
    ]


def test_copies(src: Path) -> None:
    """Small raw-format copies (original keys, values and file types), picked by index."""
    load = lambda rel: json.loads((src / rel).read_text(encoding="utf-8"))
    mtb = load("mt_bench/human_pairwise_nontie_200_llmbar.json")
    # six of the shortest records, labels 2, 1, 2, 2, 1, 1
    _write_json(TESTS / "llmbar_mt_bench.json", [mtb[i] for i in (12, 31, 42, 102, 139, 167)], indent=1)
    llmeval2 = load("llmeval2/llmeval2_nontie200_llmbar.json")
    # 169 has an empty output_2: an empty response must load.
    _write_json(TESTS / "llmbar_llmeval2.json", [llmeval2[i] for i in (0, 35, 107, 169, 173, 176)], indent=1)
    autoj = _jsonl(src / "autoj_pairwise" / "testdata_pairwise.jsonl")
    # labels 0, 0, 1, 1, 2, 2; 568 has an empty "response 2".
    _write_jsonl(TESTS / "autoj_pairwise.jsonl", [autoj[i] for i in (781, 786, 398, 780, 1058, 318, 568)])
    pandalm = load("pandalm/testset-v1.json")
    # votes 000, 111, 222, 001 (tie), 011 (A), 112 (A), 122 (B); 158 has a boolean response1;
    # 466 has a blank instruction.
    _write_json(TESTS / "pandalm_testset.json", [pandalm[i] for i in (140, 611, 614, 364, 90, 88, 261, 158, 466)])
    hhh = _jsonl(src / "hhh_alignment" / "hhh_alignment.jsonl")
    _write_jsonl(TESTS / "hhh_alignment.jsonl", [hhh[i] for i in (50, 55, 71, 172, 188)])
    bias = load("evalbiasbench/biasbench.json")
    _write_json(TESTS / "evalbiasbench.json", {k: v[:1] for k, v in bias.items()})
    summeval = _jsonl(src / "summeval" / "summeval_expert_avg.jsonl")
    _write_jsonl(TESTS / "summeval.jsonl", [r for r in summeval if r["article_id"] == "A57"][:6])
    topical = load("topical_chat/topical_chat_usr.json")
    _write_json(TESTS / "topical_chat.json", topical[84:90])


def main(argv: list[str]) -> None:
    src = Path(argv[1] if len(argv) > 1 else "/work/shared/datasets")
    _write_jsonl(EXAMPLES / "mt_bench_pairs.jsonl", mt_bench_pairs(src))
    _write_jsonl(EXAMPLES / "summeval_sample.jsonl", summeval_sample(src))
    test_copies(src)


if __name__ == "__main__":
    main(sys.argv)
