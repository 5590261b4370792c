"""Response-adapted reference (RevisEval): revise the response with the gold answer, then judge against it."""

from __future__ import annotations

from jurist.protocols.reference import JUDGE_VIEW, REVISE_VIEW
from jurist.strategies.base import RunView, Strategy
from jurist.types import Item, Verdict


class AdaptedReference(Strategy):
    """Two requests per item: the revision (a bounded generation), then the yes/no judgment.

    The judgment compares the response with its own revision, a reference close to
    it in wording and form, so the judge's comparison turns on content. The
    revision is kept in ``metadata["adapted_reference"]``; the usage of both
    requests is counted. A failed or empty revision fails (or leaves unscored) the
    item: judging against no reference would be a different protocol.
    """

    name = "adapted-reference"

    async def judge(self, item: Item, run_view: RunView) -> Verdict:
        revision = await run_view(item, REVISE_VIEW)
        if not revision.ok:
            return Verdict(status=revision.status, kind="score", error=f"revision: {revision.error}",
                           raw=revision.raw, usage=revision.usage, metadata={"reference": "adapted"})
        assert revision.raw is not None
        verdict = await run_view(item.model_copy(update={"reference": revision.raw}), JUDGE_VIEW)
        verdict.usage = revision.usage + verdict.usage
        verdict.metadata = {**verdict.metadata, "reference": "adapted", "adapted_reference": revision.raw}
        return verdict
