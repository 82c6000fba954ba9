"""Normalise raw rows into the typed records of ``tuneforge.data.types``.

Dispatch is on the record kind a method declares (`RecordKind`), never on the method's name.
Accepted shapes (DESIGN.md §1):

* SFT kind: ``{"prompt", "completion"}`` (aliases ``request``/``response``, and ``chosen``: a
  preference pair trains SFT on its chosen reply) or ``{"messages": [...]}``; in a conversation
  every assistant turn is learned from, and it must end with one.
* pair kind (DPO, ORPO): ``{"prompt", "chosen", "rejected"}`` or OpenAI's preference format
  ``{"input": {"messages": [...]}, "preferred_output": [...], "non_preferred_output": [...]}``.
* scored kind (KTO): ``{"prompt", "completion", "score"}`` (aliases ``output`` for completion,
  ``label`` for score); labels come later from ``resolve_kto_labels`` because the threshold depends
  on all scores in the file.

A ``columns`` mapping (the user's field name → tuneforge's) is applied first. Problems name the
field as the user wrote it, so ``columns: {question: prompt}`` reports ``question``.
Unknown fields are ignored, except that one resembling a missing field is pointed out.
"""

from __future__ import annotations

from typing import Any

from tuneforge.data.fields import (
    Collector,
    check_messages,
    check_score,
    check_text,
    has_reply,
    near_miss,
    parse_cell,
    parse_text_score,
)
from tuneforge.data.kto_labels import KTOLabelling, resolve_kto_labels
from tuneforge.data.problems import Problem, json_type_name
from tuneforge.data.types import (
    Example,
    Origin,
    PairExample,
    RecordKind,
    ScoredExample,
    SFTExample,
)

__all__ = ["KTOLabelling", "normalise_row", "resolve_kto_labels"]

# Alternative names users bring, per record kind: tuneforge name -> aliases (DESIGN.md §1).
ALIASES: dict[RecordKind, dict[str, tuple[str, ...]]] = {
    # A preference pair trains SFT on its chosen reply (a pipeline's SFT stage reads the DPO
    # stage's pair file as it is); the rejected reply is ignored.
    RecordKind.SFT: {"prompt": ("request",), "completion": ("response", "chosen")},
    RecordKind.PAIR: {},
    RecordKind.SCORED: {"completion": ("output",), "score": ("label",)},
}
_OPENAI_PAIR = ("input", "preferred_output", "non_preferred_output")
_TEXT_FIELDS = frozenset({"prompt", "completion", "chosen", "rejected", "messages", *_OPENAI_PAIR})

# The fields each kind reads (before aliases); anything else in a row is ignored.
_FIELDS: dict[RecordKind, frozenset[str]] = {
    RecordKind.SFT: frozenset({"prompt", "completion", "messages"}),
    RecordKind.PAIR: frozenset({"prompt", "chosen", "rejected", *_OPENAI_PAIR}),
    RecordKind.SCORED: frozenset({"prompt", "completion", "score"}),
}


class _Row:
    """A row after ``columns`` and aliases, remembering each field's name in the user's file."""

    def __init__(self, data: dict[str, Any], kind: RecordKind, columns: dict[str, str]) -> None:
        self.original = list(data)
        self.columns = columns
        self.values: dict[str, Any] = {k: v for k, v in data.items() if k not in columns}
        self.source: dict[str, str] = {k: k for k in self.values}
        # Renamed fields override a field of the same name: the mapping is explicit intent.
        for theirs, ours in columns.items():
            if theirs in data:
                self.values[ours] = data[theirs]
                self.source[ours] = theirs
        self.aliases = ALIASES[kind]
        self.alias_clashes: list[tuple[str, str]] = []
        for ours, alternatives in self.aliases.items():
            for alias in alternatives:
                if alias not in self.values:
                    continue
                if ours in self.values:
                    self.alias_clashes.append((ours, alias))
                    continue
                self.values[ours] = self.values.pop(alias)
                self.source[ours] = self.source.pop(alias)

    def has(self, name: str) -> bool:
        return name in self.values

    def where(self, name: str) -> str:
        """The field's name as the user wrote it."""
        return self.source.get(name, name)

    def missing_message(self, name: str, kind: RecordKind, *, alternative: str = "") -> str:
        """``missing required field 'x'`` plus the most useful hint we can give.

        In order: a ``columns:`` rename that found nothing, a near-miss field name (a typo),
        a row that belongs to another kind of method, else the fields the row does have.
        """
        message = f"missing required field '{name}'{alternative}"
        renamed = [theirs for theirs, ours in self.columns.items() if ours == name]
        if renamed:
            return f"{message} (columns: maps '{renamed[0]}' to it, but the row has no such field)"
        used = _FIELDS[kind] | {a for group in self.aliases.values() for a in group}
        unknown = [k for k in self.original if k not in used and k not in self.columns]
        typo = near_miss([name, *self.aliases.get(name, ())], unknown)
        if typo is not None:
            return f"{message} (found '{typo}' — a typo? use columns: to rename)"
        hint = _method_hint(self.values, kind)
        if hint:
            return message + hint
        if not self.original:
            return f"{message}; the row is empty"
        shown = ", ".join(f"'{k}'" for k in self.original[:8])
        more = ", ..." if len(self.original) > 8 else ""
        return f"{message}; the row has {shown}{more}"


def _method_hint(values: dict[str, Any], kind: RecordKind) -> str:
    """Point at --method when the row clearly belongs to another kind of method."""
    if kind is RecordKind.PAIR:
        if "score" in values or "label" in values:
            return " (this looks like KTO data: prompt, completion, score; check --method)"
        if any(name in values for name in ("messages", "completion", "response")):
            return " (this looks like SFT data; check --method)"
    elif kind is not RecordKind.PAIR and ("chosen" in values or "preferred_output" in values):
        return " (this looks like DPO/ORPO preference pairs; check --method)"
    elif kind is RecordKind.SCORED and "messages" in values:
        return " (KTO needs prompt, completion and score, not a conversation)"
    return ""


def normalise_row(
    data: dict[str, Any],
    *,
    kind: RecordKind,
    origin: Origin,
    columns: dict[str, str] | None = None,
    text_cells: bool = False,
) -> tuple[Example | None, list[Problem]]:
    """Turn one raw row into a typed record, or None with the problems that prevent it.

    ``text_cells`` marks rows from CSV, where every value is text: a chat list may be given
    as JSON text and a KTO score as ``true``/``0.8``.
    """
    row = _Row(data, kind, columns or {})
    out = Collector(origin)
    for ours, alias in row.alias_clashes:
        out.warning(alias, f"both '{ours}' and its alias '{alias}' are present; using '{ours}'")
    if text_cells:
        for name in _TEXT_FIELDS & set(row.values):
            row.values[name] = parse_cell(row.values[name])
        if isinstance(row.values.get("score"), str):
            row.values["score"] = parse_text_score(row.values["score"])
    normalise = {RecordKind.SFT: _sft, RecordKind.PAIR: _pair, RecordKind.SCORED: _scored}[kind]
    example: Example | None = normalise(row, out)
    return (None if out.failed else example), out.problems


def _required(row: _Row, names: tuple[str, ...], kind: RecordKind, out: Collector) -> bool:
    """Report each missing field; True when all are present."""
    ok = True
    for name in names:
        if not row.has(name):
            out.error(name, row.missing_message(name, kind))
            ok = False
    return ok


def _sft(row: _Row, out: Collector) -> SFTExample | None:
    if row.has("messages"):
        messages = _conversation(row.values["messages"], row.where("messages"), out)
        return None if messages is None else SFTExample(out.origin, messages=messages)
    if not row.has("prompt") and not row.has("completion"):
        # Neither shape: name both fields, and the conversation alternative.
        alternative = " (or 'messages' for a chat conversation)"
        for name in ("prompt", "completion"):
            out.error(name, row.missing_message(name, RecordKind.SFT, alternative=alternative))
        return None
    if not _required(row, ("prompt", "completion"), RecordKind.SFT, out):
        return None
    prompt = check_text(row.values["prompt"], row.where("prompt"), out, reply=False)
    completion = check_text(row.values["completion"], row.where("completion"), out, reply=True)
    if prompt is None or completion is None:
        return None
    return SFTExample(out.origin, prompt=prompt, completion=completion)


def _conversation(value: Any, where: str, out: Collector) -> list[dict[str, str]] | None:
    """An SFT conversation: every assistant turn is learned from, and it must end with one."""
    if not isinstance(value, list):
        out.error(where, f"must be a list of chat messages, got {json_type_name(value)}")
        return None
    messages = check_messages(value, where, out)
    if messages is None:
        return None
    if not any(m["role"] == "assistant" for m in messages):
        out.error(where, "the conversation has no assistant reply to learn from")
        return None
    if not has_reply(messages):
        out.error(where, "every assistant reply is empty; there is nothing to learn from")
        return None
    last = messages[-1]["role"]
    if last != "assistant":
        out.error(
            where,
            f"the conversation ends with a '{last}' message; the last message must be the "
            "assistant's reply (nothing after it is learned from)",
        )
        return None
    return messages


def _pair(row: _Row, out: Collector) -> PairExample | None:
    openai = not row.has("chosen") and not row.has("rejected")
    if openai and any(row.has(name) for name in _OPENAI_PAIR):
        return _openai_pair(row, out)
    if not _required(row, ("prompt", "chosen", "rejected"), RecordKind.PAIR, out):
        return None
    prompt = check_text(row.values["prompt"], row.where("prompt"), out, reply=False)
    chosen = check_text(row.values["chosen"], row.where("chosen"), out, reply=True)
    rejected = check_text(row.values["rejected"], row.where("rejected"), out, reply=True)
    if prompt is None or chosen is None or rejected is None:
        return None
    if _same(chosen, rejected):
        out.error(
            row.where("rejected"), f"is identical to '{row.where('chosen')}'; a pair must differ"
        )
        return None
    return PairExample(out.origin, prompt=prompt, chosen=chosen, rejected=rejected)


def _openai_pair(row: _Row, out: Collector) -> PairExample | None:
    """OpenAI's preference format: prompt = input.messages, replies = the assistant lists."""
    if not _required(row, _OPENAI_PAIR, RecordKind.PAIR, out):
        return None
    where = row.where("input")
    value = row.values["input"]
    prompt = None
    if not isinstance(value, dict):
        out.error(where, f"must be an object with 'messages', got {json_type_name(value)}")
    elif "messages" not in value:
        out.error(f"{where}.messages", "missing required field 'messages'")
    elif not isinstance(value["messages"], list):
        out.error(
            f"{where}.messages",
            f"must be a list of chat messages, got {json_type_name(value['messages'])}",
        )
    else:
        prompt = check_messages(value["messages"], f"{where}.messages", out)
    chosen = check_text(
        row.values["preferred_output"], row.where("preferred_output"), out, reply=True
    )
    rejected = check_text(
        row.values["non_preferred_output"], row.where("non_preferred_output"), out, reply=True
    )
    if prompt is None or chosen is None or rejected is None:
        return None
    if _same(chosen, rejected):
        out.error(
            row.where("non_preferred_output"),
            f"is identical to '{row.where('preferred_output')}'; a pair must differ",
        )
        return None
    return PairExample(out.origin, prompt=prompt, chosen=chosen, rejected=rejected)


def _same(a: Any, b: Any) -> bool:
    """Identical replies, ignoring surrounding whitespace of plain strings."""
    if isinstance(a, str) and isinstance(b, str):
        return a.strip() == b.strip()
    return bool(a == b)


def _scored(row: _Row, out: Collector) -> ScoredExample | None:
    if not _required(row, ("prompt", "completion", "score"), RecordKind.SCORED, out):
        return None
    prompt = check_text(row.values["prompt"], row.where("prompt"), out, reply=False)
    completion = check_text(row.values["completion"], row.where("completion"), out, reply=True)
    score = check_score(row.values["score"], row.where("score"), out)
    if prompt is None or completion is None or score is None:
        return None
    return ScoredExample(out.origin, prompt=prompt, completion=completion, score=score)
