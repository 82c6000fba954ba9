"""Classification and preference metrics, as plain functions of answers and scores.

Each metric that gets a confidence interval is written as a function of per-example feature
*sums* (see `tuneforge.evaluate.metrics.stats.SumStatistic`), so the point estimate and every
bootstrap resample go through the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Column of the confusion matrix that counts answers naming no label.
INVALID = "(invalid)"


@dataclass(frozen=True)
class ClassScores:
    """Precision, recall and F1 of one class, and how many references carry it."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ClassificationScores:
    """Everything the report shows about one variant's class predictions."""

    labels: list[str]
    accuracy: float
    macro_f1: float
    invalid_rate: float
    per_class: dict[str, ClassScores]
    confusion: list[list[int]]
    """Rows: reference label (in ``labels`` order); columns: ``labels`` then `INVALID`."""


def label_set(declared: Sequence[str], gold: Sequence[str]) -> list[str]:
    """The declared labels, plus any reference label the declaration forgot (in order seen)."""
    labels = list(dict.fromkeys(declared))
    labels.extend(g for g in dict.fromkeys(gold) if g not in labels)
    return labels


def class_features(
    predictions: Sequence[str | None], gold: Sequence[str], labels: Sequence[str]
) -> np.ndarray:
    """Per-example indicators (n, 3C): [true positive | is reference | is prediction] per class.

    Summed over any set of examples they give each class's TP, support and predicted count,
    which is all that accuracy, per-class precision/recall and macro-F1 need.
    """
    index = {label: i for i, label in enumerate(labels)}
    classes = len(labels)
    features = np.zeros((len(gold), 3 * classes))
    for row, (pred, ref) in enumerate(zip(predictions, gold, strict=True)):
        features[row, classes + index[ref]] = 1
        if pred is not None and pred in index:
            features[row, 2 * classes + index[pred]] = 1
            if pred == ref:
                features[row, index[ref]] = 1
    return features


def macro_f1_from_sums(sums: np.ndarray) -> np.ndarray:
    """Macro-F1 from summed `class_features`: (S, 3C) → (S,).

    F1 of a class is 2·TP / (support + predicted); the mean runs over the classes that occur
    among the references or the predictions of that sample (others have no defined F1).
    """
    tp, support, predicted = np.split(np.atleast_2d(sums), 3, axis=1)
    present = (support + predicted) > 0
    f1 = np.divide(2 * tp, support + predicted, out=np.zeros_like(tp), where=present)
    counted = present.sum(axis=1)
    return np.divide(f1.sum(axis=1), counted, out=np.zeros(len(f1)), where=counted > 0)


def classification_scores(
    predictions: Sequence[str | None], gold: Sequence[str], labels: Sequence[str]
) -> ClassificationScores:
    """Accuracy, macro-F1, invalid rate, per-class P/R/F1 and the confusion matrix.

    ``None`` (or a string outside ``labels``) is an invalid answer: wrong for accuracy and
    recall, and counted in no class's precision.
    """
    labels = label_set(labels, gold)
    n = len(gold)
    sums = class_features(predictions, gold, labels).sum(axis=0)
    tp, support, predicted = np.split(sums, 3)
    per_class = {}
    for i, label in enumerate(labels):
        precision = tp[i] / predicted[i] if predicted[i] else 0.0
        recall = tp[i] / support[i] if support[i] else 0.0
        f1 = 2 * tp[i] / (support[i] + predicted[i]) if support[i] + predicted[i] else 0.0
        per_class[label] = ClassScores(float(precision), float(recall), float(f1), int(support[i]))
    index = {label: i for i, label in enumerate(labels)}
    confusion = [[0] * (len(labels) + 1) for _ in labels]
    invalid = 0
    for pred, ref in zip(predictions, gold, strict=True):
        column = index.get(pred, len(labels)) if pred is not None else len(labels)
        invalid += column == len(labels)
        confusion[index[ref]][column] += 1
    return ClassificationScores(
        labels=labels,
        accuracy=float(tp.sum() / n) if n else 0.0,
        macro_f1=float(macro_f1_from_sums(sums[None])[0]) if n else 0.0,
        invalid_rate=invalid / n if n else 0.0,
        per_class=per_class,
        confusion=confusion,
    )


def pair_preference(chosen: Sequence[float], rejected: Sequence[float]) -> tuple[float, float]:
    """(accuracy, mean margin) of paired scores: how often chosen scores above rejected."""
    c, r = np.asarray(chosen, dtype=float), np.asarray(rejected, dtype=float)
    if not len(c):
        return 0.0, 0.0
    return float((c > r).mean()), float((c - r).mean())


def ranking_auc(scores: Sequence[float], desirable: Sequence[bool]) -> float:
    """Probability that a random desirable answer scores above a random undesirable one.

    Ties count one half (the Mann-Whitney AUC). 0.5 when either group is empty.
    """
    s = np.asarray(scores, dtype=float)
    good = np.asarray(desirable, dtype=bool)
    pos, neg = s[good], s[~good]
    if not len(pos) or not len(neg):
        return 0.5
    above = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(above / (len(pos) * len(neg)))


def group_margin(scores: Sequence[float], desirable: Sequence[bool]) -> float:
    """Mean score of desirable answers minus that of undesirable ones (0 when a group is empty)."""
    s = np.asarray(scores, dtype=float)
    good = np.asarray(desirable, dtype=bool)
    if not good.any() or good.all():
        return 0.0
    return float(s[good].mean() - s[~good].mean())
