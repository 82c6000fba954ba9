"""Typed records every method trains on, shared by loading, checking and tokenisation.

A text field is either a plain string or a list of OpenAI-style chat messages
(``{"role": ..., "content": ...}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

#: A collated batch: named tensors, (B, T) rows or (B,) per-example values (see each collate).
Batch = dict[str, "torch.Tensor"]
Message = dict[str, str]
Text = str | list[Message]
Method = Literal["sft", "dpo", "orpo", "kto"]
METHODS: tuple[str, ...] = ("sft", "dpo", "orpo", "kto")
CHAT_ROLES: tuple[str, ...] = ("system", "user", "assistant", "tool")


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
