"""Noisy-verifier corrections of a reward (backward and forward, Cai et al. 2025), on simulated verifiers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jurist.apps.rewards_correction import CorrectedReward, backward_correction, forward_correction
from jurist.metrics.estimation import error_rates

FPR, FNR = 0.2, 0.3


def noisy_verifier(truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A binary verifier that passes wrong completions with FPR and fails right ones with FNR."""
    return np.where(truth, rng.random(truth.size) > FNR, rng.random(truth.size) < FPR).astype(float)


def measured_rates(n: int = 2000, seed: int = 0):
    """The verifier's rates measured on a golden set of ``n`` human-labelled completions."""
    rng = np.random.default_rng(seed)
    human = rng.random(n) < 0.5
    return error_rates(noisy_verifier(human, rng) > 0.5, human)


def reward_of(truth: np.ndarray, rng: np.random.Generator):
    """A TRL-style reward function: completion k is right when truth[k]; the verifier sees it noisily."""
    def verifier_reward(prompts, completions, **kwargs):
        return list(noisy_verifier(truth[np.asarray(completions)], rng))
    return verifier_reward


def test_backward_correction_removes_the_planted_bias_in_expectation():
    rng = np.random.default_rng(1)
    truth = rng.random(50_000) < 0.15
    reward = reward_of(truth, rng)
    corrected = backward_correction(reward, measured_rates(n=20_000))
    completions = list(range(truth.size))
    raw = np.mean(reward([""] * truth.size, completions))
    fixed = np.mean(corrected([""] * truth.size, completions))
    # raw: 0.15 * 0.7 + 0.85 * 0.2 = 0.275, off by 0.125; corrected: the true pass rate, up to the sampling
    # error of the measured rates (about 0.009 here) and of the simulation
    assert raw - truth.mean() == pytest.approx(0.125, abs=0.01)
    assert fixed == pytest.approx(truth.mean(), abs=0.02)


def test_forward_correction_keeps_the_direction_of_the_clean_reward():
    """E[w | R] = J (R - 1): differences between policies are the true ones times J > 0, with FNR alone."""
    rng = np.random.default_rng(2)
    rates = measured_rates()
    means = []
    for p in (0.2, 0.6):  # two policies' true success rates
        truth = rng.random(50_000) < p
        corrected = forward_correction(reward_of(truth, rng), rates)
        means.append(np.mean(corrected([""] * truth.size, list(range(truth.size)))))
    j = 1 - FPR - FNR
    assert means[1] - means[0] == pytest.approx(j * 0.4, abs=0.015)
    assert means[0] == pytest.approx(j * (0.2 - 1), abs=0.015)
    weights = forward_correction(lambda p, c: [1.0, 0.0], rates)([], [])
    assert weights == pytest.approx([rates.fnr, rates.fnr - 1])


def test_rates_are_kept_beside_the_reward_and_named_for_the_log():
    rates = measured_rates()
    corrected = backward_correction(lambda prompts, completions, **kw: [1.0] * len(completions), rates)
    assert corrected.__name__ == "<lambda>_backward_corrected"
    saved = json.loads(json.dumps(corrected.as_dict()))
    assert saved["method"] == "backward" and saved["rates"]["fpr"] == pytest.approx(rates.fpr)
    assert saved["rates"]["sensitivity"]["low"] < rates.sensitivity.value < saved["rates"]["sensitivity"]["high"]


def test_a_verifier_near_chance_is_refused():
    rng = np.random.default_rng(3)
    human = rng.random(200) < 0.5
    weak = error_rates(rng.random(200) < 0.5, human)  # verdicts independent of the truth
    with pytest.raises(ValueError, match="too weak"):
        CorrectedReward(lambda p, c: [], weak, "backward")
    with pytest.raises(ValueError, match="unknown correction"):
        CorrectedReward(lambda p, c: [], measured_rates(), "sideways")  # type: ignore[arg-type]
