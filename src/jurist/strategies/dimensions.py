"""Every rubric dimension of an item judged, one verdict per dimension."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

from jurist.protocols.dimensions import DimensionsProtocol
from jurist.strategies.base import RunView, Strategy
from jurist.types import Item, Judgment, Usage, Verdict


def combine_dimensions(names: Sequence[str], verdicts: Sequence[Verdict],
                       bounds: Sequence[tuple[float, float]] | None = None) -> Verdict:
    """One verdict holding each dimension's verdict in ``dimensions``.

    The whole is *scored* only if every dimension is; otherwise its status is the
    worst one (failed before unscored) and ``error`` names each dimension that
    has no verdict. ``score`` is the mean of the dimensions' scores (on their
    common scale; with different scales, each is first mapped to [0, 1] with
    ``bounds``). It is a convenience summary: the per-dimension verdicts are the result.
    """
    usage = sum((v.usage for v in verdicts), Usage())
    by_name = dict(zip(names, verdicts, strict=True))
    bad = [(name, v) for name, v in by_name.items() if not v.ok]
    if bad:
        status = "failed" if any(v.status == "failed" for _, v in bad) else "unscored"
        error = "; ".join(f"{name}: {v.status}: {v.error or 'no verdict'}" for name, v in bad)
        return Verdict(status=status, kind="score", error=error, dimensions=by_name, usage=usage)
    scores = [v.score for v in verdicts]
    if bounds is not None and len(set(bounds)) > 1:
        scores = [(s - low) / (high - low) for s, (low, high) in zip(scores, bounds, strict=True)]  # type: ignore[operator]
    methods = {v.method for v in verdicts}
    return Verdict(status="scored", kind="score", method=methods.pop() if len(methods) == 1 else "parsed",
                   score=sum(scores) / len(scores),  # type: ignore[arg-type]
                   dimensions=by_name, usage=usage)


class Dimensions(Strategy):
    """Run every view (dimension) of a :class:`DimensionsProtocol` and combine.

    The requests for one item are issued in dimension order; with the default
    source-first template they share the prompt prefix up to the response.
    """

    name = "dimensions"

    def __init__(self, protocol: DimensionsProtocol):
        self.names = protocol.names
        self.bounds = [(min(d.scale.values), max(d.scale.values)) for d in protocol.dimension_set.dimensions]

    async def judge(self, item: Item, run_view: RunView) -> Verdict:
        verdicts = await asyncio.gather(*(run_view(item, view) for view in range(len(self.names))))
        return combine_dimensions(self.names, verdicts, self.bounds)


def dimension_judgments(judgments: Iterable[Judgment], dimension: str) -> list[Judgment]:
    """The judgments as if only ``dimension`` had been judged (for metrics on one dimension).

    Judgments without that dimension are an error (naming the dimensions there are).
    """
    projected = []
    for judgment in judgments:
        dims = judgment.verdict.dimensions
        if dimension not in dims:
            have = ", ".join(dims) or "none"
            raise ValueError(f"item {judgment.item_id}: no dimension {dimension!r} (dimensions: {have})")
        projected.append(judgment.model_copy(update={"verdict": dims[dimension]}))
    return projected
