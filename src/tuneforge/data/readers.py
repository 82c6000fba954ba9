"""Read data files into raw rows, each with the line it starts on.

Every reader collects problems instead of raising, so one bad line never hides the next: the
linter must report every problem in a single run. JSONL is read line by line here (not with
``datasets``) for exactly that reason, and so each problem carries its line and column.
"""

from __future__ import annotations

import csv
import io
import json
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneforge.data.json_rows import (
    STRICT_JSON,
    WHITESPACE,
    DuplicateKey,
    duplicate_at,
    duplicate_problem,
    element_indexes,
    has_duplicate,
    member_value_index,
    row_problem,
)
from tuneforge.data.problems import Problem, json_type_name
from tuneforge.io import InputFileError, read_input_file

JSONL_SUFFIXES = (".jsonl", ".ndjson")
SUPPORTED_SUFFIXES = (*JSONL_SUFFIXES, ".json", ".csv", ".parquet")

#: A data file larger than this (in MB) is refused unless TUNEFORGE_MAX_FILE_MB raises it.
DATA_MAX_MB = 2048

_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Field names that mark an object as one record rather than a wrapper around the rows,
# e.g. {"messages": [...]} is a conversation, {"data": [...]} holds the rows.
_RECORD_FIELDS = frozenset(
    {
        "messages",
        "prompt",
        "completion",
        "chosen",
        "rejected",
        "preferred_output",
        "non_preferred_output",
        "request",
        "response",
        "output",
    }
)


@dataclass(frozen=True)
class RawRow:
    """One record as read from the file, before any validation of its fields."""

    line: int
    data: dict[str, Any]


@dataclass
class RawRows:
    """What a reader found: usable raw rows, problems, and how many records it saw."""

    rows: list[RawRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    records: int = 0
    text_cells: bool = False
    """True for CSV, where every value is text and scores or chat lists need parsing."""


def read_rows(path: Path | str, *, name: str | None = None) -> RawRows:
    """Read ``path`` (.jsonl, .ndjson, .json, .csv, .parquet) into raw rows and problems.

    ``name`` is how the file is called in problems (default: the path as given).
    """
    path = Path(path)
    name = str(path) if name is None else name
    result = RawRows()

    def fail(message: str) -> RawRows:
        result.problems.append(Problem(name, None, "file", message))
        return result

    if not path.exists():
        return fail("no such file")
    if path.is_dir():
        return fail("is a directory; expected a data file (.jsonl, .json, .csv or .parquet)")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        shown = f"'{suffix}'" if suffix else "without an extension"
        return fail(f"unsupported file type {shown}; use .jsonl, .json, .csv or .parquet")
    try:
        data = read_input_file(path, what="data file", default_mb=DATA_MAX_MB)
    except InputFileError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot read the file: {exc.strerror or exc}")
    if not data:
        return fail("the file is empty")
    if suffix == ".parquet":
        return _read_parquet(path, name, result)
    if data.startswith(_UTF16_BOMS):
        return fail("the file is UTF-16 encoded; save it as UTF-8")
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if suffix in JSONL_SUFFIXES:
        _read_jsonl(data, name, result)
    elif suffix == ".json":
        _read_json(data, name, result)
    else:
        result.text_cells = True
        _read_csv(data, name, result)
    if result.records == 0 and not result.problems:
        fail("the file has no rows, only blank lines")
    return result


def _utf8_problem(name: str, line: int, raw: bytes, exc: UnicodeDecodeError) -> Problem:
    """Describe a bad byte by its character column, which is what an editor shows."""
    column = len(raw[: exc.start].decode("utf-8", errors="replace")) + 1
    bad = raw[exc.start]
    return Problem(
        name,
        line,
        "encoding",
        f"invalid UTF-8 at column {column} (byte 0x{bad:02x}); save the file as UTF-8",
    )


def _json_problem(name: str, line: int, exc: json.JSONDecodeError) -> Problem:
    # json's messages end in " at" when followed by its own position, which we replace.
    message = exc.msg.removesuffix(" at")
    return Problem(name, line, "json", f"invalid JSON at column {exc.colno}: {message}")


def _too_deep(name: str, line: int) -> Problem:
    return Problem(name, line, "json", "invalid JSON: nested too deeply to be a data row")


def _not_object(name: str, line: int, value: object, what: str) -> Problem:
    return Problem(name, line, "json", f"{what} must be a JSON object, got {json_type_name(value)}")


def _add_row(name: str, line: int, row: dict[str, Any], result: RawRows) -> None:
    problem = row_problem(name, line, row)
    if problem is None:
        result.rows.append(RawRow(line, row))
    else:
        result.problems.append(problem)


def _read_jsonl(data: bytes, name: str, result: RawRows) -> None:
    # Split bytes on b"\n" only: str.splitlines would also split on U+2028 and friends, which
    # are legal inside JSON strings. Decoding per line keeps one bad byte local to its line.
    for line, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        result.records += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            result.problems.append(_utf8_problem(name, line, raw, exc))
            continue
        try:
            value = STRICT_JSON.decode(text)
        except json.JSONDecodeError as exc:
            result.problems.append(_json_problem(name, line, exc))
            continue
        except DuplicateKey as exc:
            result.problems.append(duplicate_problem(name, line, exc))
            continue
        except RecursionError:
            result.problems.append(_too_deep(name, line))
            continue
        except ValueError as exc:  # e.g. an integer over Python's 4300-digit limit
            result.problems.append(Problem(name, line, "json", f"invalid JSON: {exc}"))
            continue
        if isinstance(value, dict):
            _add_row(name, line, value, result)
        else:
            result.problems.append(_not_object(name, line, value, "each line"))


def _decode_whole(data: bytes, name: str, result: RawRows) -> str | None:
    """Decode a whole-document file, reporting every line with invalid UTF-8 on failure."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for line, raw in enumerate(data.split(b"\n"), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            result.problems.append(_utf8_problem(name, line, raw, exc))
    return None


def _looks_like_json_lines(text: str) -> bool:
    """True when every non-blank line is one {...} object: JSON lines saved as .json."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    return len(lines) > 1 and all(ln.startswith("{") and ln.endswith("}") for ln in lines)


def _read_json(data: bytes, name: str, result: RawRows) -> None:
    text = _decode_whole(data, name, result)
    if text is None:
        result.records = max(result.records, 1)
        return
    if not text.strip():
        return
    duplicates = False
    try:
        try:
            doc = STRICT_JSON.decode(text)
        except DuplicateKey:
            # Find the rows naming a key twice below, each by its line.
            duplicates, doc = True, json.loads(text)
    except json.JSONDecodeError as exc:
        # "Extra data" means a complete value was followed by more: one object per line.
        if exc.msg == "Extra data" or _looks_like_json_lines(text):
            _read_jsonl(data, name, result)
        else:
            result.records = 1
            result.problems.append(_json_problem(name, exc.lineno, exc))
        return
    except RecursionError:
        result.records = 1
        result.problems.append(_too_deep(name, 1))
        return
    except ValueError as exc:
        result.records = 1
        result.problems.append(Problem(name, None, "json", f"invalid JSON: {exc}"))
        return
    newlines = [m.start() for m in re.finditer("\n", text)]

    def line_of(index: int) -> int:
        return bisect_right(newlines, index - 1) + 1

    start = WHITESPACE.match(text).end()  # type: ignore[union-attr]
    if isinstance(doc, dict):
        key = _wrapper_key(doc)
        if key is None:
            # A single record saved as .json: one row on the line where it starts.
            result.records = 1
            if duplicates:
                result.problems.append(duplicate_at(text, start, name, line_of(start)))
            else:
                _add_row(name, line_of(start), doc, result)
            return
        items, start = doc[key], member_value_index(text, start, key)
    elif isinstance(doc, list):
        items = doc
    else:
        result.records = 1
        result.problems.append(
            Problem(
                name,
                line_of(start),
                "json",
                "a .json file must hold a list of objects (or one object with a list of them), "
                f"got {json_type_name(doc)}",
            )
        )
        return
    found_duplicate = False
    for item, index in zip(items, element_indexes(text, start), strict=True):
        result.records += 1
        if duplicates and isinstance(item, dict) and has_duplicate(text, index):
            result.problems.append(duplicate_at(text, index, name, line_of(index)))
            found_duplicate = True
        elif isinstance(item, dict):
            _add_row(name, line_of(index), item, result)
        else:
            result.problems.append(_not_object(name, line_of(index), item, "each row"))
    if not items:
        result.problems.append(Problem(name, None, "file", "the list of rows is empty"))
    if duplicates and not found_duplicate:  # a key named twice outside the rows
        result.problems.append(duplicate_at(text, 0, name, line_of(start)))


def _wrapper_key(doc: dict[str, Any]) -> str | None:
    """The one list field holding the rows of a wrapper object like ``{"data": [...]}``."""
    lists = [key for key, value in doc.items() if isinstance(value, list)]
    if len(lists) != 1 or lists[0] in _RECORD_FIELDS:
        return None
    items = doc[lists[0]]
    # A list of chat messages under an unusual name is a record, not a wrapper.
    if items and all(isinstance(it, dict) and "role" in it for it in items):
        return None
    return lists[0]


def _read_csv(data: bytes, name: str, result: RawRows) -> None:
    bad_lines: set[int] = set()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Report each bad line, then carry on with the rest of the file so one bad byte does
        # not hide other problems; records touching a bad line are skipped below.
        _decode_whole(data, name, result)
        bad_lines = {p.line for p in result.problems if p.line is not None}
        text = data.decode("utf-8", errors="replace")
    # The default 128 KiB field limit would reject long documents, which are legitimate data.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
        if header is None:
            return
        header_line = reader.line_num
        columns = [cell.strip() for cell in header]
        if not _check_header(columns, name, header_line, result):
            result.records = max(result.records, 1)
            return
        previous = reader.line_num
        for record in reader:
            # line_num counts physical lines read so far, so a quoted multi-line field still
            # gives the line the record starts on.
            first, previous = previous + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            result.records += 1
            if bad_lines.intersection(range(first, reader.line_num + 1)):
                continue
            if len(record) != len(columns):
                values = f"{len(record)} value" + ("" if len(record) == 1 else "s")
                # A field swallowing line breaks usually means a quote was never closed.
                hint = " (is a quote left open?)" if any("\n" in c for c in record) else ""
                message = f"the row has {values} but the header has {len(columns)} columns{hint}"
                result.problems.append(Problem(name, first, "csv", message))
                continue
            result.rows.append(RawRow(first, dict(zip(columns, record, strict=True))))
    except csv.Error as exc:
        result.records = max(result.records, 1)
        result.problems.append(Problem(name, reader.line_num, "csv", f"cannot parse CSV: {exc}"))
        return
    if result.records == 0 and not result.problems:
        result.problems.append(Problem(name, None, "file", "the file has a header but no rows"))


def _check_header(columns: list[str], name: str, line: int, result: RawRows) -> bool:
    """Report unnamed or repeated column names; both would silently lose values."""
    if len(columns) == 1:
        for separator, shown in ((";", "';'"), ("\t", "tabs")):
            if separator in columns[0]:
                message = f"one column named {columns[0]!r}: this file looks separated by {shown}"
                result.problems.append(
                    Problem(name, line, "header", message + "; save it with commas")
                )
                return False
    ok = True
    seen: set[str] = set()
    for position, column in enumerate(columns, start=1):
        if not column:
            result.problems.append(Problem(name, line, "header", f"column {position} has no name"))
            ok = False
        elif column in seen:
            result.problems.append(
                Problem(name, line, "header", f"column '{column}' appears more than once")
            )
            ok = False
        seen.add(column)
    return ok


def _read_parquet(path: Path, name: str, result: RawRows) -> RawRows:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError, ValueError) as exc:
        result.problems.append(Problem(name, None, "file", _parquet_problem(exc)))
        return result
    # Parquet has no lines: the 1-based row number plays that role in problems. Nested
    # list/struct columns get the same depth and text checks as JSON rows.
    for number, row in enumerate(rows, start=1):
        result.records += 1
        _add_row(name, number, row, result)
    if result.records == 0:
        result.problems.append(Problem(name, None, "file", "the file has no rows"))
    return result


def _parquet_problem(exc: Exception) -> str:
    """Why pyarrow could not read a Parquet file, in words a user can act on."""
    if "too deeply nested" in str(exc):
        # pyarrow suggests raising its limit, which tuneforge (rightly) does not offer.
        return (
            "cannot read the Parquet file: its schema is nested more than 100 levels deep "
            "(pyarrow's limit); data rows are a few levels deep"
        )
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"cannot read the Parquet file: {detail}"
