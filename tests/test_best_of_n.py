"""Best-of-N logic on the scripted backend: each method finds the best candidate, reports margin, sureness, cost."""

from __future__ import annotations

import math
import re

import pytest

from jurist.apps.best_of_n import Selector, best_of_n
from jurist.apps.online import OnlineJudge
from jurist.backends.base import BackendError
from jurist.backends.scripted import ScriptedBackend
from jurist.plan import Plan, PlanError

CANDIDATES = ["answer of quality 2", "answer of quality 5", "answer of quality 1", "answer of quality 3",
              "answer of quality 4"]


def qualities(request):
    return [int(q) for q in re.findall(r"quality (\d)", request.messages[-1].text)]


def script(request):
    found = qualities(request)
    labels = request.labels
    if len(found) == 1:  # pointwise: the quality, a little spread
        q = found[0]
        return {str(q): 0.8, str(max(1, q - 1)): 0.2} if q > 1 else {"1": 1.0}
    weights = [math.exp(2 * q) for q in found]  # pairwise (A, B) or listwise: a softmax over the shown qualities
    return {label: w / sum(weights) for label, w in zip(labels, weights)}


@pytest.mark.parametrize("method, judgments", [("pointwise", 5), ("round_robin", 10), ("knockout", 4),
                                               ("listwise", 1)])
def test_each_method_picks_the_best(method, judgments):
    backend = ScriptedBackend(script, spec="s")
    chosen = best_of_n("Write well.", CANDIDATES, method=method, judge=backend)
    assert chosen.status == "chosen", chosen.error
    assert chosen.winner == 1 and chosen.candidate == CANDIDATES[1]
    assert chosen.margin is not None and chosen.margin > 0
    assert 0.5 < chosen.sure <= 1
    assert chosen.judgments == judgments and chosen.model_calls == len(backend.calls) > 0


def test_pairwise_methods_run_both_orders():
    backend = ScriptedBackend(script, spec="s")
    best_of_n("q", CANDIDATES[:2], method="round_robin", judge=backend)
    assert len(backend.calls) == 2  # one pair, two orders


def test_unsure_pointwise_choice_says_so():
    flat = ScriptedBackend(lambda r: {"3": 0.5, "4": 0.5}, spec="s")
    chosen = best_of_n("q", ["a", "b", "c", "d"], judge=flat)
    assert chosen.sure == pytest.approx(0.25, abs=0.03)  # four equal candidates: one in four


def test_failures_are_never_wins():
    def broken(request):
        raise BackendError("down")

    for method in ("pointwise", "round_robin", "knockout", "listwise"):
        chosen = best_of_n("q", CANDIDATES, method=method, judge=ScriptedBackend(broken, spec="s"))
        assert chosen.status == "failed" and chosen.winner is None and chosen.error

    def half_broken(request):  # every comparison that shows quality 5 fails
        if 5 in qualities(request):
            raise BackendError("down")
        return script(request)

    rr = best_of_n("q", CANDIDATES, method="round_robin", judge=ScriptedBackend(half_broken, spec="s"))
    assert rr.status == "chosen" and rr.winner == 4 and rr.strengths[1] is None
    ko = best_of_n("q", CANDIDATES, method="knockout", judge=ScriptedBackend(half_broken, spec="s"))
    assert ko.status == "failed" and "no usable verdict" in ko.error


def test_a_selector_reuses_its_judge_and_cache():
    backend = ScriptedBackend(script, spec="s")
    selector = Selector(OnlineJudge(Plan.parse({"task": "score", "judge": {"spec": "s"}}), backends={"s": backend}))
    first = selector.choose("q", CANDIDATES)
    again = selector.choose("q", CANDIDATES)
    assert first.winner == again.winner == 1
    assert again.model_calls == 0 and again.cache_hits == 5


def test_plan_task_must_fit_the_method():
    online = OnlineJudge(Plan(task="score"), backends={"local": ScriptedBackend(script, spec="local")})
    with pytest.raises(PlanError, match="task compare"):
        Selector(online, "knockout")
    with pytest.raises(ValueError, match="unknown method"):
        Selector(online, "vibes")  # type: ignore[arg-type]


def test_a_knockout_favours_no_position():
    # A judge that cannot tell answers apart (P(A) = 0.5 in both orders, so the first of each pair
    # advances): who wins is decided by the bracket alone, which must not favour any index. With the
    # candidates' own order as the bracket, the same index won every time.
    flat = ScriptedBackend(lambda r: {"A": 0.5, "B": 0.5}, spec="s")
    selector = Selector(OnlineJudge(Plan.parse({"task": "compare", "judge": {"spec": "s"}}), backends={"s": flat}),
                        "knockout")
    winners = [selector.choose(f"question {k}", [f"answer {c}" for c in range(5)]).winner for k in range(200)]
    shares = [winners.count(c) / len(winners) for c in range(5)]
    assert all(0.08 < share < 0.35 for share in shares), shares
    again = selector.choose("question 7", [f"answer {c}" for c in range(5)])
    assert again.winner == winners[7]  # the bracket is drawn from the input: reproducible
