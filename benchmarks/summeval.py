"""Rubric dimensions on SummEval and Topical-Chat: per-group Spearman and Kendall, G-Eval's way.

Two steps, so the model work can run in short chunks under the shared lock and
the numbers can be recomputed without a model:

    # judge the first 12 SummEval documents (16 summaries x 4 dimensions each), 2 documents per call
    for n in 2 4 6 8 10 12; do
      flock /tmp/jurist-model.lock .venv/bin/python benchmarks/summeval.py run summeval --groups $n
    done
    .venv/bin/python benchmarks/summeval.py report summeval --groups 12 --json reports/summeval.json

``run`` judges the items of the first ``--groups`` groups (SummEval: documents,
16 summaries each; Topical-Chat: dialogue contexts, 6 responses each), in file
order, with one pointwise judge per dimension (the built-in dimension set of
the dataset), continuing the run of the same name in the store: items already
judged are skipped and every completion is cached, so a call never pays twice.
``report`` reads that run back from the store (no model) and prints, per
dimension, the per-group Spearman and Kendall tau-b between the judge and the
human average, averaged over groups (groups where either vector is constant are
skipped, as in G-Eval's ``meta_eval_summeval.py``), for (a) the
probability-weighted score (the expectation over the score labels) and (b) the
most likely score (the top label: many ties), each with a 95% percentile
bootstrap CI over groups. Topical-Chat also gets the turn-level (pooled)
correlations, with a cluster bootstrap over contexts.

``--template rubric-first`` uses ``benchmarks/templates/dimension_rubric_first.j2``
(the same words, the rubric before the input) instead of the built-in
source-first ``dimension.j2``. With ``--order dimension-major`` the run first
judges each dimension separately over all items (consecutive requests then share
the rubric and the source), then assembles the per-item verdicts from the cache.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from jurist.engine import run_judge
from jurist.backends import resolve_backend
from jurist.engine import EngineConfig, Store
from jurist.io import load_items
from jurist.judge import Judge
from jurist.protocols.dimensions import DimensionSet, DimensionsProtocol, load_dimension_set
from jurist.protocols.templating import load_template
from jurist.strategies.dimensions import Dimensions
from jurist.types import Item, Judgment

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DATA = {
    "summeval": SHARED / "summeval" / "summeval_expert_avg.jsonl",
    "topical_chat": SHARED / "topical_chat" / "topical_chat_usr.json",
}
TEMPLATES = {"source-first": "dimension", "rubric-first": str(Path(__file__).parent / "templates" /
                                                              "dimension_rubric_first.j2")}
DEFAULT_STORE = Path.home() / ".cache" / "jurist" / "bench" / "summeval.db"


def load(dataset: str, groups: int) -> tuple[list[Item], dict[str, str]]:
    """Items of the first ``groups`` groups in file order, and each item's group."""
    items = load_items(DATA[dataset], "score", preset=dataset).items
    group_of: dict[str, str] = {}
    order: list[str] = []
    for item in items:
        key = str(item.metadata["article_id"]) if dataset == "summeval" else item.input
        if key not in order:
            order.append(key)
        group_of[item.id] = f"G{order.index(key)}" if dataset == "topical_chat" else key
    keep = set(order[:groups]) if dataset == "summeval" else {f"G{i}" for i in range(groups)}
    chosen = [item for item in items if group_of[item.id] in keep]
    return chosen, group_of


def human(item_meta: dict[str, Any], dataset: str, dimension: str) -> float:
    return float(item_meta[dimension] if dataset == "summeval" else item_meta["scores"][dimension])


def run_name(dataset: str, judge: str, template: str) -> str:
    return f"dims-{dataset}-{judge}-{template}"


def cmd_run(args: argparse.Namespace) -> None:
    items, _ = load(args.dataset, args.groups)
    dims = load_dimension_set(args.dataset)
    text, _origin = load_template(TEMPLATES[args.template])
    store = Store(args.store)
    backend = resolve_backend(args.judge)
    config = EngineConfig(concurrency=1, progress=False)
    if args.order == "dimension-major":
        for dim in dims.dimensions:
            one = DimensionsProtocol(DimensionSet((dim,), dims.task), text)
            _run(Judge(backend, one, Dimensions(one)), items, store, config,
                 run_name(args.dataset, args.judge, args.template) + f"-{dim.name}")
    protocol = DimensionsProtocol(dims, text)
    _run(Judge(backend, protocol, Dimensions(protocol)), items, store, config,
         run_name(args.dataset, args.judge, args.template))


def _run(judge: Judge, items: list[Item], store: Store, config: EngineConfig, name: str) -> None:
    existing = store.find_run(name)
    t0 = time.monotonic()
    result = run_judge(judge, items, store=store, name=None if existing else name,
                       resume=name if existing else None, config=config)
    s = result.stats
    print(f"{name}: {len(items)} items, {s.get('model_calls')} model calls this session, "
          f"wall {time.monotonic() - t0:.1f} s, run totals: prompt tokens {s.get('prompt_tokens')} "
          f"(reused {s.get('cached_prompt_tokens')}), statuses scored {s.get('scored')} unscored "
          f"{s.get('unscored')} failed {s.get('failed')}", flush=True)


def cmd_prefix(args: argparse.Namespace) -> dict[str, Any]:
    """Prompt tokens the embedded judge must evaluate, per template and order (tokenizer only, no model).

    Replays the embedded backend's prefix reuse: a request reuses the KV cache of the
    prefix it shares with the previous request, in whole 64-token chunks.
    """
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    from jurist.backends.models import DEFAULT_MODEL, model_path

    llm = Llama(model_path=str(model_path(DEFAULT_MODEL)), vocab_only=True, verbose=False)
    model = llm._model
    formatter = Jinja2ChatFormatter(template=llm.metadata["tokenizer.chat_template"],
                                    eos_token=model.token_get_text(llm.token_eos()), bos_token="",
                                    stop_token_ids=[llm.token_eos()])

    def tokens(messages: list[Any]) -> list[int]:
        result = formatter(messages=[m.model_dump() for m in messages])
        return llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)

    items, _ = load(args.dataset, args.groups)
    dims = load_dimension_set(args.dataset)
    out: dict[str, Any] = {"dataset": args.dataset, "groups": args.groups, "items": len(items), "orders": {}}
    for template in TEMPLATES:
        protocol = DimensionsProtocol(dims, load_template(TEMPLATES[template])[0])
        prompts = {(i, v): tokens(protocol.render(item, v).messages) for i, item in enumerate(items)
                   for v in range(len(dims.dimensions))}
        orders = {"item-major": [(i, v) for i in range(len(items)) for v in range(len(dims.dimensions))],
                  "dimension-major": [(i, v) for v in range(len(dims.dimensions)) for i in range(len(items))]}
        for order, keys in orders.items():
            previous: list[int] = []
            total = evaluated = 0
            for key in keys:
                current = prompts[key]
                shared = min(llm.longest_token_prefix(previous, current), len(current) - 1)
                total += len(current)
                evaluated += len(current) - (shared // 64) * 64
                previous = current
            out["orders"][f"{template}, {order}"] = {"requests": len(keys), "prompt_tokens": total,
                                                     "evaluated": evaluated,
                                                     "evaluated_per_request": evaluated / len(keys)}
            print(f"{template:13s} {order:16s} {len(keys)} requests: prompt tokens {total}, evaluated {evaluated} "
                  f"({evaluated / len(keys):.0f} per request, {100 * evaluated / total:.0f}%)")
    return out


# ------------------------------------------------------------------ metrics


def _corr(kind: str, x: np.ndarray, y: np.ndarray) -> float:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan  # constant vector: skipped, as in G-Eval
    value = stats.spearmanr(x, y).statistic if kind == "spearman" else stats.kendalltau(x, y).statistic
    return float(value)


def _boot_mean(values: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(n, len(values)), replace=True).mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def per_group(rows: list[tuple[str, float, float]], kind: str) -> dict[str, Any]:
    """Mean over groups of the within-group correlation, with a bootstrap CI over groups."""
    by: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for group, judge, gold in rows:
        by[group].append((judge, gold))
    values = []
    for pairs in by.values():
        arr = np.array(pairs)
        values.append(_corr(kind, arr[:, 0], arr[:, 1]))
    kept = np.array([v for v in values if not math.isnan(v)])
    if len(kept) == 0:
        return {"value": math.nan, "ci": [math.nan, math.nan], "groups": 0, "skipped": len(values)}
    low, high = _boot_mean(kept) if len(kept) > 1 else (math.nan, math.nan)
    return {"value": float(kept.mean()), "ci": [low, high], "groups": len(kept), "skipped": len(values) - len(kept)}


def pooled(rows: list[tuple[str, float, float]], kind: str, n: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Turn-level correlation over all rows, with a cluster bootstrap over groups."""
    groups = sorted({g for g, _, _ in rows})
    index = {g: [i for i, r in enumerate(rows) if r[0] == g] for g in groups}
    x = np.array([r[1] for r in rows])
    y = np.array([r[2] for r in rows])
    value = _corr(kind, x, y)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n):
        pick = np.concatenate([index[groups[k]] for k in rng.integers(0, len(groups), len(groups))])
        boots.append(_corr(kind, x[pick], y[pick]))
    boots_arr = np.array([b for b in boots if not math.isnan(b)])
    if len(boots_arr) < n // 2:  # constant judge: the correlation is undefined
        return {"value": value, "ci": [math.nan, math.nan], "n": len(rows)}
    return {"value": value, "ci": [float(np.quantile(boots_arr, 0.025)), float(np.quantile(boots_arr, 0.975))],
            "n": len(rows)}


def cmd_report(args: argparse.Namespace) -> dict[str, Any]:
    items, group_of = load(args.dataset, args.groups)
    wanted = {item.id for item in items}
    store = Store(args.store)
    name = run_name(args.dataset, args.judge, args.template)
    record = store.find_run(name)
    if record is None:
        sys.exit(f"no run {name!r} in {args.store}: run `benchmarks/summeval.py run` first")
    judgments: list[Judgment] = [j for j in store.judgments(record.id) if j.item_id in wanted]
    dims = load_dimension_set(args.dataset)
    meta = {item.id: item.metadata for item in items}
    out: dict[str, Any] = {"dataset": args.dataset, "judge": args.judge, "template": args.template,
                           "groups": args.groups, "items": len(items), "judged": len(judgments),
                           "run": record.id, "totals": record.totals, "dimensions": {}}
    for dim in dims.dimensions:
        expected, top, unscored = [], [], 0
        for j in judgments:
            v = j.verdict.dimensions.get(dim.name)
            if v is None or not v.ok:
                unscored += 1
                continue
            gold = human(meta[j.item_id], args.dataset, dim.name)
            expected.append((group_of[j.item_id], float(v.score), gold))  # type: ignore[arg-type]
            top.append((group_of[j.item_id], dim.scale.value(v.top_label), gold))  # type: ignore[arg-type]
        entry: dict[str, Any] = {"n": len(expected), "not_scored": unscored}
        for label, rows in (("expected", expected), ("top", top)):
            entry[label] = {kind: per_group(rows, kind) for kind in ("spearman", "kendall")}
            if args.dataset == "topical_chat":
                entry[label + "_pooled"] = {kind: pooled(rows, kind) for kind in ("spearman", "kendall")}
        entry["top_label_counts"] = {lab: sum(1 for r in top if r[1] == dim.scale.value(lab))
                                     for lab in dim.scale.labels}
        out["dimensions"][dim.name] = entry
    print_table(out)
    if args.markdown:
        print(markdown(out))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(_json_safe(out), indent=2) + "\n", encoding="utf-8")
    return out


def _fmt(e: dict[str, Any]) -> str:
    if e["value"] is None or math.isnan(e["value"]):
        return f"undefined (all {e.get('skipped', '?')} groups constant)"
    lo, hi = e["ci"]
    extra = f" ({e['groups']} groups, {e['skipped']} constant)" if "groups" in e else f" (n={e['n']})"
    return f"{e['value']:+.3f} [{lo:+.2f}, {hi:+.2f}]{extra}"


def _json_safe(value: Any) -> Any:
    """NaN (an undefined correlation) as null: strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def print_table(out: dict[str, Any]) -> None:
    print(f"{out['dataset']} · {out['judge']} · {out['template']} · first {out['groups']} groups · "
          f"{out['judged']}/{out['items']} items judged")
    for name, e in out["dimensions"].items():
        print(f"  {name} (n={e['n']}, not scored {e['not_scored']}), top labels {e['top_label_counts']}")
        for label in ("expected", "top", "expected_pooled", "top_pooled"):
            if label in e:
                print(f"    {label:16s} spearman {_fmt(e[label]['spearman'])}   kendall {_fmt(e[label]['kendall'])}")


def _cell(e: dict[str, Any]) -> str:
    if e["value"] is None or math.isnan(e["value"]):
        return "undefined"
    lo, hi = e["ci"]
    ci = "" if lo is None or math.isnan(lo) else f" [{lo:.2f}, {hi:.2f}]"
    return f"{e['value']:.3f}{ci}"


def markdown(out: dict[str, Any]) -> str:
    """The report as Markdown tables (for docs/quality.md)."""
    unit = "documents" if out["dataset"] == "summeval" else "contexts"
    lines = [f"| dimension | n | Spearman, expected score | Kendall, expected score | Spearman, top label | "
             f"Kendall, top label | {unit} used (expected / top) | top-label counts |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, e in out["dimensions"].items():
        ex, top = e["expected"], e["top"]
        counts = ", ".join(f"{k}: {v}" for k, v in e["top_label_counts"].items() if v)
        lines.append(f"| {name} | {e['n']} | {_cell(ex['spearman'])} | {_cell(ex['kendall'])} | "
                     f"{_cell(top['spearman'])} | {_cell(top['kendall'])} | "
                     f"{ex['spearman']['groups']} / {top['spearman']['groups']} | {counts} |")
    if out["dataset"] == "topical_chat":
        lines += ["", "| dimension | turn-level Spearman, expected | turn-level Kendall, expected | "
                      "turn-level Spearman, top label | turn-level Kendall, top label |",
                  "| --- | --- | --- | --- | --- |"]
        for name, e in out["dimensions"].items():
            ex, top = e["expected_pooled"], e["top_pooled"]
            lines.append(f"| {name} | {_cell(ex['spearman'])} | {_cell(ex['kendall'])} | {_cell(top['spearman'])} | "
                         f"{_cell(top['kendall'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("run", "report", "prefix"))
    parser.add_argument("dataset", choices=tuple(DATA))
    parser.add_argument("--groups", type=int, default=12, help="the first N documents / contexts, in file order")
    parser.add_argument("--judge", default="local")
    parser.add_argument("--template", choices=tuple(TEMPLATES), default="source-first")
    parser.add_argument("--order", choices=("item-major", "dimension-major"), default="item-major")
    parser.add_argument("--store", default=str(DEFAULT_STORE))
    parser.add_argument("--json", default=None)
    parser.add_argument("--markdown", action="store_true", help="report: also print Markdown tables")
    args = parser.parse_args()
    Path(args.store).parent.mkdir(parents=True, exist_ok=True)
    {"run": cmd_run, "report": cmd_report, "prefix": cmd_prefix}[args.command](args)


if __name__ == "__main__":
    main()
