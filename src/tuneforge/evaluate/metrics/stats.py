"""Honest comparisons: paired bootstrap confidence intervals and the verdicts read from them.

Tuned and baseline are scored on the *same* held-out examples, so the interval of their
difference comes from resampling examples (with replacement) and recomputing both metrics on
each resample: the pairing cancels the example-to-example variation both variants share.
A verdict is "better" or "worse" only when the whole interval lies on one side of zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

Verdict = Literal["better", "worse", "no clear difference"]


class Statistic(Protocol):
    """A metric over a set of examples that can be recomputed on resamples of them."""

    def value(self) -> float:
        """The metric on every example once."""
        ...

    def resample(self, indices: np.ndarray) -> np.ndarray:
        """The metric on each resample: ``indices`` (S, n) example indices → (S,)."""
        ...


@dataclass(frozen=True)
class SumStatistic:
    """A metric that is a function of per-example feature sums (means, rates, F1, chrF).

    ``features`` is (n, k); ``finish`` maps summed features (S, k) and the sample size to
    the metric (S,). A resample costs one (S, n) × (n, k) product.
    """

    features: np.ndarray
    finish: Callable[[np.ndarray, int], np.ndarray]

    def value(self) -> float:
        """The metric on every example once."""
        return float(self.finish(self.features.sum(axis=0)[None], len(self.features))[0])

    def resample(self, indices: np.ndarray) -> np.ndarray:
        """The metric on each resample (S, n) → (S,)."""
        samples, n = indices.shape
        counts = np.zeros((samples, len(self.features)))
        np.add.at(counts, (np.arange(samples)[:, None], indices), 1)
        return self.finish(counts @ self.features, n)


@dataclass(frozen=True)
class IndexStatistic:
    """Any metric of a subset of examples, given their indices (e.g. a ranking AUC)."""

    function: Callable[[np.ndarray], float]
    size: int

    def value(self) -> float:
        """The metric on every example once."""
        return float(self.function(np.arange(self.size)))

    def resample(self, indices: np.ndarray) -> np.ndarray:
        """The metric on each resample (S, n) → (S,), one call per resample."""
        return np.array([self.function(row) for row in indices], dtype=float)


def mean_statistic(values: np.ndarray | list[float]) -> SumStatistic:
    """The mean of one number per example (a rate when the numbers are 0/1)."""
    column = np.asarray(values, dtype=float).reshape(-1, 1)
    return SumStatistic(column, lambda sums, n: sums[:, 0] / max(n, 1))


@dataclass(frozen=True)
class Difference:
    """Variant minus baseline on one metric, with its paired-bootstrap interval."""

    baseline: float
    value: float
    difference: float
    low: float
    high: float
    verdict: Verdict


def read_verdict(low: float, high: float, higher_is_better: bool = True) -> Verdict:
    """ "better"/"worse" only when the interval excludes zero; the point estimate never decides."""
    if low > 0:
        return "better" if higher_is_better else "worse"
    if high < 0:
        return "worse" if higher_is_better else "better"
    return "no clear difference"


def bootstrap_indices(n: int, *, samples: int, seed: int) -> np.ndarray:
    """(samples, n) example indices drawn with replacement from a seeded generator."""
    return np.random.default_rng(seed).integers(0, n, size=(samples, n))


def paired_bootstrap(
    baseline: Statistic,
    variant: Statistic,
    n: int,
    *,
    samples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    higher_is_better: bool = True,
) -> Difference:
    """The percentile interval of (variant − baseline) over paired resamples of ``n`` examples.

    Both statistics see the same resampled indices. With no examples the interval is [0, 0].
    """
    base_value, variant_value = baseline.value(), variant.value()
    difference = variant_value - base_value
    if n == 0:
        return Difference(base_value, variant_value, difference, 0.0, 0.0, "no clear difference")
    indices = bootstrap_indices(n, samples=samples, seed=seed)
    differences = variant.resample(indices) - baseline.resample(indices)
    tail = (1 - confidence) / 2
    low, high = (float(q) for q in np.quantile(differences, [tail, 1 - tail]))
    # Float noise must not turn identical variants into a "difference" of 1e-17.
    low, high = _snap(low, difference), _snap(high, difference)
    return Difference(
        base_value, variant_value, difference, low, high, read_verdict(low, high, higher_is_better)
    )


def _snap(bound: float, difference: float) -> float:
    """Round away floating-point dust (|x| < 1e-12) so exact ties read as exact."""
    if abs(bound - difference) < 1e-12:
        return difference
    return 0.0 if abs(bound) < 1e-12 else bound
