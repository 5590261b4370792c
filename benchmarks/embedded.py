"""Benchmark of the embedded judge: throughput against raw llama.cpp, and accuracy of three judges.

    .venv/bin/python benchmarks/embedded.py [--limit N] [--data PATH] [--json OUT]

One run, one model (``EmbeddedBackend()``, the packaged 0.5B judge by default), on the
MT-Bench human pairwise set (200 non-tie pairs, LLMBar's processing):

1. Throughput. jurist (``Judge(backend, PairwiseProtocol()).ajudge``, both orders) against a
   separate raw ``llama_cpp.Llama`` that evaluates exactly the same prompt tokens, in the
   same order, with ``reset(); eval(tokens)``: the minimal work to get the first-token
   logits, with no prefix reuse. The two alternate in chunks of items (ABBA order), so
   machine noise hits both; both models are loaded and warmed up before timing.
2. Accuracy against the human labels, for three judges on the same model:
   (a) jurist: both orders, label probabilities averaged (verdicts of the timing pass);
   (b) generate: same pairwise prompt, original order only, greedy text, label parsed;
   (c) rationale: prometheus/G-Eval style feedback then "[RESULT] A|B" (first
       ``--rationale-limit`` pairs, since it generates ~200 tokens per pair).
   (b) and (c) run on each chunk right after the jurist/raw timing of that chunk, so a
   drift in machine load hits every judge's seconds-per-pair alike.
3. One table on stdout; ``--json OUT`` writes every number plus per-item predictions, and the
   llama.cpp build it ran on (flag set and CMake flags, ``jurist.backends.native``). How the
   builds compare with each other on one machine: ``benchmarks/native_builds.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from jurist.backends import native
from jurist.backends.base import BackendError
from jurist.backends.embedded import EmbeddedBackend
from jurist.io import load_items
from jurist.judge import Judge
from jurist.metrics import Estimate, wilson_interval
from jurist.protocols.base import parse_label
from jurist.protocols.pairwise import DEFAULT_CRITERIA, PairwiseProtocol
from jurist.types import CompletionRequest, Item, Message, Verdict

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "datasets" / "mt_bench" / "human_pairwise_nontie_200_llmbar.json"
FALLBACK_DATA = ROOT / "examples" / "data" / "mt_bench_pairs.jsonl"
LABELS = ["A", "B"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- data


def load_pairs(data: str | None, preset: str, limit: int | None) -> tuple[list[Item], str, str | None]:
    """The labelled pairs, the path they came from, and a note when the fallback was used."""
    note = None
    if data is None:
        path = SHARED_DATA
        if not path.is_file():
            note = f"{SHARED_DATA} is missing; using the 40-pair demo subset {FALLBACK_DATA.relative_to(ROOT)}"
            log(f"note: {note}")
            path = FALLBACK_DATA
    else:
        path = Path(data)
    if preset == "auto":
        preset = "llmbar" if path.suffix.lower() == ".json" else "none"
    result = load_items(path, task="compare", preset=None if preset == "none" else preset, limit=limit)
    for error in result.errors:
        log(f"skipped: {error}")
    items = [item for item in result.items if item.label in LABELS]
    if len(items) < len(result.items):
        log(f"skipped {len(result.items) - len(items)} items without an A/B label")
    if not items:
        raise SystemExit(f"{path}: no labelled pairs")
    return items, str(path), note


# ----------------------------------------------------------------------------- 1. throughput


def warm_up(backend: EmbeddedBackend, raw: Any) -> None:
    """Touch every weight page of both models, then forget the warm-up prompt (no free prefix reuse)."""
    dummy = Item(id="warm-up", input="Say hello.", candidates=["Hello!", "Hi there."])
    judge = Judge(backend, PairwiseProtocol())
    asyncio.run(judge.ajudge(dummy))
    tokens = backend.prompt_tokens(PairwiseProtocol().render(dummy, 0).messages)
    raw.reset()
    raw.eval(tokens)
    raw.reset()
    backend.llm.reset()


async def throughput(judge: Judge, raw: Any, items: list[Item], prompts: dict[str, list[list[int]]],
                     chunk: int, raw_limit: int | None,
                     after_chunk: Callable[[int, list[Item]], Awaitable[None]] | None = None,
                     ) -> tuple[list[Verdict], dict[str, Any]]:
    """jurist and raw llama.cpp, alternating chunk by chunk. Returns jurist's verdicts and the timing stats.

    Chunks that start at or after ``raw_limit`` items are judged by jurist only (for the
    accuracy of judge (a)) and are left out of the comparison. ``after_chunk(start, block)``
    runs the other judges on the same chunk, so slow drifts in machine load hit every judge.
    """
    verdicts: list[Verdict] = []
    jurist_all = 0.0  # every chunk: the wall time of judge (a)
    compared = {"items": 0, "prompts": 0, "jurist_s": 0.0, "raw_s": 0.0, "raw_tokens": 0,
                "prompt_tokens": 0, "cached": 0, "completion": 0}
    chunk_ratios: list[float] = []
    for index, start in enumerate(range(0, len(items), chunk)):
        block = items[start:start + chunk]
        block_tokens = [tokens for item in block for tokens in prompts[item.id]]
        with_raw = raw_limit is None or start < raw_limit
        # ABBA: odd chunks time raw first, so neither side always runs on a "fresh" machine.
        order = (("jurist", "raw") if index % 2 == 0 else ("raw", "jurist")) if with_raw else ("jurist",)
        times: dict[str, float] = {}
        block_verdicts: list[Verdict] = []
        for side in order:
            began = time.perf_counter()
            if side == "jurist":
                for item in block:
                    block_verdicts.append(await judge.ajudge(item))
            else:
                for tokens in block_tokens:
                    raw.reset()
                    raw.eval(tokens)
            times[side] = time.perf_counter() - began
        verdicts.extend(block_verdicts)
        jurist_all += times["jurist"]
        if with_raw:
            compared["items"] += len(block)
            compared["prompts"] += len(block_tokens)
            compared["jurist_s"] += times["jurist"]
            compared["raw_s"] += times["raw"]
            compared["raw_tokens"] += sum(len(t) for t in block_tokens)
            compared["prompt_tokens"] += sum(v.usage.prompt_tokens for v in block_verdicts)
            compared["cached"] += sum(v.usage.cached_prompt_tokens for v in block_verdicts)
            compared["completion"] += sum(v.usage.completion_tokens for v in block_verdicts)
            chunk_ratios.append(times["raw"] / times["jurist"])
            log(f"[throughput] {start + len(block)}/{len(items)} items  "
                f"jurist {compared['prompt_tokens'] / compared['jurist_s']:.0f} tok/s  "
                f"raw {compared['raw_tokens'] / compared['raw_s']:.0f} tok/s  chunk ratio {chunk_ratios[-1]:.3f}")
        else:
            done = start + len(block)
            log(f"[jurist only] {done}/{len(items)} items  {jurist_all / done:.2f} s/item")
        if after_chunk is not None:
            await after_chunk(start, block)

    def per_s(amount: float, seconds: float) -> float:
        return amount / seconds if seconds else math.nan

    jurist_tps = per_s(compared["prompt_tokens"], compared["jurist_s"])
    raw_tps = per_s(compared["raw_tokens"], compared["raw_s"])
    ordered = sorted(chunk_ratios) or [math.nan]
    stats = {
        "items": compared["items"],
        "prompts": compared["prompts"],
        "chunk_items": chunk,
        "chunks": len(chunk_ratios),
        "jurist": {
            "seconds": compared["jurist_s"],
            "items_per_s": per_s(compared["items"], compared["jurist_s"]),
            "prompt_tokens": compared["prompt_tokens"],
            "cached_prompt_tokens": compared["cached"],
            "evaluated_prompt_tokens": compared["prompt_tokens"] - compared["cached"],
            "completion_tokens": compared["completion"],
            "prompt_tokens_per_s": jurist_tps,
            "evaluated_prompt_tokens_per_s": per_s(compared["prompt_tokens"] - compared["cached"],
                                                   compared["jurist_s"]),
        },
        "raw": {
            "seconds": compared["raw_s"],
            "items_per_s": per_s(compared["items"], compared["raw_s"]),
            "prompt_tokens": compared["raw_tokens"],
            "prompt_tokens_per_s": raw_tps,
        },
        "ratio": jurist_tps / raw_tps if raw_tps else math.nan,
        # per token actually evaluated: jurist's overhead with its prefix reuse taken out
        "ratio_evaluated": per_s(compared["prompt_tokens"] - compared["cached"], compared["jurist_s"]) / raw_tps
        if raw_tps else math.nan,
        "chunk_ratio": {"min": ordered[0], "median": ordered[len(ordered) // 2], "max": ordered[-1]},
        "jurist_all_seconds": jurist_all,
    }
    return verdicts, stats


# ----------------------------------------------------------------------------- 2. the other judges


RATIONALE_SYSTEM = (
    "You are a fair judge assistant assigned to deliver insightful feedback that compares individual "
    "performance, highlighting how each response performs in relation to the other."
)


def rationale_messages(item: Item) -> list[Message]:
    """A prometheus-eval relative-grading style prompt: feedback first, then "[RESULT] A" or "[RESULT] B"."""
    response_a, response_b = item.candidates
    user = (
        "###Task Description:\n"
        "An instruction, two responses to evaluate (denoted as Response A and Response B) and an evaluation "
        "criteria are given.\n"
        "1. Write a brief feedback that compares Response A and Response B strictly based on the given "
        "evaluation criteria.\n"
        "2. After writing the feedback, indicate the better response, either \"A\" or \"B\".\n"
        "3. The output format should look as follows: \"Feedback: (brief feedback comparing A and B) "
        "[RESULT] (A or B)\"\n"
        "4. Please do not generate any other opening, closing, and explanations.\n\n"
        f"###Instruction:\n{item.input}\n\n"
        f"###Response A:\n{response_a}\n\n"
        f"###Response B:\n{response_b}\n\n"
        f"###Evaluation criteria:\n{DEFAULT_CRITERIA}\n\n"
        "###Feedback:"
    )
    return [Message(role="system", content=RATIONALE_SYSTEM), Message(role="user", content=user)]


# "[RESULT] A", "[RESULT]: (B)", "[RESULT] **Response A**"; not the template echoed back ("[RESULT] (A or B)").
_RESULT = re.compile(r"\[RESULT\]\s*[:\-]?\s*[\(\"'*\s]*(?i:response\s*)?([AB])\b(?!\s*(?:or|/)\s*[AB]\b)")


def parse_result(text: str) -> str | None:
    """The letter after the last "[RESULT]" marker, or None."""
    found = _RESULT.findall(text)
    return found[-1] if found else None


async def generate_one(backend: EmbeddedBackend, item: Item, max_tokens: int) -> dict[str, Any]:
    """(b): greedy text, original order only, label parsed from the text."""
    request = CompletionRequest(messages=PairwiseProtocol().render(item, 0).messages, max_tokens=max_tokens,
                                top_logprobs=0, labels=[])
    began = time.perf_counter()
    try:
        completion = await backend.complete(request)
        text, error, usage = completion.text, None, completion.usage
    except BackendError as exc:
        text, error, usage = "", str(exc), None
    return {"id": item.id, "label": item.label, "text": text, "error": error,
            "prediction": parse_label(text, LABELS).label, "seconds": time.perf_counter() - began,
            "prompt_tokens": usage.prompt_tokens if usage else 0,
            "cached_prompt_tokens": usage.cached_prompt_tokens if usage else 0,
            "completion_tokens": usage.completion_tokens if usage else 0}


async def rationale_one(backend: EmbeddedBackend, item: Item, max_tokens: int) -> dict[str, Any]:
    """(c): feedback then "[RESULT] X", greedy, parsed by regex."""
    request = CompletionRequest(messages=rationale_messages(item), max_tokens=max_tokens, top_logprobs=0, labels=[])
    began = time.perf_counter()
    try:
        completion = await backend.complete(request)
        text, error, usage = completion.text, None, completion.usage
    except BackendError as exc:
        text, error, usage = "", str(exc), None
    generated = usage.completion_tokens if usage else 0
    return {"id": item.id, "label": item.label, "text": text, "error": error, "prediction": parse_result(text),
            "seconds": time.perf_counter() - began, "prompt_tokens": usage.prompt_tokens if usage else 0,
            "cached_prompt_tokens": usage.cached_prompt_tokens if usage else 0,
            "completion_tokens": generated, "truncated": generated >= max_tokens}


# ----------------------------------------------------------------------------- metrics


def proportion(hits: int, n: int) -> Estimate:
    return wilson_interval(hits, n)


def swap_metrics(items: list[Item], verdicts: list[Verdict], seconds: float) -> dict[str, Any]:
    n = len(items)
    correct = sum(v.ok and v.preference == item.label for item, v in zip(items, verdicts, strict=True))
    agree = sum(bool(v.orders_agree) for v in verdicts)
    per_order = []
    first_slot = 0
    for view in (0, 1):
        parts = [v.parts[view] if len(v.parts) == 2 else None for v in verdicts]
        per_order.append(sum(p is not None and p.ok and p.preference == item.label
                             for item, p in zip(items, parts, strict=True)))
        # the slot shown first is the item's A in the original order and its B in the swapped one
        first_slot += sum(p is not None and p.ok and p.preference == ("A" if view == 0 else "B") for p in parts)
    masses = [v.label_mass for v in verdicts if v.label_mass is not None]
    return {
        "n": n,
        "scored": sum(v.ok for v in verdicts),
        "accuracy": proportion(correct, n),
        "order_consistency": proportion(agree, n),
        "accuracy_order_1": proportion(per_order[0], n),
        "accuracy_order_2": proportion(per_order[1], n),
        "first_slot_rate": proportion(first_slot, 2 * n),
        "label_mass_mean": sum(masses) / len(masses) if masses else math.nan,
        "seconds": seconds,
        "s_per_item": seconds / n if n else math.nan,
    }


def text_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    seconds = sum(r["seconds"] for r in rows)
    parsed = [r for r in rows if r["prediction"] is not None]
    out = {
        "n": n,
        "accuracy": proportion(sum(r["prediction"] == r["label"] for r in rows), n),
        "parse_rate": proportion(len(parsed), n),
        "unparsed": n - len(parsed),
        "failed": sum(r["error"] is not None for r in rows),
        "answered_A_rate": proportion(sum(r["prediction"] == "A" for r in parsed), len(parsed)),
        "seconds": seconds,
        "s_per_item": seconds / n if n else math.nan,
    }
    out["prompt_tokens"] = sum(r["prompt_tokens"] for r in rows)
    out["cached_prompt_tokens"] = sum(r["cached_prompt_tokens"] for r in rows)
    out["completion_tokens_mean"] = sum(r["completion_tokens"] for r in rows) / n if n else math.nan
    if rows and "truncated" in rows[0]:
        out["truncated"] = sum(r["truncated"] for r in rows)
    return out


# ----------------------------------------------------------------------------- output


def fmt(value: Any) -> str:
    if isinstance(value, Estimate):
        return value.format()
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def reuse(judge: dict[str, Any]) -> str:
    return (f"{judge['prompt_tokens']} prompt tokens, "
            f"{judge['cached_prompt_tokens'] / max(judge['prompt_tokens'], 1):.1%} reused")


def table(report: dict[str, Any]) -> Table:
    t = report["throughput"]
    grid = Table(title=f"jurist embedded benchmark · {report['model']} · {report['n_items']} pairs · "
                       f"{Path(report['data']).name}", show_lines=False)
    grid.add_column("measure", style="bold")
    grid.add_column("value")
    grid.add_column("note")
    j, r = t["jurist"], t["raw"]
    grid.add_row("[1] throughput", "", f"{t['items']} pairs, {t['prompts']} prompts, {t['chunks']} alternating chunks "
                                       f"of {t['chunk_items']} pairs")
    grid.add_row("  jurist items/s", f"{j['items_per_s']:.3f}", f"{j['seconds']:.1f} s, both orders per item")
    grid.add_row("  jurist prompt tok/s", f"{j['prompt_tokens_per_s']:.1f}",
                 f"{j['prompt_tokens']} prompt tokens (usage), {j['cached_prompt_tokens']} reused from the KV cache "
                 f"({j['cached_prompt_tokens'] / max(j['prompt_tokens'], 1):.1%})")
    grid.add_row("  jurist evaluated tok/s", f"{j['evaluated_prompt_tokens_per_s']:.1f}",
                 f"prompt tokens actually evaluated (not reused); plus {j['completion_tokens']} generated")
    grid.add_row("  raw llama.cpp items/s", f"{r['items_per_s']:.3f}", f"{r['seconds']:.1f} s")
    grid.add_row("  raw llama.cpp prompt tok/s", f"{r['prompt_tokens_per_s']:.1f}",
                 f"{r['prompt_tokens']} tokens, reset()+eval(), no prefix reuse")
    status = "ok" if t["ratio"] >= 0.85 else "BELOW GOAL"
    cr = t["chunk_ratio"]
    grid.add_row("  ratio jurist/raw (tok/s)", f"{t['ratio']:.3f}",
                 f"goal >= 0.85: {status}; per chunk min {cr['min']:.3f} median {cr['median']:.3f} max {cr['max']:.3f}")
    grid.add_row("  ratio, evaluated tokens only", f"{t['ratio_evaluated']:.3f}",
                 "jurist evaluated tok/s / raw tok/s: overhead without the prefix-reuse gain")
    a = report["judges"]["jurist_swap"]
    grid.add_section()
    grid.add_row("[2a] jurist Swap (P, both orders)", "", f"{a['scored']}/{a['n']} scored")
    grid.add_row("  accuracy", fmt(a["accuracy"]), "")
    grid.add_row("  order consistency", fmt(a["order_consistency"]), "share of pairs whose two orders agree")
    grid.add_row("  accuracy order 1 (original)", fmt(a["accuracy_order_1"]), "")
    grid.add_row("  accuracy order 2 (swapped)", fmt(a["accuracy_order_2"]), "")
    grid.add_row("  first-slot rate", fmt(a["first_slot_rate"]),
                 "share of single-order verdicts for the slot shown first")
    grid.add_row("  label mass (mean)", fmt(a["label_mass_mean"]), "P(A)+P(B) before renormalising")
    grid.add_row("  wall time", f"{a['seconds']:.1f} s", f"{a['s_per_item']:.2f} s/item (the jurist side of [1])")
    b = report["judges"]["generate"]
    grid.add_section()
    grid.add_row("[2b] generate, one order", "",
                 f"greedy, max {report['settings']['generate_tokens']} tokens, label parsed from text")
    grid.add_row("  accuracy", fmt(b["accuracy"]), "unparsed counts as wrong")
    grid.add_row("  parse rate", fmt(b["parse_rate"]), f"{b['unparsed']} unparsed, {b['failed']} failed")
    grid.add_row("  answered A", fmt(b["answered_A_rate"]), "share of parsed answers (position bias)")
    grid.add_row("  wall time", f"{b['seconds']:.1f} s", f"{b['s_per_item']:.2f} s/item; {reuse(b)}")
    c = report["judges"].get("rationale")
    grid.add_section()
    if c is None:
        grid.add_row("[2c] rationale then verdict", "skipped", "--rationale-limit 0")
    else:
        grid.add_row("[2c] rationale then verdict", "",
                     f"first {c['n']} of {report['n_items']} pairs; "
                     f"greedy, max {report['settings']['rationale_tokens']} tokens")
        grid.add_row("  accuracy", fmt(c["accuracy"]), "unparsed counts as wrong")
        grid.add_row("  parse rate", fmt(c["parse_rate"]),
                     f"{c['unparsed']} unparsed ({c['truncated']} hit max tokens), {c['failed']} failed")
        grid.add_row("  answered A", fmt(c["answered_A_rate"]), "share of parsed answers")
        grid.add_row("  generated tokens (mean)", f"{c['completion_tokens_mean']:.1f}", "")
        grid.add_row("  wall time", f"{c['seconds']:.1f} s", f"{c['s_per_item']:.2f} s/item; {reuse(c)}")
        if c["n"] < report["n_items"]:
            sub = report["judges"]["on_rationale_subset"]
            grid.add_row("  same subset: jurist / generate", f"{fmt(sub['jurist_swap'])}",
                         f"generate {fmt(sub['generate'])}")
    return grid


def jsonable(value: Any) -> Any:
    if isinstance(value, Estimate):
        return jsonable(value.model_dump())
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="first N pairs only (smoke runs)")
    parser.add_argument("--data", default=None, help=f"pairs file (default {SHARED_DATA})")
    parser.add_argument("--preset", default="auto", help="load_items preset: auto (llmbar for .json), none, or a name")
    parser.add_argument("--json", dest="json_out", default=None, help="write all results to this JSON file")
    parser.add_argument("--model", default=None,
                        help="EmbeddedBackend model key or GGUF path (default: the 0.5B judge)")
    parser.add_argument("--chunk", type=int, default=4, help="items per alternation chunk in the throughput test")
    parser.add_argument("--raw-limit", type=int, default=None,
                        help="compare with raw llama.cpp on the first N pairs only (default: all); "
                             "jurist still judges all")
    parser.add_argument("--rationale-limit", type=int, default=50, help="pairs for the rationale judge (0 skips it)")
    parser.add_argument("--rationale-tokens", type=int, default=200)
    parser.add_argument("--generate-tokens", type=int, default=8)
    args = parser.parse_args(argv)

    items, data_path, note = load_pairs(args.data, args.preset, args.limit)
    log(f"{len(items)} pairs from {data_path}")

    from llama_cpp import Llama

    load0 = time.perf_counter()
    backend = EmbeddedBackend() if args.model is None else EmbeddedBackend(args.model)
    # The raw baseline keeps llama.cpp's default batch (512); jurist evaluates in aligned 64-token chunks
    # so that a verdict never depends on the previous prompt (see EmbeddedBackend._evaluate).
    raw = Llama(model_path=str(backend.path), n_ctx=backend.n_ctx,
                n_threads=backend.llm.n_threads, n_threads_batch=backend.llm.n_threads_batch,
                logits_all=False, verbose=False)
    warm_up(backend, raw)
    log(f"models loaded and warmed up in {time.perf_counter() - load0:.1f} s: {backend.spec} "
        f"(n_ctx {backend.n_ctx}, chunk {backend.chunk}, raw n_batch {raw.n_batch}, threads {backend.llm.n_threads}/"
        f"{backend.llm.n_threads_batch})")

    protocol = PairwiseProtocol()
    prompts = {item.id: [backend.prompt_tokens(protocol.render(item, view).messages) for view in (0, 1)]
               for item in items}
    too_long = [i.id for i in items if max(len(t) for t in prompts[i.id]) + 2 > backend.n_ctx]
    if too_long:
        log(f"note: {len(too_long)} pairs exceed the context and are left out of the raw timing: {too_long}")
        for item_id in too_long:
            prompts[item_id] = []

    n_rationale = min(len(items), max(args.rationale_limit, 0))

    async def run() -> dict[str, Any]:
        judge = Judge(backend, protocol)
        generated: list[dict[str, Any]] = []
        rationale: list[dict[str, Any]] = []

        async def other_judges(start: int, block: list[Item]) -> None:
            for item in block:
                generated.append(await generate_one(backend, item, args.generate_tokens))
            for item in block[: max(n_rationale - start, 0)]:
                rationale.append(await rationale_one(backend, item, args.rationale_tokens))
            done = start + len(block)
            line = f"[generate] {done} items {sum(r['seconds'] for r in generated) / len(generated):.2f} s/item"
            if rationale:
                line += (f"  [rationale] {len(rationale)}/{n_rationale} items "
                         f"{sum(r['seconds'] for r in rationale) / len(rationale):.2f} s/item")
            log(line)

        verdicts, stats = await throughput(judge, raw, items, prompts, max(args.chunk, 1), args.raw_limit,
                                           other_judges)
        raw.close()
        judges: dict[str, Any] = {
            "jurist_swap": swap_metrics(items, verdicts, stats["jurist_all_seconds"]),
            "generate": text_metrics(generated),
        }
        if rationale:
            judges["rationale"] = text_metrics(rationale)
            subset = items[:n_rationale]
            judges["on_rationale_subset"] = {
                "n": n_rationale,
                "jurist_swap": proportion(sum(v.ok and v.preference == i.label
                                              for i, v in zip(subset, verdicts, strict=False)), n_rationale),
                "generate": proportion(sum(r["prediction"] == r["label"] for r in generated[:n_rationale]),
                                       n_rationale),
            }
        per_item = []
        for index, (item, verdict) in enumerate(zip(items, verdicts, strict=True)):
            row: dict[str, Any] = {
                "id": item.id, "label": item.label, "category": item.metadata.get("category"),
                "prompt_tokens": [len(t) for t in prompts[item.id]],
                "swap": {"preference": verdict.preference, "p_a": verdict.p_a, "orders_agree": verdict.orders_agree,
                         "order_preferences": [p.preference for p in verdict.parts], "status": verdict.status,
                         "error": verdict.error},
                "generate": {k: generated[index][k] for k in ("prediction", "text", "error")},
            }
            if index < len(rationale):
                row["rationale"] = {k: rationale[index][k] for k in ("prediction", "text", "error", "truncated")}
            per_item.append(row)
        return {"throughput": stats, "judges": judges, "items": per_item}

    results = asyncio.run(run())
    asyncio.run(backend.aclose())

    import llama_cpp

    report = {
        "model": backend.spec,
        "model_path": str(backend.path),
        "data": data_path,
        "data_note": note,
        "n_items": len(items),
        "settings": {"limit": args.limit, "chunk": args.chunk, "raw_limit": args.raw_limit,
                     "rationale_limit": args.rationale_limit,
                     "rationale_tokens": args.rationale_tokens, "generate_tokens": args.generate_tokens,
                     "n_ctx": backend.n_ctx},
        "environment": {"python": platform.python_version(), "llama_cpp_python": llama_cpp.__version__,
                        "cpus": os.cpu_count(), "machine": platform.machine(), "platform": platform.platform(),
                        "native_build": native.build_facts()},
        **results,
    }
    console = Console(width=None if sys.stdout.isatty() else 140)
    if note:
        console.print(f"note: {note}")
    build = report["environment"]["native_build"]
    console.print(f"llama.cpp build: {build['flag_set']} ({' '.join(build['cmake_args'])}) on {build['cpu']['model']}")
    console.print(table(report))
    if args.json_out:
        out = Path(args.json_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(jsonable(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        console.print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
