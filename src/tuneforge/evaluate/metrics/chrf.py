"""chrF: character n-gram F-score of an answer against its reference (Popović, 2015).

The standard definition, as sacreBLEU computes it by default: character n-grams of orders
1–6 with whitespace removed; precision and recall are averaged over the orders that both sides
have n-grams of, then combined into F-beta with beta = 2 (recall weighs twice as much).
Corpus chrF sums the n-gram counts of every example before computing the score.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

CHAR_ORDER = 6
BETA = 2.0


def char_ngrams(text: str, n: int) -> Counter[str]:
    """Counts of the character n-grams of ``text`` with all whitespace removed."""
    chars = "".join(text.split())
    return Counter(chars[i : i + n] for i in range(len(chars) - n + 1))


def chrf_stats(hypothesis: str, reference: str, order: int = CHAR_ORDER) -> np.ndarray:
    """(3·order,) counts: for n = 1..order, [hypothesis n-grams, reference n-grams, matches].

    A match is an n-gram present on both sides, counted min(hyp, ref) times.
    """
    stats = np.zeros(3 * order)
    for n in range(1, order + 1):
        hyp, ref = char_ngrams(hypothesis, n), char_ngrams(reference, n)
        matches = sum((hyp & ref).values())
        stats[3 * (n - 1) : 3 * n] = (sum(hyp.values()), sum(ref.values()), matches)
    return stats


def chrf_from_stats(stats: np.ndarray, beta: float = BETA) -> np.ndarray:
    """chrF in [0, 100] from summed `chrf_stats`: (S, 3·order) → (S,) (or (3·order,) → ())."""
    stats = np.asarray(stats, dtype=float)
    grid = stats.reshape(*stats.shape[:-1], -1, 3)  # (..., order, [hyp, ref, match])
    hyp, ref, match = grid[..., 0], grid[..., 1], grid[..., 2]
    effective = (hyp > 0) & (ref > 0)
    precision = np.divide(match, hyp, out=np.zeros_like(match), where=effective)
    recall = np.divide(match, ref, out=np.zeros_like(match), where=effective)
    orders = effective.sum(axis=-1)
    safe_orders = np.maximum(orders, 1)
    avg_p, avg_r = precision.sum(axis=-1) / safe_orders, recall.sum(axis=-1) / safe_orders
    factor = beta**2
    denominator = factor * avg_p + avg_r
    score = np.divide(
        (1 + factor) * avg_p * avg_r,
        denominator,
        out=np.zeros_like(avg_p),
        where=denominator > 0,
    )
    return 100 * np.where(orders > 0, score, 0.0)


def chrf(hypothesis: str, reference: str) -> float:
    """Sentence-level chrF of one answer against one reference, in [0, 100]."""
    return float(chrf_from_stats(chrf_stats(hypothesis, reference)))
