"""Rebuild processbench_gsm8k_sample.jsonl from ProcessBench's gsm8k split.

    python examples/data/make_processbench_sample.py /path/to/datasets/steps/processbench_gsm8k.jsonl
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path


def main(source: str) -> None:
    rows = [json.loads(line) for line in open(source, encoding="utf-8")]
    # short trajectories, so the step-verification benchmark runs in minutes on a 2-core CPU
    short = [r for r in rows if sum(len(s) for s in r["steps"]) + len(r["problem"]) < 1500]
    rng = random.Random(0)
    picked = rng.sample([r for r in short if r["label"] == -1], 15) + rng.sample([r for r in short if r["label"] >= 0], 15)
    picked.sort(key=lambda r: int(r["id"].split("-")[1]))
    with open(Path(__file__).with_name("processbench_gsm8k_sample.jsonl"), "w", encoding="utf-8") as out:
        for row in picked:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
