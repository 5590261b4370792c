"""Judges that generalise: every embedded-judge configuration on every pairwise human-labelled set.

A judge x dataset matrix over the seven pairwise sets in ``../shared/datasets`` (MT-Bench human,
Auto-J, PandaLM, LLMEval2, HHH, EvalBiasBench, FairEval): a fixed, seeded sample of
``--per-set`` non-tie pairs of each (prompts of at most ``--max-chars`` (3000) characters, so that a
model job stays within minutes on 2 cores; labels balanced between "A better" and "B better"
where the set has both), every pair judged in both orders. Every default is chosen by
**leave-one-dataset-out**: on the other six sets, and reported on the one left out.

Phases:

``extract``
    For each pair, each template family (``--templates``) and both orders, evaluates the
    rendered prompt once on the embedded model (``--model 0.5b`` or ``1.5b``) and keeps the
    label log-probabilities and the hidden state of every layer at the answer position (the
    layer tap, ``jurist.learn.layers``), plus the prompt tokens and seconds. Also the
    content-free prompts (placeholder pairs) of each template. Cached per request in
    ``~/.cache/jurist/bench/generalization/<model>/`` (key: model + rendered prompt), so the phase
    resumes; it handles at most ``--max-pairs`` uncached pairs per call and exits 3 while work
    remains, so a shell loop can take the shared model lock per chunk::

        while flock /tmp/jurist-model.lock .venv/bin/python benchmarks/generalization.py extract \\
            --model 0.5b --max-pairs 20; [ $? -eq 3 ]; do sleep 1; done
        while flock /tmp/jurist-model.lock .venv/bin/python benchmarks/generalization.py extract \\
            --model 1.5b --templates pairwise --max-pairs 10; [ $? -eq 3 ]; do sleep 1; done

``analyse``
    No model call. The matrix (accuracy with a bootstrap 95% CI per cell, macro mean, worst
    case, prompt tokens and seconds per judgment) for: each template; the template ensemble
    (mean label log-odds over the templates); content-free calibration (single order: both
    orders cancel a constant prior exactly); linear probes on each layer (fitted on the other
    six sets' human labels, layer and strength chosen by an inner leave-one-dataset-out);
    the 1.5B; a jury of the two models. Then the leave-one-dataset-out table: for each set,
    the configuration chosen by worst case on the other six, and its accuracy on the set
    left out, next to the current default; paired differences with bootstrap CIs.
    ``--json OUT`` writes everything (benchmarks/results/generalization.json), including
    ``chosen_vs_default``: the configuration the rule picks on all sets minus the default, paired,
    each complete row's ``minus_default`` (its macro mean minus the default's, paired; a hindsight number,
    as no rule chose the row blind), and ``rule_check``: the same leave-one-dataset-out tables under the
    one-standard-error rule and under the rule itself chosen by an inner leave-one-dataset-out (``choose``).
    Length-neutral levers: the prompt with its own length slope taken out, and probes whose features
    are residualised on the responses' length ratio (``jurist learn --length-neutral``). With several
    templates: plain and length-neutral probes on each template's states, and on the mean of every
    template's state (the ensemble's averaging of wording noise, applied to the features).
    ``--probe-kinds logistic,mass-mean`` adds mass-mean probes (the difference of the class means,
    ``jurist.learn.probe.fit_mass_mean``) on the same states. ``--juries`` adds juries of three or more of
    the 0.5B's rows (``wording_juries``), aggregated as ``jurist.strategies.jury`` does: by mean P(A) and by
    majority vote.

        .venv/bin/python benchmarks/generalization.py analyse --templates pairwise --per-set 100 \
            --no-with-1.5b --json benchmarks/results/generalization.json      # round 2 (docs/quality.md)
        .venv/bin/python benchmarks/generalization.py analyse --per-set 100 \
            --templates pairwise,pairwise_plain,pairwise_question_last \
            --large-templates pairwise,pairwise_question_last \
            --json benchmarks/results/generalization_round3.json  # round 3
        .venv/bin/python benchmarks/generalization.py analyse --templates pairwise --per-set 100 \
            --no-with-1.5b --probe-kinds logistic,mass-mean \
            --json benchmarks/results/generalization_round4.json  # round 4: round 2 with mass-mean probes
        .venv/bin/python benchmarks/generalization.py analyse --per-set 100 --no-with-1.5b \
            --templates pairwise,pairwise_plain,pairwise_question_last --probe-kinds logistic,mass-mean \
            --juries --json benchmarks/results/generalization_round5.json  # round 5: juries of three

    The 1.5B's rows (``--large-templates``) are its prompt and its plain and length-neutral probes per
    template; juries pair it with the 0.5B.

``ship``
    Fits the probe configuration the rule picks on all sets (``--config``; layer and strength from
    ``--results``) on every set's cached features with ``jurist.learn.learner.learn``, writes it to
    ``--out`` (card with the leave-one-dataset-out cells under ``transfer``, weights), then judges a
    few pairs with it on the real model and keeps them as ``examples.jsonl`` (tests/test_heads.py)::

        flock /tmp/jurist-model.lock .venv/bin/python benchmarks/generalization.py ship --templates pairwise \
            --per-set 100 --out src/jurist/heads/pairwise-0.5b
        flock /tmp/jurist-model.lock .venv/bin/python benchmarks/generalization.py ship --model 1.5b \
            --templates pairwise --per-set 100 --config probe \
            --results benchmarks/results/generalization_round3.json --out src/jurist/heads/pairwise-1.5b
        # round 5's jury (local:wording-jury): a mass-mean head per wording, beside pairwise-0.5b-mean
        flock /tmp/jurist-model.lock .venv/bin/python benchmarks/generalization.py ship --per-set 100 \
            --template pairwise_plain --config "mass-mean probe" \
            --results benchmarks/results/generalization_round5.json --out src/jurist/heads/pairwise-0.5b-mean-plain
        flock /tmp/jurist-model.lock .venv/bin/python benchmarks/generalization.py ship --per-set 100 \
            --template pairwise_question_last --config "mass-mean probe" \
            --results benchmarks/results/generalization_round5.json \
            --out src/jurist/heads/pairwise-0.5b-mean-question-last

``fresh``
    Round 6 (docs/quality.md), no model call: ``local:wording-jury`` as it runs (each wording's mass-mean
    head with its fitted temperature, the jury the mean of their calibrated P(A)), A: leave-one-dataset-out
    on the ``--per-set`` samples every round used, and B: on the pairs of the wider ``--fresh-per-set``
    sample that are not in them (extract them first with ``--per-set 200``), the shipped heads themselves
    and A's jury, each against ``local`` on the same pairs::

        .venv/bin/python benchmarks/generalization.py fresh --per-set 100 --fresh-per-set 200 \
            --json benchmarks/results/generalization_round6.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "datasets"
CACHE = Path.home() / ".cache" / "jurist" / "bench" / "generalization"
SETS: dict[str, tuple[str, str]] = {  # name -> (path under datasets/, io preset)
    "mtbench": ("mt_bench/human_pairwise_nontie_200_llmbar.json", "llmbar"),
    "autoj": ("autoj_pairwise/testdata_pairwise.jsonl", "autoj"),
    "pandalm": ("pandalm/testset-v1.json", "pandalm"),
    "llmeval2": ("llmeval2/llmeval2_nontie200_llmbar.json", "llmbar"),
    "hhh": ("hhh_alignment/hhh_alignment.jsonl", "hhh"),
    "evalbiasbench": ("evalbiasbench/biasbench.json", "evalbiasbench"),
    "faireval": ("faireval/faireval_nontie66_llmbar.json", "llmbar"),
}
TEMPLATES = ("pairwise", "pairwise_plain", "pairwise_question_last")
LARGE_TEMPLATES = ("pairwise",)  # the 1.5B is ~3x slower: by default the default template only (--large-templates)
# Placeholder pairs for content-free calibration: the judge's prior when there is nothing to judge.
CONTENT_FREE = (("", "", ""), ("N/A", "N/A", "N/A"), ("[instruction]", "[response]", "[response]"))


def item_chars(item: Any) -> int:
    return len(item.input or "") + sum(len(c) for c in item.candidates)


def sample(name: str, per_set: int, max_chars: int) -> list[Any]:
    """``per_set`` non-tie pairs of a set, seeded; as many "A better" as "B better" where the set has both."""
    from jurist.io import load_items

    path, preset = SETS[name]
    items = [i for i in load_items(SHARED / path, task="compare", preset=preset).items
             if i.label in ("A", "B") and item_chars(i) <= max_chars]
    rng = random.Random(f"generalization-{name}")
    by_label = {label: [i for i in items if i.label == label] for label in ("A", "B")}
    for group in by_label.values():
        rng.shuffle(group)
    if not by_label["B"] or not by_label["A"]:  # HHH, EvalBiasBench: every gold is A; both orders balance it
        return (by_label["A"] or by_label["B"])[:per_set]
    half = per_set // 2
    picked = by_label["A"][:half] + by_label["B"][:per_set - half]
    rng.shuffle(picked)
    return picked


def protocol_for(template: str) -> Any:
    from jurist.protocols import PairwiseProtocol
    from jurist.protocols.base import builtin_template

    return PairwiseProtocol(template=builtin_template(f"{template}.j2"))


def content_free_items() -> list[Any]:
    from jurist.types import Item

    return [Item(id=f"content-free-{n}", input=q, candidates=[a, b]) for n, (q, a, b) in enumerate(CONTENT_FREE)]


def model_sha(model: str) -> str:
    from jurist.backends.models import MODELS

    return MODELS[model].sha256


def cache_file(model: str, key: str) -> Path:
    return CACHE / model / f"{key}.npz"


def schedule(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """(set, item) in round-robin order over the sets, content-free items first: a partial run is usable."""
    queues = {name: sample(name, args.per_set, args.max_chars) for name in SETS}
    order: list[tuple[str, Any]] = [("content-free", item) for item in content_free_items()]
    for position in range(args.per_set):
        order += [(name, queue[position]) for name, queue in queues.items() if position < len(queue)]
    return order


def extract_phase(args: argparse.Namespace) -> int:
    from jurist.backends.embedded import EmbeddedBackend
    from jurist.learn.features import LlamaFeatureExtractor, request_key

    sha = model_sha(args.model)
    (CACHE / args.model).mkdir(parents=True, exist_ok=True)
    protocols = {t: protocol_for(t) for t in args.templates}
    todo = []
    for name, item in schedule(args):
        requests = [(t, p.render(item, view)) for t, p in protocols.items() for view in (0, 1)]
        keys = [request_key(sha, r) for _, r in requests]
        if not all(cache_file(args.model, k).exists() for k in keys):
            todo.append((name, item, requests, keys))
    print(f"{args.model}: {len(todo)} pairs to extract", flush=True)
    if not todo:
        return 0
    # --threads 1 when other jobs share the cores: llama.cpp's threads wait for each other at every
    # graph node, and one descheduled thread stalls the rest (measured: 10x slower under load)
    extractor = LlamaFeatureExtractor(EmbeddedBackend(args.model, n_ctx=4096, n_threads=args.threads), layers=True)
    started = time.monotonic()
    for name, item, requests, keys in todo[: args.max_pairs]:
        for (_, request), key in zip(requests, keys):
            target = cache_file(args.model, key)
            if target.exists():
                continue
            f = extractor.extract(request)
            assert f.layers is not None
            np.savez(target, labels=np.array(list(f.label_logprobs)), logprobs=np.array(list(f.label_logprobs.values())),
                     layers=f.layers.astype(np.float16), prompt_tokens=f.prompt_tokens, seconds=f.seconds)
    print(f"{args.model}: extracted {min(len(todo), args.max_pairs)} pairs in {time.monotonic() - started:.0f} s",
          flush=True)
    return 3 if len(todo) > args.max_pairs else 0


# -- analysis (no model call) -------------------------------------------------------------------

def _log_odds(f: Any) -> float:
    """log P(A shown) - log P(B shown) at the answer position."""
    order = {str(label): i for i, label in enumerate(f["labels"])}
    a, b = (max(float(f["logprobs"][order[label]]), -30.0) for label in ("A", "B"))
    return a - b


def load_views(model: str, args: argparse.Namespace, layers_of: int = 0) -> dict[str, Any]:
    """Per set: y (1 = A better), log-odds [template, pair, view], layers [pair, view, layer, dim] (of the
    template at index ``layers_of``), tokens and seconds [template, pair, view]; pairs missing any request
    are left out."""
    from jurist.learn.features import request_key
    from jurist.learn.probe import length_ratio

    sha = model_sha(model)
    protocols = {t: protocol_for(t) for t in args.templates}
    out: dict[str, Any] = {}
    by_set: dict[str, list[Any]] = {}
    for name, item in schedule(args):
        by_set.setdefault(name, []).append(item)
    for name, items in by_set.items():
        rows: dict[str, list[Any]] = {"y": [], "odds": [], "layers": [], "tokens": [], "seconds": [], "id": [],
                                      "length": []}
        for item in items:
            paths = [[cache_file(model, request_key(sha, p.render(item, v))) for v in (0, 1)]
                     for p in protocols.values()]
            if not all(path.exists() for pair in paths for path in pair):
                continue
            loaded = [[np.load(path) for path in pair] for pair in paths]
            rows["y"].append(1.0 if item.label == "A" else 0.0)
            rows["odds"].append([[_log_odds(f) for f in pair] for pair in loaded])
            rows["layers"].append(np.stack([f["layers"] for f in loaded[layers_of]]).astype(np.float32))
            rows["tokens"].append([[int(f["prompt_tokens"]) for f in pair] for pair in loaded])
            rows["seconds"].append([[float(f["seconds"]) for f in pair] for pair in loaded])
            rows["id"].append(item.id)
            rows["length"].append([length_ratio(item.candidates[0], item.candidates[1]),
                                   length_ratio(item.candidates[1], item.candidates[0])])
        if rows["y"]:
            out[name] = {"y": np.array(rows["y"]), "odds": np.array(rows["odds"]).transpose(1, 0, 2),
                         "layers": np.stack(rows["layers"]), "tokens": np.array(rows["tokens"]).transpose(1, 0, 2),
                         "seconds": np.array(rows["seconds"]).transpose(1, 0, 2), "id": rows["id"],
                         "length": np.array(rows["length"])}
    return out


def both_orders(odds: np.ndarray) -> np.ndarray:
    """P(A better) - 0.5 as the Swap strategy computes it from the two orders' log-odds of "shown first"
    (the mean of the two views' probabilities): > 0 chooses A, whatever the temperature."""
    from scipy.special import expit

    return (expit(odds[..., 0]) + expit(-odds[..., 1])) / 2 - 0.5


def accuracy(score: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per pair: 1 right, 0 wrong, 0.5 for an exact tie of the scores (neither side chosen)."""
    return np.where(score == 0, 0.5, ((score > 0) == (y > 0.5)).astype(float))


def estimate(correct: np.ndarray) -> list[float]:
    from jurist.metrics.uncertainty import bootstrap

    if len(correct) == 0:
        return [float("nan")] * 3
    e = bootstrap(lambda c: np.asarray(c.mean(axis=-1)), correct.astype(float), seed=0, vectorized=True)
    return [round(float(e.value), 4), round(float(e.low), 4), round(float(e.high), 4)]


def paired(a: np.ndarray, b: np.ndarray) -> list[float]:
    """Mean of a - b (per-pair correctness) with a paired bootstrap 95% CI."""
    return estimate(a - b)


def _features(layers: np.ndarray, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """The two views' states at ``layer``: x0 (A shown first), x1 (B shown first)."""
    return layers[:, 0, layer, :], layers[:, 1, layer, :]


PROBE_KINDS = {"logistic": "probe", "mass-mean": "mass-mean probe"}  # kind -> its rows' name


def _fit(x0: np.ndarray, x1: np.ndarray, y: np.ndarray, c: float, kind: str = "logistic") -> Any:
    """A per-view linear probe ("the response shown first is better") on both views of every pair:
    ``logistic`` is fitted exactly as ``jurist learn`` fits one (standardiser + L2 logistic regression,
    strength ``c``); ``mass-mean`` is the difference of the class means (``c`` unused)."""
    from jurist.learn.probe import fit_linear, fit_mass_mean

    x = np.vstack([x0, x1])
    t = np.concatenate([y, 1 - y])
    if kind == "mass-mean":
        return fit_mass_mean(x, t)
    return fit_linear(x, t, np.zeros(len(t)), regression=False, seed=0, strength=c)[0]


def _probe_scores(model: Any, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    return both_orders(np.stack([model.decision(x0), model.decision(x1)], axis=-1))


_FITS: dict[tuple[Any, ...], Any] = {}


def probe_on(train: dict[str, Any], test: dict[str, Any], layer: int, c: float,
             length_neutral: bool = False, kind: str = "logistic") -> np.ndarray:
    """Fit on every set of ``train`` at ``layer``; the order-symmetric scores of ``test``'s pairs.
    ``length_neutral``: every feature is first residualised on the length log-ratio of the two responses
    (slopes from the training views), so the probe cannot read length linearly, as ``jurist learn
    --length-neutral`` fits it (``jurist.learn.probe``). Fits are memoised: the outer and inner
    leave-one-dataset-out loops share them."""
    from jurist.learn.probe import residualise_length

    key = (id(next(iter(train.values()))["layers"]), tuple(sorted(train)), layer, c, length_neutral, kind)
    if key not in _FITS:
        x0 = np.vstack([_features(d["layers"], layer)[0] for d in train.values()])
        x1 = np.vstack([_features(d["layers"], layer)[1] for d in train.values()])
        slope = np.zeros(x0.shape[1])
        if length_neutral:
            length = np.concatenate([d["length"][:, 0] for d in train.values()])
            x0, x1, slope = residualise_length(x0, x1, length)
        _FITS[key] = (_fit(x0, x1, np.concatenate([d["y"] for d in train.values()]), c, kind), slope)
    model, slope = _FITS[key]
    t0, t1 = _features(test["layers"], layer)
    return _probe_scores(model, t0 - np.outer(test["length"][:, 0], slope), t1 - np.outer(test["length"][:, 1], slope))


def prompt_length_neutral(train: dict[str, Any], test: dict[str, Any], t_index: int) -> np.ndarray:
    """The prompted verdict with the judge's own length slope (its log-odds of "shown first" on the length
    log-ratio, fitted on the training sets' views, no labels needed) taken out, then both orders."""
    from jurist.learn.probe import length_slope

    odds = np.concatenate([d["odds"][t_index].T.ravel() for d in train.values()])
    length = np.concatenate([d["length"].T.ravel() for d in train.values()])
    slope = float(length_slope(odds[:, None], length)[0])
    return both_orders(test["odds"][t_index] - slope * test["length"])


def choose_probe(sets: dict[str, Any], layers: list[int], strengths: list[float],
                 length_neutral: bool = False, kind: str = "logistic") -> tuple[int, float, dict]:
    """Layer and strength by leave-one-dataset-out inside ``sets``, picked by ``choose``'s worst-case rule."""
    correct: dict[str, dict[str, np.ndarray]] = {}
    for layer in layers:
        for c in strengths:
            correct[f"{layer}@{c}"] = {}
            for held in sets:
                train = {k: v for k, v in sets.items() if k != held}
                correct[f"{layer}@{c}"][held] = accuracy(
                    probe_on(train, sets[held], layer, c, length_neutral, kind), sets[held]["y"])
    best = choose(correct, list(correct), list(sets), "worst")
    layer, c = best.split("@")
    held_out = {k: [float(a.mean()) for a in v.values()] for k, v in correct.items()}
    return int(layer), float(c), {k: [round(min(v), 4), round(float(np.mean(v)), 4)] for k, v in held_out.items()}


RULES = ("worst", "one-se", "nested")


def choose(correct: dict[str, dict[str, np.ndarray]], pool: list[str], sets: list[str], rule: str = "worst") -> str:
    """The configuration of ``pool`` a selection rule picks from its per-pair correctness on ``sets``.

    ``worst`` is the issue's rule: the best worst case, then the best mean. ``one-se`` treats worst cases
    within one standard error of the best one as tied (the standard error of the best configuration's
    worst set, per pair) and picks the best mean among them: a worst case is a minimum of noisy
    estimates, and a lead of a pair or two is noise. ``nested`` picks between those two by a
    leave-one-dataset-out inside ``sets`` (each rule chooses on all but one, is scored on that one; the
    better worst case, then mean), so the rule, too, is chosen blind to any set left out above.
    """
    def mean(config: str, n: str) -> float:
        return round(float(correct[config][n].mean()), 4)

    worst = {c: min(mean(c, n) for n in sets) for c in pool}
    macro = {c: float(np.mean([mean(c, n) for n in sets])) for c in pool}
    best = max(pool, key=lambda c: (worst[c], macro[c]))
    if rule == "worst":
        return best
    if rule == "one-se":
        weakest = correct[best][min(sets, key=lambda n: mean(best, n))]
        se = float(weakest.std(ddof=1) / np.sqrt(len(weakest))) if len(weakest) > 1 else 0.0
        return max((c for c in pool if worst[c] >= worst[best] - se), key=lambda c: (macro[c], worst[c]))
    if rule == "nested":
        return choose(correct, pool, sets, inner_rule(correct, pool, sets))
    raise ValueError(f"unknown selection rule {rule!r}: one of {', '.join(RULES)}")


def inner_rule(correct: dict[str, dict[str, np.ndarray]], pool: list[str], sets: list[str]) -> str:
    """The base rule (``worst`` or ``one-se``) whose leave-one-dataset-out inside ``sets`` has the better
    worst case, then mean; ``worst`` on a tie."""
    scored = {}
    for rule in ("worst", "one-se"):
        held_out = [float(correct[choose(correct, pool, [n for n in sets if n != held], rule)][held].mean())
                    for held in sets]
        scored[rule] = (round(min(held_out), 4), round(float(np.mean(held_out)), 4))
    return max(("worst", "one-se"), key=lambda r: scored[r])


def probe_label(model: str, kind: str, source: str | None, length_neutral: bool) -> str:
    """The name of a probe's rows, before " (LODO layer)" or " layer <n>"."""
    return f"{model} {PROBE_KINDS[kind]}" + f"[{source}]" * (source is not None) + ", length-neutral" * length_neutral


JURY_AGGREGATES = ("mean", "majority")  # as jurist.strategies.jury aggregates a pairwise jury (learned weights aside)


def jury_score(members: list[np.ndarray], aggregate: str) -> np.ndarray:
    """A jury's per-pair score from its members' scores (P(A) - 0.5, both orders): their mean (the mean of P(A)),
    or their mean vote, where a member's exact 0 abstains and a split vote is a tie (0)."""
    stacked = np.stack(members)
    return stacked.mean(axis=0) if aggregate == "mean" else np.sign(stacked).mean(axis=0)


def wording_juries(templates: list[str], kinds: list[str]) -> list[tuple[str, list[str], list[int]]]:
    """Round 5's juries of the 0.5B, as (name without the aggregate, member rows, template rows they read):
    one member per wording, for the prompt and for each probe kind, plain and length-neutral; and on each
    wording, its prompt with its plain probe of every kind (with both kinds: a jury of three)."""
    def source(t_index: int) -> str | None:
        return None if t_index == 0 else templates[t_index]

    every = list(range(len(templates)))
    juries = [(f"0.5b jury of the wordings' prompts{neutral}", [f"0.5b {t}{neutral}" for t in templates], every)
              for neutral in ("", ", length-neutral")]
    for kind in kinds:
        for neutral in (False, True):
            members = [probe_label("0.5b", kind, source(t), neutral) + " (LODO layer)" for t in every]
            juries.append((f"0.5b jury of the wordings' {PROBE_KINDS[kind]}s" + ", length-neutral" * neutral,
                           members, every))
    if len(kinds) > 1:
        for t_index, template in enumerate(templates):
            members = [f"0.5b {template}"] + [probe_label("0.5b", kind, source(t_index), False) + " (LODO layer)"
                                              for kind in kinds]
            juries.append((f"0.5b jury[{template}] of its prompt and probes", members, [t_index]))
    return juries


def _probe_rows(data: dict[str, Any], names: list[str], model: str, source: str | None, layers: list[int],
                strengths: list[float], length_neutral: bool = False, kind: str = "logistic"
                ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, Any]]:
    """Probe configurations of one model on one template's states (``source``; None: the default template):
    for each held-out set, layer and strength chosen on the other sets (inner leave-one-dataset-out) and
    fitted on them; plus one row per layer at a fixed strength. Rows are named "<model> <kind>[<source>]
    [, length-neutral] (LODO layer)" and "... layer <n>"."""
    label = probe_label(model, kind, source, length_neutral)
    rows: dict[str, dict[str, np.ndarray]] = {f"{label} (LODO layer)": {}}
    rows |= {f"{label} layer {layer}": {} for layer in layers}
    choice: dict[str, Any] = {}
    for held in names:
        train = {k: data[k] for k in names if k != held}
        layer, c, _ = choose_probe(train, layers, strengths, length_neutral, kind)
        rows[f"{label} (LODO layer)"][held] = probe_on(train, data[held], layer, c, length_neutral, kind)
        choice[held] = {"layer": layer, "C": c}
        print(f"{label} for {held}: layer {layer}, C {c}", flush=True)
        for fixed in layers:
            rows[f"{label} layer {fixed}"][held] = probe_on(train, data[held], fixed, 0.01, length_neutral, kind)
    layer, c, table = choose_probe({k: data[k] for k in names}, layers, strengths, length_neutral, kind)
    choice["all sets"] = {"layer": layer, "C": c, "inner_lodo_worst_mean": table}
    return rows, choice


def _aligned(views: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    """``views`` cut to the pairs of ``like``, in its order (a cache still being filled may hold more)."""
    out = {}
    for n, reference in like.items():
        index = _subset(views[n], reference["id"])
        out[n] = {k: [v[i] for i in index] if k == "id" else v[:, index] if k in ("odds", "tokens", "seconds")
                  else v[index] for k, v in views[n].items()}
    return out


def _subset(data: dict[str, Any], ids: list[str]) -> np.ndarray:
    """Indices of ``ids`` in a set's pairs (to line two models up on the pairs both judged)."""
    where = {item_id: i for i, item_id in enumerate(data["id"])}
    return np.array([where[i] for i in ids])


def layers_to_try(data: dict[str, Any], every: bool = False) -> list[int]:
    """The layers a probe's layer is chosen among: every third (fourth for deeper models) and the last."""
    n_layers = next(iter(data.values()))["layers"].shape[2] - 1  # the last row is the normed final state
    step = 3 if n_layers <= 24 else 4
    return list(range(n_layers + 1)) if every else sorted({*range(2, n_layers, step), n_layers})


def analyse_phase(args: argparse.Namespace) -> int:
    small = load_views("0.5b", args)
    names = [n for n in SETS if n in small]
    print("pairs per set (0.5b):", {n: len(small[n]["y"]) for n in names}, flush=True)
    large_templates = list(args.large_templates)
    large_args = argparse.Namespace(**{**vars(args), "templates": large_templates})
    large = load_views("1.5b", large_args) if args.with_large else {}
    if args.with_large and len(large) < len(names):
        print(f"1.5b: cached on {sorted(large) or 'no set'} of {len(names)} sets: extract --model 1.5b for the rest",
              flush=True)
    large_names = [n for n in names if n in large]
    templates = list(args.templates)
    cf = content_free_prior("0.5b", args)
    strengths = [0.01]  # one middle strength: a grid multiplies the fits (minutes each on 2 busy cores)

    def layer_grid(data: dict[str, Any]) -> list[int]:
        return layers_to_try(data, args.all_layers)

    # per configuration and set: (P(A better) - 0.5 per pair, both orders; gold y); a jury is the mean of
    # its members' P(A), as jurist's juries aggregate
    configs: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    cost: dict[str, dict[str, float]] = {}

    def add(name: str, scores: dict[str, np.ndarray], data: dict[str, Any], template_rows: list[int]) -> None:
        configs[name] = {n: (s, data[n]["y"]) for n, s in scores.items()}
        cost[name] = _cost(data, list(scores), template_rows)

    for t_index, template in enumerate(templates):
        add(f"0.5b {template}", {n: both_orders(small[n]["odds"][t_index]) for n in names}, small, [t_index])
        add(f"0.5b {template}, length-neutral",
            {n: prompt_length_neutral({k: small[k] for k in names if k != n}, small[n], t_index) for n in names},
            small, [t_index])
    prompted = {n: both_orders(small[n]["odds"].mean(axis=0)) for n in names}
    if len(templates) > 1:
        add("0.5b ensemble", prompted, small, list(range(len(templates))))
    # probes on each template's states, and on the mean of every template's state (the ensemble's averaging
    # of wording noise, applied to the features instead of the label log-odds); each kind, plain and
    # length-neutral. probe_choice[model] is keyed "[mass-mean ]<template>[, length-neutral]" for both
    # models (see ship_phase)
    small_choice: dict[str, Any] = {}
    views = [small] + [_aligned(load_views("0.5b", args, layers_of=t), small) for t in range(1, len(templates))]
    if len(templates) > 1:
        views.append({n: {**small[n], "layers": np.mean([v[n]["layers"] for v in views], axis=0)} for n in names})
    sources = [(0, None)] + [(t, templates[t]) for t in range(1, len(templates))]
    sources += [(len(templates), "ensemble")] * (len(templates) > 1)
    for kind in args.probe_kinds:
        for t_index, source in sources:
            template_rows = [t_index] if t_index < len(templates) else list(range(len(templates)))
            for neutral in (False, True):
                key = "mass-mean " * (kind == "mass-mean") + (source or templates[0]) + ", length-neutral" * neutral
                probes, small_choice[key] = _probe_rows(views[t_index], names, "0.5b", source, layer_grid(small),
                                                        strengths, neutral, kind)
                for name, scores in probes.items():
                    add(name, scores, views[t_index], template_rows)
    # a jury of the probe and the prompt (the ensemble when there are several templates): mean P(A)
    jury_of = "ensemble" if len(templates) > 1 else "prompt"
    add(f"0.5b probe + {jury_of}",
        {n: (configs["0.5b probe (LODO layer)"][n][0] + prompted[n]) / 2 for n in names},
        small, list(range(len(templates))))
    if args.juries:  # round 5: juries of three or more of the above, by jurist's two aggregates that fit nothing
        for jury, members, template_rows in wording_juries(templates, args.probe_kinds):
            for aggregate in JURY_AGGREGATES:
                add(f"{jury} ({aggregate})",
                    {n: jury_score([configs[m][n][0] for m in members], aggregate) for n in names},
                    small, template_rows)
    large_choice: dict[str, Any] = {}
    if large_names:
        for t_index, template in enumerate(large_templates):
            add(f"1.5b {template}", {n: both_orders(large[n]["odds"][t_index]) for n in large_names}, large, [t_index])
            add(f"1.5b {template}, length-neutral",
                {n: prompt_length_neutral({k: large[k] for k in large_names if k != n}, large[n], t_index)
                 for n in large_names}, large, [t_index])
            data = large if t_index == 0 else _aligned(load_views("1.5b", large_args, layers_of=t_index), large)
            for kind in args.probe_kinds:
                for neutral in (False, True):
                    key = "mass-mean " * (kind == "mass-mean") + template + ", length-neutral" * neutral
                    probes, large_choice[key] = _probe_rows(data, large_names, "1.5b", template if t_index else None,
                                                            layer_grid(data), strengths, neutral, kind)
                    for name, scores in probes.items():
                        add(name, scores, data, [t_index])
        juries = [("jury 0.5b + 1.5b, question last", "0.5b pairwise_question_last", "1.5b pairwise_question_last"),
                  ("jury 0.5b + 1.5b, default template", "0.5b pairwise", "1.5b pairwise"),
                  ("jury 0.5b probe + 1.5b probe", "0.5b probe (LODO layer)", "1.5b probe (LODO layer)")]
        for jury, a, b in juries:
            if a not in configs or b not in configs:
                continue
            scores = {}
            for n in large_names:
                index = _subset(small[n], large[n]["id"])
                scores[n] = (configs[a][n][0][index] + configs[b][n][0]) / 2
            configs[jury] = {n: (s, large[n]["y"]) for n, s in scores.items()}
            cost[jury] = {k: cost[a][k] + cost[b][k] for k in cost[a]}

    # single order, raw and content-free calibrated (both orders cancel a constant prior exactly)
    single = {}
    for t_index, template in enumerate(templates):
        for n in names:
            odds, y = small[n]["odds"][t_index], small[n]["y"]
            raw = (accuracy(odds[:, 0], y).mean() + accuracy(-odds[:, 1], y).mean()) / 2
            calibrated = (accuracy(odds[:, 0] - cf[template], y).mean()
                          + accuracy(-(odds[:, 1] - cf[template]), y).mean()) / 2
            single.setdefault(template, {})[n] = [round(float(raw), 4), round(float(calibrated), 4)]

    matrix = {}
    for config, cells_data in configs.items():
        cells = {n: estimate(accuracy(s, y)) for n, (s, y) in cells_data.items()}
        accs = [cells[n][0] for n in cells]
        matrix[config] = {"cells": cells, "macro": round(float(np.mean(accs)), 4), "worst": round(float(min(accs)), 4),
                          "worst_set": min(cells, key=lambda n: cells[n][0]), "cost": cost[config],
                          "pairs": {n: len(y) for n, (_, y) in cells_data.items()},
                          "complete": len(cells) == len(names)}
    # leave-one-dataset-out choice among configurations judged on every set (the per-layer rows are
    # inspection only: their layer was not chosen blind)
    candidates = [c for c in matrix if matrix[c]["complete"] and not c.split()[-2:-1] == ["layer"]]
    default = "0.5b pairwise"
    small_only = [c for c in candidates if c.startswith("0.5b")]
    large_only = [c for c in candidates if c.startswith("1.5b")]

    correct = {c: {n: accuracy(s, y) for n, (s, y) in cells_data.items()} for c, cells_data in configs.items()}

    def baseline_on(baseline: str, held: str, pairs: int) -> np.ndarray:
        """``baseline``'s per-pair correctness on ``held``, cut to the pairs a 1.5B configuration judged when
        it judged fewer (a 1.5B configuration against a 0.5B one: the pairs both judged)."""
        base_scores, base_y = configs[baseline][held]
        if pairs != len(base_y):
            index = _subset(small[held], large[held]["id"])
            base_scores, base_y = base_scores[index], base_y[index]
        return accuracy(base_scores, base_y)

    def lodo_table(pool: list[str], baseline: str, rule: str = "worst") -> tuple[dict[str, Any], dict[str, Any]]:
        """For each held-out set: ``rule``'s choice among ``pool`` on the other sets (see ``choose``), its
        accuracy on the held-out set, and the paired difference against ``baseline``."""
        table, mine, theirs = {}, {}, {}
        for held in names:
            others = [n for n in names if n != held]
            chosen = choose(correct, pool, others, rule)
            scores, y = configs[chosen][held]
            mine[held], theirs[held] = accuracy(scores, y), baseline_on(baseline, held, len(y))
            table[held] = {"chosen": chosen, "accuracy": estimate(mine[held]), "default": estimate(theirs[held]),
                           "difference": paired(mine[held], theirs[held]), "pairs": int(len(y))}
            if rule == "nested":
                table[held]["rule"] = inner_rule(correct, pool, others)
        summary = {"lodo_macro": _macro(mine), "default_macro": _macro(theirs),
                   "macro_difference": _macro({n: mine[n] - theirs[n] for n in names}),
                   "lodo_worst": round(min(float(v.mean()) for v in mine.values()), 4),
                   "default_worst": round(min(float(v.mean()) for v in theirs.values()), 4)}
        return table, summary

    lodo, lodo_summary = lodo_table(candidates, default)
    # each model's preset by the same rule among that model's configurations, against its prompted default
    # (the "local" and "local:1.5b")
    lodo_by_model = {}
    for model, pool, baseline in (("0.5b", small_only, default), ("1.5b", large_only, "1.5b pairwise")):
        if pool and baseline in pool:
            table, summary = lodo_table(pool, baseline)
            lodo_by_model[model] = {"baseline": baseline, "folds": table, "summary": summary}
    # the same tables under the other selection rules (``choose``): does the verdict on the rule hold?
    pools = {"any": (candidates, default), "0.5b": (small_only, default), "1.5b": (large_only, "1.5b pairwise")}
    rule_check = {}
    for rule in RULES[1:]:
        for label, (pool, baseline) in pools.items():
            if pool and baseline in pool:
                table, summary = lodo_table(pool, baseline, rule)
                rule_check.setdefault(rule, {})[label] = {"baseline": baseline, "folds": table, "summary": summary,
                                                          "chosen_on_all_sets": choose(correct, pool, names, rule)}
    # every configuration judged on every set minus the default, paired (macro over the sets): what each
    # row would give if it were chosen, which no rule above did blind to the set left out
    for config in candidates:
        matrix[config]["minus_default"] = _macro(
            {n: correct[config][n] - baseline_on(default, n, len(correct[config][n])) for n in names})
    pick = lambda pool: choose(correct, pool, names) if pool else None  # noqa: E731
    # the configuration the rule picks on all seven sets, against the default: paired per set and macro
    rule_choice = pick(small_only)
    versus_default = {}
    if rule_choice is not None and rule_choice != default:
        mine = {n: accuracy(*configs[rule_choice][n]) for n in names}
        theirs = {n: accuracy(*configs[default][n]) for n in names}
        versus_default = {"configuration": rule_choice,
                          "per_set": {n: paired(mine[n], theirs[n]) for n in names},
                          "macro_difference": _macro({n: mine[n] - theirs[n] for n in names})}
    result = {"pairs": {n: len(small[n]["y"]) for n in names}, "templates": templates, "matrix": matrix,
              "chosen_vs_default": versus_default,
              "single_order_raw_vs_content_free": single, "content_free_prior": cf,
              "probe_choice": {"0.5b": small_choice, "1.5b": large_choice},
              "lodo": lodo, "lodo_summary": lodo_summary, "lodo_by_model": lodo_by_model, "rule_check": rule_check,
              "chosen_on_all_sets": {"any": pick(candidates), "0.5b": pick(small_only), "1.5b": pick(large_only),
                                     "most_accurate": max(candidates, key=lambda c: matrix[c]["macro"])}}
    _print(result, names)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


def _macro(per_pair: dict[str, np.ndarray]) -> list[float]:
    """Macro mean over sets with a bootstrap CI (pairs resampled within each set)."""
    rng = np.random.default_rng(0)
    draws = np.zeros(2000)
    for values in per_pair.values():
        index = rng.integers(0, len(values), size=(2000, len(values)))
        draws += values[index].mean(axis=1)
    draws /= len(per_pair)
    value = float(np.mean([v.mean() for v in per_pair.values()]))
    return [round(value, 4), round(float(np.percentile(draws, 2.5)), 4), round(float(np.percentile(draws, 97.5)), 4)]


def _cost(data: dict[str, Any], names: list[str], templates: list[int]) -> dict[str, float]:
    """Prompt tokens and seconds per judgment (both orders, every template of the configuration)."""
    tokens = np.mean([data[n]["tokens"][templates].sum(axis=(0, 2)).mean() for n in names])
    seconds = np.mean([np.median(data[n]["seconds"][templates].sum(axis=(0, 2))) for n in names])
    return {"prompt_tokens": round(float(tokens), 1), "seconds": round(float(seconds), 2)}


def content_free_prior(model: str, args: argparse.Namespace) -> dict[str, float]:
    """Per template: the mean log-odds of "A" over the placeholder pairs (both views render the same prompt)."""
    from jurist.learn.features import request_key

    sha = model_sha(model)
    prior = {}
    for template in args.templates:
        protocol = protocol_for(template)
        values = [_log_odds(np.load(cache_file(model, request_key(sha, protocol.render(item, 0)))))
                  for item in content_free_items()
                  if cache_file(model, request_key(sha, protocol.render(item, 0))).exists()]
        prior[template] = round(float(np.mean(values)), 4) if values else 0.0
    return prior


class CachedFeatures:
    """The extract phase's cached layer states as a ``jurist.learn`` feature source: a head is fitted by
    ``jurist.learn.learner.learn`` (the fit ``jurist learn`` makes) without a model call."""

    groups = ("layer",)

    def __init__(self, model: str, layer: int):
        self.model, self.layer = model, layer
        self.spec = "local" if model == "0.5b" else f"local:{model}"
        self.sha256 = model_sha(model)

    def dimension(self, labels: Any) -> int:
        raise NotImplementedError  # learn() reads the dimension from the vectors

    def vector(self, request: Any, fields: Any) -> tuple[np.ndarray, int]:
        from jurist.learn.features import request_key

        cached = np.load(cache_file(self.model, request_key(self.sha256, request)))
        return cached["layers"][self.layer].astype(np.float64), int(cached["prompt_tokens"])


def _probe_choice(choices: dict[str, Any], template: str, neutral: bool, kind: str = "logistic") -> dict[str, Any]:
    """The layer and strength chosen on all sets for a probe on ``template``'s states. Results keyed
    "[mass-mean ]<template>[, length-neutral]"; round 2's file (generalization.json, the default template
    and logistic probes only) keeps the plain probe's choices at the top and the length-neutral one's under
    "length-neutral"."""
    key = "mass-mean " * (kind == "mass-mean") + template + ", length-neutral" * neutral
    if key in choices:
        return choices[key]["all sets"]
    if kind != "logistic":
        raise KeyError(f"no {key!r} probe in these results: analyse with --probe-kinds {kind} first")
    return choices["length-neutral"]["all sets"] if neutral else choices["all sets"]


def ship_phase(args: argparse.Namespace) -> int:
    """Fit the chosen head on every set (the layer chosen by leave-one-dataset-out over all of them, the
    strength the matrix used), write it into ``args.out`` with its card and the leave-one-dataset-out
    accuracy of the same configuration, then judge a few pairs with it on the real model and keep those
    verdicts (examples.jsonl) for the test that reproduces them."""
    from jurist.api import compare
    from jurist.learn.features import request_key
    from jurist.learn.learner import learn
    from jurist.learn.probe import save_probe

    result = json.loads(args.results.read_text(encoding="utf-8"))
    neutral = args.config.endswith("length-neutral")
    kind = "mass-mean" if args.config.startswith("mass-mean") else "logistic"
    wording = args.template  # the template whose states the head reads (a jury member per wording: round 5)
    row_name = f"{args.model} {args.config}{'' if wording == 'pairwise' else f'[{wording}]'} (LODO layer)"
    if row_name not in result["matrix"]:
        print(f"{args.results} has no row {row_name!r}: run analyse with that configuration first", file=sys.stderr)
        return 2
    row = result["matrix"][row_name]
    choice = _probe_choice(result["probe_choice"][args.model], wording, neutral, kind)
    layer, strength = choice["layer"], choice["C"] if kind == "logistic" else None  # a mass-mean probe has none
    source = CachedFeatures(args.model, layer)
    protocol = protocol_for(wording)
    by_set: dict[str, list[Any]] = {}
    for name, item in schedule(args):  # the pairs the matrix was measured on (every view extracted)
        if name in SETS and all(cache_file(args.model, request_key(source.sha256, protocol.render(item, v))).exists()
                                for v in (0, 1)):
            by_set.setdefault(name, []).append(item)
    items = [item for group in by_set.values() for item in group]
    learned = learn(items, protocol, source, length_neutral=neutral, strength=strength, estimator=kind)
    card = learned.card
    card.features["extractor"] = "LlamaFeatures"  # fitted on the cached states of the same tap
    card.transfer = {"benchmark": "benchmarks/generalization.py", "configuration": args.config, "template": wording,
                     "pairs_per_set": {n: len(g) for n, g in by_set.items()}, "layer": layer, "C": strength,
                     "leave_one_dataset_out": row["cells"], "macro": row["macro"], "worst": row["worst"],
                     "worst_set": row["worst_set"]}
    save_probe(args.out, card, learned.model)
    # the first two pairs of each set, judged live; kept: the first --examples whose P(A) is not within 0.01
    # of 0.5 (the test compares preferences too, and rounding on another CPU must not flip one)
    candidates = [item.model_copy(update={"id": f"{name}-{item.id}"})  # ids repeat across sets
                  for name, group in by_set.items() for item in group[:2]]
    judged = compare(candidates, judge=f"probe:{args.out}", template=wording).judgments
    kept = [(item, j) for item, j in zip(candidates, judged, strict=True)
            if j.verdict.p_a is not None and abs(j.verdict.p_a - 0.5) >= 0.01][: args.examples]
    examples, verdicts = [item for item, _ in kept], [j for _, j in kept]
    with (args.out / "examples.jsonl").open("w", encoding="utf-8") as handle:
        for item, judgment in zip(examples, verdicts, strict=True):
            v = judgment.verdict
            handle.write(json.dumps({"id": item.id, "input": item.input, "response_a": item.candidates[0],
                                     "response_b": item.candidates[1], "p_a": v.p_a, "preference": v.preference},
                                    ensure_ascii=False) + "\n")
    print(f"shipped {args.model} {args.config} (layer {layer}, C {strength}) to {args.out}: {card.data['n']} pairs, "
          f"examples {[round(j.verdict.p_a or 0, 4) for j in verdicts]}")
    return 0


# -- round 6: the shipped jury as it runs, and on fresh pairs -------------------------------------------------

# local:wording-jury's heads, one per wording of TEMPLATES, in that order
WORDING_JURY_HEADS = ("pairwise-0.5b-mean", "pairwise-0.5b-mean-plain", "pairwise-0.5b-mean-question-last")


def calibrated_probe(train: dict[str, Any], layer: int) -> tuple[Any, float, int]:
    """A mass-mean probe fitted on every set of ``train`` at ``layer`` as ``jurist learn`` fits a head
    (``fit_probe``: the temperature from 5-fold out-of-fold scores): (model, temperature, layer)."""
    from jurist.learn.probe import fit_probe

    x0 = np.vstack([_features(d["layers"], layer)[0] for d in train.values()]).astype(np.float64)
    x1 = np.vstack([_features(d["layers"], layer)[1] for d in train.values()]).astype(np.float64)
    fit = fit_probe("compare", x0, np.concatenate([d["y"] for d in train.values()]), x_swapped=x1,
                    estimator="mass-mean")
    return fit.model, fit.temperature, layer


def calibrated_scores(probe: tuple[Any, float, int], data: dict[str, Any]) -> np.ndarray:
    """P(A better) - 0.5 of ``data``'s pairs as a head judges them: each order's score over the temperature,
    the two orders' probabilities averaged (``ProbeBackend`` under the Swap strategy)."""
    from jurist.learn.probe import pair_probability

    model, temperature, layer = probe
    x0, x1 = (x.astype(np.float64) for x in _features(data["layers"], layer))
    return pair_probability(model.decision(x0), model.decision(x1), temperature) - 0.5


def _split(views: dict[str, Any], keep: dict[str, set[str]], inside: bool) -> dict[str, Any]:
    """Per set, the pairs whose id is (``inside``) or is not in ``keep[set]``; sets left empty are dropped."""
    like = {n: {"id": [i for i in d["id"] if (i in keep.get(n, set())) == inside]} for n, d in views.items()}
    return _aligned(views, {n: v for n, v in like.items() if v["id"]})


def fresh_phase(args: argparse.Namespace) -> int:
    """Round 6 (docs/quality.md): A, the shipped jury's configuration (calibrated members) leave-one-dataset-out
    on the samples every round used; B, the shipped heads and A's jury on the pairs of ``--fresh-per-set``
    that are not in those samples, each against ``local`` on the same pairs."""
    from jurist.heads import head_dir
    from jurist.learn.probe import load_probe

    templates = list(TEMPLATES)
    wide = argparse.Namespace(**{**vars(args), "templates": templates, "per_set": args.fresh_per_set})
    views = [load_views("0.5b", wide)]
    views += [_aligned(load_views("0.5b", wide, layers_of=t), views[0]) for t in range(1, len(templates))]
    used = {n: {item.id for item in sample(n, args.per_set, args.max_chars)} for n in SETS}
    old = [_split(v, used, inside=True) for v in views]
    new = [_split(v, used, inside=False) for v in views]
    names = [n for n in SETS if n in old[0]]
    if [len(old[0][n]["y"]) for n in names] != [len(used[n]) for n in names]:
        print(f"the old samples are not all cached: extract --per-set {args.per_set} first", file=sys.stderr)
        return 2
    fresh = [n for n in names if n in new[0]]
    print("old pairs:", {n: len(old[0][n]["y"]) for n in names}, "fresh pairs:", {n: len(new[0][n]["y"]) for n in fresh},
          flush=True)
    grid = layers_to_try(old[0])

    def local(data: dict[str, Any]) -> np.ndarray:
        return accuracy(both_orders(data["odds"][0]), data["y"])

    # A: per held-out set, each wording's calibrated mass-mean probe fitted on the other six sets' old samples
    lodo_old: dict[str, np.ndarray] = {}
    lodo_new: dict[str, np.ndarray] = {}
    # added after the declared test ran: the default wording's head alone (local:mass-mean-head's configuration)
    single_old: dict[str, np.ndarray] = {}
    single_new: dict[str, np.ndarray] = {}
    layers: dict[str, list[int]] = {}
    for held in names:
        probes = []
        for t in range(len(templates)):
            train = {k: old[t][k] for k in names if k != held}
            layer, _, _ = choose_probe(train, grid, [0.01], False, "mass-mean")
            probes.append(calibrated_probe(train, layer))
        layers[held] = [p[2] for p in probes]
        lodo_old[held] = accuracy(jury_score([calibrated_scores(p, old[t][held]) for t, p in enumerate(probes)],
                                             "mean"), old[0][held]["y"])
        single_old[held] = accuracy(calibrated_scores(probes[0], old[0][held]), old[0][held]["y"])
        if held in fresh:
            lodo_new[held] = accuracy(jury_score([calibrated_scores(p, new[t][held]) for t, p in enumerate(probes)],
                                                 "mean"), new[0][held]["y"])
            single_new[held] = accuracy(calibrated_scores(probes[0], new[0][held]), new[0][held]["y"])
        print(f"A: {held} left out, layers {layers[held]}: {lodo_old[held].mean():.3f}", flush=True)
    # B: the shipped heads as they are
    heads = []
    for name in WORDING_JURY_HEADS:
        card, model = load_probe(head_dir(name))
        heads.append((model, card.temperature, int(card.features["layer"])))
    shipped = {n: [calibrated_scores(h, new[t][n]) for t, h in enumerate(heads)] for n in fresh}

    def row(per_set: dict[str, np.ndarray], baseline: dict[str, np.ndarray]) -> dict[str, Any]:
        cells = {n: estimate(c) for n, c in per_set.items()}
        return {"cells": cells, "macro": _macro(per_set), "worst": min(c[0] for c in cells.values()),
                "worst_set": min(cells, key=lambda n: cells[n][0]),
                "minus_local": {n: paired(per_set[n], baseline[n]) for n in per_set},
                "macro_minus_local": _macro({n: per_set[n] - baseline[n] for n in per_set})}

    local_old = {n: local(old[0][n]) for n in names}
    local_new = {n: local(new[0][n]) for n in fresh}
    result = {
        "pairs": {"old": {n: len(old[0][n]["y"]) for n in names}, "fresh": {n: len(new[0][n]["y"]) for n in fresh}},
        "A_lodo_old": {"local": row(local_old, local_old), "jury": row(lodo_old, local_old),
                       "default wording's head alone": row(single_old, local_old), "layers": layers},
        "B_fresh": {
            "local": row(local_new, local_new),
            "shipped jury (local:wording-jury)": row(
                {n: accuracy(jury_score(shipped[n], "mean"), new[0][n]["y"]) for n in fresh}, local_new),
            **{f"shipped head {name}": row({n: accuracy(shipped[n][t], new[0][n]["y"]) for n in fresh}, local_new)
               for t, name in enumerate(WORDING_JURY_HEADS)},
            "A's leave-one-dataset-out jury": row(lodo_new, local_new),
            "A's default wording's head alone": row(single_new, local_new)},
    }
    # added after the declared test ran: is the jury better than its default wording's head alone, which costs a
    # third as much? Paired, macro over the sets
    jury_new = {n: accuracy(jury_score(shipped[n], "mean"), new[0][n]["y"]) for n in fresh}
    alone_new = {n: accuracy(shipped[n][0], new[0][n]["y"]) for n in fresh}
    result["jury_minus_default_wording_head"] = {
        "A_lodo_old": _macro({n: lodo_old[n] - single_old[n] for n in names}),
        "B_fresh_shipped": _macro({n: jury_new[n] - alone_new[n] for n in fresh}),
        "B_fresh_lodo": _macro({n: lodo_new[n] - single_new[n] for n in fresh})}
    print("jury minus the default wording's head alone:", result["jury_minus_default_wording_head"], flush=True)
    for part in ("A_lodo_old", "B_fresh"):
        for label, r in result[part].items():
            if label == "layers":
                continue
            cells = ", ".join(f"{n} {c[0]:.3f}" for n, c in r["cells"].items())
            print(f"{part} {label}: {cells}; macro {r['macro']}, worst {r['worst']} ({r['worst_set']}), "
                  f"minus local {r['macro_minus_local']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


def _print(result: dict[str, Any], names: list[str]) -> None:
    print("\nconfiguration | " + " | ".join(names) + " | macro | worst | tokens | s")
    for config, row in result["matrix"].items():
        cells = " | ".join(f"{row['cells'][n][0]:.3f}" if n in row["cells"] else "-" for n in names)
        print(f"{config} | {cells} | {row['macro']:.3f} | {row['worst']:.3f} | {row['cost']['prompt_tokens']:.0f} | "
              f"{row['cost']['seconds']:.2f}")
    print("\nleave-one-dataset-out:")
    for n, row in result["lodo"].items():
        print(f"  {n}: chose {row['chosen']}: {row['accuracy']} vs default {row['default']}, diff {row['difference']}")
    print("summary:", result["lodo_summary"], "chosen on all sets:", result["chosen_on_all_sets"])
    for model, table in result["lodo_by_model"].items():
        print(f"leave-one-dataset-out among the {model}'s configurations, against {table['baseline']}:")
        for n, row in table["folds"].items():
            print(f"  {n}: chose {row['chosen']}: {row['accuracy']} vs {row['default']}, diff {row['difference']}")
        print("  summary:", table["summary"])
    for rule, tables in result["rule_check"].items():
        for label, table in tables.items():
            s = table["summary"]
            print(f"rule {rule} among {label}, against {table['baseline']}: macro difference {s['macro_difference']}, "
                  f"worst {s['lodo_worst']} vs {s['default_worst']}; chose "
                  + ", ".join(f"{n}: {row['chosen']}" + (f" ({row['rule']})" if "rule" in row else "")
                              for n, row in table["folds"].items()))
    if result["chosen_vs_default"]:
        print("chosen on all sets minus default (paired):", result["chosen_vs_default"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=["extract", "analyse", "ship", "fresh"])
    parser.add_argument("--model", default="0.5b", choices=["0.5b", "1.5b"])
    parser.add_argument("--templates", type=lambda s: s.split(","), default=list(TEMPLATES))
    parser.add_argument("--with-1.5b", dest="with_large", action=argparse.BooleanOptionalAction, default=True,
                        help="analyse: add the 1.5B's rows from its cache (--no-with-1.5b: the 0.5B only, so the "
                             "result does not depend on what else this machine has cached)")
    parser.add_argument("--large-templates", type=lambda s: s.split(","), default=list(LARGE_TEMPLATES),
                        help="analyse: the 1.5B's templates (each must be extracted with --model 1.5b first)")
    parser.add_argument("--probe-kinds", type=lambda s: s.split(","), default=["logistic"],
                        help="analyse: probe kinds, comma-separated: logistic (as `jurist learn` fits), mass-mean "
                             "(the difference of the class means; round 4)")
    parser.add_argument("--juries", action="store_true",
                        help="analyse: add juries of the 0.5B's configurations, one member per wording (needs three "
                             "or more --templates), each by mean and by majority (round 5)")
    parser.add_argument("--per-set", type=int, default=30)
    parser.add_argument("--fresh-per-set", type=int, default=200,
                        help="fresh: the wider sample whose pairs outside --per-set's are the fresh ones (round 6)")
    parser.add_argument("--max-chars", type=int, default=3000)
    parser.add_argument("--max-pairs", type=int, default=20)
    parser.add_argument("--all-layers", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: every core)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--results", type=Path, default=Path("benchmarks/results/generalization.json"),
                        help="ship: the analyse phase's JSON (the layer chosen on all sets)")
    parser.add_argument("--config", default="probe, length-neutral",
                        choices=["probe", "probe, length-neutral", "mass-mean probe"],
                        help="ship: which probe configuration")
    parser.add_argument("--template", default="pairwise", choices=list(TEMPLATES),
                        help="ship: the wording whose states the head reads (its preset renders it)")
    parser.add_argument("--out", type=Path, help="ship: the head's directory (src/jurist/heads/NAME)")
    parser.add_argument("--examples", type=int, default=4, help="ship: pairs judged live and kept")
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        print(f"needs the shared datasets at {SHARED}", file=sys.stderr)
        return 2
    unknown = sorted(set(args.probe_kinds) - set(PROBE_KINDS))
    if unknown:
        parser.error(f"--probe-kinds: unknown {', '.join(unknown)}: use {', '.join(PROBE_KINDS)}")
    if args.juries and len(args.templates) < 3:
        parser.error("--juries needs three or more --templates (one jury member per wording)")
    if args.phase == "ship" and args.out is None:
        parser.error("ship needs --out")
    if args.phase == "fresh" and args.fresh_per_set <= args.per_set:
        parser.error("fresh needs --fresh-per-set above --per-set (the fresh pairs are those outside --per-set's)")
    return {"extract": extract_phase, "analyse": analyse_phase, "ship": ship_phase,
            "fresh": fresh_phase}[args.phase](args)


if __name__ == "__main__":
    sys.exit(main())
