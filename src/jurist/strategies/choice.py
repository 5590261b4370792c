"""Which strategy runs a protocol: the one home of "both orders for a pair, else one view".

Protocols do not know their strategies (a strategy imports its protocol, never
the other way round); this module maps a protocol and the plan's order settings
to the strategy that runs it.
"""

from __future__ import annotations

from typing import Literal

from jurist.protocols.base import Protocol
from jurist.protocols.checklist import ChecklistProtocol
from jurist.protocols.dimensions import DimensionsProtocol
from jurist.protocols.listwise import ListwiseProtocol
from jurist.protocols.reference import ReferenceProtocol
from jurist.strategies.base import Single, Strategy
from jurist.strategies.checklist import ChecklistStrategy
from jurist.strategies.dimensions import Dimensions
from jurist.strategies.permutations import Permutations
from jurist.strategies.reference import AdaptedReference
from jurist.strategies.self_consistency import SelfConsistency
from jurist.strategies.swap import Swap

Order = Literal["swap", "single", "permutations"]


def strategy_for(protocol: Protocol, *, order: Order | None = None, samples: int | None = None,
                 temperature: float = 0.7, orders: int | None = None) -> Strategy:
    """The strategy for ``protocol``: ``order`` None is the protocol's natural one (both orders for a pair,
    every cyclic order for a ranking, every dimension / question); ``samples`` reads sampled answers
    (self-consistency) instead of log-probabilities."""
    if isinstance(protocol, DimensionsProtocol):
        return Dimensions(protocol)
    if isinstance(protocol, ChecklistProtocol):
        return ChecklistStrategy(protocol)
    if isinstance(protocol, ReferenceProtocol):
        return AdaptedReference() if protocol.mode == "adapted" else Single()
    if isinstance(protocol, ListwiseProtocol):
        return Permutations(orders, samples=samples, temperature=temperature)
    both_orders = protocol.kind == "compare" and order != "single"
    if samples:
        return SelfConsistency(samples, temperature, (0, 1) if both_orders else (0,))
    return Swap() if both_orders else Single()
