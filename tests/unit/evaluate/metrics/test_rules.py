"""Named checks: every condition of a rule must hold."""

from __future__ import annotations

import pytest

from tuneforge.config import CheckRule
from tuneforge.evaluate.metrics.rules import check_matrix, run_check

RULES = [
    CheckRule(name="capital", must_match="^[A-Z]"),
    CheckRule(name="calm", must_not_match="!!"),
    CheckRule(name="short", max_words=3, max_chars=12),
]


def test_pass_fail_table() -> None:
    answers = ["Hello there", "hello", "Hi!! you", "One two three four"]
    assert check_matrix(RULES, answers) == [
        [True, True, True],
        [False, True, True],
        [True, False, True],
        [True, True, False],
    ]


def test_failure_reason_names_the_condition() -> None:
    assert run_check(RULES[2], "abcdefghijklmnop").reason == "16 characters > 12"
    assert run_check(RULES[0], "  Trimmed").passed


def test_a_rule_needs_a_condition_and_a_valid_regex() -> None:
    with pytest.raises(ValueError, match="at least one"):
        CheckRule(name="empty")
    with pytest.raises(ValueError, match="regular expression"):
        CheckRule(name="bad", must_match="(")
