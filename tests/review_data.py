"""Stores for the report and review-app tests, built by running jurist with scripted judges (no model).

``cascade_store`` runs a two-judge cascade ending in ``human`` over pairs whose texts say how sure each
judge is, so a known set of items lands in the review queue; ``judge_runs`` runs two pairwise judges
over the same labelled items (for side-by-side reports and leaderboards), after an audit of one of them.
"""

from __future__ import annotations

import re
from pathlib import Path

from jurist.backends import ScriptedBackend
from jurist.engine import EngineConfig, Store
from jurist.protocols import PairwiseProtocol
from jurist.strategies.cascade import CascadeSpec, Stage, run_cascade
from jurist.types import Item

QUESTIONS = ["Name a prime number greater than 10.", "What is the capital of Australia?",
             "Give a synonym of 'quick'.", "How many legs does a spider have?", "Translate 'merci' into English.",
             "What gas do plants absorb?", "Spell 'necessary' backwards.", "What is 7 times 8?"]
GOOD = ["13 is prime.", "Canberra.", "Fast.", "Eight.", "Thank you.", "Carbon dioxide.", "yrassecen", "56"]
BAD = ["12 is prime.", "Sydney.", "Slow.", "Six.", "Please.", "Oxygen.", "necessary", "54"]


def _sure(request, judge: int) -> dict[str, float]:
    """The first candidate shown is right; judge ``judge`` is sure on items marked ``[sure:judge]``."""
    text = "\n".join(m.text for m in request.messages)
    sure = re.search(r"\[sure:(\d)\]", text)
    p = 0.97 if sure and int(sure.group(1)) <= judge else 0.6
    first_good = text.find("(good)") < text.find("(bad)") if "(bad)" in text else True
    return {"A": p, "B": 1 - p} if first_good else {"A": 1 - p, "B": p}


def _position_biased(request) -> dict[str, float]:
    """Leans to the first response shown, and on two topics to the wrong one: its orders often disagree."""
    text = "\n".join(m.text for m in request.messages)
    first_good = text.find("(good)") < text.find("(bad)")
    misled = "Australia" in text or "spider" in text
    p = (0.75 if first_good else 0.55) if not misled else (0.55 if first_good else 0.8)
    return {"A": p, "B": 1 - p}


def pair_items(n: int = 8, sure: list[int] | None = None) -> list[Item]:
    """Pairs with the right answer first in even items, second in odd ones; labels say which is right."""
    sure = sure or [1] * n
    items = []
    for i in range(n):
        q, good, bad = QUESTIONS[i % len(QUESTIONS)], GOOD[i % len(GOOD)] + " (good)", BAD[i % len(BAD)] + " (bad)"
        tag = f" [sure:{sure[i]}]" if sure[i] else ""
        a, b, label = (good, bad, "A") if i % 2 == 0 else (bad, good, "B")
        items.append(Item(id=f"q{i}", input=q + tag, candidates=[a, b], label=label,
                          metadata={"model_a": "good-model" if i % 2 == 0 else "weak-model",
                                    "model_b": "weak-model" if i % 2 == 0 else "good-model"}))
    return items


def cascade_store(path: Path, n: int = 8) -> tuple[Store, str]:
    """A store whose cascade run sent the last ``n - 3`` of ``n`` items to the human review queue."""
    store = Store(path)
    backends = {"j1": ScriptedBackend(lambda r: _sure(r, 1), spec="j1"),
                "j2": ScriptedBackend(lambda r: _sure(r, 2), spec="j2")}
    spec = CascadeSpec(task="compare", target=0.9, risk=0.1,
                       stages=[Stage(judge="j1", threshold=0.9), Stage(judge="j2", threshold=0.9),
                               Stage(judge="human")])
    items = pair_items(n, sure=[1, 1, 2] + [0] * (n - 3))
    result = run_cascade(spec, items, protocol=PairwiseProtocol(), store=store, name="cascade",
                         config=EngineConfig(concurrency=2, progress=False), backends=backends)
    return store, result.run.id


def judge_runs(path: Path, n: int = 16, audit: bool = False) -> tuple[Store, list[str], dict[str, Item]]:
    """Pairwise judges over the same ``n`` labelled pairs between two models: a sharp one, one that leans to
    the first response shown (so its two orders disagree) and is misled on two topics, and the two as a jury.
    With ``audit``, the biased judge is first audited (``jurist.audit``) into the store, so its runs have a card."""
    from jurist.api import compare
    from jurist.audits import audit as run_audit

    store = Store(path)
    items = pair_items(n, sure=[1] * n)
    sharp = ScriptedBackend(lambda r: _sure(r, 1), spec="sharp")
    biased = ScriptedBackend(_position_biased, spec="biased")
    if audit:
        run_audit(items, judge=biased, probes=["position", "verbosity", "authority", "injection"],
                  mitigations=["swap", "hardened"], store=store)
    ids = [compare(items, judge=sharp, store=store, name="sharp", progress=False).run.id,
           compare(items, judge=biased, store=store, name="biased", progress=False).run.id,
           compare(items, jury=[sharp, biased], store=store, name="jury", progress=False).run.id]
    return store, ids, {item.id: item for item in items}
