"""Parquet rows get the nesting bound of JSON rows: a clear problem naming file, row and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tuneforge.cli import check_command
from tuneforge.data.json_rows import MAX_ROW_DEPTH
from tuneforge.data.readers import read_rows


def nested(depth: int) -> Any:
    """A struct value ``depth`` levels deep: {"a": {"a": ... "x" ...}}."""
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


def test_a_deeply_nested_struct_column_names_the_file_row_and_field(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    # Row 2's completion is a struct 80 levels deep (the row is 81 deep with its own level);
    # pyarrow reads it (its own limit is 100 schema levels), tuneforge refuses that row only.
    rows = [
        {"prompt": "a", "completion": None},
        {"prompt": "b", "completion": nested(80)},
    ]
    pq.write_table(pa.Table.from_pylist(rows), path)
    result = read_rows(path)
    [problem] = result.problems
    assert str(problem) == (
        f"{path}:2: completion: nested more than {MAX_ROW_DEPTH} levels deep; data rows are a "
        "few levels deep"
    )
    assert [row.line for row in result.rows] == [1] and result.records == 2


def test_a_row_at_the_bound_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    rows = [{"prompt": "b", "completion": nested(MAX_ROW_DEPTH - 2)}]
    pq.write_table(pa.Table.from_pylist(rows), path)
    result = read_rows(path)
    assert result.problems == [] and result.rows[0].data == rows[0]


def test_a_schema_deeper_than_pyarrow_reads_is_one_clear_problem(
    tmp_path: Path, capsys: Any
) -> None:
    path = tmp_path / "train.parquet"
    value: Any = "x"
    kind: pa.DataType = pa.string()
    for _ in range(60):  # each list is two Parquet schema levels: 120 > pyarrow's 100
        value, kind = [value], pa.list_(kind)
    table = pa.table({"prompt": pa.array(["a"]), "completion": pa.array([value], type=kind)})
    pq.write_table(table, path)
    [problem] = read_rows(path).problems
    assert str(problem) == (
        f"{path}: file: cannot read the Parquet file: its schema is nested more than 100 levels "
        "deep (pyarrow's limit); data rows are a few levels deep"
    )
    assert check_command(path, method="sft", model="none") == 2
    out = capsys.readouterr().out
    assert "cannot read the Parquet file: its schema is nested more than 100" in out
    assert "Traceback" not in out
