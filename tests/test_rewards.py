"""Rewards for RL from a judge (``jurist.rewards``): TRL's reward signature, batching, caching, the pairwise
variant, failures, the noisy-verifier wrappers around it, preference pairs, and a real TRL trainer."""

from __future__ import annotations

import json
import math

import pytest

from jurist.backends.scripted import ScriptedBackend
from jurist.metrics.estimation import error_rates
from jurist.plan import Plan
from jurist.rewards import (
    RewardFailure,
    backward_correction,
    completion_text,
    preference_pairs,
    reward_function,
)
from jurist.types import Item, Judgment, Verdict


def by_length(request):
    """A pointwise judge that likes long answers: P(5) grows with the answer's length; "???" is unreadable."""
    answer = request.messages[-1].text.split("[Response]")[-1].split("[End of response]")[0]
    if "???" in answer:
        return "hmm"
    p = min(len(answer.split()) / 20, 1.0)
    return {"5": p, "1": 1 - p} if 0 < p < 1 else {"5": 1.0} if p >= 1 else {"1": 1.0}


def scripted(script=by_length):
    backend = ScriptedBackend(script, spec="local")
    return backend, {"local": backend}


def test_the_reward_takes_trl_keyword_arguments_and_returns_the_probability_weighted_score():
    backend, backends = scripted(lambda request: {"5": 0.6, "4": 0.3, "1": 0.1})
    reward = reward_function(Plan(task="score"), backends=backends)
    # called exactly as TRL's GRPOTrainer calls a reward function: keyword arguments, extra columns included
    values = reward(prompts=["What is 2+2?", "Name a colour."], completions=[" 4", " blue"],
                    completion_ids=[[19], [6303]], trainer_state=None, ground_truth=["4", "red"])
    expected = (0.6 * 5 + 0.3 * 4 + 0.1 * 1 - 1) / 4  # the expected score, rescaled from 1-5 to [0, 1]
    assert values == [pytest.approx(expected), pytest.approx(expected)]
    assert reward.__name__ == "jurist_score" and len(backend.calls) == 2
    raw = reward_function(Plan(task="score"), backends=backends, normalize=False)
    assert raw(prompts=["q"], completions=["a"]) == [pytest.approx(0.6 * 5 + 0.3 * 4 + 0.1)]


def test_conversational_prompts_and_completions_are_read_as_trl_passes_them():
    assert completion_text([{"role": "assistant", "content": "It is 4."}]) == "It is 4."
    assert completion_text([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]) == (
        "system: Be brief.\n\nuser: 2+2?")
    assert completion_text([{"role": "user", "content": [{"type": "text", "text": "Look:"},
                                                         {"type": "image"}]}]) == "Look:"
    backend, backends = scripted()
    reward = reward_function(Plan(task="score"), backends=backends)
    prompts = [[{"role": "user", "content": "Tell me a story."}]] * 2
    completions = [[{"role": "assistant", "content": "Once upon a time " * 3}],
                   [{"role": "assistant", "content": "No."}]]
    long, short = reward(prompts=prompts, completions=completions)
    assert long > short  # continuous: the longer story gets more of P(5)
    assert "Once upon a time" in backend.calls[0].messages[-1].text
    with pytest.raises(TypeError, match="list of messages"):
        reward(prompts=["q"], completions=[42])


def test_repeated_completions_cost_no_judgment():
    backend, backends = scripted()
    reward = reward_function(Plan(task="score"), backends=backends)
    prompts, completions = ["p1", "p1", "p2", "p1"], ["a b", "a b", "a b", "c d e"]
    first = reward(prompts=prompts, completions=completions)
    assert len(backend.calls) == 3  # (p1, "a b") once, (p2, "a b"), (p1, "c d e")
    assert first[0] == first[1]
    again = reward(prompts=list(reversed(prompts)), completions=list(reversed(completions)))
    assert again == list(reversed(first)) and len(backend.calls) == 3
    assert reward.judged == 3 and reward.cache_hits == 5
    small = reward_function(Plan(task="score"), backends=backends, cache_size=1)
    small(prompts=["x", "y"], completions=["1", "2"])
    small(prompts=["x"], completions=["1"])  # evicted by ("y", "2"): judged again (the store's cache answers it)
    assert small.judged == 3


def test_the_pairwise_reward_compares_each_completion_with_its_reference_in_both_orders():
    def prefer_long(request):
        text = request.messages[-1].text
        a = text.split("[Response A]")[-1].split("[End of response A]")[0]
        b = text.split("[Response B]")[-1].split("[End of response B]")[0]
        return {"A": 0.8, "B": 0.2} if len(a) > len(b) else {"A": 0.3, "B": 0.7}

    backend, backends = scripted(prefer_long)
    plan = Plan(task="compare")
    from jurist.protocols.pairwise import PairwiseProtocol

    probe = PairwiseProtocol().render(Item(id="x", input="q", candidates=["AAA", "BBB"]))
    assert "[Response A]" in probe.messages[-1].text  # the markers the scripted judge reads
    reward = reward_function(plan, backends=backends)
    values = reward(prompts=["q", "q"], completions=["a much longer answer here", "short"],
                    reference=["mid answer", "mid answer"])
    assert len(backend.calls) == 4  # two completions, both orders each
    assert values[0] > 0.5 > values[1]
    assert reward.__name__ == "jurist_pairwise"
    with pytest.raises(ValueError, match="'reference'"):
        reward(prompts=["q"], completions=["a"])
    other = reward_function(plan, backends=backends, reference="gold")
    assert other(prompts=["q"], completions=["a much longer answer here"], gold=["mid answer"]) == [values[0]]


def test_a_failed_judgment_is_none_never_a_made_up_reward():
    backend, backends = scripted()
    reward = reward_function(Plan(task="score"), backends=backends)
    values = reward(prompts=["q", "q"], completions=["fine answer", "??? garbled"])
    assert values[0] is not None and values[1] is None  # TRL ignores None: "not applicable" for that sample
    assert reward.failures == 1 and reward.last_failures[0].startswith("unscored")
    reward(prompts=["q"], completions=["??? garbled"])  # not cached: judged again
    assert reward.judged == 3
    strict = reward_function(Plan(task="score"), backends=backends, on_failure="raise")
    with pytest.raises(RewardFailure, match="1 of 1 judgments gave no reward"):
        strict(prompts=["q"], completions=["??? garbled"])


def test_the_noisy_verifier_wrappers_wrap_the_judge_reward_and_store_their_rates(tmp_path):
    import numpy as np

    def verifier(request):
        text = request.messages[-1].text
        return "hmm" if "???" in text else {"pass": 0.9, "fail": 0.1} if "right" in text else {"pass": 0.3, "fail": 0.7}

    backend, backends = scripted(verifier)
    reward = reward_function(Plan(task="score", protocol={"scale": "pass/fail"}), backends=backends)
    rng = np.random.default_rng(0)
    human = rng.random(400) < 0.5
    judge = np.where(human, rng.random(400) > 0.1, rng.random(400) < 0.2)
    rates = error_rates(judge, human)
    corrected = backward_correction(reward, rates)
    raw = reward(prompts=["q"] * 3, completions=["right", "wrong", "??? x"])
    fixed = corrected(prompts=["q"] * 3, completions=["right", "wrong", "??? x"])
    assert raw[0] == pytest.approx(0.9) and raw[2] is None
    assert fixed[0] == pytest.approx((0.9 - rates.fpr) / (1 - rates.fpr - rates.fnr)) and fixed[2] is None
    assert corrected.rates is rates and corrected.__name__ == "jurist_score_backward_corrected"
    saved = json.loads(corrected.save(tmp_path / "reward_rates.json").read_text())
    assert saved["method"] == "backward" and saved["rates"]["fpr"] == pytest.approx(rates.fpr)


def test_preference_pairs_keep_confident_non_tie_verdicts_only():
    items = {f"i{k}": Item(id=f"i{k}", input=f"prompt {k}", candidates=[f"a{k}", f"b{k}"]) for k in range(6)}

    def judged(item_id, preference, confidence, status="scored"):
        return Judgment(item_id=item_id, protocol="pairwise", judge="x",
                        verdict=Verdict(status=status, kind="compare", preference=preference, confidence=confidence))

    judgments = [judged("i0", "A", 0.9), judged("i1", "B", 0.95), judged("i2", "tie", 0.99),
                 judged("i3", "A", 0.5), judged("i4", None, None, "unscored"), judged("i5", "B", 0.8),
                 judged("gone", "A", 0.99)]
    export = preference_pairs(judgments, items, min_confidence=0.8)
    assert export.pairs == [{"prompt": "prompt 0", "chosen": "a0", "rejected": "b0"},
                            {"prompt": "prompt 1", "chosen": "b1", "rejected": "a1"},
                            {"prompt": "prompt 5", "chosen": "b5", "rejected": "a5"}]
    assert export.left_out == {"tie": 1, "unscored or failed": 1, "below the confidence bar": 1,
                               "not in the data": 1}
    with pytest.raises(ValueError, match="pairwise"):
        preference_pairs([Judgment(item_id="i0", protocol="p", judge="x",
                                   verdict=Verdict(status="scored", kind="score", score=3))], items)


def test_a_real_trl_grpo_trainer_trains_with_the_jurist_reward(tmp_path):
    """TRL's GRPOTrainer on a tiny randomly initialised Qwen2 (config and tokenizer built here: no download),
    two CPU steps, rewarded by a jurist judge (scripted backend)."""
    from datasets import Dataset
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
    from trl import GRPOConfig, GRPOTrainer

    words = "the a good bad answer is question what why how yes no one two three four five . ?".split()
    vocab = {w: i for i, w in enumerate(["<pad>", "<eos>", "<unk>", *words])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.decoder = decoders.WordPiece(prefix="##")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    config = Qwen2Config(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                         pad_token_id=0, eos_token_id=1, bos_token_id=1)
    backend, backends = scripted()
    reward = reward_function(Plan(task="score"), backends=backends)
    dataset = Dataset.from_list([{"prompt": "what is the answer ?"}, {"prompt": "why is it bad ?"}] * 4)
    args = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=6, max_steps=2, logging_steps=1, report_to="none", use_cpu=True,
                      save_strategy="no", learning_rate=1e-3, seed=0)
    trainer = GRPOTrainer(model=Qwen2ForCausalLM(config), processing_class=tokenizer, reward_funcs=reward,
                          args=args, train_dataset=dataset)
    trainer.train()
    assert trainer.state.global_step == 2
    logged = [entry["rewards/jurist_score/mean"] for entry in trainer.state.log_history
              if "rewards/jurist_score/mean" in entry]
    assert len(logged) == 2 and all(0.0 <= value <= 1.0 and not math.isnan(value) for value in logged)
    assert reward.judged + reward.cache_hits == 8  # 2 steps x 4 completions (2 prompts x 2 generations)
    assert reward.judged >= 1 and len(backend.calls) == reward.judged
