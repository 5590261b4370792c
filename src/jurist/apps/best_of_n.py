"""Best-of-N: choose the best of N candidate answers, and say how sure the choice is.

Four methods, each a plan run through the one runner (:class:`jurist.apps.online.OnlineJudge`):

- ``pointwise``: score every candidate (task score, N judgments); the winner has the highest
  expected score; ``sure`` = P(its score is the highest), drawn from the judge's label distributions.
- ``round_robin``: compare every pair in both orders (task compare, N(N-1)/2 judgments); a candidate's
  strength is its mean P(win); ``sure`` = the winner's weakest head-to-head P(win).
- ``knockout``: pairs compared in both orders, winners advance (N-1 judgments); ``sure`` = the
  product of the winner's P(win) along its path (the probability it wins every match). When N is
  not a power of two some candidates wait a round (a bye) and play fewer matches, which favours
  them; so the bracket is drawn at random per input (seeded by ``seed``, the input and the
  candidates: reproducible), and a bye goes to a candidate that has had none while one remains.
  Otherwise the order the candidates come in would decide who is favoured: a judge at chance
  would pick the fifth of five candidates half of the time.
- ``listwise``: the candidates ranked together in several orders (task rank, 1 judgment of N views);
  ``sure`` = the share of bootstrap replicates that rank the winner first.

``margin`` is the winner's lead on the runner-up in the method's own strength (expected score,
mean P(win), P(win) - P(loss) in the final, mean P(best)). A failed or unread verdict is never
counted as a win: a knockout with a failed match fails, other methods leave the failed
comparisons out and fail only when nothing is left to choose by.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from jurist.apps.online import OnlineJudge
from jurist.backends.base import Backend
from jurist.engine.store import Store
from jurist.plan import Plan, PlanError
from jurist.types import Item, Judgment, Verdict

Method = Literal["pointwise", "round_robin", "knockout", "listwise"]
TASK_OF: dict[str, str] = {"pointwise": "score", "round_robin": "compare", "knockout": "compare",
                           "listwise": "rank"}


class BestOfN(BaseModel):
    """The choice: the winner's index and text, its margin and how sure, and what it cost."""

    status: Literal["chosen", "failed"]
    method: str
    winner: int | None = None
    candidate: str | None = None
    margin: float | None = None
    sure: float | None = None
    strengths: list[float | None] = Field(default_factory=list, description="per candidate, the method's strength")
    judgments: int = 0
    model_calls: int = 0
    cache_hits: int = 0
    error: str | None = None


class Selector:
    """Chooses the best candidate with ``method`` and the judge of a plan (its task must match the method)."""

    def __init__(self, online: OnlineJudge, method: Method = "pointwise", seed: int = 0):
        if method not in TASK_OF:
            raise ValueError(f"unknown method {method!r}: use {', '.join(TASK_OF)}")
        if online.plan.task != TASK_OF[method]:
            raise PlanError(f"`task` {online.plan.task}: best-of-N by {method} needs task {TASK_OF[method]}",
                            ("task",))
        self.online, self.method, self.seed = online, method, seed
        self._spent = {"judgments": 0, "model_calls": 0, "cache_hits": 0}

    def choose(self, input: str, candidates: Sequence[str], reference: str | None = None) -> BestOfN:
        if len(candidates) < 1:
            raise ValueError("best-of-N needs at least one candidate")
        self._spent = {"judgments": 0, "model_calls": 0, "cache_hits": 0}
        if len(candidates) == 1:
            return BestOfN(status="chosen", method=self.method, winner=0, candidate=candidates[0], sure=1.0,
                           margin=None, strengths=[None])
        chosen = getattr(self, f"_{self.method}")(input, list(candidates), reference)
        update = dict(self._spent)
        if chosen.winner is not None:
            update["candidate"] = candidates[chosen.winner]
        return chosen.model_copy(update=update)

    def _judge(self, items: list[Item]) -> list[Judgment]:
        result = self.online.run(items)
        self._spent["judgments"] += len(result.judgments)
        self._spent["model_calls"] += int(result.stats.get("model_calls", 0))
        self._spent["cache_hits"] += int(result.stats.get("cache_hits", 0))
        return result.judgments

    def _failed(self, error: str) -> BestOfN:
        return BestOfN(status="failed", method=self.method, error=error)

    # ------------------------------------------------------------------ pointwise

    def _pointwise(self, input: str, candidates: list[str], reference: str | None) -> BestOfN:
        items = [Item(id=f"c{k}", input=input, candidates=[text], reference=reference)
                 for k, text in enumerate(candidates)]
        verdicts = [j.verdict for j in self._judge(items)]
        scores = [v.score if v.ok and v.score is not None else None for v in verdicts]
        usable = [k for k, s in enumerate(scores) if s is not None]
        if not usable:
            return self._failed(f"no candidate was scored: {verdicts[0].error or verdicts[0].status}")
        order = sorted(usable, key=lambda k: -scores[k])  # type: ignore[operator]
        winner = order[0]
        margin = scores[winner] - scores[order[1]] if len(order) > 1 else None  # type: ignore[operator]
        sure = self._p_highest(winner, [verdicts[k] for k in usable], usable)
        return BestOfN(status="chosen", method=self.method, winner=winner, margin=margin, sure=sure,
                       strengths=scores)

    def _p_highest(self, winner: int, verdicts: list[Verdict], indices: list[int], draws: int = 4000) -> float:
        """P(the winner's score is the highest), each score drawn from its verdict's label distribution
        (ties shared out evenly)."""
        protocol = self.online.protocol
        scale = getattr(protocol, "scale", None)
        rng = np.random.default_rng(self.seed)
        samples = []
        for verdict in verdicts:
            labels = [label for label in verdict.distribution if scale is None or label in scale.labels]
            values = np.array([scale.value(label) if scale is not None else float(label) for label in labels])
            probs = np.array([verdict.distribution[label] for label in labels], dtype=float)
            if probs.sum() <= 0:
                samples.append(np.full(draws, verdict.score or 0.0))
                continue
            samples.append(rng.choice(values, size=draws, p=probs / probs.sum()))
        drawn = np.stack(samples)  # candidates x draws
        best = drawn.max(axis=0)
        at_top = drawn == best
        mine = at_top[indices.index(winner)]
        return float(np.mean(mine / at_top.sum(axis=0)))

    # ------------------------------------------------------------------ pairwise

    def _pairs(self, input: str, candidates: list[str], reference: str | None,
               pairs: list[tuple[int, int]]) -> dict[tuple[int, int], float | None]:
        """P(i beats j) for each pair, both orders (the plan's swap strategy), ties counted half."""
        items = [Item(id=f"{i}-{j}", input=input, candidates=[candidates[i], candidates[j]], reference=reference)
                 for i, j in pairs]
        result: dict[tuple[int, int], float | None] = {}
        for (i, j), judgment in zip(pairs, self._judge(items), strict=True):
            v = judgment.verdict
            result[(i, j)] = v.p_a + (v.p_tie or 0.0) / 2 if v.ok and v.p_a is not None else None
        return result

    def _round_robin(self, input: str, candidates: list[str], reference: str | None) -> BestOfN:
        n = len(candidates)
        wins = self._pairs(input, candidates, reference, list(itertools.combinations(range(n), 2)))
        beats: dict[tuple[int, int], float] = {}
        for (i, j), p in wins.items():
            if p is not None:
                beats[(i, j)], beats[(j, i)] = p, 1 - p
        if not beats:
            return self._failed("every comparison failed")
        strengths: list[float | None] = []
        for i in range(n):
            mine = [p for (a, _), p in beats.items() if a == i]
            strengths.append(sum(mine) / len(mine) if mine else None)
        order = sorted((k for k in range(n) if strengths[k] is not None), key=lambda k: -strengths[k])  # type: ignore[operator]
        winner = order[0]
        margin = strengths[winner] - strengths[order[1]] if len(order) > 1 else None  # type: ignore[operator]
        sure = min(p for (a, _), p in beats.items() if a == winner)
        return BestOfN(status="chosen", method=self.method, winner=winner, margin=margin, sure=sure,
                       strengths=strengths)

    def _knockout(self, input: str, candidates: list[str], reference: str | None) -> BestOfN:
        alive = self._bracket(input, candidates)
        path_p = {k: 1.0 for k in alive}
        had_bye: set[int] = set()
        strengths: list[float | None] = [None] * len(candidates)
        final: tuple[int, int, float] | None = None
        while len(alive) > 1:
            bye: list[int] = []
            if len(alive) % 2:  # the last candidate without a bye waits this round
                waiting = next((k for k in reversed(alive) if k not in had_bye), alive[-1])
                bye, alive = [waiting], [k for k in alive if k != waiting]
                had_bye.add(waiting)
            pairs = [(alive[k], alive[k + 1]) for k in range(0, len(alive), 2)]
            wins = self._pairs(input, candidates, reference, pairs)
            advancing = []
            for (i, j), p in wins.items():
                if p is None:
                    return self._failed(f"the match of candidates {i} and {j} has no usable verdict")
                strengths[i], strengths[j] = p, 1 - p
                winner, p_win = (i, p) if p >= 0.5 else (j, 1 - p)
                path_p[winner] *= p_win
                advancing.append(winner)
                final = (winner, j if winner == i else i, p_win)
            alive = advancing + bye
        assert final is not None
        winner, _, p_win = final
        return BestOfN(status="chosen", method=self.method, winner=winner, margin=2 * p_win - 1, sure=path_p[winner],
                       strengths=strengths)

    def _bracket(self, input: str, candidates: list[str]) -> list[int]:
        """The candidates' indices in a random order drawn from ``seed``, the input and the candidates."""
        digest = hashlib.sha256(json.dumps([self.seed, input, candidates]).encode("utf-8")).digest()
        return [int(k) for k in np.random.default_rng(int.from_bytes(digest[:8], "big")).permutation(len(candidates))]

    # ------------------------------------------------------------------ listwise

    def _listwise(self, input: str, candidates: list[str], reference: str | None) -> BestOfN:
        verdict = self._judge([Item(id="list", input=input, candidates=candidates, reference=reference)])[0].verdict
        if not verdict.ok or not verdict.ranking:
            return self._failed(f"the ranking has no usable verdict: {verdict.error or verdict.status}")
        strengths = [verdict.distribution.get(str(k)) for k in range(len(candidates))]
        winner, second = verdict.ranking[0], verdict.ranking[1]
        margin = (strengths[winner] or 0.0) - (strengths[second] or 0.0)
        sure = verdict.metadata.get("p_best", {}).get(str(winner))
        return BestOfN(status="chosen", method=self.method, winner=winner, margin=margin, sure=sure,
                       strengths=strengths)


def best_of_n(input: str, candidates: Sequence[str], *, method: Method = "pointwise", judge: str | Backend = "local",
              plan: Plan | None = None, reference: str | None = None, store: Store | str | Path | None = None,
              backends: Mapping[str, Backend] | None = None, **protocol: Any) -> BestOfN:
    """Choose the best candidate (see the module docstring). ``plan`` gives the whole judge; otherwise
    ``judge`` with protocol settings (``rubric``/``scale`` for pointwise, ``criteria`` otherwise) builds one.
    Builds the judge on every call: keep a :class:`Selector` to choose many times."""
    if plan is None:
        spec = judge.spec if isinstance(judge, Backend) else judge
        plan = Plan.parse({"task": TASK_OF.get(method, "score"), "judge": {"spec": spec},
                           "protocol": {k: v for k, v in protocol.items() if v is not None}}, where="best_of_n")
        if isinstance(judge, Backend):
            backends = {spec: judge}
    return Selector(OnlineJudge(plan, store=store, backends=backends), method).choose(input, candidates, reference)

