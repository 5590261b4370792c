"""The cost of an audit: judgments (model requests) per item per probe, counted, not timed.

Each probe runs alone on N pairs with a scripted judge (no model), with a fresh store, under the baseline
and under each mitigation; the script counts the requests the backend received and divides by N. The last
row is a whole audit (every probe at once): the original items are judged once and shared by the probes,
so it costs less than the sum of the rows. A re-run of the same audit with the same store costs 0.

    PYTHONPATH=src .venv/bin/python benchmarks/audit_cost.py [--items 12]
"""

from __future__ import annotations

import argparse
import sys

from jurist.audits import MITIGATIONS, PROBES, audit
from jurist.backends.scripted import ScriptedBackend
from jurist.engine import Store
from jurist.testing import hashed_judge
from jurist.types import Item


def pairs(n: int) -> list[Item]:
    return [Item(id=f"q{i}", input=f"Question {i}?", label="A", metadata={"model_a": "qwen", "model_b": "gpt"},
                 reference=f"Answer {i}.", candidates=[f"Answer {i}. It is right.", f"Maybe {i}. Not sure."])
            for i in range(n)]


def requests(probes: list[str], mitigation: str | None, n: int) -> float:
    """Requests per item of one configuration alone (the baseline's share subtracted for a mitigation)."""
    judge, other = ScriptedBackend(hashed_judge, spec="judge"), ScriptedBackend(hashed_judge, spec="other")
    store = Store(":memory:")
    audit(pairs(n), judge=judge, probes=probes, mitigations=[], family="qwen", store=store)
    baseline = len(judge.calls)
    if mitigation is None:
        return baseline / n
    audit(pairs(n), judge=judge, probes=probes, mitigations=[mitigation], family="qwen", store=store,
          jury_with=[other])
    return (len(judge.calls) + len(other.calls) - baseline) / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=12)
    args = parser.parse_args(argv)
    n = args.items
    print(f"judgments per item ({n} pairs, scripted judge; a mitigation's column: what it adds to the baseline,")
    print("after the store answered what it shares with the baseline)\n")
    print("| probe | baseline | " + " | ".join(MITIGATIONS) + " |")
    print("|---" * (2 + len(MITIGATIONS)) + "|")
    rows = [[name] for name in PROBES] + [["all probes"]]
    for row in rows:
        probes = list(PROBES) if row[0] == "all probes" else [row[0]]
        cells = [requests(probes, None, n)] + [requests(probes, m, n) for m in MITIGATIONS]
        print(f"| {row[0]} | " + " | ".join(f"{c:g}" for c in cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
