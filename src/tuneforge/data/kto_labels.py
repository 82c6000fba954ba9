"""The KTO threshold rule: which scored examples are desirable, undesirable or neutral.

Bool scores are used as they are. Numbers are compared with a threshold: ``kto.threshold`` when
given, else 0.5 when every score lies in [0, 1], else 0 when any score is negative, else the
midpoint of the observed minimum and maximum. A score equal to the threshold is neutral: it says
nothing about which side the example is on, so it is left out (and counted).

A file mixing bools and numbers is accepted with a warning: true counts as 1 and false as 0,
then the numeric rule applies to all scores (a thumbs-up column merged with a 0–1 rating column
is the common case, and 1/0 is what the user meant there).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tuneforge.data.types import Origin, ScoredExample


@dataclass(frozen=True)
class KTOLabelling:
    """The labelled examples (neutrals removed) and the rule that labelled them."""

    examples: list[ScoredExample]
    threshold: float | None
    """The numeric threshold in force; None when every score is a bool."""
    rule: str
    """The rule in words, printed by ``tuneforge check``."""
    neutral: int
    desirable: int
    undesirable: int
    neutral_origins: list[Origin] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def resolve_kto_labels(examples: list[ScoredExample], threshold: float | None) -> KTOLabelling:
    """Apply the threshold rule to every example; see the module docstring for the rule."""
    if not examples:
        return KTOLabelling([], threshold, "no scored examples", 0, 0, 0)
    bools = [isinstance(ex.score, bool) for ex in examples]
    warnings: list[str] = []
    if all(bools):
        rule = "bool scores: true is desirable, false is undesirable"
        if threshold is not None:
            rule += f" (kto.threshold {threshold:g} does not apply to bool scores)"
        labelled = [replace(ex, desirable=bool(ex.score)) for ex in examples]
        desirable = sum(1 for ex in labelled if ex.desirable)
        return KTOLabelling(
            labelled, None, rule, 0, desirable, len(labelled) - desirable, warnings=warnings
        )
    if any(bools):
        warnings.append(
            "the scores mix bools and numbers; true counts as 1 and false as 0 "
            "(use one kind of score to be explicit)"
        )
    scores = [float(ex.score) for ex in examples]
    threshold, why = _threshold(scores, threshold)
    rule = (
        f"score > {threshold:g} is desirable, < {threshold:g} undesirable, = {threshold:g} "
        f"neutral and left out ({why})"
    )
    kept: list[ScoredExample] = []
    neutral: list[Origin] = []
    for ex, score in zip(examples, scores, strict=True):
        if score == threshold:
            neutral.append(ex.origin)
        else:
            kept.append(replace(ex, desirable=score > threshold))
    desirable = sum(1 for ex in kept if ex.desirable)
    return KTOLabelling(
        kept,
        threshold,
        rule,
        len(neutral),
        desirable,
        len(kept) - desirable,
        neutral_origins=neutral,
        warnings=warnings,
    )


def _threshold(scores: list[float], given: float | None) -> tuple[float, str]:
    """The threshold in force and why it was chosen."""
    if given is not None:
        return float(given), "kto.threshold"
    low, high = min(scores), max(scores)
    if low >= 0.0 and high <= 1.0:
        return 0.5, "every score lies in [0, 1]"
    if low < 0.0:
        return 0.0, "some scores are negative"
    return (low + high) / 2, f"midpoint of the scores' range {low:g} to {high:g}"
