"""Build examples/data/reference_correctness.jsonl from FastChat's MT-Bench questions and GPT-4 references.

Usage: python examples/data/make_reference_sample.py /path/to/datasets/mt_bench
(the directory holding question.jsonl and reference_answer_gpt-4.jsonl). See README.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# question_id -> (a short correct answer in other words, a short wrong answer), written by hand.
# Left out: 104, 111 and 114, whose GPT-4 references are wrong (David has no brother; the triangle's
# area is 3; P(total >= 3) = 35/36), and the questions without one short final answer.
ANSWERS = {
    101: ("You are now in second place, and the person you overtook is third.", "You are now in first place."),
    107: ("A is C's grandfather.", "A is C's uncle."),
    112: ("The total investment over the two years is $12,000.",
          "The total investment over the two years is $16,000."),
    113: ("The probability is 0.19 (19%).", "The probability is 0.81 (81%)."),
    115: ("38 people got on the bus at the terminal.", "50 people got on the bus at the terminal."),
    116: ("x - y = 0.", "x - y = 2z."),
    117: ("There are 19 integers.", "There are 20 integers."),
    118: ("The remainder is 0.", "The remainder is 2."),
    119: ("The total cost was $280.", "The total cost was $300."),
    120: ("f(2) = 0.", "f(2) = 14."),
}


def main(source: Path, target: Path) -> None:
    questions = {q["question_id"]: q for q in map(json.loads, (source / "question.jsonl").open())}
    references = {r["question_id"]: r["choices"][0]["turns"][0]
                  for r in map(json.loads, (source / "reference_answer_gpt-4.jsonl").open())}
    rows = []
    for qid, (paraphrase, wrong) in ANSWERS.items():
        question, reference = questions[qid], references[qid]
        base = {"input": question["turns"][0], "reference": reference}
        meta = {"question_id": qid, "category": question["category"]}
        for kind, response, label in (("reference", reference, 1), ("short", paraphrase, 1), ("wrong", wrong, 0)):
            rows.append({"id": f"q{qid}-{kind}", **base, "response": response, "label": label,
                         "metadata": {**meta, "response_kind": kind}})
    with target.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} items -> {target}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).with_name("reference_correctness.jsonl"))
