"""Learned judges (probes on the embedded model) vs the prompted embedded judge, on real human labels.

Phases:

``extract``
    For each pair of the training sets (Auto-J, PandaLM, HHH, LLMEval2: up to
    ``--per-set`` non-tie pairs each, a seeded sample; one order per pair, alternating)
    and of the 200 MT-Bench human pairs (both orders), renders the default pairwise
    prompt and reads the features (last hidden state + label log-probs) from the
    base model, in an interleaved order so that a partial run is usable. Each
    request's features are cached in ``~/.cache/jurist/bench/features/<key>.npz``
    (key = hash of model + rendered prompt), so the phase resumes. It handles at
    most ``--max-pairs`` uncached pairs per call and exits 3 while work remains, so a
    shell loop can take the shared model lock per chunk::

        while flock /tmp/jurist-model.lock python benchmarks/learned.py extract --max-pairs 40; \\
            [ $? -eq 3 ]; do sleep 1; done

    Pairs whose prompt (either order) is longer than ``--max-tokens`` (1500) are
    skipped and counted.

``cost``
    Loads the model: seconds per request with a cold KV cache, the prompted judge
    (which decodes 2 tokens) against the probe's feature pass, on the first ``--max-pairs``
    MT-Bench pairs, both orders.

``encoder``
    No LLM: the encoder judge (numpy MiniLM) on the MT-Bench pairs whose question has
    a GPT-4 reference; see :func:`reference_items` for what the labels mean.

``analyse``
    No model call. Fits the pairwise probe on the training sets and evaluates on
    MT-Bench (accuracy with a bootstrap 95% CI, ECE, log-loss), next to the prompted
    judge on the same pairs (computed from the same label log-probs, both orders
    averaged, which is exactly what ``jurist compare --judge local`` does), the
    in-domain cross-validated probe on MT-Bench (folds by question), and
    leave-one-dataset-out (single order). ``--json OUT`` writes the numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared/datasets"
CACHE = Path.home() / ".cache/jurist/bench/features"
SETS: dict[str, tuple[str, str]] = {  # name -> (path under datasets/, io preset)
    "mtbench": ("mt_bench/human_pairwise_nontie_200_llmbar.json", "llmbar"),
    "autoj": ("autoj_pairwise/testdata_pairwise.jsonl", "autoj"),
    "pandalm": ("pandalm/testset-v1.json", "pandalm"),
    "hhh": ("hhh_alignment/hhh_alignment.jsonl", "hhh"),
    "llmeval2": ("llmeval2/llmeval2_nontie200_llmbar.json", "llmbar"),
}
TRAIN_SETS = ("autoj", "pandalm", "hhh", "llmeval2")


def load_set(name: str, per_set: int) -> list[Any]:
    from jurist.io import load_items

    path, preset = SETS[name]
    items = [item for item in load_items(SHARED / path, task="compare", preset=preset).items if item.label in ("A", "B")]
    if name != "mtbench" and len(items) > per_set:
        items = random.Random(f"learned-{name}").sample(items, per_set)
    return items


def schedule(per_set: int) -> list[tuple[str, Any, tuple[int, ...]]]:
    """All pairs with the views to extract, interleaved so that a partial run is usable.

    Rounds of 10 MT-Bench pairs (both orders: the evaluation needs the order-symmetric
    verdict) and 5 pairs of each training set in one order, alternating which order
    (training needs one row per pair: the per-view score has no position feature,
    and alternating the order keeps "shown first is better" balanced). CPU time is
    the constraint: this halves the cost of the training sets.
    """
    queues = {name: load_set(name, per_set) for name in SETS}
    order: list[tuple[str, Any, tuple[int, ...]]] = []
    position = dict.fromkeys(SETS, 0)
    while any(queues.values()):
        for name, queue in queues.items():
            take = 10 if name == "mtbench" else 5
            for item in queue[:take]:
                views = (0, 1) if name == "mtbench" else (position[name] % 2,)
                order.append((name, item, views))
                position[name] += 1
            del queue[:take]
    return order


def cache_path(key: str) -> Path:
    return CACHE / f"{key}.npz"


def extract_phase(args: argparse.Namespace) -> int:
    from jurist.backends.embedded import EmbeddedBackend
    from jurist.backends.models import MODELS
    from jurist.learn.features import LlamaFeatureExtractor, request_key
    from jurist.protocols import PairwiseProtocol

    CACHE.mkdir(parents=True, exist_ok=True)
    protocol = PairwiseProtocol()
    sha = MODELS["0.5b"].sha256
    todo = []
    for name, item, views in schedule(args.per_set):
        requests = [protocol.render(item, view) for view in views]
        keys = [request_key(sha, r) for r in requests]
        if not all(cache_path(k).exists() for k in keys):
            todo.append((name, item, requests, keys))
    print(f"{len(todo)} pairs to extract", flush=True)
    if not todo:
        return 0
    extractor = LlamaFeatureExtractor(EmbeddedBackend("0.5b"))
    started = time.monotonic()
    for name, item, requests, keys in todo[: args.max_pairs]:
        lengths = [extractor.prompt_length(r) for r in requests]
        if max(lengths) > args.max_tokens:
            for key, length in zip(keys, lengths):
                np.savez(cache_path(key), skipped=True, prompt_tokens=length)
            continue
        for request, key in zip(requests, keys):
            f = extractor.extract(request)
            np.savez(cache_path(key), skipped=False, hidden=f.hidden,
                     labels=np.array(list(f.label_logprobs)), logprobs=np.array(list(f.label_logprobs.values())),
                     prompt_tokens=f.prompt_tokens, seconds=f.seconds,
                     cached_prompt_tokens=f.extra.get("cached_prompt_tokens", 0.0))
    print(f"extracted {min(len(todo), args.max_pairs)} pairs in {time.monotonic() - started:.0f} s", flush=True)
    return 3 if len(todo) > args.max_pairs else 0


# -- analysis (no model call) -------------------------------------------------------------------

def _cached_sets(per_set: int) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """Per set, the extracted views: rows (features, "shown first is better", pair, view), costs; skip counts.

    A feature row is ``[hidden (896), log P(A), log P(B)]`` (labels as shown).
    """
    from jurist.backends.models import MODELS
    from jurist.learn.features import request_key
    from jurist.protocols import PairwiseProtocol

    protocol, sha = PairwiseProtocol(), MODELS["0.5b"].sha256
    data: dict[str, dict[str, list[Any]]] = {name: {k: [] for k in ("x", "t", "pair", "view", "group", "y", "id",
                                                                     "seconds", "tokens")} for name in SETS}
    skipped = dict.fromkeys(SETS, 0)
    for number, (name, item, views) in enumerate(schedule(per_set)):
        paths = [cache_path(request_key(sha, protocol.render(item, view))) for view in views]
        if not all(p.exists() for p in paths):
            continue
        loaded = [np.load(p) for p in paths]
        if any(bool(f["skipped"]) for f in loaded):
            skipped[name] += 1
            continue
        y = 1.0 if item.label == "A" else 0.0
        for view, f in zip(views, loaded):
            order = {str(label): i for i, label in enumerate(f["labels"])}
            lp = [max(float(f["logprobs"][order[label]]), -30.0) for label in ("A", "B")]
            d = data[name]
            d["x"].append(np.concatenate([f["hidden"].astype(np.float64), lp]))
            d["t"].append(y if view == 0 else 1.0 - y)
            d["pair"].append(number)
            d["view"].append(view)
            d["group"].append(str(item.metadata.get("question_id", f"{name}-{number}")))
            d["y"].append(y)
            d["id"].append(item.id)
            d["seconds"].append(float(f["seconds"]))
            d["tokens"].append(int(f["prompt_tokens"]))
    out = {name: {k: np.array(v) if k != "x" else np.vstack(v) for k, v in d.items()}
           for name, d in data.items() if d["x"]}
    return out, skipped


def _pairs_of(d: dict[str, Any]) -> dict[str, np.ndarray]:
    """The pairs with both views: x0, x1 (A shown first / B shown first), y (1 = A better), group."""
    rows = {(int(p), int(v)): i for i, (p, v) in enumerate(zip(d["pair"], d["view"]))}
    both = sorted({p for p, _ in rows if (p, 0) in rows and (p, 1) in rows})
    first, second = [rows[(p, 0)] for p in both], [rows[(p, 1)] for p in both]
    return {"x0": d["x"][first], "x1": d["x"][second], "y": d["y"][first], "group": d["group"][first],
            "id": d["id"][first]}


def _shown_first(x: np.ndarray) -> np.ndarray:
    """The prompted judge's P(the response shown first is better), from log P(A), log P(B)."""
    lp = x[:, -2:]
    p = np.exp(lp - lp.max(axis=1, keepdims=True))
    return p[:, 0] / p.sum(axis=1)


def _prompted(pairs: dict[str, np.ndarray]) -> np.ndarray:
    """P(A better) of the prompted judge, both orders averaged (what Swap does with the label log-probs)."""
    return (_shown_first(pairs["x0"]) + (1 - _shown_first(pairs["x1"]))) / 2


COLUMNS = {"hidden+label": slice(None), "hidden": slice(0, -2), "label": slice(-2, None)}


def _metrics(p: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    from jurist.learn.probe import _binary_metrics

    m = _binary_metrics(p, y, seed=0)
    return {k: (round(v, 4) if isinstance(v, float) else [round(c, 4) for c in v] if isinstance(v, list) else v)
            for k, v in m.items()}


def _paired_gain(p: np.ndarray, q: np.ndarray, y: np.ndarray) -> list[float]:
    """Accuracy of ``p`` minus accuracy of ``q`` on the same pairs, with a paired bootstrap 95% CI."""
    from jurist.metrics.uncertainty import bootstrap

    diff = ((p > 0.5) == (y > 0.5)).astype(float) - ((q > 0.5) == (y > 0.5)).astype(float)
    e = bootstrap(lambda d: np.asarray(d.mean(axis=-1)), diff, seed=0, vectorized=True)
    return [round(e.value, 4), round(e.low, 4), round(e.high, 4)]


def _fit_views(train: list[dict[str, Any]], columns: slice) -> Any:
    """A per-view probe ("the response shown first is better") on every extracted view, folds by pair."""
    from jurist.learn.probe import fit_probe

    x = np.vstack([d["x"][:, columns] for d in train])
    t = np.concatenate([d["t"] for d in train])
    groups = np.concatenate([[f"{i}-{p}" for p in d["pair"]] for i, d in enumerate(train)])
    return fit_probe("binary", x, t, folds=5, groups=groups)


def analyse_phase(args: argparse.Namespace) -> int:
    from jurist.learn.probe import fit_probe, pair_probability

    sets, skipped = _cached_sets(args.per_set)
    counts = {name: int(len(np.unique(d["pair"]))) for name, d in sets.items()}
    print(f"pairs with features: {counts}; skipped (prompt > {args.max_tokens} tokens): {skipped}", flush=True)
    report: dict[str, Any] = {"pairs": counts, "skipped": skipped}
    train = [sets[name] for name in TRAIN_SETS if name in sets]
    test = _pairs_of(sets["mtbench"]) if "mtbench" in sets else None
    if test is not None and len(test["y"]):
        y = test["y"]
        report["mtbench_n"] = int(len(y))
        report["mtbench_prompted"] = _metrics(_prompted(test), y)
        print(f"MT-Bench (n={len(y)}) prompted 0.5B, both orders:", report["mtbench_prompted"], flush=True)
        stored = stored_prompted()  # the same judge run through `jurist compare`: the features must agree
        diffs = [abs(p - stored[i]) for p, i in zip(_prompted(test), test["id"]) if i in stored]
        if diffs:
            report["prompted_vs_stored_run_max_abs_diff"] = float(max(diffs))
            print(f"prompted P(A) from the features vs the stored `jurist compare` run: max |diff| "
                  f"{max(diffs):.2e} over {len(diffs)} pairs", flush=True)
        for variant, columns in COLUMNS.items() if train else ():
            fit = _fit_views(train, columns)
            s0, s1 = fit.model.decision(test["x0"][:, columns]), fit.model.decision(test["x1"][:, columns])
            p = pair_probability(s0, s1, fit.temperature)
            report[f"mtbench_probe_{variant}"] = _metrics(p, y)
            report[f"mtbench_probe_{variant}"]["minus_prompted"] = _paired_gain(p, _prompted(test), y)
            report[f"train_cv_single_order_{variant}"] = fit.cv["calibrated"]
            print(f"MT-Bench probe [{variant}] fitted on {sum(len(d['t']) for d in train)} training views:",
                  report[f"mtbench_probe_{variant}"], flush=True)
        if len(y) >= 20:  # in-domain: a golden set of the user's own task (5-fold CV, folds by question)
            fit = fit_probe("compare", test["x0"], y, x_swapped=test["x1"], folds=5, groups=test["group"])
            report["mtbench_in_domain_cv"] = fit.cv["calibrated"]
            report["mtbench_in_domain_cv"]["minus_prompted"] = _paired_gain(fit.oof, _prompted(test), y)
            print("MT-Bench in-domain 5-fold CV (folds by question):", fit.cv["calibrated"], flush=True)
    lodo = {}
    for held in TRAIN_SETS:
        rest = [sets[name] for name in TRAIN_SETS if name != held and name in sets]
        if held not in sets or not rest:
            continue
        fit = _fit_views(rest, COLUMNS["hidden+label"])
        d = sets[held]
        probe = fit.model.decision(d["x"]) / fit.temperature
        lodo[held] = {"views": int(len(d["t"])),
                      "probe_single_order": _metrics(1 / (1 + np.exp(-probe)), d["t"]),
                      "prompted_single_order": _metrics(_shown_first(d["x"]), d["t"])}
        print(f"leave-one-dataset-out {held} (single order, n={len(d['t'])}): probe "
              f"{lodo[held]['probe_single_order']['accuracy']:.3f} vs prompted "
              f"{lodo[held]['prompted_single_order']['accuracy']:.3f}", flush=True)
    report["leave_one_dataset_out"] = lodo
    seconds = np.concatenate([d["seconds"] for d in sets.values()])
    tokens = np.concatenate([d["tokens"] for d in sets.values()])
    report["feature_cost"] = {"requests": int(len(seconds)), "median_s": float(np.median(seconds)),
                              "mean_prompt_tokens": float(tokens.mean())}
    print("feature extraction per request:", report["feature_cost"], flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


# -- the encoder judge (no LLM; numpy MiniLM) -------------------------------------------------------

def reference_items() -> tuple[list[Any], list[tuple[int, int]], list[str]]:
    """MT-Bench human pairs on questions with a GPT-4 reference, as pointwise items.

    Labels: the response the human majority preferred is "pass", the other "fail". This
    is a proxy (preferred is not the same as correct), which is why the encoder judge is
    scored pairwise: does it give the preferred response the higher P(correct)?
    """
    from jurist.types import Item

    root = SHARED / "mt_bench"
    references = {}
    for line in (root / "question.jsonl").read_text().splitlines():
        q = json.loads(line)
        if q.get("reference"):
            references[q["question_id"]] = q["reference"][0]
    for line in (root / "reference_answer_gpt-4.jsonl").read_text().splitlines():
        r = json.loads(line)
        references[r["question_id"]] = r["choices"][0]["turns"][0]  # GPT-4's answer takes precedence
    pairs = json.loads((root / "human_pairwise_nontie_200_llmbar.json").read_text())
    items, index, groups = [], [], []
    for number, pair in enumerate(pairs):
        qid = pair["question_id"]
        if qid not in references:
            continue
        a_wins = pair["label"] == 1
        start = len(items)
        for side, key in ((0, "output_1"), (1, "output_2")):
            won = (side == 0) == a_wins
            items.append(Item(id=f"mtb{number}-{side}", input=pair["input"], candidates=[pair[key]],
                              reference=references[qid], label="pass" if won else "fail",
                              metadata={"question_id": qid, "category": pair["category"]}))
            groups.append(str(qid))
        index.append((start, start + 1, str(number + 1)))  # the loader numbers records from 1
    return items, index, groups


STORE = Path.home() / ".cache/jurist/bench/mtbench.db"  # benchmarks/jury.py's store of the prompted 0.5B judge


def stored_prompted() -> dict[str, float]:
    """P(A) of the prompted embedded judge per MT-Bench item id, from the benchmark store (no model call).

    The run is found by what it judged, not by a run id: the fullest finished run of the default 0.5B judge,
    pairwise, both orders, over the MT-Bench file with this content (``benchmarks/jury.py`` makes it).
    """
    from jurist.backends.models import DEFAULT_MODEL, MODELS
    from jurist.engine import Store
    from jurist.engine.runner import input_identity

    data = SHARED / SETS["mtbench"][0]
    if not STORE.exists() or not data.is_file():
        return {}
    digest = input_identity(data)["sha256"]  # type: ignore[index]
    store = Store(STORE, create=False)
    try:
        runs = [r for r in store.runs() if r.status == "finished" and (r.info.get("input") or {}).get("sha256") == digest
                and r.judge.get("judge") == f"local:{MODELS[DEFAULT_MODEL].name}"
                and r.judge.get("protocol") == "pairwise" and r.judge.get("strategy") == "swap"]
        if not runs:
            return {}
        best = max(runs, key=lambda r: (r.totals.get("scored", 0), r.created))  # the fullest (not a --limit smoke)
        return {j.item_id: j.verdict.p_a for j in store.judgments(best.id) if j.verdict.ok}
    finally:
        store.close()


def encoder_phase(args: argparse.Namespace) -> int:
    from jurist.learn.encoder import EncoderFeatures
    from jurist.learn.learner import _fields
    from jurist.learn.probe import fit_probe
    from jurist.metrics.uncertainty import bootstrap
    from jurist.protocols import PointwiseProtocol

    items, pairs, groups = reference_items()
    source = EncoderFeatures()
    protocol = PointwiseProtocol(scale="pass/fail")
    key = hashlib.sha256(json.dumps([[i.candidates[0], i.reference] for i in items]).encode()).hexdigest()[:24]
    cached = CACHE / f"encoder-{key}.npz"
    if cached.exists():
        with np.load(cached) as data:
            x, per_item = data["x"], float(data["seconds"])
    else:
        started = time.perf_counter()
        x = np.vstack([source.vector(protocol.render(item), _fields(item, 0))[0] for item in items])
        per_item = (time.perf_counter() - started) / len(items)
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(cached, x=x, seconds=per_item)
    y = np.array([1.0 if item.label == "pass" else 0.0 for item in items])
    fit = fit_probe("binary", x, y, folds=5, groups=np.array(groups))
    first, second = np.array([a for a, _, _ in pairs]), np.array([b for _, b, _ in pairs])
    a_wins = y[first] > 0.5

    def accuracy(score: np.ndarray) -> dict[str, Any]:
        correct = ((score[first] > score[second]) == a_wins).astype(float)
        estimate = bootstrap(lambda c: np.asarray(c.mean(axis=-1)), correct, seed=0, vectorized=True)
        return {"accuracy": round(estimate.value, 4), "ci": [round(estimate.low, 4), round(estimate.high, 4)]}

    prompted = stored_prompted()
    kept = [(p_a, y[a] > 0.5) for a, _, item_id in pairs if (p_a := prompted.get(item_id)) is not None]
    correct = np.array([float((p_a > 0.5) == won) for p_a, won in kept])
    estimate = bootstrap(lambda c: np.asarray(c.mean(axis=-1)), correct, seed=0, vectorized=True)
    prompted_accuracy = {"n": len(kept), "accuracy": round(estimate.value, 4),
                         "ci": [round(estimate.low, 4), round(estimate.high, 4)]}
    report = {
        "pairs": len(pairs), "questions": len(set(groups)), "responses": len(items),
        "pointwise_cv": fit.cv["calibrated"],
        "pairwise_probe_oof": accuracy(fit.oof),
        "pairwise_cosine_no_training": accuracy(x[:, -1]),
        "pairwise_prompted_0.5b": prompted_accuracy,
        "seconds_per_response": round(per_item, 3),
    }
    print(json.dumps(report, indent=2), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def cost_phase(args: argparse.Namespace) -> int:
    """Seconds per request, cold KV cache: the prompted judge (decodes 2 tokens) vs the probe's features."""
    from jurist.backends.embedded import EmbeddedBackend
    from jurist.learn.features import LlamaFeatureExtractor
    from jurist.protocols import PairwiseProtocol

    protocol = PairwiseProtocol()
    backend = EmbeddedBackend("0.5b")
    extractor = LlamaFeatureExtractor(backend)
    items = load_set("mtbench", 0)[: args.max_pairs]
    prompted, probe, tokens, diffs = [], [], [], []
    for item in items:
        for view in (0, 1):
            request = protocol.render(item, view)
            if extractor.prompt_length(request) > args.max_tokens:
                continue
            for method, times in (("prompted", prompted), ("probe", probe)):
                backend.llm.n_tokens = 0  # cold: no prefix reused from the previous request
                started = time.perf_counter()
                if method == "prompted":
                    completion = backend._complete_sync(request)
                    tokens.append(completion.usage.prompt_tokens)
                else:
                    features = extractor.extract(request)
                times.append(time.perf_counter() - started)
            diffs.append(max(abs(completion.label_logprobs[k] - features.label_logprobs[k]) for k in ("A", "B")))
    report = {"requests": len(prompted), "mean_prompt_tokens": float(np.mean(tokens)),
              "prompted_s_median": float(np.median(prompted)), "probe_s_median": float(np.median(probe)),
              "prompted_s_mean": float(np.mean(prompted)), "probe_s_mean": float(np.mean(probe)),
              "label_logprob_max_abs_diff": float(max(diffs))}
    print(json.dumps(report, indent=2), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=["extract", "analyse", "encoder", "cost"])
    parser.add_argument("--per-set", type=int, default=100)
    parser.add_argument("--max-pairs", type=int, default=40)
    parser.add_argument("--max-tokens", type=int, default=1500)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if args.phase == "extract":
        return extract_phase(args)
    if args.phase == "encoder":
        return encoder_phase(args)
    if args.phase == "cost":
        return cost_phase(args)
    return analyse_phase(args)


if __name__ == "__main__":
    sys.exit(main())
