"""`tuneforge check` says which method fits the data and how much the held-out set can show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import write_jsonl
from tuneforge.cli import check_command
from tuneforge.data.advice import held_out_advice, method_advice
from tuneforge.data.load import load_examples
from tuneforge.data.split import split_examples
from tuneforge.data.types import RecordKind

PAIRS = [{"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(120)]


def test_pairs_with_an_eval_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", PAIRS)
    held = write_jsonl(tmp_path / "eval.jsonl", PAIRS[:40])
    code = check_command(train, method="dpo", model="none", eval_path=held, as_json=True)
    advice = json.loads(capsys.readouterr().out)["summary"]["advice"]
    assert code == 0
    assert advice == {
        "method": method_advice(RecordKind.PAIR),
        "held_out": held_out_advice(40),
        "held_out_rows": 40,
        "interval_points": 15.5,
    }


def test_text_output_and_the_automatic_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"prompt": f"question {i}", "completion": f"answer {i}"} for i in range(150)]
    data = write_jsonl(tmp_path / "sft.jsonl", rows)
    held_out = split_examples(load_examples(data, RecordKind.SFT), 0.1)[1]
    assert 0 < len(held_out) < 150  # the hash split holds out some rows, not all
    code = check_command(data, method="sft", model="none")
    printed = capsys.readouterr().out
    assert code == 0
    sft = method_advice(RecordKind.SFT, data=str(data))
    assert f"\nadvice:\n  {sft}\n  {held_out_advice(len(held_out))}\n" in printed


def test_no_advice_for_an_unusable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "sft.jsonl", [{"prompt": "q"}])
    assert check_command(data, method="sft", model="none", as_json=True) == 2
    assert "advice" not in json.loads(capsys.readouterr().out)["summary"]
