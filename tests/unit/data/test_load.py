"""Reading files into raw rows (line numbers, encodings, formats) and the public loading API."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import kind
from tuneforge.data.load import collect_examples, load_examples, read_rows
from tuneforge.data.types import Origin, PairExample, ScoredExample, SFTExample
from tuneforge.errors import DataError

GOOD = Path(__file__).parents[2] / "data" / "good"
BAD = Path(__file__).parents[2] / "data" / "bad"


def _lines(path: Path) -> list[int]:
    return [row.line for row in read_rows(path).rows]


def test_jsonl_skips_bom_and_blank_lines_keeping_line_numbers() -> None:
    raw = read_rows(GOOD / "sft.jsonl")
    assert raw.problems == []
    assert raw.records == 2
    assert [r.line for r in raw.rows] == [1, 3]
    assert raw.rows[0].data == {"prompt": "What is 2+2?", "completion": "4"}


def test_json_list_rows_get_the_line_each_object_starts_on() -> None:
    assert _lines(GOOD / "sft.json") == [2, 4]


def test_json_wrapper_object_with_one_list_field() -> None:
    raw = read_rows(GOOD / "sft_wrapped.json")
    assert raw.problems == []
    assert [(r.line, r.data["prompt"]) for r in raw.rows] == [(4, "a"), (5, "c")]


def test_json_lines_content_in_a_json_file() -> None:
    assert _lines(GOOD / "sft_lines.json") == [1, 3]


def test_single_conversation_object_in_json_is_one_row_not_a_wrapper() -> None:
    raw = read_rows(GOOD / "sft_single.json")
    assert [r.line for r in raw.rows] == [1]
    assert "messages" in raw.rows[0].data


def test_csv_multiline_quoted_field_and_crlf() -> None:
    raw = read_rows(GOOD / "sft.csv")
    assert raw.problems == []
    assert raw.text_cells
    assert [(r.line, r.data) for r in raw.rows] == [
        (2, {"prompt": "Write two lines", "completion": "one\r\ntwo"}),
        (5, {"prompt": "plain", "completion": 'with "quotes"'}),
    ]


def test_parquet_rows_are_numbered_from_one(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    table = pa.table(
        {
            "prompt": ["a", "c"],
            "chosen": ["b", "d"],
            "rejected": ["x", "y"],
        }
    )
    pq.write_table(table, path)
    examples = load_examples(path, kind("dpo"))
    assert examples == [
        PairExample(Origin(str(path), 1), prompt="a", chosen="b", rejected="x"),
        PairExample(Origin(str(path), 2), prompt="c", chosen="d", rejected="y"),
    ]


def test_parquet_with_nested_chat_messages(tmp_path: Path) -> None:
    path = tmp_path / "chat.parquet"
    messages = [[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]]
    pq.write_table(pa.table({"messages": messages}), path)
    assert load_examples(path, kind("sft")) == [
        SFTExample(Origin(str(path), 1), messages=messages[0])
    ]


def test_empty_parquet_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"prompt": pa.array([], pa.string())}), path)
    problems = read_rows(path).problems
    assert [p.format() for p in problems] == [f"{path}: file: the file has no rows"]


def test_every_bad_line_is_reported_not_just_the_first() -> None:
    raw = read_rows(BAD / "invalid_utf8.jsonl")
    assert [(p.line, p.field) for p in raw.problems] == [(2, "encoding"), (4, "json")]
    assert [r.line for r in raw.rows] == [1, 3]


def test_missing_file_directory_and_extension(tmp_path: Path) -> None:
    assert read_rows(tmp_path / "nope.jsonl").problems[0].format() == (
        f"{tmp_path / 'nope.jsonl'}: file: no such file"
    )
    assert "is a directory" in read_rows(tmp_path).problems[0].message
    (tmp_path / "data").write_text("x")
    assert "without an extension" in read_rows(tmp_path / "data").problems[0].message


def test_name_overrides_how_the_file_is_called(tmp_path: Path) -> None:
    raw = read_rows(tmp_path / "x.jsonl", name="train.jsonl")
    assert raw.problems[0].format() == "train.jsonl: file: no such file"


def test_load_examples_lists_every_error_line() -> None:
    with pytest.raises(DataError) as info:
        load_examples(BAD / "invalid_utf8.jsonl", kind("sft"))
    message = str(info.value)
    assert "2 errors" in message
    assert f"{BAD / 'invalid_utf8.jsonl'}:2: encoding: invalid UTF-8" in message
    assert f"{BAD / 'invalid_utf8.jsonl'}:4: json: invalid JSON" in message


def test_unknown_method_is_refused_by_the_registry() -> None:
    from tuneforge.errors import ConfigError
    from tuneforge.methods import method_spec

    with pytest.raises(
        ConfigError, match="unknown method 'ppo'; choose one of sft, dpo, orpo, kto"
    ):
        method_spec("ppo")


def test_load_examples_labels_kto_and_drops_neutrals(tmp_path: Path) -> None:
    path = tmp_path / "kto.jsonl"
    rows = [{"prompt": "p", "completion": f"c{s}", "score": s} for s in (0.9, 0.5, 0.1)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples = load_examples(path, kind("kto"))
    assert [(ex.origin.line, ex.desirable) for ex in examples if isinstance(ex, ScoredExample)] == [
        (1, True),
        (3, False),
    ]
    # An explicit threshold wins over the [0, 1] rule.
    high = load_examples(path, kind("kto"), score_threshold=0.95)
    assert [ex.desirable for ex in high if isinstance(ex, ScoredExample)] == [False] * 3


def test_load_examples_all_neutral_raises() -> None:
    with pytest.raises(DataError, match="every example is neutral"):
        load_examples(BAD / "kto_all_neutral.jsonl", kind("kto"))


def test_collect_examples_returns_records_and_problems_side_by_side() -> None:
    collected = collect_examples(BAD / "missing_completion.jsonl", kind("sft"))
    assert collected.records == 2
    assert len(collected.examples) == 1
    assert [p.line for p in collected.errors] == [2]


def test_100k_lines_are_checked_fast(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    line = json.dumps({"prompt": "What is the capital of France?", "completion": "Paris."})
    path.write_text((line + "\n") * 20_000)
    start = time.perf_counter()
    collected = collect_examples(path, kind("sft"))
    assert len(collected.examples) == 20_000
    assert time.perf_counter() - start < 5  # about 0.3 s here; the bench covers 100k lines
