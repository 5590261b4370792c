"""Rewards for RL from a judge, and preference pairs for DPO, built on the one plan and runner.

:func:`reward_function` turns a plan into the batched callable TRL's trainers take in ``reward_funcs``
(documented at https://huggingface.co/docs/trl/grpo_trainer, "Using a custom reward function"): called with
keyword arguments ``prompts``, ``completions`` and every other dataset column (plus ``completion_ids``,
``trainer_state``...), in the standard format (strings) or the conversational one (lists of
``{"role", "content"}`` messages), it returns one reward per completion.

- A ``score`` plan gives the **probability-weighted score**: the expectation of the scale's values under the
  judge's label probabilities, rescaled to [0, 1] (``1-5``: 1 -> 0, 5 -> 1; ``pass/fail``: P(pass)); a
  continuous reward, not a coarse label.
- A ``compare`` plan gives the **pairwise** reward against a reference response (the dataset column
  ``reference`` by default): P(completion better than reference) + P(tie) / 2, read in both orders when the
  plan swaps (its default), so the reward does not depend on the position.
- **Caching**: a (prompt, completion[, reference]) already judged costs nothing: its reward is kept in memory
  (the most recent ``cache_size``), and a repeated request reaches the store's completion cache anyway.
- **Failures are not rewards**: a judgment that failed or could not be read gives ``None``, which TRL's
  GRPOTrainer documents as "not applicable" (it ignores that reward for that sample); ``failures`` counts
  them and ``last_failures`` says why. ``on_failure="raise"`` raises instead.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from jurist.backends.base import Backend
from jurist.engine.executor import run_judge
from jurist.engine.runner import engine_config
from jurist.engine.store import Store
from jurist.plan import Plan, PlanError
from jurist.types import Item, Judgment, Verdict

__all__ = ["JudgeReward", "PairsExport", "RewardFailure", "completion_text", "preference_pairs", "reward_function"]


class RewardFailure(RuntimeError):
    """A judgment that gave no reward, raised when the reward function is asked to (``on_failure="raise"``)."""


def completion_text(value: Any) -> str:
    """A prompt or completion as text: a string as it is; a conversation (TRL's conversational format: a list
    of ``{"role", "content"}`` messages) as its one message's content, or as ``role: content`` lines."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        value = [value]
    if isinstance(value, Sequence):
        messages = [m for m in value if isinstance(m, Mapping)]
        if len(messages) != len(value):
            raise TypeError(f"expected a string or a list of messages, got {type(value).__name__} of other items")
        texts = [(str(m.get("role", "")), _content(m.get("content"))) for m in messages]
        if len(texts) == 1:
            return texts[0][1]
        return "\n\n".join(f"{role}: {text}" if role else text for role, text in texts)
    raise TypeError(f"expected a string or a list of messages, got {type(value).__name__}")


def _content(content: Any) -> str:
    """A message's content: text, or the text parts of a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping)
                         and part.get("type", "text") == "text")
    return str(content)


@dataclass(frozen=True)
class _Scale:
    low: float
    high: float

    def unit(self, score: float) -> float:
        return (score - self.low) / (self.high - self.low)


class JudgeReward:
    """A plan's judge as a batched reward (see the module doc); made by :func:`reward_function`.

    ``judged`` counts the completions judged, ``cache_hits`` those answered from the reward cache,
    ``failures`` those that gave ``None``; ``last_failures`` holds the reasons of the last call's failures.
    """

    def __init__(self, plan: Plan, *, backends: Mapping[str, Backend] | None = None,
                 store: Store | str | Path | None = None, reference: str = "reference", normalize: bool = True,
                 cache_size: int = 100_000, on_failure: Literal["none", "raise"] = "none"):
        if plan.task not in ("score", "compare"):
            raise PlanError(f"a reward reads score or compare verdicts, not {plan.task}", ("task",))
        if plan.judge.cascade:
            raise PlanError("a cascade's review queue waits for humans: a reward cannot wait", ("judge.cascade",))
        if on_failure not in ("none", "raise"):
            raise ValueError(f"on_failure must be 'none' or 'raise', got {on_failure!r}")
        if plan.engine.progress is None:  # one bar per training step would drown the trainer's log
            plan = plan.with_values({"engine.progress": False})
        self.plan = plan
        self.judge = plan.build(backends)
        self.store = store if isinstance(store, Store) else Store(store or plan.outputs.store or ":memory:")
        self.config = engine_config(plan, self.judge)
        self.reference = reference
        self.on_failure = on_failure
        self.scale = self._scale() if normalize and plan.task == "score" else None
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, ...], float] = OrderedDict()
        self.judged = self.cache_hits = self.failures = 0
        self.last_failures: list[str] = []
        self.__name__ = f"jurist_{'pairwise' if plan.task == 'compare' else 'score'}"  # TRL logs rewards by name

    def _scale(self) -> _Scale | None:
        values = getattr(getattr(self.judge.protocol, "scale", None), "values", None)
        return _Scale(min(values), max(values)) if values else None

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        keys = [(completion_text(p), completion_text(c)) for p, c in zip(prompts, completions, strict=True)]
        if self.plan.task == "compare":
            references = kwargs.get(self.reference)
            if references is None or len(references) != len(keys):
                raise ValueError(f"a pairwise reward compares each completion with the dataset column "
                                 f"{self.reference!r}: give it (one per completion) as a keyword argument")
            keys = [(*key, completion_text(ref)) for key, ref in zip(keys, references, strict=True)]
        missing = list(dict.fromkeys(key for key in keys if key not in self._cache))
        self.cache_hits += len(keys) - len(missing)
        known = {key: self._cache[key] for key in keys if key in self._cache}
        failed: dict[tuple[str, ...], str] = {}
        if missing:
            items = [self._item(str(i), key) for i, key in enumerate(missing)]
            result = run_judge(self.judge, items, store=self.store, config=self.config, name="reward")
            self.judged += len(items)
            by_id = {j.item_id: j for j in result.judgments}
            for item, key in zip(items, missing, strict=True):
                value, why = self._value(by_id.get(item.id))
                if value is None:  # not cached: judged again next time
                    failed[key] = why
                else:
                    known[key] = value
        for key in dict.fromkeys(keys):
            if key in known:
                self._cache[key] = known[key]
                self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        rewards: list[float | None] = [known.get(key) for key in keys]
        self.last_failures = [failed[key] for key in keys if key in failed]
        self.failures += len(self.last_failures)
        if self.last_failures and self.on_failure == "raise":
            raise RewardFailure(f"{len(self.last_failures)} of {len(keys)} judgments gave no reward; the first: "
                                f"{self.last_failures[0]}")
        return rewards

    def _item(self, item_id: str, key: tuple[str, ...]) -> Item:
        if self.plan.task == "compare":
            return Item(id=item_id, input=key[0], candidates=[key[1], key[2]])
        return Item(id=item_id, input=key[0], candidates=[key[1]])

    def _value(self, judgment: Judgment | None) -> tuple[float | None, str]:
        if judgment is None:
            return None, "not judged"
        verdict = judgment.verdict
        if verdict.status != "scored":
            return None, f"{verdict.status}: {verdict.error or (verdict.raw or '')[:200]}"
        if self.plan.task == "compare":
            return _win_probability(verdict), ""
        if verdict.score is None:
            return None, "scored without a score"
        return (self.scale.unit(verdict.score) if self.scale else verdict.score), ""


def _win_probability(verdict: Verdict) -> float | None:
    """P(A better than B) + P(tie) / 2 of a comparison (A is the completion, B the reference)."""
    if verdict.p_a is None or verdict.p_b is None:
        return 1.0 if verdict.preference == "A" else 0.0 if verdict.preference == "B" else 0.5
    return verdict.p_a + 0.5 * (verdict.p_tie or 0.0)


def reward_function(plan: Plan, **options: Any) -> JudgeReward:
    """The plan's judge as a reward function for TRL's ``reward_funcs`` (see :class:`JudgeReward` for the
    ``options``: ``backends``, ``store``, ``reference``, ``normalize``, ``cache_size``, ``on_failure``)."""
    return JudgeReward(plan, **options)


@dataclass(frozen=True)
class PairsExport:
    """Preference pairs and what was left out: ties, unscored/failed verdicts, verdicts below the confidence
    bar, and verdicts of items not in the data."""

    pairs: list[dict[str, str]]
    left_out: dict[str, int]


def preference_pairs(judgments: Sequence[Judgment], items: Mapping[str, Item], min_confidence: float = 0.0
                     ) -> PairsExport:
    """``prompt`` / ``chosen`` / ``rejected`` records (what DPO trainers read) from pairwise verdicts whose
    confidence is at least ``min_confidence``; ties, unread verdicts and those below the bar are counted."""
    pairs: list[dict[str, str]] = []
    left_out = {"tie": 0, "unscored or failed": 0, "below the confidence bar": 0, "not in the data": 0}
    for judgment in judgments:
        verdict = judgment.verdict
        if verdict.kind != "compare":
            raise ValueError(f"item {judgment.item_id!r}: a {verdict.kind} verdict; preference pairs come from "
                             "pairwise (compare) runs")
        if verdict.status != "scored" or verdict.preference is None:
            left_out["unscored or failed"] += 1
        elif verdict.preference == "tie":
            left_out["tie"] += 1
        elif (verdict.confidence or 0.0) < min_confidence:
            left_out["below the confidence bar"] += 1
        elif judgment.item_id not in items:
            left_out["not in the data"] += 1
        else:
            item = items[judgment.item_id]
            chosen, rejected = item.candidates if verdict.preference == "A" else item.candidates[::-1]
            pairs.append({"prompt": item.input, "chosen": chosen, "rejected": rejected})
    return PairsExport(pairs, left_out)
