"""JSON parse rate, schema validity and field-level match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tuneforge.errors import ConfigError
from tuneforge.evaluate.metrics.structure import (
    field_names,
    load_schema_validator,
    looks_like_json,
    score_structure,
)

REFERENCE = '{"a": 1, "b": "x", "c": null}'
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["a", "b"],
    "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
}


@pytest.fixture()
def validator(tmp_path: Path) -> object:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(SCHEMA), encoding="utf-8")
    return load_schema_validator(path)


def test_fenced_answer_parses_and_fields_compare_by_value(validator: object) -> None:
    score = score_structure('```json\n{"a": 1, "b": "y", "c": null}\n```', REFERENCE, validator)
    assert score.parsed and score.schema_valid
    assert score.field_matches == {"a": True, "b": False, "c": True}
    assert score.field_accuracy == pytest.approx(2 / 3)
    assert not score.exact


def test_exact_answer(validator: object) -> None:
    score = score_structure('{"c": null, "b": "x", "a": 1.0}', REFERENCE, validator)
    assert score.exact and score.field_accuracy == 1.0


def test_schema_violation_still_parses(validator: object) -> None:
    score = score_structure('{"a": "1", "b": "x", "c": null}', REFERENCE, validator)
    assert score.parsed and score.schema_valid is False
    assert score.field_matches["a"] is False  # "1" is not 1


def test_unparseable_answer_scores_zero(validator: object) -> None:
    score = score_structure('Sure! {"a": 1}', REFERENCE, validator)
    assert not score.parsed and score.schema_valid is False
    assert score.field_accuracy == 0.0


def test_booleans_are_not_numbers() -> None:
    assert score_structure('{"a": true}', '{"a": 1}').field_matches == {"a": False}
    assert score_structure('{"a": 1}', '{"a": 1}').schema_valid is None


def test_field_names_and_json_detection() -> None:
    assert field_names(['{"x": 1, "y": 2}', '{"z": 3, "x": 0}']) == ["x", "y", "z"]
    assert looks_like_json(['{"x": 1}', "[1, 2]"])
    assert not looks_like_json(['{"x": 1}', "billing"])


def test_broken_schema_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"type": 12}', encoding="utf-8")
    with pytest.raises(ConfigError, match="not a valid schema"):
        load_schema_validator(path)
