"""One parsed JSON data row: its checks, and where rows and keys sit in a JSON text.

Rows are checked for what ``json`` lets through but training must not take: nesting deep
enough to reach Python's recursion limit further down, a key written twice (``json`` keeps the
last silently), and lone surrogates (``"\\ud800"``), which fail later when the text is written.
The index helpers find each row of a ``.json`` file in its text, so problems name their line.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tuneforge.data.problems import Problem

__all__ = [
    "MAX_ROW_DEPTH",
    "STRICT_JSON",
    "WHITESPACE",
    "DuplicateKey",
    "duplicate_at",
    "duplicate_problem",
    "element_indexes",
    "has_duplicate",
    "member_value_index",
    "row_problem",
]

#: JSON whitespace, for walking a JSON text by index.
WHITESPACE = re.compile(r"[ \t\n\r]*")


#: The deepest nesting a data row may have: chat rows are 3-4 levels deep, so this only stops
#: hostile input before it can reach Python's recursion limit further down.
MAX_ROW_DEPTH = 64


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` refusing an object that names a key twice (json keeps the last)."""
    row: dict[str, Any] = {}
    for key, value in pairs:
        if key in row:
            raise DuplicateKey(key)
        row[key] = value
    return row


STRICT_JSON = json.JSONDecoder(object_pairs_hook=_no_duplicates)


def duplicate_problem(name: str, line: int, exc: DuplicateKey) -> Problem:
    return Problem(name, line, "key", f"duplicate key {exc.key!r}; each key may appear only once")


def _field_path(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def row_problem(name: str, line: int, row: dict[str, Any]) -> Problem | None:
    """Too deep a row, or a string holding a lone surrogate (``"\\ud800"``), if either.

    Iterative, so a row nested thousands deep is measured without recursion.
    """
    stack: list[tuple[Any, tuple[Any, ...], int]] = [(row, (), 1)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_ROW_DEPTH:
            return Problem(
                name,
                line,
                _field_path(path[:1]) or "json",
                f"nested more than {MAX_ROW_DEPTH} levels deep; data rows are a few levels deep",
            )
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError as exc:
                    code = ord(value[exc.start])
                    return Problem(
                        name,
                        line,
                        _field_path(path) or "key",
                        f"the text holds a lone surrogate (\\u{code:04x}), which is not a "
                        "character; the file was written by a broken encoder",
                    )
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and not key.isascii():
                    try:
                        key.encode("utf-8")
                    except UnicodeEncodeError:
                        return Problem(
                            name,
                            line,
                            _field_path(path) or "key",
                            "a key holds a lone surrogate, which is not a character",
                        )
                stack.append((item, (*path, key), depth + 1))
        elif isinstance(value, list):
            stack.extend((item, (*path, i), depth + 1) for i, item in enumerate(value))
    return None


def has_duplicate(text: str, index: int) -> bool:
    try:
        STRICT_JSON.raw_decode(text, index)
    except DuplicateKey:
        return True
    return False


def duplicate_at(text: str, index: int, name: str, line: int) -> Problem:
    """The problem for the value at ``index``, known to name a key twice somewhere."""
    try:
        STRICT_JSON.raw_decode(text, index)
    except DuplicateKey as exc:
        return duplicate_problem(name, line, exc)
    return Problem(name, line, "key", "an object names a key twice")


def member_value_index(text: str, index: int, key: str) -> int:
    """Index where the value of member ``key`` starts, in the valid object at ``index``."""
    decoder = json.JSONDecoder()
    index = WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]  # past "{"
    found = -1
    while text[index] != "}":
        name, index = decoder.raw_decode(text, index)
        index = WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
        index = WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]  # past ":"
        if name == key:
            found = index  # keep going: with duplicate keys, json keeps the last one
        _, index = decoder.raw_decode(text, index)
        index = WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
        if text[index] == ",":
            index = WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]
    return found


def element_indexes(text: str, index: int) -> list[int]:
    """Start index of each element of the valid JSON array at ``index``."""
    decoder = json.JSONDecoder()
    starts: list[int] = []
    index = WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]  # past "["
    while text[index] != "]":
        starts.append(index)
        _, index = decoder.raw_decode(text, index)
        index = WHITESPACE.match(text, index).end()  # type: ignore[union-attr]
        if text[index] == ",":
            index = WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]
    return starts
