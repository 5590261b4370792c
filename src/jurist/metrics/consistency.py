"""Consistency of a judge with itself: order, transitivity, scores vs preferences.

None of these needs human labels: they measure whether the judge's verdicts
could all be true at once.

:func:`order_consistency`
    Share of pairwise verdicts (judged in both orders) whose two orders chose
    the same response, with a Wilson interval.
:func:`transitivity`
    Over full preference sets (a prompt with three or more candidates, every
    pair compared), the share of candidate triples whose three verdicts admit
    no ranking: a cycle ``x > y > z > x``, or with ties e.g. ``x = y, y = z,
    x > z``. A triple is consistent when some weak order of the three (ties
    allowed) reproduces all three verdicts. Intervals are a cluster bootstrap
    over prompts (triples of one prompt share verdicts).
:func:`score_pair_inconsistency`
    Pointwise scores that contradict the pairwise verdict on the same pair:
    the verdict prefers A but B scored higher (by more than ``tolerance``),
    or vice versa. Pairs whose scores are within ``tolerance`` of each other
    are counted separately (``score_ties``) and left out of the rate; a tie
    verdict with clearly different scores counts as a contradiction when
    ``tie_counts=True``.

Preferences are ``"A"`` (the first candidate of the pair is better), ``"B"``
or ``"tie"``. :func:`expand_pairs` turns items with three or more candidates into
every pair (with ``group``, ``model_a``, ``model_b`` in metadata) and
:func:`pair_preferences` reads the verdicts back as preferences.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from jurist.metrics.uncertainty import Estimate, bootstrap, wilson_interval
from jurist.types import Item, Judgment

__all__ = [
    "PairPreference",
    "expand_pairs",
    "ScorePairReport",
    "TransitivityReport",
    "order_consistency",
    "pair_preferences",
    "score_pair_inconsistency",
    "transitivity",
]

PairPreference = tuple[Hashable, Hashable, Hashable, str]
"""(group, candidate x, candidate y, preference): preference "A" means x is better than y."""

_SIGN = {"a": 1, "b": -1, "tie": 0}


def _sign(preference: Any) -> int | None:
    return _SIGN.get(str(preference).strip().lower()) if preference is not None else None


def order_consistency(judgments: Iterable[Judgment], confidence: float = 0.95) -> Estimate:
    """Share of scored pairwise verdicts whose two orders agree (``verdict.orders_agree``)."""
    agree = [j.verdict.orders_agree for j in judgments
             if j.verdict.ok and j.verdict.kind == "compare" and j.verdict.orders_agree is not None]
    return wilson_interval(sum(bool(a) for a in agree), len(agree), confidence)


# ---------------------------------------------------------------- transitivity


class TransitivityReport(BaseModel):
    """Triples of candidates within full preference sets and how many admit no ranking."""

    groups: int = 0
    groups_complete: int = 0
    triples: int = 0
    violations: int = 0
    cycles: int = 0
    rate: Estimate
    examples: list[list[Any]] = Field(default_factory=list)

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("preference sets (3+ candidates, all pairs)", f"{self.groups_complete} of {self.groups}"),
            ("candidate triples", str(self.triples)),
            ("intransitive triples", f"{self.violations} ({self.cycles} strict cycles)"),
            ("transitivity violation rate", str(self.rate)),
        ]


# the 13 weak orders of three items, as rank vectors (lower rank = better)
_WEAK_ORDERS = {r for r in itertools.product(range(3), repeat=3) if set(r) == set(range(max(r) + 1))}


def _consistent(s_xy: int, s_yz: int, s_xz: int) -> bool:
    """Whether some weak order of (x, y, z) gives these signs (+1: first better, 0: tie, -1: second better)."""
    for rx, ry, rz in _WEAK_ORDERS:
        if (np.sign(ry - rx), np.sign(rz - ry), np.sign(rz - rx)) == (s_xy, s_yz, s_xz):
            return True
    return False


def transitivity(
    preferences: Iterable[PairPreference],
    *,
    ci: bool = True,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
    max_examples: int = 5,
) -> TransitivityReport:
    """Intransitive triples among full preference sets.

    A group (prompt) enters when it has at least three candidates and a
    verdict for every pair of them; groups with missing pairs are counted in
    ``groups`` but not ``groups_complete``. A pair judged twice (e.g. both
    (x, y) and (y, x)) with conflicting verdicts makes its group incomplete:
    that is order inconsistency, measured by :func:`order_consistency`.
    """
    by_group: dict[Hashable, dict[tuple[Hashable, Hashable], int | None]] = {}
    members: dict[Hashable, dict[Hashable, None]] = {}
    for group, x, y, pref in preferences:
        s = _sign(pref)
        if x == y:
            continue
        key, s_oriented = ((x, y), s) if (str(x), repr(x)) <= (str(y), repr(y)) else ((y, x), None if s is None else -s)
        table = by_group.setdefault(group, {})
        members.setdefault(group, {}).update({x: None, y: None})
        if key in table and table[key] != s_oriented:
            table[key] = None  # conflicting verdicts on one pair
        else:
            table.setdefault(key, s_oriented)

    def sign(table: dict[tuple[Hashable, Hashable], int | None], a: Hashable, b: Hashable) -> int | None:
        if (a, b) in table:
            return table[(a, b)]
        s = table.get((b, a))
        return None if s is None else -s

    per_group_viol: list[int] = []
    per_group_triples: list[int] = []
    cycles = 0
    examples: list[list[Any]] = []
    complete = 0
    for group, table in by_group.items():
        cands = list(members[group])
        if len(cands) < 3:
            continue
        if any(sign(table, a, b) is None for a, b in itertools.combinations(cands, 2)):
            continue
        complete += 1
        v = t = 0
        for x, y, z in itertools.combinations(cands, 3):
            s_xy, s_yz, s_xz = sign(table, x, y), sign(table, y, z), sign(table, x, z)
            t += 1
            if not _consistent(s_xy, s_yz, s_xz):  # type: ignore[arg-type]
                v += 1
                cycles += int(s_xy == s_yz == -s_xz != 0)
                if len(examples) < max_examples:
                    examples.append([group, x, y, z, s_xy, s_yz, s_xz])
        per_group_viol.append(v)
        per_group_triples.append(t)
    viol = np.asarray(per_group_viol, dtype=float)
    trip = np.asarray(per_group_triples, dtype=float)

    def ratio(b_v: np.ndarray, b_t: np.ndarray) -> np.ndarray:
        return np.asarray(b_v.sum(axis=-1) / b_t.sum(axis=-1), dtype=float)

    est = bootstrap(ratio, viol, trip, n_resamples=n_resamples if ci else 0, confidence=confidence, seed=seed,
                    vectorized=True)
    rate = est.model_copy(update={"n": int(trip.sum()), "n_groups": complete,
                                  "method": "cluster bootstrap" if est.method != "none" else "none"})
    return TransitivityReport(groups=len(by_group), groups_complete=complete, triples=int(trip.sum()),
                              violations=int(viol.sum()), cycles=cycles, rate=rate, examples=examples)


def pair_preferences(judgments: Iterable[Judgment], *, group: str = "group", a: str = "model_a",
                     b: str = "model_b") -> list[PairPreference]:
    """(group, candidate A, candidate B, preference) from scored pairwise judgments' metadata fields."""
    out: list[PairPreference] = []
    for j in judgments:
        meta = j.metadata
        if not (j.verdict.ok and j.verdict.preference and all(meta.get(k) is not None for k in (group, a, b))):
            continue
        out.append((_hashable(meta[group]), _hashable(meta[a]), _hashable(meta[b]), j.verdict.preference))
    return out


def expand_pairs(items: Iterable[Item], *, names_field: str = "candidate_names") -> list[Item]:
    """Every pair of candidates of each item with three or more (a full preference set), as pairwise items.

    Item ``q`` with candidates ``c0..ck`` gives items ``q:i-j`` (``i < j``) comparing
    ``ci`` (A) with ``cj`` (B), with ``metadata`` ``group=q``, ``model_a``,
    ``model_b`` (the names in ``metadata[names_field]``, else the indices), which
    :func:`pair_preferences` reads back after ``jurist.compare``. Two-candidate
    items pass through with the same metadata added.
    """
    out: list[Item] = []
    for item in items:
        names = item.metadata.get(names_field) or [str(i) for i in range(len(item.candidates))]
        if len(names) != len(item.candidates):
            raise ValueError(f"item {item.id}: {len(names)} names in {names_field!r} for {len(item.candidates)} candidates")
        for i, j in itertools.combinations(range(len(item.candidates)), 2):
            meta = {**item.metadata, "group": item.id, "model_a": names[i], "model_b": names[j]}
            out.append(Item(id=f"{item.id}:{i}-{j}", input=item.input, candidates=[item.candidates[i], item.candidates[j]],
                            reference=item.reference, metadata=meta))
    return out


def _hashable(value: Any) -> Hashable:
    return value if isinstance(value, Hashable) else repr(value)


# ---------------------------------------------------------------- scores vs preferences


class ScorePairReport(BaseModel):
    """How often pointwise scores contradict the pairwise verdict on the same pair."""

    pairs: int = 0
    compared: int = 0
    score_ties: int = 0
    contradictions: int = 0
    rate: Estimate

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("pairs with both scores", str(self.pairs)),
            ("score ties (left out)", str(self.score_ties)),
            ("score/verdict contradictions", f"{self.contradictions} of {self.compared}"),
            ("score-comparison inconsistency", str(self.rate)),
        ]


def score_pair_inconsistency(
    scores: Mapping[tuple[Hashable, Hashable], float] | Mapping[Hashable, float],
    preferences: Iterable[PairPreference] | Iterable[tuple[Hashable, Hashable, str]],
    *,
    tolerance: float = 0.0,
    tie_counts: bool = False,
    confidence: float = 0.95,
) -> ScorePairReport:
    """Share of pairs whose pointwise scores contradict the pairwise verdict.

    ``scores`` maps ``(group, candidate)`` (or just ``candidate`` with
    ``(x, y, preference)`` triples) to a pointwise score. A pair with a missing
    score is skipped.
    """
    pairs = compared = ties = contradictions = 0
    for entry in preferences:
        if len(entry) == 4:
            g, x, y, pref = entry  # type: ignore[misc]
            kx, ky = (g, x), (g, y)
        else:
            x, y, pref = entry  # type: ignore[misc]
            kx, ky = x, y
        s = _sign(pref)
        if s is None or kx not in scores or ky not in scores:  # type: ignore[operator]
            continue
        pairs += 1
        diff = float(scores[kx]) - float(scores[ky])  # type: ignore[index]
        if abs(diff) <= tolerance:
            ties += 1
            continue
        if s == 0 and not tie_counts:
            continue
        compared += 1
        contradictions += int(s != (1 if diff > 0 else -1))
    return ScorePairReport(pairs=pairs, compared=compared, score_ties=ties, contradictions=contradictions,
                           rate=wilson_interval(contradictions, compared, confidence))


def pairs_of_candidates(candidates: Sequence[Hashable]) -> list[tuple[Hashable, Hashable]]:
    """Every unordered pair of ``candidates`` (the comparisons a full preference set needs)."""
    return list(itertools.combinations(candidates, 2))
