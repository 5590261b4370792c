"""What human agreement says about a judge's agreement with PandaLM's majority label.

    .venv/bin/python benchmarks/human_ceiling.py [--data PATH]

PandaLM's test set (999 items, three annotators, labels 0 tie / 1 / 2; default path
``../shared/datasets/pandalm/testset-v1.json`` next to the repository) is scored against the
majority of its three annotators. Printed, each with a 95% interval (Wilson for a proportion,
percentile bootstrap over items for a mean over annotators):

* mean pairwise agreement between annotators;
* each annotator's agreement with the majority of all three, which includes their own vote;
* each annotator's agreement with the majority of the *other two* (leave one out): where the two
  agree, and, counting a split of the two as a coin flip, over every item (with three
  annotators this expectation equals the mean pairwise agreement, and the script checks it);
* the share of items the majority decides by a 2-1 vote.

docs/quality.md quotes these numbers.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from jurist.metrics import Estimate, bootstrap, wilson_interval

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "pandalm" / "testset-v1.json"
ANNOTATORS = ("annotator1", "annotator2", "annotator3")


def load(path: Path) -> np.ndarray:
    """(items, 3) labels."""
    return np.array([[record[a] for a in ANNOTATORS] for record in json.loads(path.read_text())])


def majority(row: np.ndarray) -> int | None:
    label, count = Counter(row.tolist()).most_common(1)[0]
    return label if count * 2 > len(row) else None


def fmt(estimate: Estimate) -> str:
    return f"{estimate.value:.3f} [{estimate.low:.3f}, {estimate.high:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    labels = load(parser.parse_args().data)
    n = len(labels)
    majorities = np.array([majority(row) for row in labels], dtype=object)
    assert all(m is not None for m in majorities), "an item without a majority"
    pairs = [(0, 1), (0, 2), (1, 2)]
    pairwise = np.mean([labels[:, i] == labels[:, j] for i, j in pairs], axis=0)  # per item
    print(f"PandaLM: {n} items, {len(ANNOTATORS)} annotators")
    print(f"mean pairwise agreement                      {fmt(bootstrap(np.mean, pairwise))}")
    split = int(sum(len(set(row.tolist())) > 1 for row in labels))
    print(f"items decided 2-1 (not unanimous)            {fmt(wilson_interval(split, n))}")
    loo_expected = []
    for a, name in enumerate(ANNOTATORS):
        others = [b for b in range(len(ANNOTATORS)) if b != a]
        with_all = int(sum(labels[:, a] == majorities))
        agree = labels[:, others[0]] == labels[:, others[1]]
        with_others = int(sum(labels[agree, a] == labels[agree, others[0]]))
        # where the other two split, a coin flip between their labels: half a point if it matches one
        expected = np.where(agree, labels[:, a] == labels[:, others[0]],
                            0.5 * ((labels[:, a] == labels[:, others[0]]) + (labels[:, a] == labels[:, others[1]])))
        loo_expected.append(expected)
        print(f"{name} vs majority of all three (own vote in) {fmt(wilson_interval(with_all, n))}")
        print(f"{name} vs the other two where they agree      {fmt(wilson_interval(with_others, int(agree.sum())))}"
              f"  (n={int(agree.sum())})")
        print(f"{name} vs the other two, split = coin flip    {fmt(bootstrap(np.mean, expected))}")
    per_item = np.mean(loo_expected, axis=0)
    assert np.allclose(per_item, pairwise), "leave-one-out with a coin flip should equal pairwise agreement"
    print(f"leave-one-out, mean over annotators          {fmt(bootstrap(np.mean, per_item))}"
          " (= mean pairwise agreement)")


if __name__ == "__main__":
    main()
