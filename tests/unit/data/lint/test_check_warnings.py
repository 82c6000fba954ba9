"""`tuneforge check` warnings: usable files (exit 0) with advice printed as warning lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helpers import write_jsonl
from tuneforge.cli import check_command
from tuneforge.data.lint import rules as check_rules

QUALITY = "the model may learn length instead of quality"


def _sft(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"prompt": f"question {i}", "completion": f"answer {i}"} for i in range(start, start + n)
    ]


def _run(
    path: Path, method: str, capsys: pytest.CaptureFixture[str], **kwargs: Any
) -> tuple[int, list[str]]:
    code = check_command(path, method=method, model="none", **kwargs)
    return code, capsys.readouterr().out.splitlines()


def test_duplicate_rows_name_the_first_occurrence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _sft(60)
    rows[10] = {"completion": "answer 2", "prompt": "question 2"}  # same row, keys reordered
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    code, out = _run(path, "sft", capsys)
    assert code == 0
    assert f"{path}:11: row: warning: duplicate of line 3" in out


@pytest.mark.parametrize(
    ("longer", "expected"),
    [
        (9, "chosen is longer than rejected in 9 of 10 pairs (90%); " + QUALITY),
        (1, "chosen is shorter than rejected in 9 of 10 pairs (90%); " + QUALITY),
        (7, None),
    ],
)
def test_length_bias(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], longer: int, expected: str | None
) -> None:
    rows = [
        {
            "prompt": f"p{i}",
            "chosen": "a long detailed reply" if i < longer else "short",
            "rejected": "short" if i < longer else "a long detailed reply",
        }
        for i in range(10)
    ]
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    code, out = _run(path, "dpo", capsys)
    assert code == 0
    bias = [line for line in out if QUALITY in line]
    if expected is None:
        assert bias == []
    else:
        assert len(bias) == 1
        assert bias[0].startswith(f"{path}: chosen: warning: {expected}")


@pytest.mark.parametrize(
    ("desirable", "undesirable", "weights"),
    [
        (30, 90, (3.0, 1.0)),  # 90/30 = 3 exactly: λ_D·30 / 90 = 1
        (3, 10, (3.34, 1.0)),  # 10/3 = 3.333 rounded up: 3.34·3/10 = 1.002
        (100, 40, (1.0, 2.5)),  # 100/40 = 2.5: 100 / (2.5·40) = 1
        (7, 3, (1.0, 2.33)),  # 7/3 = 2.333 rounded down: 7 / (2.33·3) = 1.0014
        (4, 3, None),  # 4:3 is the top of the range
        (10, 10, None),
        (9, 10, (1.12, 1.0)),  # 10/9 = 1.111 rounded up
    ],
)
def test_kto_weights_by_hand(
    desirable: int, undesirable: int, weights: tuple[float, float] | None
) -> None:
    assert check_rules.kto_weights(desirable, undesirable) == weights
    if weights is not None:
        ratio = weights[0] * desirable / (weights[1] * undesirable)
        assert 1.0 <= ratio <= 4 / 3


def test_kto_balance_warning_in_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"prompt": f"p{i}", "completion": f"c{i}", "score": i < 30} for i in range(120)]
    path = write_jsonl(tmp_path / "kto.jsonl", rows)
    code, out = _run(path, "kto", capsys)
    assert code == 0
    assert (
        f"{path}: score: warning: 30 desirable vs 90 undesirable examples (weighted ratio 0.33, "
        "recommended 1 to 4/3); set kto.desirable_weight: 3 and kto.undesirable_weight: 1 so "
        "that λ_D·n_D / (λ_U·n_U) = 1.00 and neither kind dominates the loss"
    ) in out


def test_kto_balance_respects_configured_weights() -> None:
    assert check_rules.kto_balance(30, 90, "k.jsonl", (3.0, 1.0)) == []
    assert check_rules.kto_balance(30, 90, "k.jsonl", (1.0, 1.0)) != []
    only = check_rules.kto_balance(5, 0, "k.jsonl")
    assert "there are no undesirable examples" in only[0].message


def test_kto_neutral_examples_are_counted_and_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores = [0.9, 0.5, 0.1] * 20
    rows = [{"prompt": f"p{i}", "completion": "c", "score": s} for i, s in enumerate(scores)]
    path = write_jsonl(tmp_path / "kto.jsonl", rows)
    code, out = _run(path, "kto", capsys)
    assert code == 0
    assert (
        f"{path}: score: warning: 20 examples score exactly the threshold 0.5 and are left out "
        "as neutral (lines 2, 5, 8, 11, 14 and 15 more)"
    ) in out
    assert any("neutral (left out)" in line and "20" in line for line in out)


def test_small_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "small.jsonl", _sft(49))
    code, out = _run(path, "sft", capsys)
    assert code == 0
    assert (
        f"{path}: file: warning: only 49 usable examples; fine-tuning usually needs at least 50"
        in (out[0])
    )
    write_jsonl(path, _sft(50))
    assert not any("usable example" in line for line in _run(path, "sft", capsys)[1])


def test_train_eval_overlap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", _sft(60))
    evaluation = write_jsonl(
        tmp_path / "eval.jsonl",
        [{"prompt": "question  3 ", "completion": "other"}, *_sft(2, start=7), *_sft(3, start=100)],
    )
    code, out = _run(train, "sft", capsys, eval_path=evaluation)
    assert code == 0
    assert (
        f"{train}: prompt: warning: 3 prompts also appear in {evaluation} (lines 4, 8, 9); "
        "the evaluation would overstate the gain — remove them from one of the files"
    ) in out


def test_eval_file_errors_are_reported_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", _sft(60))
    code, out = _run(train, "sft", capsys, eval_path=tmp_path / "missing.jsonl")
    assert code == 2
    assert f"{tmp_path / 'missing.jsonl'}: file: no such file" in out


def test_sft_labels_are_counted_for_classification_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"prompt": f"review {i}", "completion": "positive" if i % 3 else "negative"}
        for i in range(60)
    ]
    path = write_jsonl(tmp_path / "cls.jsonl", rows)
    code = check_command(path, method="sft", model="none", as_json=True)
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert code == 0
    assert summary["labels"] == {"positive": 40, "negative": 20}
    # Free-form replies are not labels.
    assert check_rules.sft_labels([]) is None


def test_histogram_buckets() -> None:
    assert check_rules.histogram([10, 128, 129, 700, 1024, 1025, 5000], 1024) == [
        {"min": 0, "max": 128, "count": 2},
        {"min": 129, "max": 256, "count": 1},
        {"min": 257, "max": 512, "count": 0},
        {"min": 513, "max": 1024, "count": 2},
        {"min": 1025, "max": None, "count": 2},
    ]
