"""Protocols: how an item becomes a prompt and how the answer becomes a verdict."""

from jurist.protocols.base import Protocol
from jurist.protocols.pairwise import PairwiseProtocol
from jurist.protocols.pointwise import PointwiseProtocol, Scale

__all__ = ["PairwiseProtocol", "PointwiseProtocol", "Protocol", "Scale"]
