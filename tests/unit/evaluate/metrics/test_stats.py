"""Paired bootstrap intervals on cases with known answers, and verdicts read from them."""

from __future__ import annotations

import numpy as np
import pytest

from tuneforge.evaluate.metrics.scores import class_features, macro_f1_from_sums
from tuneforge.evaluate.metrics.stats import (
    IndexStatistic,
    SumStatistic,
    bootstrap_indices,
    mean_statistic,
    paired_bootstrap,
    read_verdict,
)


def test_equal_differences_give_a_zero_width_interval() -> None:
    base = mean_statistic([0.0, 1.0, 0.0, 1.0, 1.0])
    tuned = mean_statistic([1.0, 2.0, 1.0, 2.0, 2.0])  # every example exactly +1
    diff = paired_bootstrap(base, tuned, 5, samples=500, seed=3)
    assert (diff.difference, diff.low, diff.high) == pytest.approx((1.0, 1.0, 1.0))
    assert diff.verdict == "better"


def test_identical_variants_are_no_clear_difference() -> None:
    values = [0.0, 1.0, 1.0, 0.0]
    diff = paired_bootstrap(mean_statistic(values), mean_statistic(values), 4, samples=200)
    assert (diff.low, diff.high, diff.verdict) == (0.0, 0.0, "no clear difference")


def test_two_examples_known_distribution() -> None:
    # Differences (0, 1): a resample's mean is 0, 1/2 or 1 with probability 1/4, 1/2, 1/4, so
    # the 2.5% and 97.5% quantiles are exactly 0 and 1: the interval touches zero.
    diff = paired_bootstrap(
        mean_statistic([0.0, 0.0]), mean_statistic([0.0, 1.0]), 2, samples=4000, seed=1
    )
    assert (diff.difference, diff.low, diff.high) == pytest.approx((0.5, 0.0, 1.0))
    assert diff.verdict == "no clear difference"


def test_interval_matches_a_hand_computation_of_the_same_resamples() -> None:
    base = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    tuned = np.array([1.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    indices = bootstrap_indices(6, samples=300, seed=7)
    by_hand = [(tuned[row] - base[row]).mean() for row in indices]
    expected = np.quantile(by_hand, [0.025, 0.975])
    diff = paired_bootstrap(mean_statistic(base), mean_statistic(tuned), 6, samples=300, seed=7)
    assert (diff.low, diff.high) == pytest.approx(tuple(expected))


def test_sum_and_index_statistics_agree_on_macro_f1() -> None:
    labels = ["a", "b"]
    gold = ["a", "a", "b", "b", "a"]
    pred = ["a", "b", "b", None, "a"]
    features = class_features(pred, gold, labels)
    as_sums = SumStatistic(features, lambda sums, _n: macro_f1_from_sums(sums))
    as_index = IndexStatistic(lambda i: float(macro_f1_from_sums(features[i].sum(0)[None])[0]), 5)
    indices = bootstrap_indices(5, samples=50, seed=0)
    assert as_sums.resample(indices) == pytest.approx(as_index.resample(indices))
    assert as_sums.value() == pytest.approx(as_index.value())


def test_verdicts_follow_the_interval_and_the_direction() -> None:
    assert read_verdict(0.01, 0.2) == "better"
    assert read_verdict(-0.2, -0.01) == "worse"
    assert read_verdict(-0.01, 0.2) == "no clear difference"
    assert read_verdict(0.01, 0.2, higher_is_better=False) == "worse"  # e.g. invalid rate up


def test_same_seed_same_interval() -> None:
    base, tuned = mean_statistic([0, 1, 0, 1, 1, 0]), mean_statistic([1, 1, 0, 1, 1, 1])
    first = paired_bootstrap(base, tuned, 6, samples=200, seed=11)
    assert paired_bootstrap(base, tuned, 6, samples=200, seed=11) == first
