"""chrF on tiny hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest

from tuneforge.evaluate.metrics.chrf import chrf, chrf_from_stats, chrf_stats


def test_sentence_chrf_by_hand() -> None:
    # "ab" vs "abc". 1-grams: P = 2/2, R = 2/3; 2-grams: P = 1/1, R = 1/2; "ab" has no 3-gram,
    # so only orders 1-2 count: P = 1, R = 7/12, F2 = 5PR / (4P + R) = 7/11.
    assert chrf("ab", "abc") == pytest.approx(100 * 7 / 11)


def test_stats_layout() -> None:
    stats = chrf_stats("ab", "abc", order=3)
    assert stats.tolist() == [2, 3, 2, 1, 2, 1, 0, 1, 0]


def test_corpus_chrf_sums_counts_before_scoring() -> None:
    # ("ab", "abc") + ("abc", "abc"): 1-grams 5/5, 5/6; 2-grams 3/3, 3/4; 3-grams 1/1, 1/2.
    # P = 1, R = (5/6 + 3/4 + 1/2) / 3 = 25/36, F2 = 5R / (4 + R) = 125/169.
    total = chrf_stats("ab", "abc") + chrf_stats("abc", "abc")
    assert float(chrf_from_stats(total)) == pytest.approx(100 * 125 / 169)


def test_whitespace_is_ignored_and_identity_scores_100() -> None:
    assert chrf("a b  c", "abc") == pytest.approx(100.0)
    assert chrf("", "abc") == 0.0
    assert chrf("xyz", "abc") == 0.0


def test_vectorised_over_resamples() -> None:
    rows = np.stack([chrf_stats("ab", "abc"), chrf_stats("abc", "abc")])
    assert chrf_from_stats(rows) == pytest.approx([100 * 7 / 11, 100.0])
