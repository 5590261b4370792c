"""Consistency metrics: order consistency, transitivity over full preference sets, scores vs verdicts."""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pytest

from jurist.metrics import order_consistency, score_pair_inconsistency, transitivity
from jurist.metrics.consistency import pair_preferences
from jurist.types import Judgment, Verdict


def _pair(pref: str | None, agree: bool | None = None, status: str = "scored", **meta) -> Judgment:
    verdict = Verdict(status=status, kind="compare", preference=pref, orders_agree=agree)  # type: ignore[arg-type]
    return Judgment(item_id=str(id(meta)), protocol="pairwise", judge="x", verdict=verdict, metadata=meta)


def test_order_consistency_counts_scored_verdicts_with_both_orders():
    judgments = [_pair("A", True), _pair("B", True), _pair("A", False), _pair("A", None),
                 _pair(None, True, status="failed")]
    est = order_consistency(judgments)
    assert (est.value, est.n) == (pytest.approx(2 / 3), 3)
    assert est.method == "wilson" and est.low < est.value < est.high


def test_a_strict_cycle_is_intransitive():
    prefs = [("q1", "x", "y", "A"), ("q1", "y", "z", "A"), ("q1", "z", "x", "A")]  # x > y > z > x
    report = transitivity(prefs, ci=False)
    assert (report.groups_complete, report.triples, report.violations, report.cycles) == (1, 1, 1, 1)
    assert report.rate.value == 1.0


def test_orientation_of_pairs_does_not_matter():
    # the same cycle, with pairs given in the other order and the preference flipped
    prefs = [("q1", "y", "x", "B"), ("q1", "z", "y", "B"), ("q1", "x", "z", "B")]
    assert transitivity(prefs, ci=False).violations == 1
    # a consistent ranking x > y > z written in mixed orientations
    prefs = [("q1", "y", "x", "B"), ("q1", "y", "z", "A"), ("q1", "z", "x", "B")]
    assert transitivity(prefs, ci=False).violations == 0


@pytest.mark.parametrize(("xy", "yz", "xz", "consistent"), [
    ("tie", "tie", "tie", True),    # all equal
    ("tie", "A", "A", True),        # x = y > z
    ("tie", "tie", "A", False),     # x = y, y = z, but x > z
    ("A", "tie", "tie", False),     # x > y = z, but x = z
    ("A", "A", "tie", False),       # x > y > z, but x = z
    ("A", "B", "A", True),          # x > z > y
    ("B", "B", "A", False),         # y > x, z > y, x > z: a cycle
])
def test_ties_need_a_weak_order(xy, yz, xz, consistent):
    report = transitivity([("g", "x", "y", xy), ("g", "y", "z", yz), ("g", "x", "z", xz)], ci=False)
    assert report.violations == (0 if consistent else 1)


def test_incomplete_sets_and_conflicting_duplicates_are_left_out():
    prefs = [("q1", "x", "y", "A"), ("q1", "y", "z", "A"),            # no x-z verdict
             ("q2", "a", "b", "A"), ("q2", "b", "c", "A"), ("q2", "a", "c", "B"),
             ("q2", "b", "a", "A"),                                   # conflicts with (a, b) = A
             ("q3", "u", "v", "A"), ("q3", "v", "w", "A"), ("q3", "u", "w", "A"),
             ("q3", "v", "u", "B"),                                   # agrees with (u, v) = A
             ("q4", "p", "q", "A")]                                   # only two candidates
    report = transitivity(prefs, ci=False)
    assert (report.groups, report.groups_complete, report.triples, report.violations) == (4, 1, 1, 0)


def test_cyclic_triangles_match_the_kendall_babington_smith_formula():
    """In a tournament (no ties) the cyclic triads number C(n,3) - sum_i C(out_i, 2)."""
    rng = np.random.default_rng(0)
    prefs, expected = [], 0
    for g in range(30):
        n = int(rng.integers(3, 8))
        wins = np.zeros(n, dtype=int)
        for i, j in itertools.combinations(range(n), 2):
            first = rng.random() < 0.5
            wins[i if first else j] += 1
            prefs.append((g, i, j, "A" if first else "B"))
        expected += comb(n, 3) - sum(comb(int(w), 2) for w in wins)
    report = transitivity(prefs)
    assert report.violations == report.cycles == expected
    assert report.triples == sum(comb(n, 3) for n in [len({p[1] for p in prefs if p[0] == g} |
                                                            {p[2] for p in prefs if p[0] == g}) for g in range(30)])
    assert report.rate.method == "cluster bootstrap" and report.rate.n_groups == 30
    assert report.rate.low <= report.rate.value <= report.rate.high


def test_verdicts_from_a_true_ranking_are_transitive():
    prefs = [(g, i, j, "A" if i < j else "B") for g in range(5) for i, j in itertools.permutations(range(5), 2)]
    report = transitivity(prefs)
    assert report.triples == 5 * comb(5, 3) and report.violations == 0 and report.rate.value == 0.0


def test_pair_preferences_from_judgment_metadata():
    judgments = [_pair("A", group="q1", model_a="m1", model_b="m2"),
                 _pair("B", group="q1", model_a="m2", model_b="m3"),
                 _pair("A", group="q1", model_a="m1", model_b="m3"),
                 _pair("A", group="q2"),  # no candidate names: skipped
                 _pair(None, status="failed", group="q1", model_a="m1", model_b="m2")]
    prefs = pair_preferences(judgments)
    assert prefs == [("q1", "m1", "m2", "A"), ("q1", "m2", "m3", "B"), ("q1", "m1", "m3", "A")]
    assert transitivity(prefs, ci=False).violations == 0  # m1 > m3 > m2


def test_score_pair_inconsistency():
    scores = {("q", "x"): 4.0, ("q", "y"): 2.0, ("q", "z"): 2.1, ("q", "w"): 4.0}
    prefs = [("q", "x", "y", "A"),    # consistent
             ("q", "y", "x", "A"),    # contradicts: y preferred, x scored higher
             ("q", "y", "z", "A"),    # within tolerance 0.2: a score tie, left out
             ("q", "x", "w", "B"),    # exact score tie, left out
             ("q", "x", "z", "tie"),  # tie verdict, clear score gap: only with tie_counts
             ("q", "x", "missing", "A")]
    report = score_pair_inconsistency(scores, prefs, tolerance=0.2)
    assert (report.pairs, report.score_ties, report.compared, report.contradictions) == (5, 2, 2, 1)
    assert report.rate.value == 0.5
    strict = score_pair_inconsistency(scores, prefs, tolerance=0.2, tie_counts=True)
    assert (strict.compared, strict.contradictions) == (3, 2)
    flat = score_pair_inconsistency({"x": 1, "y": 2}, [("x", "y", "B"), ("x", "y", "A")])
    assert (flat.compared, flat.contradictions) == (2, 1)


def test_full_preference_sets_judged_end_to_end():
    """Items with four candidates -> all pairs -> a scripted judge -> transitivity (and in jurist meta)."""
    import re

    from jurist import ScriptedBackend, compare
    from jurist.metrics import meta_report
    from jurist.metrics.consistency import expand_pairs
    from jurist.types import Item

    items = [Item(id=f"q{k}", input=f"prompt {k}", candidates=[f"answer quality={q}" for q in (3, 1, 4, 2)],
                  metadata={"candidate_names": ["m3", "m1", "m4", "m2"]}) for k in range(3)]
    pairs = expand_pairs(items)
    assert len(pairs) == 3 * 6 and pairs[0].metadata == {"candidate_names": ["m3", "m1", "m4", "m2"],
                                                         "group": "q0", "model_a": "m3", "model_b": "m1"}

    def quality(first_wins_if):
        def script(request):
            a, b = (int(x) for x in re.findall(r"quality=(\d)", request.messages[-1].content))
            return {"A": 0.8, "B": 0.2} if first_wins_if(a, b) else {"A": 0.2, "B": 0.8}
        return script

    ranked = compare(pairs, judge=ScriptedBackend(quality(lambda a, b: a > b)), progress=False)
    report = transitivity(pair_preferences(ranked.judgments), ci=False)
    assert (report.groups_complete, report.triples, report.violations) == (3, 12, 0)
    # rock-paper-scissors on quality mod 3: 4 > 3 > 2 > 4 ... cycles appear
    cyclic = compare(pairs, judge=ScriptedBackend(quality(lambda a, b: (a - b) % 3 == 1)), progress=False)
    report = transitivity(pair_preferences(cyclic.judgments), ci=False)
    assert report.violations > 0 and report.cycles == report.violations
    meta = meta_report(cyclic.judgments, n_resamples=0)
    assert meta.transitivity is not None and meta.transitivity.violations == report.violations
    assert any("intransitive" in name for name, _ in meta.rows())
    with pytest.raises(ValueError, match="names"):
        expand_pairs([Item(id="x", input="i", candidates=["a", "b", "c"], metadata={"candidate_names": ["a"]})])
