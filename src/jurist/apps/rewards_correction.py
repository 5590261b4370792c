"""Rewards corrected for a noisy verifier: the backward and forward corrections of Cai et al. (2025).

When a judge or verifier stands in for ground truth in RL, its binary reward ``R~`` is a noisy channel of
the true reward ``R``: it passes a wrong completion with the false positive rate ``rho0 = P(R~=1 | R=0)``
and fails a right one with the false negative rate ``rho1 = P(R~=0 | R=1)``. Then
``E[R~ | R] = rho0 + (1 - rho0 - rho1) * R``, so the policy is trained on a biased reward.

Xin-Qiang Cai, Wei Wang, Feng Liu, Tongliang Liu, Gang Niu, Masashi Sugiyama, "Reinforcement Learning with
Verifiable yet Noisy Rewards under Imperfect Verifiers", arXiv:2510.00915 (2025), derive two corrections:

**backward** (unbiased surrogate reward)::

    R^ = (R~ - rho0) / (1 - rho0 - rho1)        so that E[R^ | R] = R

It needs both rates; its variance grows as ``1 / J^2`` with Youden's ``J = 1 - rho0 - rho1``.

**forward** (rate-aware reweighting of the score-function terms)::

    w(R~ = 1) = rho1,   w(R~ = 0) = rho1 - 1     so that E[w | R] = J * (R - 1)

In expectation this is the true reward scaled by ``J > 0`` and shifted by a constant, which leaves the
policy-gradient direction unchanged (E[grad log pi] = 0): only ``rho1`` is needed, and the weights stay
in [-1, 1] (the paper finds it the more stable of the two under heavy noise).

Both corrections are affine maps of a binary reward. A trainer that standardises rewards within each group of
completions (GRPO's advantages, ``(r - mean) / std``) removes any affine map, so there a wrapper alone changes
nothing; it matters wherever the reward's level counts: a learned value baseline (PPO), REINFORCE without
normalisation, a sum with other rewards before normalisation, and the logged mean reward (which becomes an
estimate of the true pass rate with ``backward``). The paper implements them as hooks in its GRPO pipeline.

Both wrappers take the rates as :class:`~jurist.metrics.estimation.ErrorRates` measured on a golden set
(with their intervals) and keep them beside the reward (``rates``, ``as_dict()``), and refuse a verifier whose
Youden's J may be below :data:`~jurist.metrics.estimation.MIN_YOUDEN`: no correction exists at ``J <= 0``
(Rad et al., "Rate or Fate? RLVεR: Reinforcement Learning with Verifiable Noisy Rewards", PMLR 306, show that
learning itself reverses there). A reward in [0, 1] that is not binary (a probability of pass) is corrected
by the same affine map, which is unbiased when its mean given ``R`` follows the channel.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from jurist.metrics.estimation import MIN_YOUDEN, ErrorRates

__all__ = ["CorrectedReward", "RewardFn", "backward_correction", "forward_correction"]

RewardFn = Callable[..., list[float | None]]
"""A batched reward, as TRL's trainers take it: ``(prompts, completions, **kwargs) -> list[float]`` (None: no
reward for that completion, which TRL's GRPOTrainer ignores)."""

Method = Literal["backward", "forward"]


class CorrectedReward:
    """A reward function whose values are corrected for the verifier's measured error rates.

    Calling it calls ``reward`` and maps each value; ``rates`` and :meth:`as_dict` are the rates it used,
    with their golden-set intervals, for the training log. ``__name__`` names the wrapped reward and the
    correction (TRL logs each reward under its function's name).
    """

    def __init__(self, reward: RewardFn, rates: ErrorRates, method: Method, *, min_youden: float = MIN_YOUDEN):
        if method not in ("backward", "forward"):
            raise ValueError(f"unknown correction {method!r}: expected backward or forward")
        if rates.n_positive == 0 or (method == "backward" and rates.n_negative == 0):
            raise ValueError("the golden set has no human pass or no human fail: the verifier's rates are unmeasured")
        if not rates.youden.low >= min_youden:
            raise ValueError(f"the verifier is too weak to correct: Youden's J is {rates.youden.format()}, "
                             f"its lower bound must be >= {min_youden}")
        self.reward = reward
        self.rates = rates
        self.method = method
        self.__name__ = f"{getattr(reward, '__name__', type(reward).__name__)}_{method}_corrected"

    def correct(self, values: Sequence[float | None]) -> list[float | None]:
        """The corrected values of raw rewards in [0, 1]; a ``None`` (no reward: a failed judgment) stays None."""
        fpr, fnr = self.rates.fpr, self.rates.fnr
        if self.method == "backward":
            return [None if v is None else (float(v) - fpr) / (1.0 - fpr - fnr) for v in values]
        # forward: w = rho1 for a pass, rho1 - 1 for a fail; linear in between for a probability of pass
        return [None if v is None else float(v) + fnr - 1.0 for v in values]

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        return self.correct(self.reward(prompts, completions, **kwargs))

    def as_dict(self) -> dict[str, Any]:
        """The correction and the rates it used (JSON), to store beside the rewards."""
        return {"reward": self.__name__, "method": self.method, "rates": self.rates.as_dict()}

    def save(self, path: str | Path) -> Path:
        """Write :meth:`as_dict` as JSON (beside the training run's checkpoints); returns the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.as_dict(), indent=2) + "\n", encoding="utf-8")
        return target


def backward_correction(reward: RewardFn, rates: ErrorRates, **options: Any) -> CorrectedReward:
    """The unbiased surrogate ``(R~ - FPR) / (1 - FPR - FNR)`` of a verifier's reward."""
    return CorrectedReward(reward, rates, "backward", **options)


def forward_correction(reward: RewardFn, rates: ErrorRates, **options: Any) -> CorrectedReward:
    """The forward weights ``FNR`` (pass) and ``FNR - 1`` (fail) of a verifier's reward: needs only the FNR."""
    return CorrectedReward(reward, rates, "forward", **options)
