"""Classification from free text: which label did the model answer?"""

from __future__ import annotations

import re
from collections.abc import Sequence


def normalise_label(text: str) -> str:
    """Lower case, with spaces, hyphens and underscores treated alike."""
    return re.sub(r"[\s_\-]+", " ", text.strip().lower()).strip(" .!:\"'`")


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
