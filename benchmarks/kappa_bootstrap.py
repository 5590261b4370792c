"""Cohen's kappa with a 2,000-resample bootstrap: jurist's batched count against scikit-learn per resample (no model).

    .venv/bin/python benchmarks/kappa_bootstrap.py          # ~30 s on 2 cores; needs scikit-learn (the learn extra)

For n = 200 and 1,000 random pairs of labels (three categories, seeded): the wall time of
``jurist.metrics.agreement.cohen_kappa(a, b, n_resamples=2000)`` (point value and percentile interval), and of
``sklearn.metrics.cohen_kappa_score`` called once per resample on the same 2,000 resamples (the indices
``scipy.stats.bootstrap`` draws are not exposed, so the resamples are drawn with numpy; the work per resample is
the same). The best of ``--repeats`` runs of each; also checks that the two give the same point value.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from jurist.metrics.agreement import cohen_kappa  # noqa: E402


def best_of(repeats: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="200,1000")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    for n in (int(s) for s in args.sizes.split(",")):
        a = rng.integers(0, 3, n)
        b = np.where(rng.random(n) < 0.6, a, rng.integers(0, 3, n))
        ours = cohen_kappa(a.tolist(), b.tolist(), n_resamples=args.resamples)
        assert abs(ours.value - cohen_kappa_score(a, b)) < 1e-12
        t_ours = best_of(args.repeats, lambda: cohen_kappa(a.tolist(), b.tolist(), n_resamples=args.resamples))
        index = rng.integers(0, n, (args.resamples, n))
        t_sklearn = best_of(args.repeats, lambda: [cohen_kappa_score(a[i], b[i]) for i in index])
        print(f"n = {n:5d}: jurist {t_ours * 1e3:6.1f} ms, scikit-learn per resample {t_sklearn:5.2f} s "
              f"({t_sklearn / t_ours:.0f}x); kappa {ours.format()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
