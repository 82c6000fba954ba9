"""Random bytes, random JSON and mutated documents as eval.json for ``report`` and ``compare``.

Both commands read eval.json through `evaluate.results.read_eval`: every input ends in a
rebuilt report / a table (exit 0) or ``error:`` lines (exit 2), never a traceback. In
``make test`` the charts are not drawn (matplotlib takes 0.3 s a report); ``make fuzz``
draws them too.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from fuzz.support import assert_reported, examples, fuzzing
from tuneforge.cli import compare_command, report_command
from tuneforge.evaluate.report import plots
from unit.evaluate.report.test_build import synthetic_document

GOOD = synthetic_document()

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**66), max_value=2**66)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10)
    | st.sampled_from(["baseline", "tuned", "better", "worse", "unclear", "rate", "score"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (dict keys and list positions)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(paths(item, (*prefix, index)))
    return found


PATHS = paths(GOOD)[1:]


def mutated(changes: list[tuple[tuple[Any, ...], str, Any]]) -> Any:
    """GOOD with each (path, action, value) applied: replace the value there, or delete it."""
    document = json.loads(json.dumps(GOOD))
    for path, action, value in changes:
        parent = document
        try:
            for part in path[:-1]:
                parent = parent[part]
            if action == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed or replaced this path
    return document


@pytest.fixture(scope="module")
def run_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tuneforge-fuzz-") as name:
        yield Path(name)


@pytest.fixture(autouse=True)
def no_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip matplotlib's drawing in ``make test`` (the chart's inputs are still read)."""
    if not fuzzing():
        monkeypatch.setattr(plots, "svg_of", lambda figure: "<svg/>")


def read_both(run_dir: Path, data: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    """``report`` and ``compare`` on ``data`` as the run's eval.json."""
    (run_dir / "eval.json").write_bytes(data)
    assert_reported(report_command(run_dir), *capsys.readouterr())
    console = Console(file=None, width=100)
    assert_reported(compare_command([run_dir], console), *capsys.readouterr())


@examples(300)
@given(data=st.binary(max_size=300))
def test_random_bytes_as_eval_json(
    run_dir: Path, capsys: pytest.CaptureFixture[str], data: bytes
) -> None:
    read_both(run_dir, data, capsys)


@examples(300)
@given(
    document=json_values
    | st.dictionaries(
        st.sampled_from(sorted(GOOD)) | st.text(max_size=6), json_values, max_size=6
    ).map(lambda d: {"schema_version": 1, **d})
)
def test_random_json_as_eval_json(
    run_dir: Path, capsys: pytest.CaptureFixture[str], document: Any
) -> None:
    read_both(run_dir, json.dumps(document).encode(), capsys)


@examples(400)
@given(
    changes=st.lists(
        st.tuples(
            st.sampled_from(PATHS),
            st.sampled_from(["replace", "delete"]),
            json_values,
        ),
        min_size=1,
        max_size=3,
    )
)
def test_mutated_eval_json(
    run_dir: Path, capsys: pytest.CaptureFixture[str], changes: list[Any]
) -> None:
    read_both(run_dir, json.dumps(mutated(changes)).encode(), capsys)
