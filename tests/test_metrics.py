"""Metrics against reference values: textbook examples, scikit-learn, krippendorff, scipy."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from jurist.metrics import (
    Estimate,
    accuracy,
    bootstrap,
    cohen_kappa,
    compare_summary,
    grouped_correlation,
    kendall,
    krippendorff_alpha,
    pearson,
    score_summary,
    spearman,
    wilson_interval,
)
from jurist.types import Judgment, Verdict


def _mean(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=-1)


# ---------------------------------------------------------------- uncertainty


def test_estimate_str() -> None:
    est = Estimate(value=0.6154, low=0.5471, high=0.68, n=200, method="bootstrap")
    assert str(est) == "0.615 [0.547, 0.680] n=200"
    assert str(Estimate(value=0.5, n=10)) == "0.500 n=10"
    assert str(Estimate(value=math.nan, n=0)) == "n/a n=0"
    assert "(4 groups)" in str(Estimate(value=0.5, low=0.4, high=0.6, n=20, n_groups=4))
    empty = Estimate.model_validate_json(Estimate(value=math.nan, n=0).model_dump_json())
    assert math.isnan(empty.value) and math.isnan(empty.low) and empty.n == 0
    assert Estimate.model_validate_json(est.model_dump_json()) == est


def test_bootstrap_empty_and_degenerate() -> None:
    empty = bootstrap(np.mean, [])
    assert math.isnan(empty.value) and empty.n == 0 and "n=0" in str(empty)
    one = bootstrap(np.mean, [3.0])
    assert one.value == 3.0 and not one.has_ci
    const = bootstrap(np.mean, [2.0] * 5)
    assert const.value == const.low == const.high == 2.0
    # a statistic that is NaN on every resample gives NaN bounds, not an error
    nan_stat = bootstrap(lambda x: math.nan, [1.0, 2.0, 3.0])
    assert math.isnan(nan_stat.value) and not nan_stat.has_ci
    assert bootstrap(np.mean, [1.0, 2.0], n_resamples=0).method == "none"


def test_bootstrap_deterministic_and_vectorized_matches_loop() -> None:
    x = np.random.default_rng(3).normal(size=80)
    a = bootstrap(np.mean, x, seed=7)
    b = bootstrap(np.mean, x, seed=7)
    v = bootstrap(_mean, x, seed=7, vectorized=True)
    assert a == b
    assert a.low == pytest.approx(v.low) and a.high == pytest.approx(v.high)
    assert bootstrap(np.mean, x, seed=8) != a


def test_bootstrap_is_scipys_percentile_bootstrap() -> None:
    x = np.random.default_rng(2).normal(size=60)
    y = x + np.random.default_rng(3).normal(size=60)
    for args, stat in [((x,), lambda a, axis=-1: a.mean(axis=axis)),
                       ((x, y), lambda a, b, axis=-1: (a - b).mean(axis=axis))]:
        ref = stats.bootstrap(args, stat, paired=len(args) > 1, vectorized=True, n_resamples=1000, method="percentile",
                              confidence_level=0.9, rng=np.random.default_rng(11)).confidence_interval
        est = bootstrap(lambda *rows: stat(*rows, axis=-1), *args, n_resamples=1000, confidence=0.9, seed=11,
                        vectorized=True)
        assert (est.low, est.high) == pytest.approx((ref.low, ref.high))


def test_bootstrap_paired_arrays() -> None:
    x = np.arange(50.0)
    est = bootstrap(lambda a, b: float(np.mean(a - b)), x, x)
    assert est.value == est.low == est.high == 0.0
    with pytest.raises(ValueError):
        bootstrap(np.mean, [1, 2], [1, 2, 3])


def test_cluster_bootstrap_resamples_whole_groups() -> None:
    # every group holds one constant value, so each resample's items come in whole groups
    groups = np.repeat(np.arange(10), 5)
    x = groups.astype(float)
    seen: list[np.ndarray] = []

    def stat(v: np.ndarray) -> float:
        seen.append(v)
        return float(v.mean())

    est = bootstrap(stat, x, groups=list(groups), n_resamples=200)
    assert est.method == "cluster bootstrap" and est.n_groups == 10 and est.n == 50
    assert all(len(v) == 50 and all(np.sum(v == g) % 5 == 0 for g in np.unique(v)) for v in seen[1:])
    # clustering widens the interval of correlated data compared with the item bootstrap
    items = bootstrap(_mean, x, vectorized=True)
    assert (est.high - est.low) > (items.high - items.low)


def test_bootstrap_coverage_bernoulli() -> None:
    rng = np.random.default_rng(12345)
    covered = 0
    for i in range(200):
        sample = (rng.random(100) < 0.7).astype(float)
        est = bootstrap(_mean, sample, n_resamples=1000, seed=i, vectorized=True)
        covered += est.low <= 0.7 <= est.high
    assert 0.90 <= covered / 200 <= 0.99


def test_wilson_interval() -> None:
    est = wilson_interval(7, 10)
    # Wilson score interval for 7/10 at 95%
    assert est.value == 0.7
    assert est.low == pytest.approx(0.3968, abs=1e-4) and est.high == pytest.approx(0.8922, abs=1e-4)
    assert math.isnan(wilson_interval(0, 0).value)
    assert wilson_interval(0, 5).low == 0.0


# ---------------------------------------------------------------- accuracy and kappa


def test_accuracy_drops_missing_pairs() -> None:
    est = accuracy(["A", "B", None, "A"], ["A", "A", "B", float("nan")])
    assert est.value == 0.5 and est.n == 2
    assert accuracy([1, 2, 3], [1, 2, 3], ci=False).method == "none"


def test_cohen_kappa_wikipedia_example() -> None:
    # Wikipedia: 50 proposals, yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> kappa = 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    est = cohen_kappa(a, b)
    assert est.value == pytest.approx(0.4)
    assert est.n == 50 and est.low < 0.4 < est.high


def test_cohen_kappa_textbook_three_categories() -> None:
    # Fleiss, Levin & Paik example: diagnoses by two raters, kappa = 0.676
    table = np.array([[75, 1, 4], [5, 4, 1], [0, 0, 10]])
    a = [i for i in range(3) for j in range(3) for _ in range(table[i, j])]
    b = [j for i in range(3) for j in range(3) for _ in range(table[i, j])]
    assert cohen_kappa(a, b, ci=False).value == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa(a, b, ci=False).value == pytest.approx(0.676, abs=1e-3)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_sklearn(weights: str | None) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(1, 6, 300)
    y = np.clip(x + rng.integers(-2, 3, 300), 1, 5)
    est = cohen_kappa(x.tolist(), y.tolist(), weights=weights)  # type: ignore[arg-type]
    assert est.value == pytest.approx(cohen_kappa_score(x, y, weights=weights))
    assert est.low <= est.value <= est.high


def test_cohen_kappa_labels_order_and_unknowns() -> None:
    order = ["low", "mid", "high"]
    a = ["low", "mid", "high", "high", "mid", "low"]
    b = ["low", "high", "high", "mid", "mid", "mid"]
    est = cohen_kappa(a, b, weights="linear", labels=order, ci=False)
    ref = cohen_kappa_score(a, b, weights="linear", labels=order)
    assert est.value == pytest.approx(ref)
    with pytest.raises(ValueError, match="not in labels"):
        cohen_kappa(["x"], ["low"], labels=order)
    with pytest.raises(ValueError, match="weights"):
        cohen_kappa(a, b, weights="cubic")  # type: ignore[arg-type]
    # one category only: no expected disagreement
    assert math.isnan(cohen_kappa(["A"] * 5, ["A"] * 5).value)
    assert cohen_kappa([], []).n == 0 and cohen_kappa([None, float("nan")], ["A", "B"]).n == 0


# ---------------------------------------------------------------- Krippendorff's alpha

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", example C: 4 observers x 12 units
KRIPP_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


@pytest.mark.parametrize(
    ("level", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_2011_example(level: str, expected: float) -> None:
    est = krippendorff_alpha(KRIPP_2011, level=level)  # type: ignore[arg-type]
    assert est.value == pytest.approx(expected, abs=5e-4)
    data = np.array([[np.nan if v is None else v for v in row] for row in KRIPP_2011], dtype=float)
    assert est.value == pytest.approx(krippendorff.alpha(reliability_data=data, level_of_measurement=level))
    assert est.n == 11  # the unit with a single value is not pairable


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_krippendorff_matches_package_on_random_data(level: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, 60)
    data = np.clip(truth + rng.integers(-1, 2, (4, 60)), 1, 5).astype(float)
    data[rng.random(data.shape) < 0.25] = np.nan
    est = krippendorff_alpha(data, level=level, ci=False)  # type: ignore[arg-type]
    assert est.value == pytest.approx(krippendorff.alpha(reliability_data=data, level_of_measurement=level))


def test_krippendorff_strings_ci_and_degenerate() -> None:
    data = [["a", "b", "a", None, "c"], ["a", "b", "b", "c", "c"], ["a", None, "a", "c", "c"]]
    coded = np.array([[np.nan if v is None else "abc".index(v) for v in row] for row in data], dtype=float)
    est = krippendorff_alpha(data)
    assert est.value == pytest.approx(krippendorff.alpha(reliability_data=coded, level_of_measurement="nominal"))
    assert est.low <= est.value <= est.high
    assert math.isnan(krippendorff_alpha([[1, 1], [1, 1]]).value)  # one value: the package raises, alpha is NaN
    assert krippendorff_alpha([]).n == 0
    assert krippendorff_alpha([[None, float("nan")], [1, None]]).n == 0  # no unit with two values
    with pytest.raises(ValueError, match="numeric"):
        krippendorff_alpha(data, level="interval")
    with pytest.raises(ValueError, match="raters x units"):
        krippendorff_alpha([1, 2, 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="not in value_domain"):
        krippendorff_alpha(data, value_domain=["a", "b"])


def test_krippendorff_ordinal_value_domain_and_ratio_zero() -> None:
    order = ["low", "mid", "high"]
    data = [["low", "mid", "high", "high", None], ["low", "high", "high", "mid", "mid"],
            ["mid", "mid", None, "high", "mid"]]
    coded = np.array([[np.nan if v is None else order.index(v) for v in row] for row in data], dtype=float)
    est = krippendorff_alpha(data, level="ordinal", value_domain=order, ci=False)
    assert est.value == pytest.approx(krippendorff.alpha(reliability_data=coded, level_of_measurement="ordinal"))
    zeros = np.array([[0, 1, 2, 0, 3], [0, 2, 2, 1, 3], [np.nan, 1, 2, 0, 2]])
    ratio = krippendorff_alpha(zeros, level="ratio", ci=False)
    assert ratio.value == pytest.approx(krippendorff.alpha(reliability_data=zeros, level_of_measurement="ratio"))


# ---------------------------------------------------------------- correlations


def test_correlations_match_scipy() -> None:
    rng = np.random.default_rng(4)
    x = rng.integers(1, 6, 120).astype(float)
    y = x + rng.normal(scale=1.5, size=120)
    for fn, ref in [
        (spearman, stats.spearmanr(x, y).statistic),
        (kendall, stats.kendalltau(x, y).statistic),
        (pearson, stats.pearsonr(x, y).statistic),
    ]:
        est = fn(x.tolist(), y.tolist(), n_resamples=500)
        assert est.value == pytest.approx(ref)
        assert est.low < est.value < est.high and est.n == 120


def test_spearman_bootstrap_ranks_match_rankdata() -> None:
    rng = np.random.default_rng(6)
    x = rng.integers(0, 8, 40).astype(float)
    y = x + rng.normal(size=40)
    fast = spearman(x, y, n_resamples=300, seed=3)
    slow = bootstrap(
        lambda a, b: stats.spearmanr(a, b).statistic, x, y, n_resamples=300, seed=3
    )  # same resamples, scipy's spearmanr on each
    assert (fast.value, fast.low, fast.high) == pytest.approx((slow.value, slow.low, slow.high))


def test_correlations_degenerate() -> None:
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]).value)
    assert math.isnan(pearson([1.0], [2.0]).value)
    assert spearman([], []).n == 0
    assert kendall([1, 2, None, 4], [1, 2, 3, float("nan")]).n == 2
    with pytest.raises(ValueError, match="correlations need numbers"):
        pearson(["a", "b"], [1, 2])


def test_grouped_correlation_skips_constant_groups() -> None:
    pred = [1, 2, 3, 3, 2, 1, 5, 5, 5, 1, 2, 3, 9]
    gold = [1, 2, 3, 1, 2, 3, 1, 2, 3, 4, 4, 4, 1]
    groups = ["d1"] * 3 + ["d2"] * 3 + ["d3"] * 3 + ["d4"] * 3 + ["d5"]
    est = grouped_correlation(pred, gold, groups, n_resamples=200)
    # d1: +1, d2: -1; d3 (pred constant), d4 (gold constant), d5 (one item) are skipped
    assert est.value == pytest.approx(0.0)
    assert est.n_groups == 2 and est.skipped == 3 and est.n == 6
    assert "3 skipped" in str(est)
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(20), 6)
    p = rng.normal(size=120)
    q = p + rng.normal(size=120)
    for method, fn in [("spearman", stats.spearmanr), ("kendall", stats.kendalltau), ("pearson", stats.pearsonr)]:
        ref = np.mean([fn(p[g == k], q[g == k]).statistic for k in range(20)])
        got = grouped_correlation(p, q, g, method=method, n_resamples=200)  # type: ignore[arg-type]
        assert got.value == pytest.approx(ref) and got.low < got.value < got.high


# ---------------------------------------------------------------- summaries


def _score(score: float, top: str, label: float | str | None) -> Judgment:
    verdict = Verdict(status="scored", kind="score", method="logprobs", score=score, top_label=top)
    return Judgment(item_id=top, protocol="score", judge="j", verdict=verdict, label=label)


def _other(status: str, kind: str, label: float | str | None = None) -> Judgment:
    """An unscored or failed judgment."""
    verdict = Verdict(status=status, kind=kind, raw="?", error="x")  # type: ignore[arg-type]
    return Judgment(item_id=status, protocol=kind, judge="j", verdict=verdict, label=label)


def test_score_summary() -> None:
    judgments = [
        _score(1.2, "1", 1.0),
        _score(2.6, "3", 2.0),
        _score(2.9, "3", "3"),
        _score(4.4, "4", 5.0),
        _score(3.0, "3", None),
        _other("unscored", "score", label=2.0),
        _other("failed", "score"),
    ]
    s = score_summary(judgments, n_resamples=300)
    assert (s.counts.total, s.counts.scored, s.counts.unscored, s.counts.failed) == (7, 5, 1, 1)
    assert s.mean_score.value == pytest.approx((1.2 + 2.6 + 2.9 + 4.4 + 3.0) / 5) and s.mean_score.n == 5
    assert s.top_labels == {"1": 1, "3": 3, "4": 1}
    assert s.n_labeled == 4
    labels = [1.0, 2.0, 3.0, 5.0]
    assert s.score_vs_label["spearman"].value == pytest.approx(1.0)
    assert s.score_vs_label["pearson"].value == pytest.approx(stats.pearsonr([1.2, 2.6, 2.9, 4.4], labels).statistic)
    assert s.top_vs_label["kendall"].value == pytest.approx(stats.kendalltau([1, 3, 3, 4], labels).statistic)
    assert s.top_vs_label["spearman"].n == 4
    names = [name for name, _ in s.rows()]
    assert "mean score" in names and "spearman (score vs label)" in names
    assert all(isinstance(v, str) for _, v in s.rows())


def test_score_summary_without_labels_or_scores() -> None:
    s = score_summary([])
    assert s.counts.total == 0 and math.isnan(s.mean_score.value)
    assert not s.score_vs_label and s.rows()[0] == ("judgments", "0")


def _pair(
    pref: str, p_a: float, agree: bool | None, label: str | None, parts: tuple[str, str] | None = None
) -> Judgment:
    sub = [Verdict(status="scored", kind="compare", preference=p) for p in parts] if parts else []  # type: ignore[arg-type]
    verdict = Verdict(
        status="scored",
        kind="compare",
        preference=pref,
        p_a=p_a,
        p_b=1 - p_a,
        orders_agree=agree,
        parts=sub,  # type: ignore[arg-type]
    )
    return Judgment(item_id=pref, protocol="compare", judge="j", verdict=verdict, label=label)


def test_compare_summary() -> None:
    judgments = [
        _pair("A", 0.9, True, "A", ("A", "A")),
        _pair("A", 0.7, True, "B", ("A", "A")),
        _pair("B", 0.2, True, "b", ("B", "B")),
        _pair("tie", 0.5, False, "A", ("A", "B")),
        _pair("A", 0.6, False, "tie", ("A", "tie")),
        _pair("B", 0.1, None, None),
        _other("failed", "compare", label="A"),
    ]
    s = compare_summary(judgments, n_resamples=300)
    assert (s.counts.total, s.counts.scored, s.counts.failed) == (7, 6, 1)
    assert s.preferences == {"A": 3, "B": 2, "tie": 1}
    assert s.win_rate_a.value == pytest.approx((3 + 0.5) / 6)
    assert s.p_a_mean.value == pytest.approx((0.9 + 0.7 + 0.2 + 0.5 + 0.6 + 0.1) / 6)
    assert s.order_consistency is not None
    assert s.order_consistency.value == pytest.approx(3 / 5) and s.order_consistency.method == "wilson"
    assert s.n_labeled == 5
    assert s.accuracy is not None and s.accuracy.value == pytest.approx(2 / 5)
    pred, gold = ["A", "A", "B", "tie", "A"], ["A", "B", "B", "A", "tie"]
    assert s.kappa is not None
    assert s.kappa.value == pytest.approx(cohen_kappa_score(pred, gold, labels=["A", "B", "tie"]))
    assert s.accuracy_orders_agree is not None and s.accuracy_orders_agree.value == pytest.approx(2 / 3)
    assert s.share_orders_agree is not None and s.share_orders_agree.value == pytest.approx(3 / 5)
    # order 1: A A B A A vs A B B A tie -> 3/5; order 2: A A B B tie -> 3/5
    assert [e.value for e in s.per_order_accuracy] == pytest.approx([3 / 5, 3 / 5])
    names = [name for name, _ in s.rows()]
    assert {"win rate A", "order consistency", "accuracy", "Cohen's kappa", "accuracy (order 2)"} <= set(names)


def test_compare_summary_without_labels() -> None:
    s = compare_summary([_pair("A", 0.8, None, None), _pair("B", 0.3, None, "maybe")])
    assert s.win_rate_a.value == 0.5 and s.order_consistency is None
    assert s.n_labeled == 0 and s.accuracy is None and s.per_order_accuracy == []
    assert "accuracy" not in [name for name, _ in s.rows()]
