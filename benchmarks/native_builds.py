"""llama.cpp builds side by side on this machine: each flag set's prompt and decode speed, as ratios.

    .venv/bin/python benchmarks/native_builds.py [--sets x86-64-avx512,x86-64-avx2] [--rounds 4] [--json OUT]

Which builds: by default the two fastest flag sets that ``jurist.backends.native.flag_sets``
gives this CPU (on x86-64 with AVX-512: AVX-512 against AVX2, the portable x86-64-v3 build).
Each is built once with ``build_wheel`` (minutes on 2 cores; cached under its flags) and unpacked
into a scratch folder; a child process per round imports llama_cpp from there (a build that cannot
run here fails that child and stops the benchmark with its status), then times, on the embedded
0.5B model, after one warm-up:

- prompt: evaluating a ~280-token judge prompt in 64-token batches, from an empty KV cache;
- decode: 32 single-token evaluations after it (the generation path).

Rounds alternate the builds (A B, B A, ...), so load from other processes hits both; the table
gives each build's median tokens/s, and the ratio of every build to the first, with the
min-max of the per-round ratios as the noise gauge. ``--json OUT`` writes every number, the flags
and the CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from jurist.backends import native
from jurist.backends.models import model_path

CHILD = r"""
import json, sys, time
from llama_cpp import Llama
import llama_cpp
model, rounds = sys.argv[1], int(sys.argv[2])
text = ("You are a careful, impartial judge. Read the question and the two answers, then say which answer "
        "is more helpful, correct and complete. Do not let the order of the answers, their length or their "
        "style decide. ") * 3 + "\nQuestion: Explain why the sky is blue in two sentences.\n" + \
       "Answer A: Sunlight is scattered by air molecules; shorter blue wavelengths scatter much more than red, " \
       "so blue light reaches our eyes from every direction of the sky.\n" + \
       "Answer B: Because the ocean reflects its colour onto the sky, which makes it blue during the day.\n" * 2 + \
       "Which answer is better? Answer with A or B."
llm = Llama(model_path=model, n_ctx=1024, n_batch=64, n_ubatch=64, logits_all=False, verbose=False, seed=0)
tokens = llm.tokenize(text.encode(), add_bos=True)
prompt, decode = [], []
for _ in range(rounds + 1):  # the first is a warm-up
    llm.reset(); llm._ctx.kv_cache_clear()
    start = time.perf_counter()
    for i in range(0, len(tokens), 64):
        llm.eval(tokens[i:i + 64])
    middle = time.perf_counter()
    for _ in range(32):  # the generation path: one token per evaluation
        llm.eval([tokens[-1]])
    end = time.perf_counter()
    prompt.append(len(tokens) / (middle - start)); decode.append(32 / (end - middle))
print(json.dumps({"tokens": len(tokens), "prompt": prompt[1:], "decode": decode[1:],
                  "system_info": llama_cpp.llama_print_system_info().decode(errors="replace")}))
"""


def unpack(wheel: Path, scratch: Path) -> Path:
    target = scratch / wheel.parent.name
    if not target.exists():
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(target)
    return target


def run_child(site: Path, model: Path, reps: int) -> dict:
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(model), str(reps)], capture_output=True, text=True,
                          env=env, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"build at {site} failed (status {done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="", help="comma-separated flag-set names (default: the two fastest)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per build")
    parser.add_argument("--reps", type=int, default=3, help="timed evaluations per round")
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args(argv)

    cpu = native.detect_cpu()
    available = native.flag_sets(cpu)
    chosen = [native.flag_set_named(n, cpu) for n in args.sets.split(",")] if args.sets else available[:2]
    wheels = native.cache_root() / "wheels"
    pip = [sys.executable, "-m", "pip"]
    model = model_path()
    scratch = Path(tempfile.mkdtemp(prefix="jurist-builds-"))
    sites = {flags.name: unpack(native.build_wheel(wheels, flags, pip), scratch) for flags in chosen}
    samples: dict[str, dict[str, list[float]]] = {f.name: {"prompt": [], "decode": []} for f in chosen}
    per_round: list[dict[str, float]] = []
    info: dict[str, str] = {}
    for round_index in range(args.rounds):
        order = chosen if round_index % 2 == 0 else list(reversed(chosen))
        this_round: dict[str, float] = {}
        for flags in order:
            result = run_child(sites[flags.name], model, args.reps)
            samples[flags.name]["prompt"] += result["prompt"]
            samples[flags.name]["decode"] += result["decode"]
            this_round[flags.name] = statistics.median(result["prompt"])
            info[flags.name] = result["system_info"]
        per_round.append(this_round)
        print(f"round {round_index + 1}/{args.rounds}: " + ", ".join(f"{k} {v:.0f} prompt tok/s"
                                                                    for k, v in this_round.items()), file=sys.stderr)

    base = chosen[0].name
    table = Table(title=f"llama.cpp builds on {cpu.model} ({cpu.arch}), embedded 0.5B, one run")
    for column in ("build", "prompt tok/s", "decode tok/s", f"prompt ratio to {base}", "per-round min-max",
                   f"decode ratio to {base}"):
        table.add_column(column)
    rows = []
    for flags in chosen:
        prompt = statistics.median(samples[flags.name]["prompt"])
        decode = statistics.median(samples[flags.name]["decode"])
        ratios = [r[flags.name] / r[base] for r in per_round]
        row = {"flag_set": flags.name, "cmake_args": list(flags.cmake_args), "prompt_tokens_per_s": prompt,
               "decode_tokens_per_s": decode,
               "prompt_ratio": prompt / statistics.median(samples[base]["prompt"]),
               "decode_ratio": decode / statistics.median(samples[base]["decode"]),
               "round_ratio_min": min(ratios), "round_ratio_max": max(ratios), "system_info": info[flags.name]}
        rows.append(row)
        table.add_row(flags.name, f"{prompt:.0f}", f"{decode:.1f}", f"{row['prompt_ratio']:.2f}",
                      f"{min(ratios):.2f}-{max(ratios):.2f}", f"{row['decode_ratio']:.2f}")
    console = Console(width=None if sys.stdout.isatty() else 140)
    console.print(table)
    for flags in chosen:
        console.print(f"{flags.name}: {' '.join(flags.cmake_args)}")
    if args.json_out:
        out = Path(args.json_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"cpu": {"model": cpu.model, "arch": cpu.arch, "features": sorted(cpu.features)},
                                   "rounds": args.rounds, "reps": args.reps, "builds": rows}, indent=2) + "\n")
        console.print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
