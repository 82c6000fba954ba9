"""Classification and preference metrics against hand-computed values."""

from __future__ import annotations

import pytest

from tuneforge.evaluate.metrics.labels import exact_label, infer_labels, match_label
from tuneforge.evaluate.metrics.scores import (
    classification_scores,
    group_margin,
    pair_preference,
    ranking_auc,
)

LABELS = ["a", "b", "c"]
GOLD = ["a", "a", "b", "b", "c", "c"]
PRED = ["a", "b", "b", None, "c", "a"]


def test_accuracy_macro_f1_invalid_rate() -> None:
    scores = classification_scores(PRED, GOLD, LABELS)
    # Correct: rows 0, 2, 4 -> 3/6. F1: a = 2*1/(2+2), b = 2*1/(2+2), c = 2*1/(2+1).
    assert scores.accuracy == pytest.approx(0.5)
    assert scores.macro_f1 == pytest.approx((0.5 + 0.5 + 2 / 3) / 3)
    assert scores.invalid_rate == pytest.approx(1 / 6)


def test_per_class_precision_recall() -> None:
    per_class = classification_scores(PRED, GOLD, LABELS).per_class
    # a: predicted at rows 0 and 5, right once; b: rows 1 and 2, right once; c: row 4 only.
    assert (per_class["a"].precision, per_class["a"].recall) == pytest.approx((0.5, 0.5))
    assert (per_class["b"].precision, per_class["b"].recall) == pytest.approx((0.5, 0.5))
    assert (per_class["c"].precision, per_class["c"].recall) == pytest.approx((1.0, 0.5))
    assert per_class["c"].f1 == pytest.approx(2 / 3)
    assert [per_class[label].support for label in LABELS] == [2, 2, 2]


def test_confusion_matrix_has_an_invalid_column() -> None:
    confusion = classification_scores(PRED, GOLD, LABELS).confusion
    assert confusion == [
        [1, 1, 0, 0],  # a -> a, a -> b
        [0, 1, 0, 1],  # b -> b, b -> invalid
        [1, 0, 1, 0],  # c -> a, c -> c
    ]


def test_macro_f1_skips_classes_absent_from_references_and_answers() -> None:
    # 'c' is never a reference nor an answer: the mean runs over a and b only.
    scores = classification_scores(["a", "b"], ["a", "b"], LABELS)
    assert scores.macro_f1 == pytest.approx(1.0)
    assert scores.per_class["c"].support == 0


def test_reference_label_missing_from_the_declared_set_is_added() -> None:
    scores = classification_scores(["a", "z"], ["a", "z"], ["a"])
    assert scores.labels == ["a", "z"] and scores.accuracy == 1.0


def test_exact_label_trims_but_does_not_search() -> None:
    labels = ["billing", "feature_request"]
    assert exact_label("  Billing.\n", labels) == "billing"
    assert exact_label("feature request", labels) == "feature_request"
    assert exact_label("This is billing", labels) is None
    assert match_label("This is billing", labels) == "billing"


def test_infer_labels_from_few_repeated_answers() -> None:
    answers = ["yes"] * 5 + ["no"] * 4
    assert infer_labels(answers) == ["yes", "no"]
    assert infer_labels([f"a long free-text answer number {i}" for i in range(9)]) is None
    assert infer_labels(["x", "y", "z"]) is None  # nothing repeats
    assert infer_labels(["line\nbreak"] * 6 + ["b"] * 6) is None


def test_pair_preference_accuracy_and_margin() -> None:
    accuracy, margin = pair_preference([-1.0, -2.0, -3.0], [-2.0, -1.0, -4.0])
    assert accuracy == pytest.approx(2 / 3)
    assert margin == pytest.approx((1 - 1 + 1) / 3)


def test_ranking_auc_counts_ties_as_half() -> None:
    # Desirable 3 and 2 against undesirable 1 and 2: 3>1, 3>2, 2>1, 2=2 -> 3.5 / 4.
    assert ranking_auc([3, 1, 2, 2], [True, False, True, False]) == pytest.approx(0.875)
    assert ranking_auc([1, 2], [True, True]) == 0.5
    assert group_margin([3, 1, 2, 2], [True, False, True, False]) == pytest.approx(1.0)
