"""eval.json's shape: report and compare refuse a bad value by its path, never crash on it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tuneforge.cli import compare_command, report_command
from tuneforge.evaluate.eval_shape import shape_problem
from tuneforge.evaluate.results import eval_problem
from unit.evaluate.report.test_build import synthetic_document


def changed(path: tuple[Any, ...], value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    document = copy.deepcopy(synthetic_document())
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


def test_a_document_evaluate_writes_has_the_shape_even_with_nan_metrics() -> None:
    document = synthetic_document()
    assert shape_problem(document) is None and eval_problem(document) is None
    nan = changed(("tasks", "classification", "variants", "tuned", "metrics", "accuracy"), "x")
    assert shape_problem(nan) == (
        "tasks.classification.variants.tuned.metrics.accuracy: expected a number, got a string"
    )
    nan["tasks"]["classification"]["variants"]["tuned"]["metrics"]["accuracy"] = float("nan")
    assert shape_problem(nan) is None


@pytest.mark.parametrize(
    ("path", "value", "delete", "message"),
    [
        (
            ("tasks", "classification", "variants", "baseline", "per_class"),
            None,
            False,
            "tasks.classification.variants.baseline.per_class: expected an object, got null",
        ),
        (
            ("variants", "tuned", "saving_per_1000_requests"),
            None,
            True,
            "variants.tuned: missing key 'saving_per_1000_requests'",
        ),
        (("examples", 1, "reference"), None, True, "examples[1]: missing key 'reference'"),
        (
            ("tasks", "classification", "confidence"),
            float("inf"),
            False,
            "tasks.classification.confidence: expected a finite number, got inf",
        ),
        (
            ("tasks", "classification", "headline_metric"),
            "nope",
            False,
            "tasks.classification.metrics: missing key 'nope'",
        ),
        (
            ("tasks", "classification", "variants", "tuned", "confusion"),
            [[1, 2, 0]],
            False,
            "tasks.classification.variants.tuned.confusion: 1 rows for 2 labels",
        ),
        (
            ("tasks", "checks", "info", "rules", 0, "name"),
            7,
            False,
            "tasks.checks.info.rules[0].name: expected a string, got a number",
        ),
        (
            ("settings", "confidence"),
            True,
            False,
            "settings.confidence: expected a number, got true/false",
        ),
    ],
)
def test_report_and_compare_name_the_first_wrong_value(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    path: tuple[Any, ...],
    value: Any,
    delete: bool,
    message: str,
) -> None:
    (tmp_path / "eval.json").write_text(json.dumps(changed(path, value, delete=delete)))
    expected = (
        f"error: {tmp_path / 'eval.json'}: {message}; run `tuneforge eval` again to rewrite it\n"
    )
    assert report_command(tmp_path) == 2
    assert capsys.readouterr().err == expected
    assert compare_command([tmp_path], Console(width=100)) == 2
    assert capsys.readouterr().err == expected
    assert not (tmp_path / "report.html").exists()
