"""Human labels from the review app, exported as a golden set.

One JSONL row per labelled queue item serves three readers as it is:

* ``jurist calibrate`` and ``jurist learn`` load items (``id``, ``input``, ``response_a``/``response_b`` or
  ``response``, ``reference``, ``label``; other columns become metadata);
* ``jurist meta`` reads judgments (``item_id``, ``protocol``, ``judge``, ``verdict``, ``label``,
  ``metadata.human_labels``): the run's stored verdict for the item, so the judge is measured against the
  people who reviewed it (``--labels human_labels`` gives the per-annotator ceiling).

``label`` is the strict majority of the annotators (``jurist.metrics.meta``'s rule); a split item keeps its
labels in ``human_labels`` and has no ``label``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from jurist.engine.store import ReviewEntry, ReviewLabel, Store
from jurist.io import write_jsonl
from jurist.metrics.meta import _majority
from jurist.types import Verdict

__all__ = ["golden_rows", "label_options", "task_of", "write_golden"]


def task_of(entry: ReviewEntry) -> str:
    """``compare`` for a pair, ``score`` for one response (the two tasks the review queue holds)."""
    return "compare" if len(entry.item.candidates) == 2 else "score"


def label_options(entry: ReviewEntry, scale: list[str] | None = None) -> list[str]:
    """The labels a reviewer may give: A/B/tie for a pair, the judge's scale (default 1-5) for a score."""
    if task_of(entry) == "compare":
        return ["A", "B", "tie"]
    return [str(s) for s in scale] if scale else ["1", "2", "3", "4", "5"]


def _value(label: str | float, task: str) -> str | float:
    if task == "compare":
        return str(label)
    try:
        return float(label)
    except (TypeError, ValueError):
        return str(label)  # pass/fail, yes/no scales


def golden_rows(store: Store, run_id: str | None = None) -> list[dict[str, Any]]:
    """The labelled queue items of ``run_id`` (every run: None) as golden-set rows, in queue order."""
    labels: dict[tuple[str, str], list[ReviewLabel]] = defaultdict(list)
    for label in store.review_labels(run_id):
        labels[(label.run_id, label.item_id)].append(label)
    rows = []
    for entry in store.review_queue(run_id, status=None):
        given = labels.get((entry.run_id, entry.item_id))
        if not given:
            continue
        task = task_of(entry)
        item = entry.item
        humans = [_value(g.label, task) for g in given]
        judged = store.judgment(entry.run_id, item.id)
        verdict = judged.verdict if judged is not None else Verdict(status="failed", kind=task, error=entry.reason)
        responses = ({"response_a": item.candidates[0], "response_b": item.candidates[1]} if task == "compare"
                     else {"response": item.candidates[0]})
        metadata = {k: v for k, v in item.metadata.items() if k != "cascade"}
        metadata |= {"human_labels": humans, "annotators": [g.annotator for g in given],
                     "notes": {g.annotator: g.note for g in given if g.note}, "run_id": entry.run_id,
                     "review_reason": entry.reason}
        rows.append({"id": item.id, "input": item.input, **responses, "reference": item.reference,
                     "label": _majority(humans), "metadata": metadata,
                     "item_id": item.id, "protocol": judged.protocol if judged else "", "judge":
                     judged.judge if judged else "", "verdict": verdict.model_dump(mode="json")})
    return rows


def write_golden(path: str | os.PathLike[str], store: Store, run_id: str | None = None) -> int:
    """Write :func:`golden_rows` as JSONL (atomically); returns the number of rows."""
    return write_jsonl(Path(path), golden_rows(store, run_id))
