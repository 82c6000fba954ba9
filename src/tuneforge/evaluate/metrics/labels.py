"""Classification from free text: which label did the model answer?"""

from __future__ import annotations

import re
from collections.abc import Sequence


def normalise_label(text: str) -> str:
    """Lower case, with spaces, hyphens and underscores treated alike."""
    return re.sub(r"[\s_\-]+", " ", text.strip().lower()).strip(" .!:\"'`")


def exact_label(output: str, labels: Sequence[str]) -> str | None:
    """The label the output *is* (after trimming case, spacing and end punctuation), or None.

    This is free-generation classification as a product pipeline parses it: an answer that
    merely mentions a label is invalid.
    """
    said = normalise_label(output)
    for label in labels:
        if normalise_label(label) == said:
            return label
    return None


def match_label(output: str, labels: Sequence[str]) -> str | None:
    """The label the output names, or None.

    An output that *is* a label wins; otherwise the output counts only when exactly one label
    appears in it as a whole word (a chatty baseline that says "this is a billing question"
    still gets credit; one that lists several labels does not).
    """
    said = normalise_label(output)
    by_form = {normalise_label(label): label for label in labels}
    if said in by_form:
        return by_form[said]
    found = [
        label
        for form, label in by_form.items()
        if re.search(rf"(?<!\w){re.escape(form)}(?!\w)", said)
    ]
    return found[0] if len(found) == 1 else None


def accuracy(predictions: Sequence[str | None], gold: Sequence[str]) -> float:
    """Share of predictions equal to the gold label (None is always wrong)."""
    if not gold:
        return 0.0
    return sum(p == g for p, g in zip(predictions, gold, strict=True)) / len(gold)


def infer_labels(
    completions: Sequence[object], *, max_labels: int = 20, max_chars: int = 40
) -> list[str] | None:
    """The label set when reference answers look like classes, else None.

    Answers look like classes when they are short one-line strings and few distinct ones repeat:
    at most ``max_labels`` of them, and on average each appears at least three times.
    Sorted by frequency (most common first), then alphabetically, so the order is stable.
    """
    texts = [c.strip() for c in completions if isinstance(c, str)]
    if len(texts) != len(completions) or not texts:
        return None
    counts: dict[str, int] = {}
    for text in texts:
        counts[text] = counts.get(text, 0) + 1
    short = all(text and len(text) <= max_chars and "\n" not in text for text in counts)
    repeated = len(counts) >= 2 and len(texts) >= 3 * len(counts)
    if not short or not repeated or len(counts) > max_labels:
        return None
    return sorted(counts, key=lambda label: (-counts[label], label))
