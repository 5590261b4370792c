"""Strategies: which views of an item a judge runs, and how their verdicts combine."""

from jurist.strategies.base import Single, Strategy
from jurist.strategies.swap import Swap

__all__ = ["Single", "Strategy", "Swap"]
