"""The KTO threshold rule, one test per branch."""

from __future__ import annotations

from tuneforge.data.formats import KTOLabelling, resolve_kto_labels
from tuneforge.data.types import Origin, ScoredExample


def _examples(*scores: bool | float) -> list[ScoredExample]:
    return [
        ScoredExample(Origin("k.jsonl", i), "p", f"c{i}", score)
        for i, score in enumerate(scores, start=1)
    ]


def _labels(result: KTOLabelling) -> list[tuple[int, bool | None]]:
    return [(ex.origin.line, ex.desirable) for ex in result.examples]


def test_bools_are_used_as_they_are_and_a_threshold_does_not_apply() -> None:
    result = resolve_kto_labels(_examples(True, False, True), 0.9)
    assert _labels(result) == [(1, True), (2, False), (3, True)]
    assert result.threshold is None
    assert (result.desirable, result.undesirable, result.neutral) == (2, 1, 0)
    assert result.rule.startswith("bool scores: true is desirable, false is undesirable")
    assert "does not apply" in result.rule


def test_given_threshold_wins_and_equal_scores_are_neutral() -> None:
    result = resolve_kto_labels(_examples(0.2, 0.7, 0.9, 0.7), 0.7)
    assert _labels(result) == [(1, False), (3, True)]
    assert result.threshold == 0.7
    assert (result.desirable, result.undesirable, result.neutral) == (1, 1, 2)
    assert [o.line for o in result.neutral_origins] == [2, 4]
    assert "(kto.threshold)" in result.rule


def test_scores_in_unit_interval_use_half() -> None:
    result = resolve_kto_labels(_examples(0.0, 1.0, 0.5, 0.51), None)
    assert result.threshold == 0.5
    assert _labels(result) == [(1, False), (2, True), (4, True)]
    assert result.neutral == 1
    assert "every score lies in [0, 1]" in result.rule


def test_negative_scores_use_zero() -> None:
    result = resolve_kto_labels(_examples(-2, 3, 0, 0.5), None)
    assert result.threshold == 0.0
    assert _labels(result) == [(1, False), (2, True), (4, True)]
    assert result.neutral == 1
    assert "some scores are negative" in result.rule


def test_otherwise_the_midpoint_of_min_and_max() -> None:
    result = resolve_kto_labels(_examples(1, 5, 2, 4, 3), None)
    assert result.threshold == 3.0
    assert _labels(result) == [(1, False), (2, True), (3, False), (4, True)]
    assert (result.desirable, result.undesirable, result.neutral) == (2, 2, 1)
    assert "midpoint of the scores' range 1 to 5" in result.rule
    assert result.rule.startswith("score > 3 is desirable, < 3 undesirable, = 3 neutral")


def test_mixed_bools_and_numbers_count_as_one_and_zero_with_a_warning() -> None:
    result = resolve_kto_labels(_examples(True, 0.2, False, 0.8), None)
    assert result.threshold == 0.5
    assert _labels(result) == [(1, True), (2, False), (3, False), (4, True)]
    assert len(result.warnings) == 1 and "mix bools and numbers" in result.warnings[0]
    # The raw score is kept; only `desirable` is added.
    assert result.examples[0].score is True


def test_empty_input() -> None:
    result = resolve_kto_labels([], None)
    assert (result.examples, result.desirable, result.undesirable, result.neutral) == ([], 0, 0, 0)
