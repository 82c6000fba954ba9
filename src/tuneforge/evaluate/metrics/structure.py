"""Structured output: does the answer parse as JSON, match the schema, and get the fields right?"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneforge.errors import ConfigError

# One fenced block around the whole answer (```json ... ```), which chat models often add.
_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n?(.*?)\n?```$", re.DOTALL)
_MISSING = object()


@dataclass(frozen=True)
class StructureScore:
    """One answer scored against its reference."""

    parsed: bool
    schema_valid: bool | None
    """None when no schema was given."""
    field_matches: dict[str, bool]
    """Per top-level field of the reference object: the answer has the same value."""
    exact: bool
    """The whole parsed answer equals the parsed reference."""

    @property
    def field_accuracy(self) -> float:
        """Share of the reference's fields the answer got exactly right (0 when it has none)."""
        if not self.field_matches:
            return float(self.exact)
        return sum(self.field_matches.values()) / len(self.field_matches)


def parse_json(text: str) -> Any:
    """The JSON value of an answer (trimmed, one surrounding code fence removed), or `_MISSING`."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:
        return json.loads(body)
    except (json.JSONDecodeError, RecursionError):
        return _MISSING


def load_schema_validator(path: str | Path) -> Any:
    """A jsonschema validator for the schema file (its ``$schema`` draft, else the latest)."""
    import jsonschema

    try:
        schema = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"eval.json_schema: cannot read {path}: {exc}") from None
    validator_class = jsonschema.validators.validator_for(schema)
    try:
        validator_class.check_schema(schema)
    except jsonschema.SchemaError as exc:
        message = f"eval.json_schema: {path} is not a valid schema: {exc.message}"
        raise ConfigError(message) from None
    return validator_class(schema)


def score_structure(answer: str, reference: str, validator: Any | None = None) -> StructureScore:
    """Parse, validate and compare one answer field by field with the reference.

    Field values are compared as parsed JSON (``1`` equals ``1.0``, key order is ignored);
    fields of the reference missing from the answer count as wrong.
    """
    value = parse_json(answer)
    expected = parse_json(reference)
    parsed = value is not _MISSING
    schema_valid = None if validator is None else bool(parsed and validator.is_valid(value))
    fields: dict[str, bool] = {}
    if isinstance(expected, dict):
        got = value if isinstance(value, dict) else {}
        fields = {key: _same(got.get(key, _MISSING), want) for key, want in expected.items()}
    exact = parsed and expected is not _MISSING and _same(value, expected)
    return StructureScore(parsed, schema_valid, fields, exact)


def _same(a: Any, b: Any) -> bool:
    """JSON equality that keeps booleans apart from numbers (``True`` is not ``1``)."""
    if a is _MISSING or b is _MISSING:
        return False
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    numbers = isinstance(a, int | float) and isinstance(b, int | float)
    return (type(a) is type(b) or numbers) and a == b


def field_names(references: Sequence[str]) -> list[str]:
    """Top-level keys of the reference objects, in first-seen order."""
    names: dict[str, None] = {}
    for reference in references:
        value = parse_json(reference)
        if isinstance(value, dict):
            names.update(dict.fromkeys(value))
    return list(names)


def looks_like_json(references: Sequence[object]) -> bool:
    """True when every reference is a string holding a JSON object or array."""
    return bool(references) and all(
        isinstance(r, str) and isinstance(parse_json(r), dict | list) for r in references
    )
