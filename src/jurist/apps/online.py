"""A plan built once and run on items as they come: what every online application stands on.

The judge is built when the object is made (a local model is loaded once), and every
call goes through the one runner (:func:`jurist.engine.runner.run`) with one store,
so a request answered before comes from the completion cache, never paid twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from jurist.backends.base import Backend
from jurist.engine.executor import RunResult
from jurist.engine.runner import Prepared, run
from jurist.engine.store import Store
from jurist.judge import JudgeLike
from jurist.plan import Plan
from jurist.protocols.base import Protocol
from jurist.types import Item, Judgment


class OnlineJudge:
    """``plan`` built once; :meth:`run` judges a batch of items through the runner.

    ``store`` keeps the runs and the completion cache (default: the plan's store, else
    memory). ``backends`` maps judge specs to ready Backends; ``protocol`` replaces the plan's.
    """

    def __init__(self, plan: Plan, *, store: Store | str | Path | None = None,
                 backends: Mapping[str, Backend] | None = None, protocol: Protocol | None = None):
        # an application returns its results: no verdict file, no report, no progress bar per call
        self.plan = plan.with_values({"outputs.out": None, "outputs.report": None, "engine.progress": False})
        self.judge: JudgeLike = self.plan.build(backends, protocol)
        self.store = store if isinstance(store, Store) else Store(store or plan.outputs.store or ":memory:")

    @property
    def protocol(self) -> Protocol:
        return self.judge.protocol

    def run(self, items: Sequence[Item]) -> RunResult:
        """One runner call over ``items`` (the engine runs them concurrently); judgments in input order."""
        items = list(items)
        return run(self.plan, items, store=self.store, prepared=Prepared(self.plan, self.judge, items))

    def judgments(self, items: Sequence[Item]) -> list[Judgment]:
        return self.run(items).judgments
