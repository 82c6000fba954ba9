"""Named checks on generated answers: the failure modes a product team cares about."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tuneforge.config import CheckRule


@dataclass(frozen=True)
class CheckOutcome:
    """Whether one answer passed one rule, and if not, which condition failed first."""

    passed: bool
    reason: str | None = None


def run_check(rule: CheckRule, answer: str) -> CheckOutcome:
    """Apply every condition of ``rule`` to the answer (trimmed); all must hold.

    Words are whitespace-separated pieces; characters are counted after trimming.
    """
    text = answer.strip()
    if rule.must_match is not None and not re.search(rule.must_match, text):
        return CheckOutcome(False, f"does not match /{rule.must_match}/")
    if rule.must_not_match is not None and re.search(rule.must_not_match, text):
        return CheckOutcome(False, f"matches /{rule.must_not_match}/")
    if rule.max_words is not None and len(text.split()) > rule.max_words:
        return CheckOutcome(False, f"{len(text.split())} words > {rule.max_words}")
    if rule.max_chars is not None and len(text) > rule.max_chars:
        return CheckOutcome(False, f"{len(text)} characters > {rule.max_chars}")
    return CheckOutcome(True)


def check_matrix(rules: Sequence[CheckRule], answers: Sequence[str]) -> list[list[bool]]:
    """(n answers × n rules) pass/fail table."""
    return [[run_check(rule, answer).passed for rule in rules] for answer in answers]
