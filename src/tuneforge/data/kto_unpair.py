"""Preference pairs as KTO data: each pair becomes one desirable and one undesirable example.

KTO learns from single scored completions, and a preference pair holds two of them: the chosen
reply (desirable) and the rejected one (undesirable), both for the same prompt. A DPO/ORPO file
(``prompt``/``chosen``/``rejected``, or OpenAI's preference format) given to ``--method kto`` is
recognised by its first row and unpaired here, as TRL's ``unpair_preference_dataset`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tuneforge.data.types import PairExample, ScoredExample

__all__ = ["looks_paired", "unpair"]

_PAIR_KEYS = (
    frozenset({"chosen", "rejected"}),
    frozenset({"preferred_output", "non_preferred_output"}),
)
_SCORED_KEYS = frozenset({"completion", "output", "score", "label"})


def looks_paired(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str] | None) -> bool:
    """True when the first row is a preference pair and has no KTO field.

    ``columns`` (the user's field name → tuneforge's) is applied first, so renamed pair fields
    count too.
    """
    if not rows:
        return False
    names = {(columns or {}).get(key, key) for key in rows[0]}
    if names & _SCORED_KEYS:
        return False
    return any(keys <= names for keys in _PAIR_KEYS)


def unpair(pair: PairExample) -> list[ScoredExample]:
    """The chosen reply as a desirable example and the rejected one as undesirable.

    Both keep the pair's origin (its file and line), so problems still point at the row.
    """
    return [
        ScoredExample(pair.origin, prompt=pair.prompt, completion=pair.chosen, score=True),
        ScoredExample(pair.origin, prompt=pair.prompt, completion=pair.rejected, score=False),
    ]
