"""Normalising rows into typed records: every accepted shape, alias, rename and field error."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from helpers import kind
from tuneforge.data.formats import normalise_row
from tuneforge.data.load import collect_examples, load_examples
from tuneforge.data.types import Origin, PairExample, ScoredExample, SFTExample

GOOD = Path(__file__).parents[2] / "data" / "good"
U = {"role": "user", "content": "Say hi"}


def _at(name: str, line: int) -> Origin:
    return Origin(str(GOOD / name), line)


def _problems(row: dict[str, Any], method: str, **kwargs: Any) -> list[str]:
    example, problems = normalise_row(row, kind=kind(method), origin=Origin("f.jsonl", 3), **kwargs)
    assert example is None or all(not p.is_error for p in problems)
    return [p.format() for p in problems]


def test_sft_prompt_completion_strings_and_chat_lists() -> None:
    assert load_examples(GOOD / "sft.jsonl", kind("sft")) == [
        SFTExample(_at("sft.jsonl", 1), prompt="What is 2+2?", completion="4"),
        SFTExample(
            _at("sft.jsonl", 3),
            prompt=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Capital of France?"},
            ],
            completion=[{"role": "assistant", "content": "Paris"}],
        ),
    ]


def test_sft_openai_chat_keeps_role_and_content_only() -> None:
    examples = load_examples(GOOD / "sft_chat.jsonl", kind("sft"))
    assert examples[1] == SFTExample(
        _at("sft_chat.jsonl", 2),
        messages=[
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": "Let me check."},
            {"role": "tool", "content": "sunny"},
            {"role": "assistant", "content": "Sunny."},
        ],
    )


def test_sft_request_response_aliases() -> None:
    assert load_examples(GOOD / "sft_aliases.jsonl", kind("sft")) == [
        SFTExample(
            _at("sft_aliases.jsonl", 1), prompt="Translate 'cat' to French.", completion="chat"
        )
    ]


@pytest.mark.parametrize("name", ["sft.json", "sft_wrapped.json", "sft_lines.json"])
def test_json_variants_give_the_same_records(name: str) -> None:
    examples = load_examples(GOOD / name, kind("sft"))
    assert [(ex.prompt, ex.completion) for ex in examples if isinstance(ex, SFTExample)] == [
        ("a", "b"),
        ("c", "d"),
    ]


def test_csv_sft() -> None:
    assert load_examples(GOOD / "sft.csv", kind("sft")) == [
        SFTExample(_at("sft.csv", 2), prompt="Write two lines", completion="one\r\ntwo"),
        SFTExample(_at("sft.csv", 5), prompt="plain", completion='with "quotes"'),
    ]


def test_dpo_strings_and_chat_lists() -> None:
    assert load_examples(GOOD / "dpo.jsonl", kind("dpo")) == [
        PairExample(_at("dpo.jsonl", 1), prompt="Say hi", chosen="Hi!", rejected="No."),
        PairExample(
            _at("dpo.jsonl", 2),
            prompt=[U],
            chosen=[{"role": "assistant", "content": "Hi!"}],
            rejected=[{"role": "assistant", "content": "No."}],
        ),
    ]


def test_openai_preference_format() -> None:
    assert load_examples(GOOD / "dpo_openai.jsonl", kind("orpo")) == [
        PairExample(
            _at("dpo_openai.jsonl", 1),
            prompt=[{"role": "system", "content": "Be nice."}, U],
            chosen=[{"role": "assistant", "content": "Hi!"}],
            rejected=[{"role": "assistant", "content": "No."}],
        )
    ]


def test_kto_bool_scores() -> None:
    assert load_examples(GOOD / "kto.jsonl", kind("kto")) == [
        ScoredExample(_at("kto.jsonl", 1), "Say hi", "Hi!", True, desirable=True),
        ScoredExample(_at("kto.jsonl", 2), "Say hi", "No.", False, desirable=False),
    ]


def test_kto_output_label_aliases_with_midpoint_rule() -> None:
    # Scores 4, 1, 2.5: none negative, not all in [0, 1] -> midpoint 2.5, which is neutral.
    assert load_examples(GOOD / "kto_aliases.jsonl", kind("kto")) == [
        ScoredExample(_at("kto_aliases.jsonl", 1), "Rate me", "Great answer", 4.0, desirable=True),
        ScoredExample(_at("kto_aliases.jsonl", 2), "Rate me", "Poor answer", 1.0, desirable=False),
    ]


def test_kto_csv_parses_text_scores() -> None:
    collected = collect_examples(GOOD / "kto.csv", kind("kto"))
    assert collected.problems == []
    assert [ex.score for ex in collected.examples if isinstance(ex, ScoredExample)] == [
        True,
        0.0,
        0.75,
    ]


def test_columns_rename_wins_over_a_field_of_the_same_name() -> None:
    examples = load_examples(
        GOOD / "columns.jsonl", kind("sft"), columns={"question": "prompt", "answer": "completion"}
    )
    assert examples == [SFTExample(_at("columns.jsonl", 1), prompt="What is 2+2?", completion="4")]


def test_problems_name_the_users_field_after_a_rename() -> None:
    row = {"question": "", "answer": "4"}
    columns = {"question": "prompt", "answer": "completion"}
    assert _problems(row, "sft", columns=columns) == ["f.jsonl:3: question: must not be empty"]


def test_missing_renamed_field_says_the_mapping_found_nothing() -> None:
    assert _problems(
        {"answer": "4"}, "sft", columns={"question": "prompt", "answer": "completion"}
    ) == [
        "f.jsonl:3: prompt: missing required field 'prompt' (columns: maps 'question' to it, "
        "but the row has no such field)"
    ]


def test_typo_hint_is_case_insensitive() -> None:
    assert _problems({"Prompt": "x", "completion": "y"}, "sft") == [
        "f.jsonl:3: prompt: missing required field 'prompt' (found 'Prompt' — a typo? use "
        "columns: to rename)"
    ]


def test_alias_and_canonical_both_present_warns() -> None:
    problems = _problems({"prompt": "a", "request": "b", "completion": "c"}, "sft")
    assert problems == [
        "f.jsonl:3: request: warning: both 'prompt' and its alias 'request' are present; "
        "using 'prompt'"
    ]


def test_kto_method_hint_for_pair_data() -> None:
    problems = _problems({"prompt": "a", "chosen": "b", "rejected": "c"}, "kto")
    assert "this looks like DPO/ORPO preference pairs" in problems[0]


def test_kto_nan_from_python_and_numbers_become_floats() -> None:
    assert _problems({"prompt": "a", "completion": "b", "score": math.nan}, "kto") == [
        "f.jsonl:3: score: score must be a finite number, got NaN"
    ]
    example, _ = normalise_row(
        {"prompt": "a", "completion": "b", "score": 3}, kind=kind("kto"), origin=Origin("f", 1)
    )
    assert isinstance(example, ScoredExample)
    assert example.score == 3.0 and isinstance(example.score, float)


def test_several_problems_in_one_row_are_all_reported() -> None:
    row = {"prompt": 1, "chosen": [], "rejected": [{"role": "bot", "content": None}]}
    assert _problems(row, "dpo") == [
        "f.jsonl:3: prompt: must be a string or a list of chat messages, got number",
        "f.jsonl:3: chosen: the list of messages is empty",
        "f.jsonl:3: rejected[0].role: unknown chat role 'bot'; use one of system, user, "
        "assistant, tool",
        "f.jsonl:3: rejected[0].content: must be a string, got null",
    ]


def test_every_registered_method_reads_one_of_the_record_kinds() -> None:
    from tuneforge.data.formats import ALIASES
    from tuneforge.methods import METHODS

    assert {spec.record_kind for spec in METHODS.values()} <= set(ALIASES)


def test_a_preference_pair_trains_sft_on_its_chosen_reply() -> None:
    row = {"prompt": "Hi", "chosen": "Hello! How can I help?", "rejected": "What."}
    example, problems = normalise_row(row, kind=kind("sft"), origin=Origin("f.jsonl", 3))
    assert example == SFTExample(
        Origin("f.jsonl", 3), prompt="Hi", completion="Hello! How can I help?"
    )
    assert problems == []
    both = {"prompt": "Hi", "completion": "Hey", "chosen": "Hello"}
    assert _problems(both, "sft") == [
        "f.jsonl:3: chosen: warning: both 'completion' and its alias 'chosen' are present; "
        "using 'completion'"
    ]
