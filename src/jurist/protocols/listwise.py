"""Listwise ranking: N responses shown with letter labels, the judge names the best one.

A view is a permutation of the candidates (:func:`permutation`): views 0..N-1
are the N cyclic shifts, so over N views every candidate is shown once in every
slot; views from N on are seeded random permutations. ``read`` maps the label
distribution back to the item's own candidates: the verdict's ``distribution``
is P(best = candidate i) keyed by the 0-based candidate index (``"0"``, ``"1"``,
...), its ``ranking`` the candidate indices by that probability, best first.
One view is position-biased; :class:`jurist.strategies.permutations.Permutations`
runs several and aggregates them.

A view number also carries the candidate count (``view = order * 32 + n``, see
:meth:`ListwiseProtocol.views`), because ``read`` sees only the completion. View
0 (as used for a rationale) is the candidates in their own order.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from jurist.protocols.base import (
    MIN_LABEL_MASS,
    Protocol,
    builtin_template,
    render_chat,
    text_hash,
)
from jurist.types import Completion, CompletionRequest, Item, Verdict

DEFAULT_CRITERIA = (
    "Prefer the response that follows the instruction most faithfully and is the most helpful, "
    "accurate and harmless."
)
MAX_CANDIDATES = 26  # one letter label each
_STRIDE = 32


def permutation(n: int, view: int, seed: int = 0) -> list[int]:
    """The candidate shown in each slot for ``view``: slot s shows candidate ``permutation(n, view)[s]``."""
    if view < n:
        return [(slot + view) % n for slot in range(n)]
    return [int(i) for i in np.random.default_rng([seed, n, view]).permutation(n)]


def ranking_of(scores: dict[int, float]) -> list[int]:
    """Candidate indices by score, best first; equal scores keep the candidates' own order."""
    return sorted(scores, key=lambda c: (-scores[c], c))


class ListwiseProtocol(Protocol):
    """Asks which of ``item.candidates`` (2..26) is best."""

    name = "listwise"
    kind = "rank"
    version = "1"

    def __init__(self, criteria: str = DEFAULT_CRITERIA, template: str | None = None, seed: int = 0,
                 min_label_mass: float = MIN_LABEL_MASS):
        self._set_min_label_mass(min_label_mass)
        self.criteria = criteria
        self.template = template if template is not None else builtin_template("listwise.j2")
        self.seed = seed

    @property
    def identity(self) -> dict[str, Any]:
        return {"protocol": self.name, "version": self.version, "criteria_hash": text_hash(self.criteria),
                "template_hash": text_hash(self.template), "seed": self.seed, **self._mass_identity()}


    @staticmethod
    def labels_for(n: int) -> list[str]:
        return list(string.ascii_uppercase[:n])

    @staticmethod
    def views(n: int, count: int | None = None) -> list[int]:
        """The view numbers of ``count`` orders (default n: the cyclic shifts) of n candidates."""
        return [order * _STRIDE + n for order in range(n if count is None else count)]

    @staticmethod
    def decode(view: int, n: int) -> int:
        """The order index of a view number (0 for view 0, the candidates' own order)."""
        if view == 0:
            return 0
        if view % _STRIDE != n:
            raise ValueError(f"view {view} is for {view % _STRIDE} candidates, not {n}")
        return view // _STRIDE

    def render(self, item: Item, view: int = 0) -> CompletionRequest:
        n = len(item.candidates)
        if not 2 <= n <= MAX_CANDIDATES:
            raise ValueError(f"item {item.id}: a ranking needs 2 to {MAX_CANDIDATES} candidates, got {n}")
        shown = permutation(n, self.decode(view, n), self.seed)
        labels = self.labels_for(n)
        messages = render_chat(self.template, input=item.input, reference=item.reference, criteria=self.criteria,
                               responses=[(label, item.candidates[c]) for label, c in zip(labels, shown, strict=True)],
                               labels=labels)
        return CompletionRequest(messages=messages, labels=labels, max_tokens=2)

    def read(self, completion: Completion, view: int = 0) -> Verdict:
        n = view % _STRIDE
        if n < 2:
            raise ValueError(f"listwise view {view} does not say how many candidates were shown (use views())")
        labels = self.labels_for(n)
        shown = permutation(n, view // _STRIDE, self.seed)
        read = self.read_labels(completion, labels, "response")
        if isinstance(read, Verdict):
            return read
        by_label, mass, method = read.distribution, read.label_mass, read.method
        p_best = {shown[slot]: by_label[label] for slot, label in enumerate(labels)}
        ranking = ranking_of(p_best)
        distribution = {str(c): p_best[c] for c in range(n)}
        return Verdict(status="scored", kind="rank", method=method, top_label=str(ranking[0]),  # type: ignore[arg-type]
                       distribution=distribution, ranking=ranking,
                       confidence=distribution[str(ranking[0])] if method == "logprobs" else None,
                       label_mass=mass, raw=completion.text, usage=completion.usage,
                       metadata={"permutation": shown})
