"""How much probability the embedded judge puts on valid labels: the measurement behind ``MIN_LABEL_MASS``.

    .venv/bin/python benchmarks/label_mass.py [--limit N] [--model 0.5b] [--json OUT]

For each of four data sets and protocols (pairwise on MT-Bench human pairs, pairwise with ties
on PandaLM, pointwise 1-5 on the SummEval sample, reference yes/no on the MT-Bench reference
sample), the first ``--limit`` items are rendered in every view the protocol's default strategy
runs (both orders of a pair), sent to ``EmbeddedBackend`` and read with
``jurist.protocols.base.label_probabilities``: the label mass is the probability the model put
on any valid label before renormalising. Prints the quantiles of the mass per set and overall,
and how many views fall below candidate thresholds; ``--json OUT`` keeps every value and the
top tokens of the lowest ones. Several sets, not one, so a threshold is not tuned to one.
Needs ``/work/shared/datasets`` (or any copy of it next to the repository as ``../shared``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from jurist.backends.embedded import EmbeddedBackend
from jurist.io import load_items
from jurist.protocols.base import Protocol, label_probabilities
from jurist.protocols.pairwise import PairwiseProtocol
from jurist.protocols.pointwise import PointwiseProtocol
from jurist.protocols.reference import ReferenceProtocol

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
THRESHOLDS = (0.01, 0.05, 0.1, 0.2, 0.5)


def sets(limit: int) -> list[tuple[str, Protocol, list[Any], tuple[int, ...]]]:
    """(name, protocol, items, views) for each measured set."""
    def items(path: Path, **options: Any) -> list[Any]:
        result = load_items(path, limit=limit, **options)
        if not result.items:
            raise SystemExit(f"{path}: no items ({len(result.errors)} errors)")
        return result.items

    return [
        ("mt_bench pairwise", PairwiseProtocol(),
         items(SHARED / "mt_bench" / "human_pairwise_nontie_200_llmbar.json", preset="llmbar"), (0, 1)),
        ("pandalm pairwise+tie", PairwiseProtocol(allow_tie=True),
         items(SHARED / "pandalm" / "testset-v1.json", preset="pandalm"), (0, 1)),
        ("summeval pointwise 1-5", PointwiseProtocol(scale="1-5"),
         items(ROOT / "examples" / "data" / "summeval_sample.jsonl", task="score"), (0,)),
        ("mt_bench reference yes/no", ReferenceProtocol(),
         items(ROOT / "examples" / "data" / "reference_correctness.jsonl", task="score"), (0,)),
    ]


async def measure(backend: EmbeddedBackend, protocol: Protocol, items: list[Any],
                  views: tuple[int, ...]) -> list[dict[str, Any]]:
    rows = []
    for item in items:
        for view in views:
            request = protocol.render(item, view)
            completion = await backend.complete(request)
            read = label_probabilities(completion, request.labels)
            mass = read[1] if read is not None else None
            rows.append({"id": item.id, "view": view, "mass": mass, "text": completion.text,
                         "top": completion.top_logprobs[0] if completion.top_logprobs else None})
        print(f"  {item.id}: {[round(r['mass'], 3) for r in rows[-len(views):] if r['mass'] is not None]}",
              file=sys.stderr, flush=True)
    return rows


def summary(masses: list[float]) -> dict[str, Any]:
    values = np.array(masses)
    return {"n": len(values),
            "quantiles": {q: float(np.quantile(values, q)) for q in (0.0, 0.01, 0.05, 0.1, 0.5)},
            "below": {t: int((values < t).sum()) for t in THRESHOLDS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--model", default="0.5b")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    backend = EmbeddedBackend(args.model)
    report: dict[str, Any] = {"model": backend.spec, "limit": args.limit, "sets": {}}
    everything: list[float] = []
    for name, protocol, items, views in sets(args.limit):
        print(name, file=sys.stderr, flush=True)
        rows = asyncio.run(measure(backend, protocol, items, views))
        masses = [r["mass"] for r in rows if r["mass"] is not None]
        everything += masses
        report["sets"][name] = {"summary": summary(masses), "rows": rows}
    report["overall"] = summary(everything)
    for name, entry in [*((n, s["summary"]) for n, s in report["sets"].items()), ("overall", report["overall"])]:
        q = entry["quantiles"]
        print(f"{name:28s} n={entry['n']:4d}  min={q[0.0]:.3f}  p1={q[0.01]:.3f}  p5={q[0.05]:.3f}  "
              f"p10={q[0.1]:.3f}  median={q[0.5]:.3f}  below " +
              "  ".join(f"{t:g}:{c}" for t, c in entry["below"].items()))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
