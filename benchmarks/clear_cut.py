"""Clear-cut pairs for the embedded judge: off-topic answers and plausible wrong facts, both orders averaged.

    flock /tmp/jurist-model.lock .venv/bin/python benchmarks/clear_cut.py --json benchmarks/results/clear_cut_local.json
                                                                              # ~1 min on 2 cores (0.5B)
    flock /tmp/jurist-model.lock .venv/bin/python benchmarks/clear_cut.py --judge local:1.5b

Ten pairs, each a question with a right answer and a wrong one: the four off-topic pairs of
``tests/test_embedded.py`` (``CLEAR_CUT``: the right answer against an unrelated sentence) and six plausible
wrong facts written here (arithmetic, a calendar fact, a boiling point, an author). Each pair is judged by
``Judge(backend, PairwiseProtocol())`` (both orders, P(A) and P(B) read from the label distribution and averaged)
with the right answer as A. Printed per pair: P(first slot) in each order (right answer first, then wrong answer
first; the position prior shows as both above 0.5) and the margin, P(right) - 0.5 of the averaged verdict:
positive means the judge picked the right answer. No data outside the repository.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

from jurist import Item, Judge, PairwiseProtocol  # noqa: E402
from jurist.backends import resolve_backend  # noqa: E402
from tests.test_embedded import CLEAR_CUT  # noqa: E402

WRONG_FACTS = [
    ("What is 17 + 25?", "17 + 25 = 42.", "17 + 25 = 52."),
    ("What is 100 - 37?", "100 - 37 = 63.", "100 - 37 = 73."),
    ("What is 9 x 7?", "9 x 7 = 63.", "9 x 7 = 56."),
    ("How many days are in a week?", "There are 7 days in a week.", "There are 10 days in a week."),
    ("At what temperature does water boil at sea level?", "Water boils at 100 °C at sea level.",
     "Water boils at 15 °C at sea level."),
    ("Who wrote Romeo and Juliet?", "William Shakespeare wrote Romeo and Juliet.",
     "Charles Dickens wrote Romeo and Juliet."),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--judge", default="local")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    judge = Judge(resolve_backend(args.judge), PairwiseProtocol())
    rows = []
    for kind, pairs in (("off-topic", CLEAR_CUT), ("wrong fact", WRONG_FACTS)):
        for question, right, wrong in pairs:
            verdict = asyncio.run(judge.ajudge(Item(id=question, input=question, candidates=[right, wrong])))
            first, second = verdict.parts
            # Each part is mapped back to the item's labels: in the second order the wrong answer (B) is shown first.
            rows.append({"kind": kind, "question": question, "margin": verdict.p_a - 0.5,
                         "p_first_slot": [first.p_a, second.p_b]})
            print(f"{kind:10s}  {question[:52]:52s}  P(first slot) {first.p_a:.3f} / {second.p_b:.3f}  "
                  f"margin {verdict.p_a - 0.5:+.4f}", flush=True)
    for kind in ("off-topic", "wrong fact"):
        margins = [r["margin"] for r in rows if r["kind"] == kind]
        print(f"{kind}: right answer wins {sum(m > 0 for m in margins)} of {len(margins)}; margins from "
              f"{min(margins):+.4f} to {max(margins):+.4f}")
    if args.json:
        args.json.write_text(json.dumps({"judge": args.judge, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
