"""Validators for single fields of a row: texts, chat messages, KTO scores, missing names.

Each validator appends problems to a ``Collector`` and returns the clean value, or None when the
field is unusable, so the caller can keep checking the other fields of the same row.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from tuneforge.data.problems import Problem, Severity, json_type_name
from tuneforge.data.types import CHAT_ROLES, Message, Origin, Text

_ROLES_TEXT = ", ".join(CHAT_ROLES)
_TRUE = frozenset({"true", "yes", "y", "t"})
_FALSE = frozenset({"false", "no", "n", "f"})


@dataclass
class Collector:
    """Problems of one row, located at its origin."""

    origin: Origin
    problems: list[Problem] = field(default_factory=list)

    def error(self, where: str, message: str) -> None:
        """Record an error in field ``where``."""
        self.add(where, message, "error")

    def warning(self, where: str, message: str) -> None:
        """Record a warning in field ``where``."""
        self.add(where, message, "warning")

    def add(self, where: str, message: str, severity: Severity) -> None:
        """Record a problem of the given severity in field ``where``."""
        self.problems.append(Problem(self.origin.file, self.origin.line, where, message, severity))

    @property
    def failed(self) -> bool:
        """True once any error was recorded for this row."""
        return any(p.is_error for p in self.problems)


def check_messages(value: list[Any], where: str, out: Collector) -> list[Message] | None:
    """Validate a chat-message list; keep only ``role`` and ``content``.

    Other keys (``name``, ``tool_calls`` ...) are dropped on purpose: the chat template renders
    role and content, and training on something the template ignores would be a silent no-op.
    """
    if not value:
        out.error(where, "the list of messages is empty")
        return None
    messages: list[Message] = []
    ok = True
    for index, message in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(message, dict):
            out.error(
                at,
                "a message must be an object with 'role' and 'content', "
                f"got {json_type_name(message)}",
            )
            ok = False
            continue
        role, content = message.get("role"), message.get("content")
        if "role" not in message:
            hint = (
                " (ShareGPT 'from'/'value' messages must be converted to 'role'/'content')"
                if "from" in message
                else ""
            )
            out.error(at, f"the message has no 'role'{hint}")
            ok = False
        elif not isinstance(role, str):
            out.error(f"{at}.role", f"must be a string, got {json_type_name(role)}")
            ok = False
        elif role not in CHAT_ROLES:
            out.error(f"{at}.role", f"unknown chat role '{role}'; use one of {_ROLES_TEXT}")
            ok = False
        if "content" not in message:
            out.error(at, "the message has no 'content'")
            ok = False
        elif not isinstance(content, str):
            out.error(f"{at}.content", f"must be a string, got {json_type_name(content)}")
            ok = False
        if ok:
            messages.append({"role": role, "content": content})
    return messages if ok else None


def has_reply(messages: list[Message]) -> bool:
    """True when some assistant message has non-blank content to learn from."""
    return any(m["role"] == "assistant" and m["content"].strip() for m in messages)


def check_text(value: Any, where: str, out: Collector, *, reply: bool) -> Text | None:
    """Validate a prompt (``reply=False``) or a response (completion, chosen, rejected).

    A response given as a message list must contain an assistant message with content,
    because only assistant turns are learned from.
    """
    if isinstance(value, str):
        if not value.strip():
            out.error(where, "must not be empty")
            return None
        return value
    if isinstance(value, list):
        messages = check_messages(value, where, out)
        if messages is None:
            return None
        if reply and not has_reply(messages):
            out.error(where, "has no assistant message with content to learn from")
            return None
        return messages
    out.error(where, f"must be a string or a list of chat messages, got {json_type_name(value)}")
    return None


def parse_cell(value: Any) -> Any:
    """Turn a CSV cell holding a JSON chat list (``[{"role": ...}]``) into that list."""
    if isinstance(value, str) and value.lstrip().startswith("[{"):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return value
        if isinstance(parsed, list):
            return parsed
    return value


def parse_text_score(value: str) -> Any:
    """Read a score from a CSV cell (``true``, ``0``, ``0.7``); other text stays text."""
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    try:
        return float(text)
    except ValueError:
        return value


def check_score(value: Any, where: str, out: Collector) -> bool | float | None:
    """Validate a KTO score: a bool, or a finite number (ints become floats)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        try:
            value = float(value)
        except OverflowError:  # a JSON integer with hundreds of digits
            out.error(where, "score is too large to be a number")
            return None
        if not math.isfinite(value):
            # Python's json accepts NaN and Infinity, so they reach us as floats.
            shown = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
            out.error(where, f"score must be a finite number, got {shown}")
            return None
        return value
    out.error(where, f"score must be a bool or a number, got {json_type_name(value)}")
    return None


def near_miss(wanted: list[str], present: list[str]) -> str | None:
    """A present field name that looks like a typo of one of the ``wanted`` names."""
    lowered = {name.lower(): name for name in present}
    for name in wanted:
        if name in lowered:  # only the case differs, e.g. "Prompt"
            return lowered[name]
    for name in wanted:
        close = difflib.get_close_matches(name, list(lowered), n=1, cutoff=0.75)
        if close:
            return lowered[close[0]]
    return None
