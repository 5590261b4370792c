"""Rewards for RL: ``jurist.rewards.reward_function(plan)`` and the noisy-verifier corrections beside it.

The code lives in :mod:`jurist.apps.rewards` (the judge as a TRL reward, preference pairs for DPO) and
:mod:`jurist.apps.rewards_correction` (backward and forward corrections for a verifier's measured error).
"""

from jurist.apps.rewards import JudgeReward, PairsExport, RewardFailure, completion_text, preference_pairs, reward_function
from jurist.apps.rewards_correction import CorrectedReward, RewardFn, backward_correction, forward_correction

__all__ = ["CorrectedReward", "JudgeReward", "PairsExport", "RewardFailure", "RewardFn", "backward_correction",
           "completion_text", "forward_correction", "preference_pairs", "reward_function"]
