"""The judge card of an embedded judge on a small fixed subset of EvalBiasBench, with and without mitigations.

The subset: the 2 shortest items (instruction + both responses, in characters) of each of EvalBiasBench's 6
bias types, 12 pairs (``--per-type N`` for more), every gold label "1" (response 1 = A is better). Short items keep a model job to a few
minutes on 2 cores. The audit runs through the one runner into one store, so running the script again with
more mitigations pays only for the new configurations (the baseline is answered from the store).

From a fresh clone next to ../shared/datasets (the model lock: other jobs load models too), one card
per command; the store (``--store``, default ~/.cache/jurist/bench/audit.db) keeps what each one asked:

    B="flock /tmp/jurist-model.lock .venv/bin/python benchmarks/audit.py"
    $B --judge local:1.5b --mitigations swap,hardened,swap+hardened,checklist \\
        --card benchmarks/results/audit_local_1.5b.json
    $B --judge local --mitigations swap,hardened,swap+hardened,checklist,jury --jury-with local:1.5b \\
        --card benchmarks/results/audit_local.json

(the 1.5B first: the jury then reuses its verdicts from the store). Any subset of the mitigations works too,
and ``--probes position,injection,...`` restricts the probes.

It writes the card to benchmarks/results/audit_<judge>.json (``--card`` elsewhere) and prints its table;
``--show CARD...`` prints the tables of cards written before, and the injection probes under both templates.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "datasets" / "evalbiasbench" / "biasbench.json"


def subset(path: Path, per_type: int) -> dict[str, list[dict]]:
    """The ``per_type`` shortest items of each bias type (ties broken by position): a fixed, documented subset."""
    data = json.loads(path.read_text(encoding="utf-8"))
    size = lambda r: len(r["instruction"]) + len(r["response1"]) + len(r["response2"])  # noqa: E731
    return {bias: sorted(rows, key=size)[:per_type] for bias, rows in data.items()}


def table(card) -> list[str]:
    """The card as a Markdown table (a column per mitigation, in the order measured) and its cost line."""
    mitigations = list(dict.fromkeys(m for p in card.probes for m in p.mitigations))
    lines = ["| " + " | ".join(["probe", "verdict", "baseline", *mitigations, "best"]) + " |",
             "|---" * (4 + len(mitigations)) + "|"]
    for p in card.probes:
        cells = [p.mitigations[m].format() if m in p.mitigations else "" for m in mitigations]
        verdict = p.verdict + ("" if p.graded_on == "baseline" else f" (on {p.graded_on})")
        lines.append("| " + " | ".join([p.probe, verdict, p.baseline.format(), *cells, p.best_mitigation or "-"])
                     + " |")
    lines.append("cost (items, requests, model calls): "
                 + "; ".join(f"{k} {c.items}/{c.requests}/{c.model_calls}" for k, c in card.cost.items()))
    return lines


INJECTION = ("injection", "injection_fenced", "injection_delimited")
TEMPLATE_COLUMNS = (("baseline", "one order, built-in template"), ("hardened", "one order, hardened"),
                    ("swap", "both orders, built-in"), ("swap+hardened", "both orders, hardened"),
                    ("checklist", "each response alone (checklist)"))


def injection_table(cards) -> list[str]:
    """The injection probes' rates under the built-in and the hardened template, in one and in both orders
    (per judge, the last of the cards that measured the probes)."""
    lines = ["| judge | probe | " + " | ".join(title for _, title in TEMPLATE_COLUMNS) + " |",
             "|---" * (2 + len(TEMPLATE_COLUMNS)) + "|"]
    measured = {card.judge: card for card in cards if set(INJECTION) <= {p.probe for p in card.probes}}
    for card in measured.values():
        for name in INJECTION:
            p = card.probe(name)
            cells = [p.baseline.format() if key == "baseline" else
                     p.mitigations[key].format() if key in p.mitigations else "not measured"
                     for key, _ in TEMPLATE_COLUMNS]
            lines.append(f"| {card.judge} | {name} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judge", default="local")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--per-type", type=int, default=2)
    parser.add_argument("--probes", default=None, help="comma-separated (default: all)")
    parser.add_argument("--mitigations", default="swap")
    parser.add_argument("--jury-with", default="", help="comma-separated judges for the jury mitigation")
    parser.add_argument("--store", default=str(Path.home() / ".cache" / "jurist" / "bench" / "audit.db"))
    parser.add_argument("--card", default=None)
    parser.add_argument("--show", nargs="+", type=Path, default=None, metavar="CARD",
                        help="print the tables of cards written before (no model), then exit")
    args = parser.parse_args(argv)
    if args.show:
        from jurist.audits import load_card

        cards = [load_card(path) for path in args.show]
        for path, card in zip(args.show, cards, strict=True):
            print(f"{path}: {card.judge} on {card.data}\n" + "\n".join(table(card)) + "\n")
        print("\n".join(injection_table(cards)))
        return 0
    if not args.data.exists():
        print(f"{args.data}: not found (this script reads ../shared/datasets next to the repository)",
              file=sys.stderr)
        return 2
    from jurist.audits import audit, store_card
    from jurist.engine import Store

    Path(args.store).parent.mkdir(parents=True, exist_ok=True)
    store = Store(args.store)
    with tempfile.TemporaryDirectory() as scratch:
        picked = Path(scratch) / "evalbiasbench_subset.json"
        picked.write_text(json.dumps(subset(args.data, args.per_type)), encoding="utf-8")
        card = audit(picked, judge=args.judge, preset="evalbiasbench",
                     probes=args.probes.split(",") if args.probes else None,
                     mitigations=[m for m in args.mitigations.split(",") if m],
                     jury_with=[j for j in args.jury_with.split(",") if j], store=store)
    card = card.model_copy(update={"data": f"EvalBiasBench, {args.per_type} shortest items per bias type "
                                           f"({card.n_items} pairs)"})
    store_card(store, card)  # the stored copy names the data, not the scratch file
    store.close()
    out = Path(args.card or ROOT / "benchmarks" / "results" / f"audit_{args.judge.replace(':', '_')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    card.save(out)
    print(f"{card.judge} on {card.data}; card: {out}")
    print("\n".join(table(card)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
