"""One problem found in a data file, shared by the loader, the normaliser and the linter."""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]


def one_line(text: str) -> str:
    """``text`` with line breaks and control characters escaped (``\\n``, ``\\x1b``...)."""
    if text.isprintable():
        return text
    return "".join(ascii(ch)[1:-1] if unicodedata.category(ch) in _UNPRINTED else ch for ch in text)


#: Unicode categories escaped by `one_line`: control characters, line and paragraph separators.
_UNPRINTED = frozenset({"Cc", "Zl", "Zp"})


@dataclass(frozen=True)
class Problem:
    """A problem at ``file:line`` in ``field``.

    ``line`` is None for file-level problems (empty file, dataset-wide warnings). Printed as
    ``FILE:LINE: field: message`` for errors and ``FILE:LINE: field: warning: message`` for
    warnings, so editors and CI annotators can jump to the line.
    """

    file: str
    line: int | None
    field: str
    message: str
    severity: Severity = "error"

    def __post_init__(self) -> None:
        # Messages quote the file's own keys and values: a newline or terminal escape in them
        # must not split the one-line form or reach the terminal raw.
        for name in ("file", "field", "message"):
            object.__setattr__(self, name, one_line(getattr(self, name)))

    @property
    def is_error(self) -> bool:
        """True when this problem makes the file unusable."""
        return self.severity == "error"

    def format(self) -> str:
        """The one-line form printed by ``tuneforge check`` and listed in ``DataError``."""
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        tag = "warning: " if self.severity == "warning" else ""
        return f"{where}: {self.field}: {tag}{self.message}"

    def __str__(self) -> str:
        return self.format()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (file, line, field, message, severity)."""
        return asdict(self)


def sort_problems(problems: list[Problem]) -> list[Problem]:
    """Order for reading: by file (first seen first), then line, keeping the order within a line.

    File-level errors (missing, empty) come first; dataset-wide warnings (balance, overlap)
    come after the line problems, as conclusions.
    """
    files: dict[str, int] = {}
    for problem in problems:
        files.setdefault(problem.file, len(files))

    def key(problem: Problem) -> tuple[int, float]:
        if problem.line is not None:
            return files[problem.file], problem.line
        return files[problem.file], (-1 if problem.is_error else float("inf"))

    return sorted(problems, key=key)


def json_type_name(value: object) -> str:
    """The JSON name of a Python value's type, for messages users can relate to their file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "object"
    # Parquet can hold bytes, dates, decimals: name the Python type rather than guess.
    return type(value).__name__
