"""Typed records every method trains on, shared by loading, checking and tokenisation.

A text field is either a plain string or a list of OpenAI-style chat messages
(``{"role": ..., "content": ...}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: A collated batch: named tensors, (B, T) rows or (B,) per-example values (see each collate).
Batch = dict[str, "torch.Tensor"]
Message = dict[str, str]
Text = str | list[Message]
CHAT_ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")


class RecordKind(str, Enum):
    """The shape of the records a method learns from; data handling dispatches on it.

    Each method declares its kind in its ``MethodSpec`` (``methods/``), so nothing below the
    methods needs to know their names.
    """

    # The value "sft" is the kind's name in eval.json and messages, not a method name.
    SFT = "sft"
    """A request and a good response, or a conversation (`SFTExample`)."""
    PAIR = "pair"
    """A prompt with a chosen and a rejected response (`PairExample`)."""
    SCORED = "scored"
    """One response with a score, labelled desirable or not by a threshold (`ScoredExample`)."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Origin:
    """Where a record came from: the file and its 1-based line (row for CSV/parquet)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class SFTExample:
    """A request and a good response, or a whole conversation.

    Exactly one of (``prompt`` and ``completion``) or ``messages`` is set.
    """

    origin: Origin
    prompt: Text | None = None
    completion: Text | None = None
    messages: list[Message] | None = None


@dataclass(frozen=True)
class PairExample:
    """A prompt with a preferred (``chosen``) and a rejected response (DPO, ORPO)."""

    origin: Origin
    prompt: Text
    chosen: Text
    rejected: Text


@dataclass(frozen=True)
class ScoredExample:
    """One response with its raw score (KTO).

    ``desirable`` is None until the threshold rule has been applied
    (see ``tuneforge.data.formats.resolve_kto_labels``).
    """

    origin: Origin
    prompt: Text
    completion: Text
    score: bool | float
    desirable: bool | None = None


Example = SFTExample | PairExample | ScoredExample
