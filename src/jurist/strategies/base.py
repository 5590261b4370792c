"""The Strategy interface and the plain one-view strategy."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

from jurist.types import Item, Verdict

RunView = Callable[[Item, int], Awaitable[Verdict]]


class Strategy(ABC):
    """Decides which views of an item to judge and combines their verdicts.

    ``run_view(item, view)`` judges one view (render, complete, read) and is
    provided by the Judge, so a strategy never talks to a backend directly.
    """

    name: str

    @abstractmethod
    async def judge(self, item: Item, run_view: RunView) -> Verdict:
        """One verdict for the item."""


class Single(Strategy):
    """Judge the item once, as presented."""

    name = "single"

    async def judge(self, item: Item, run_view: RunView) -> Verdict:
        return await run_view(item, 0)
