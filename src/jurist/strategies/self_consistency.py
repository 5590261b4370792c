"""Self-consistency: k sampled answers give the distribution when there are no log-probabilities.

Each sample is the protocol's request with label scoring and log-probabilities
turned off, a temperature and its own seed (the seed is part of the cache key,
so the cache never hands back one completion k times). Every sample is read by
parsing its text (method ``parsed``); the verdict's distribution is the vote
share of each label and its confidence the top share. For a pair, both orders
are sampled k times each and the votes pooled (mapped back to the item's A/B),
so position bias cancels as it does with log-probabilities.

``metadata``: ``samples`` (requested), ``votes`` ({label: count}), ``scored``,
``unscored`` (samples whose text held no label). If every sample is unscored
the verdict is unscored, with the raw texts. A backend error in any sample
makes the verdict failed: a missing vote is not a vote.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from jurist.protocols.pairwise import preference_of
from jurist.strategies.base import RunView, Strategy
from jurist.types import CompletionRequest, Item, Usage, Verdict


@dataclass(frozen=True)
class Sample:
    """How one sampled request differs from the protocol's own: temperature, seed, no log-probabilities."""

    temperature: float
    seed: int
    min_tokens: int = 4

    def apply(self, request: CompletionRequest) -> CompletionRequest:
        return request.model_copy(update={"labels": [], "top_logprobs": 0, "temperature": self.temperature,
                                          "seed": self.seed,
                                          "max_tokens": max(request.max_tokens, self.min_tokens)})


class SelfConsistency(Strategy):
    """``samples`` answers per view at ``temperature``; ``views`` are the protocol views to sample
    ((0, 1): both orders of a pair; (0,): one view)."""

    def __init__(self, samples: int = 5, temperature: float = 0.7, views: Sequence[int] = (0,), seed: int = 0):
        if samples < 1:
            raise ValueError(f"samples must be at least 1, got {samples}")
        if temperature <= 0:
            raise ValueError(f"temperature must be above 0 for sampling, got {temperature} "
                             "(at 0 every sample is the same answer)")
        self.samples, self.temperature, self.views, self.seed = samples, temperature, tuple(views), seed
        self.name = f"self-consistency(k={samples},T={temperature:g},views={len(self.views)},seed={seed})"

    async def judge(self, item: Item, run_view: RunView) -> Verdict:
        plans = [(view, Sample(self.temperature, self.seed + i)) for view in self.views for i in range(self.samples)]
        verdicts = await asyncio.gather(*(run_view(item, view, sample=sample)  # type: ignore[call-arg]
                                          for view, sample in plans))
        return combine_samples(verdicts, [view for view, _ in plans], self.samples)


def combine_samples(verdicts: Sequence[Verdict], views: Sequence[int], requested: int) -> Verdict:
    """Vote shares over the sampled verdicts (each already in the item's own terms)."""
    kind = verdicts[0].kind
    usage = sum((v.usage for v in verdicts), Usage())
    scored = [v for v in verdicts if v.ok]
    meta = {"samples": requested, "scored": len(scored), "unscored": sum(v.status == "unscored" for v in verdicts)}
    failed = [v for v in verdicts if v.status == "failed"]
    if failed:
        return Verdict(status="failed", kind=kind, error=f"{len(failed)} of {len(verdicts)} samples failed: "
                       f"{failed[0].error}", parts=list(verdicts), usage=usage, metadata=meta)
    raws = "\n---\n".join(v.raw or "" for v in verdicts)
    if not scored:
        return Verdict(status="unscored", kind=kind, error=f"no label in any of the {len(verdicts)} samples",
                       raw=raws, parts=list(verdicts), usage=usage, metadata=meta)
    unscored_views = sorted({view for view in set(views)
                             if not any(v.ok for v, w in zip(verdicts, views, strict=True) if w == view)})
    if unscored_views:  # the other order alone would bring position bias back
        return Verdict(status="unscored", kind=kind, error=f"no label in any sample of view(s) {unscored_views}",
                       raw=raws, parts=list(verdicts), usage=usage, metadata=meta)
    votes = Counter(v.top_label for v in scored)
    meta["votes"] = dict(votes)
    n = len(scored)
    if kind == "compare":
        p_a, p_b, p_tie = votes["A"] / n, votes["B"] / n, votes["tie"] / n
        preference = preference_of(p_a, p_b, p_tie)
        distribution = {"A": p_a, "B": p_b} | ({"tie": p_tie} if "tie" in scored[0].distribution else {})
        modes = []
        for view in dict.fromkeys(views):
            own = Counter(v.preference for v, w in zip(verdicts, views, strict=True) if w == view and v.ok)
            modes.append(own.most_common(1)[0][0])
        return Verdict(status="scored", kind="compare", method="parsed", preference=preference, top_label=preference,
                       p_a=p_a, p_b=p_b, p_tie=p_tie, distribution=distribution,
                       confidence=max(distribution.values()),
                       orders_agree=(modes[0] == modes[1]) if len(modes) == 2 else None,
                       raw=raws, parts=list(verdicts), usage=usage, metadata=meta)
    distribution = {label: count / n for label, count in votes.items()}  # type: ignore[misc]
    top = max(distribution, key=distribution.__getitem__)
    meta["vote_tie"] = sum(share == distribution[top] for share in distribution.values()) > 1
    score = sum(v.score for v in scored) / n  # type: ignore[misc]  # the expectation under the vote shares
    return Verdict(status="scored", kind=kind, method="parsed", score=score, top_label=top,  # type: ignore[arg-type]
                   distribution=distribution, confidence=distribution[top], raw=raws, parts=list(verdicts),
                   usage=usage, metadata=meta)
