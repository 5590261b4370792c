"""Both orders of a pair, probabilities averaged: position bias removed by construction."""

from __future__ import annotations

import asyncio

from jurist.protocols.pairwise import preference_of
from jurist.strategies.base import RunView, Strategy
from jurist.types import Item, Verdict


def combine_orders(first: Verdict, second: Verdict) -> Verdict:
    """Average P(A), P(B), P(tie) of the two orders (already mapped to the item's A/B).

    If either order has no verdict, the pair has none either: a one-order verdict
    would silently bring position bias back.
    """
    usage = first.usage + second.usage
    for order, part in (("original", first), ("swapped", second)):
        if not part.ok:
            return Verdict(status=part.status, kind="compare", error=f"{order} order: {part.error}", raw=part.raw,
                           parts=[first, second], usage=usage)
    p_a = (first.p_a + second.p_a) / 2  # type: ignore[operator]
    p_b = (first.p_b + second.p_b) / 2  # type: ignore[operator]
    p_tie = ((first.p_tie or 0.0) + (second.p_tie or 0.0)) / 2
    preference = preference_of(p_a, p_b, p_tie)
    distribution = {"A": p_a, "B": p_b} | ({"tie": p_tie} if "tie" in first.distribution else {})
    by_logprobs = first.method == second.method == "logprobs"
    masses = [m for m in (first.label_mass, second.label_mass) if m is not None]
    return Verdict(
        status="scored", kind="compare", method=first.method if first.method == second.method else "parsed",
        preference=preference, top_label=preference, p_a=p_a, p_b=p_b, p_tie=p_tie, distribution=distribution,
        confidence=max(distribution.values()) if by_logprobs else None,
        label_mass=sum(masses) / len(masses) if masses else None,
        orders_agree=first.preference == second.preference,
        raw=first.raw, parts=[first, second], usage=usage,
    )


class Swap(Strategy):
    """Run a pairwise protocol in both orders and combine the probabilities.

    The two requests share their prompt prefix (system message and instruction),
    so a backend with a prefix cache evaluates that part once.
    """

    name = "swap"

    async def judge(self, item: Item, run_view: RunView) -> Verdict:
        first, second = await asyncio.gather(run_view(item, 0), run_view(item, 1))
        return combine_orders(first, second)
