"""Permutation debiasing for listwise ranking: several orders, aggregated with probabilities.

Each view shows the same N candidates in another order and gives P(best = i)
for every candidate i. With the same full set shown every time, the maximum-
likelihood Plackett-Luce (top-1) strengths given these soft choices are the
mean probabilities, so the aggregate is the mean of P(best = i) over the views,
and the ranking sorts candidates by it. With the N cyclic shifts (the default),
every candidate sits in every slot exactly once, so a judge's slot preference
adds the same amount to every candidate and cancels out of the ranking.

Uncertainty comes from a bootstrap over the views (resampled with replacement):
``metadata["p_best"]`` is the share of replicates in which each candidate ranks
first, ``metadata["rank_interval"]`` the 95% interval of its rank (1 = best).
``metadata["views_agree"]`` is the share of views whose own best candidate is
the aggregate's. If any view has no verdict, the item has none either: the
remaining orders would no longer cancel the slot bias.

With ``samples=K`` (for backends without log-probabilities) each order is
answered K times at ``temperature`` (self-consistency) and its P(best) is the
vote share; ``metadata["unscored_samples"]`` counts the samples with no label.
"""

from __future__ import annotations

import asyncio

import numpy as np

from jurist.protocols.listwise import ListwiseProtocol, ranking_of
from jurist.strategies.base import RunView, Strategy
from jurist.strategies.self_consistency import Sample
from jurist.types import Item, Usage, Verdict


class Permutations(Strategy):
    """Run ``orders`` views per item (default: N, the cyclic shifts) and aggregate them."""

    def __init__(self, orders: int | None = None, n_resamples: int = 1000, seed: int = 0,
                 samples: int | None = None, temperature: float = 0.7):
        if orders is not None and orders < 1:
            raise ValueError(f"orders must be at least 1, got {orders}")
        if samples is not None and (samples < 1 or temperature <= 0):
            raise ValueError(f"samples must be at least 1 and temperature above 0, got {samples} and {temperature}")
        self.orders, self.n_resamples, self.seed = orders, n_resamples, seed
        self.samples, self.temperature = samples, temperature
        self.name = "permutations" if orders is None else f"permutations({orders})"
        if samples:
            self.name += f"+samples(k={samples},T={temperature:g})"

    async def judge(self, item: Item, run_view: RunView) -> Verdict:
        n = len(item.candidates)
        if not 2 <= n <= 26:
            return Verdict(status="failed", kind="rank", error=f"a ranking needs 2 to 26 candidates, got {n}")
        views = ListwiseProtocol.views(n, self.orders)
        if self.samples:
            verdicts = await asyncio.gather(*(self._sampled(item, view, n, run_view) for view in views))
        else:
            verdicts = await asyncio.gather(*(run_view(item, view) for view in views))
        return combine_orders(list(verdicts), n, self.n_resamples, self.seed)

    async def _sampled(self, item: Item, view: int, n: int, run_view: RunView) -> Verdict:
        """One order answered ``samples`` times; P(best) = vote shares over the samples that named a label."""
        assert self.samples is not None
        draws = await asyncio.gather(*(run_view(item, view, sample=Sample(self.temperature, self.seed + i))  # type: ignore[call-arg]
                                       for i in range(self.samples)))
        usage = sum((d.usage for d in draws), Usage())
        failed = [d for d in draws if d.status == "failed"]
        if failed:
            return Verdict(status="failed", kind="rank", error=failed[0].error, parts=list(draws), usage=usage)
        votes = [d.ranking[0] for d in draws if d.ok and d.ranking]
        if not votes:
            return Verdict(status="unscored", kind="rank", error=f"no label in any of the {self.samples} samples",
                           raw="\n---\n".join(d.raw or "" for d in draws), parts=list(draws), usage=usage)
        shares = {c: votes.count(c) / len(votes) for c in range(n)}
        ranking = ranking_of(shares)
        return Verdict(status="scored", kind="rank", method="parsed", top_label=str(ranking[0]),
                       distribution={str(c): shares[c] for c in range(n)}, ranking=ranking,
                       confidence=shares[ranking[0]], raw=draws[0].raw, parts=list(draws), usage=usage,
                       metadata={"unscored_samples": self.samples - len(votes)})


def combine_orders(verdicts: list[Verdict], n: int, n_resamples: int = 1000, seed: int = 0) -> Verdict:
    """The mean P(best) over the views, the ranking, and bootstrap uncertainty over the views."""
    usage = sum((v.usage for v in verdicts), Usage())
    for k, part in enumerate(verdicts):
        if not part.ok:
            return Verdict(status=part.status, kind="rank", error=f"order {k + 1}: {part.error}", raw=part.raw,
                           parts=list(verdicts), usage=usage)
    probs = np.array([[v.distribution[str(c)] for c in range(n)] for v in verdicts])  # views x candidates
    mean = probs.mean(axis=0)
    ranking = ranking_of({c: float(mean[c]) for c in range(n)})
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(verdicts), size=(n_resamples, len(verdicts)))
    replicate_means = probs[picks].mean(axis=1)  # resamples x candidates
    # Rank 1 = best; ties in a replicate go to the lower index, as in the point ranking.
    order = np.lexsort((np.broadcast_to(np.arange(n), replicate_means.shape), -replicate_means), axis=1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, n + 1)[None, :].repeat(n_resamples, axis=0), axis=1)
    p_best = {str(c): float(np.mean(ranks[:, c] == 1)) for c in range(n)}
    interval = {str(c): [int(np.percentile(ranks[:, c], 2.5, method="lower")),
                         int(np.percentile(ranks[:, c], 97.5, method="higher"))] for c in range(n)}
    distribution = {str(c): float(mean[c]) for c in range(n)}
    by_logprobs = all(v.method == "logprobs" for v in verdicts)
    agree = float(np.mean([v.ranking[0] == ranking[0] for v in verdicts]))  # type: ignore[index]
    masses = [v.label_mass for v in verdicts if v.label_mass is not None]
    unscored = sum(v.metadata.get("unscored_samples", 0) for v in verdicts)
    return Verdict(status="scored", kind="rank", method="logprobs" if by_logprobs else "parsed",
                   top_label=str(ranking[0]), distribution=distribution, ranking=ranking,
                   confidence=distribution[str(ranking[0])],
                   label_mass=sum(masses) / len(masses) if masses else None,
                   raw=verdicts[0].raw, parts=list(verdicts), usage=usage,
                   metadata={"p_best": p_best, "rank_interval": interval, "views": len(verdicts),
                             "views_agree": agree, **({"unscored_samples": unscored} if unscored else {})})
