"""Random bytes and random JSON rows through the data reader and ``tuneforge check``.

Every input ends in a clean report (exit 0) or problems as ``FILE:LINE: field: message``
lines (exit 2): never a traceback, and never the "unexpected ... tuneforge bug" line that
`check_command` prints when an exception slipped through the readers and rules.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz.support import BUG_MARK, examples
from tuneforge.cli import check_command
from tuneforge.data.readers import SUPPORTED_SUFFIXES, read_rows
from tuneforge.methods import METHODS

METHOD_NAMES = sorted(METHODS)
#: Field names the readers and normalisers know, so random rows reach the field checks.
FIELDS = [
    "prompt",
    "completion",
    "messages",
    "chosen",
    "rejected",
    "preferred_output",
    "non_preferred_output",
    "input",
    "output",
    "score",
    "label",
    "rating",
    "system",
    "role",
    "content",
    "data",
    "rows",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["user", "assistant", "system", "tool", "", "yes", "1e309", "nan"])
)
keys = st.sampled_from(FIELDS) | st.text(max_size=8)
# Kept small: drawing deep random structures costs more than checking them.
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=6,
)
rows = st.lists(st.dictionaries(keys, json_values, max_size=4), max_size=4)


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    """One folder per module: hypothesis reruns a test body many times in one call."""
    with tempfile.TemporaryDirectory(prefix="tuneforge-fuzz-") as name:
        yield Path(name)


def check(path: Path, method: str, capsys: pytest.CaptureFixture[str], as_json: bool) -> None:
    """``tuneforge check`` on ``path`` ends in 0 or 2 with one line per problem."""
    code = check_command(path, method=method, model="none", as_json=as_json)
    out, err = capsys.readouterr()
    assert code in (0, 2), (code, out, err)
    assert BUG_MARK not in out + err and "Traceback" not in out + err, out + err
    if as_json:
        document = json.loads(out)
        assert document["exit_code"] == code
        for problem in document["problems"]:
            assert "\n" not in problem["message"], problem


@examples(900)
@given(
    data=st.binary(max_size=600),
    suffix=st.sampled_from(SUPPORTED_SUFFIXES),
    method=st.sampled_from(METHOD_NAMES),
    as_json=st.booleans(),
)
def test_random_bytes_in_any_data_format(
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    data: bytes,
    suffix: str,
    method: str,
    as_json: bool,
) -> None:
    path = folder / f"train{suffix}"
    path.write_bytes(data)
    read_rows(path)  # the reader collects problems; it never raises
    check(path, method, capsys, as_json)


def write_rows(path: Path, records: list[dict[str, Any]], layout: str) -> None:
    """``records`` as JSONL, one JSON document, CSV (text cells) or Parquet."""
    if layout == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    elif layout == "json":
        path.write_text(json.dumps(records))
    elif layout == "csv":
        columns = sorted({k for r in records for k in r})
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        for record in records:
            writer.writerow([json.dumps(record[c]) if c in record else "" for c in columns])
        path.write_text(buffer.getvalue())
    else:
        try:
            pq.write_table(pa.Table.from_pylist(records), path)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            # Mixed types per column do not fit Parquet's schema: store them as JSON text.
            texts = [{k: json.dumps(v) for k, v in r.items()} for r in records]
            pq.write_table(pa.Table.from_pylist(texts), path)


@examples(1000)
@given(
    records=rows,
    layout=st.sampled_from(["jsonl", "json", "csv", "parquet"]),
    method=st.sampled_from(METHOD_NAMES),
    as_json=st.booleans(),
)
def test_random_json_rows_in_every_layout(
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    records: list[dict[str, Any]],
    layout: str,
    method: str,
    as_json: bool,
) -> None:
    path = folder / f"rows.{layout}"
    write_rows(path, records, layout)
    check(path, method, capsys, as_json)


@examples(600)
@given(
    lines=st.lists(
        st.sampled_from(['{"prompt": "a", "completion": "b"}', "{", "[]", "null", "", "\ufeff"])
        | st.text(max_size=40),
        max_size=8,
    ),
    method=st.sampled_from(METHOD_NAMES),
)
def test_broken_and_valid_jsonl_lines_mixed(
    folder: Path, capsys: pytest.CaptureFixture[str], lines: list[str], method: str
) -> None:
    path = folder / "mixed.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    check(path, method, capsys, as_json=False)
