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

from tuneforge.data.problems import Problem, json_type_name
from tuneforge.io import InputFileError, read_input_file

JSONL_SUFFIXES = (".jsonl", ".ndjson")
SUPPORTED_SUFFIXES = (*JSONL_SUFFIXES, ".json", ".csv", ".parquet")

#: A data file larger than this (in MB) is refused unless TUNEFORGE_MAX_FILE_MB raises it.
DATA_MAX_MB = 2048

_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_WS = re.compile(r"[ \t\n\r]*")
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


#: The deepest nesting a data row may have: chat rows are 3-4 levels deep, so this only stops
#: hostile input before it can reach Python's recursion limit further down.
MAX_ROW_DEPTH = 64


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` refusing an object that names a key twice (json keeps the last)."""
    row: dict[str, Any] = {}
    for key, value in pairs:
        if key in row:
            raise _DuplicateKey(key)
        row[key] = value
    return row


_STRICT = json.JSONDecoder(object_pairs_hook=_no_duplicates)


def _duplicate(name: str, line: int, exc: _DuplicateKey) -> Problem:
    return Problem(name, line, "key", f"duplicate key {exc.key!r}; each key may appear only once")


def _field_path(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _row_problem(name: str, line: int, row: dict[str, Any]) -> Problem | None:
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


def _add_row(name: str, line: int, row: dict[str, Any], result: RawRows) -> None:
    problem = _row_problem(name, line, row)
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
            value = _STRICT.decode(text)
        except json.JSONDecodeError as exc:
            result.problems.append(_json_problem(name, line, exc))
            continue
        except _DuplicateKey as exc:
            result.problems.append(_duplicate(name, line, exc))
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
            doc = _STRICT.decode(text)
        except _DuplicateKey:
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

    start = _WS.match(text).end()  # type: ignore[union-attr]
    if isinstance(doc, dict):
        key = _wrapper_key(doc)
        if key is None:
            # A single record saved as .json: one row on the line where it starts.
            result.records = 1
            if duplicates:
                result.problems.append(_duplicate_at(text, start, name, line_of(start)))
            else:
                _add_row(name, line_of(start), doc, result)
            return
        items, start = doc[key], _member_value_index(text, start, key)
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
    for item, index in zip(items, _element_indexes(text, start), strict=True):
        result.records += 1
        if duplicates and isinstance(item, dict) and _has_duplicate(text, index):
            result.problems.append(_duplicate_at(text, index, name, line_of(index)))
            found_duplicate = True
        elif isinstance(item, dict):
            _add_row(name, line_of(index), item, result)
        else:
            result.problems.append(_not_object(name, line_of(index), item, "each row"))
    if not items:
        result.problems.append(Problem(name, None, "file", "the list of rows is empty"))
    if duplicates and not found_duplicate:  # a key named twice outside the rows
        result.problems.append(_duplicate_at(text, 0, name, line_of(start)))


def _has_duplicate(text: str, index: int) -> bool:
    try:
        _STRICT.raw_decode(text, index)
    except _DuplicateKey:
        return True
    return False


def _duplicate_at(text: str, index: int, name: str, line: int) -> Problem:
    """The problem for the value at ``index``, known to name a key twice somewhere."""
    try:
        _STRICT.raw_decode(text, index)
    except _DuplicateKey as exc:
        return _duplicate(name, line, exc)
    return Problem(name, line, "key", "an object names a key twice")


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


def _member_value_index(text: str, index: int, key: str) -> int:
    """Index where the value of member ``key`` starts, in the valid object at ``index``."""
    decoder = json.JSONDecoder()
    index = _WS.match(text, index + 1).end()  # type: ignore[union-attr]  # past "{"
    found = -1
    while text[index] != "}":
        name, index = decoder.raw_decode(text, index)
        index = _WS.match(text, index).end()  # type: ignore[union-attr]
        index = _WS.match(text, index + 1).end()  # type: ignore[union-attr]  # past ":"
        if name == key:
            found = index  # keep going: with duplicate keys, json keeps the last one
        _, index = decoder.raw_decode(text, index)
        index = _WS.match(text, index).end()  # type: ignore[union-attr]
        if text[index] == ",":
            index = _WS.match(text, index + 1).end()  # type: ignore[union-attr]
    return found


def _element_indexes(text: str, index: int) -> list[int]:
    """Start index of each element of the valid JSON array at ``index``."""
    decoder = json.JSONDecoder()
    starts: list[int] = []
    index = _WS.match(text, index + 1).end()  # type: ignore[union-attr]  # past "["
    while text[index] != "]":
        starts.append(index)
        _, index = decoder.raw_decode(text, index)
        index = _WS.match(text, index).end()  # type: ignore[union-attr]
        if text[index] == ",":
            index = _WS.match(text, index + 1).end()  # type: ignore[union-attr]
    return starts


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
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        result.problems.append(Problem(name, None, "file", f"cannot read the Parquet file: {exc}"))
        return result
    # Parquet has no lines: the 1-based row number plays that role in problems.
    for number, row in enumerate(table.to_pylist(), start=1):
        result.records += 1
        result.rows.append(RawRow(number, row))
    if result.records == 0:
        result.problems.append(Problem(name, None, "file", "the file has no rows"))
    return result
