"""`tuneforge pairs`: rejected = the model's exact greedy replies, the rule's reasons counted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from transformers import PreTrainedTokenizerBase
from typer.testing import CliRunner

from helpers import greedy_reference_decode, talkative_tiny_model, write_jsonl
from tuneforge.cli import app, pairs_command
from tuneforge.config import CheckRule
from tuneforge.data.render import RenderSettings
from tuneforge.data.types import Text
from tuneforge.evaluate.inference.generate import prompt_ids
from tuneforge.run import pairs as pairs_module
from tuneforge.run.check import check_file
from tuneforge.run.pairs import (
    PairsOptions,
    judge,
    pairs_options,
    summary_path,
    write_mistake_pairs,
)
from tuneforge.target import Target, load_target

STEPS = 5
CONVERSATION = [
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Cancel my order."},
    {"role": "assistant", "content": "Done: order 12 is cancelled."},
]
SFT_ROWS = [
    {"prompt": "Hi", "completion": "Good morning, how can I help you today?"},
    {"messages": CONVERSATION},
    {"prompt": "Where is my parcel?", "completion": "It left our depot on Monday."},
]


@pytest.fixture(scope="module")
def target(embedded_tokenizer: PreTrainedTokenizerBase) -> Target:
    """A tiny random model that answers with visible text, and a system prompt."""
    model = talkative_tiny_model(embedded_tokenizer)
    return Target("tiny", embedded_tokenizer, model, RenderSettings(system_prompt="Be brief."))


def _greedy_reply(target: Target, prompt: Text) -> str:
    tokenizer = target.tokenizer
    ids = prompt_ids(prompt, tokenizer, target.render)
    reply = greedy_reference_decode(target.model, ids, {tokenizer.eos_token_id}, STEPS)
    return tokenizer.decode(reply, skip_special_tokens=True).strip()


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("batch_size", [1, 2])
def test_rejected_replies_are_the_models_greedy_outputs(
    target: Target, tmp_path: Path, batch_size: int
) -> None:
    data = write_jsonl(tmp_path / "sft.jsonl", SFT_ROWS)
    out = tmp_path / "pairs.jsonl"
    # min_chrf 100: every reply that differs from its reference is kept, so all rows show.
    options = PairsOptions(min_chrf=100, max_new_tokens=STEPS, batch_size=batch_size)
    summary = write_mistake_pairs(target, data, out, options=options)

    prompts = ["Hi", CONVERSATION[:3], "Where is my parcel?"]
    expected = [_greedy_reply(target, p) for p in prompts]
    assert all(expected)  # real text is compared
    assert _read(out) == [
        {"prompt": "Hi", "chosen": SFT_ROWS[0]["completion"], "rejected": expected[0]},
        {"prompt": CONVERSATION[:3], "chosen": CONVERSATION[3]["content"], "rejected": expected[1]},
        {"prompt": prompts[2], "chosen": SFT_ROWS[2]["completion"], "rejected": expected[2]},
    ]
    assert (summary.rows, summary.kept, summary.dropped) == (3, 3, 0)
    assert summary.kept_by == {"json_mismatch": 0, "fails_check": 0, "below_chrf": 3}
    # The output is a usable DPO file as it is.
    report = check_file(out, method="dpo", model="none")
    assert report.exit_code == 0, [p.format() for p in report.problems]


REFERENCE_JSON = '{"name": "Ann", "qty": 2}'
#: (SFT row, the reply the stub model gives to its prompt, the reason the rule must give).
CASES: list[tuple[dict, str | None, str]] = [
    ({"prompt": "p1", "completion": "Thanks, it ships today."}, "  ", "empty_reply"),
    (
        {"prompt": "p2", "completion": "Thanks,  it ships\ntoday."},
        "thanks, it ships today.",
        "equal_after_normalisation",
    ),
    (
        {"prompt": "p3", "completion": REFERENCE_JSON},
        '```json\n{"qty": 2.0, "name": "Ann"}\n```',
        "equal_after_normalisation",
    ),
    ({"prompt": "p4", "completion": REFERENCE_JSON}, '{"name": "Ann", "qty": 3}', "json_mismatch"),
    (
        {"prompt": "p5", "completion": "We refund the difference today."},
        "We refund the difference today!! Kind regards",
        "fails_check",
    ),
    ({"prompt": "p6", "completion": "We refund the difference today."}, "No.", "below_chrf"),
    (
        {"prompt": "p7", "completion": "We refund the difference today."},
        "We will refund the difference today.",
        "close_to_reference",
    ),
    ({"messages": [{"role": "assistant", "content": "Hi there."}]}, None, "no_prompt"),
]
CHECKS = (
    CheckRule(name="no_sign_off", must_not_match="(?i)kind regards"),
    CheckRule(name="calm", must_not_match="!!"),
)


def test_the_rule_gives_each_row_its_reason(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    replies = {row["prompt"]: reply for row, reply, _ in CASES if "prompt" in row}

    def stub(_: Target, prompts: Sequence[Text], *args: object, **kwargs: object) -> list[str]:
        return [replies[p] for p in prompts]  # type: ignore[index]

    monkeypatch.setattr(pairs_module, "generate_replies", stub)
    data = write_jsonl(tmp_path / "sft.jsonl", [row for row, _, _ in CASES])
    out = tmp_path / "pairs.jsonl"
    options = PairsOptions(checks=CHECKS, min_chrf=40, batch_size=3)
    summary = write_mistake_pairs(target, data, out, options=options)

    assert [d.reason for d in summary.decisions] == [reason for _, _, reason in CASES]
    assert [d.line for d in summary.decisions] == list(range(1, 9))
    assert summary.kept_by == {"json_mismatch": 1, "fails_check": 1, "below_chrf": 1}
    assert summary.dropped_by == {
        "no_prompt": 1,
        "empty_reply": 1,
        "equal_after_normalisation": 2,
        "close_to_reference": 1,
    }
    assert _read(out) == [
        {"prompt": "p4", "chosen": REFERENCE_JSON, "rejected": '{"name": "Ann", "qty": 3}'},
        {
            "prompt": "p5",
            "chosen": "We refund the difference today.",
            "rejected": "We refund the difference today!! Kind regards",
        },
        {"prompt": "p6", "chosen": "We refund the difference today.", "rejected": "No."},
    ]
    document = json.loads(summary_path(out).read_text(encoding="utf-8"))
    assert summary_path(out) == tmp_path / "pairs.summary.json"
    assert (document["rows"], document["kept"], document["dropped"]) == (8, 3, 5)
    assert document["checks"] == ["no_sign_off", "calm"]
    assert document["decisions"][4]["failed_checks"] == ["no_sign_off", "calm"]
    assert summary.lines()[:3] == [
        f"Wrote 3 pairs from 8 rows to {out}",
        "  kept: 1 json_mismatch, 1 fails_check, 1 below_chrf",
        "  dropped: 1 no_prompt, 1 empty_reply, 2 equal_after_normalisation, 1 close_to_reference",
    ]


def test_judge_thresholds_and_checks_the_reference_fails() -> None:
    reference = "We refund the difference today."
    reply = "We will refund the difference today."
    close = judge(reply, reference, PairsOptions(min_chrf=40))
    assert close.reason == "close_to_reference"
    assert close.chrf is not None and 40 < close.chrf < 100
    # The same reply is a mistake once the threshold is above its chrF.
    assert judge(reply, reference, PairsOptions(min_chrf=close.chrf + 0.01)).reason == (
        "below_chrf"
    )
    # A check the reference itself fails says nothing about the reply.
    strict = PairsOptions(checks=(CheckRule(name="short", max_words=3),))
    assert judge(reply, reference, strict).reason == "close_to_reference"


def test_options_from_a_config(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text("", encoding="utf-8")
    config = tmp_path / "sft.yaml"
    config.write_text(
        "method: sft\ndata:\n  train: train.jsonl\n  system_prompt: Answer as JSON.\n"
        "  chat_template: false\ncolumns:\n  question: prompt\n"
        "eval:\n  checks:\n    - name: json_only\n      must_match: '^\\{'\n",
        encoding="utf-8",
    )
    options = pairs_options("embedded", config, min_chrf=55.0, batch_size=None)
    assert [rule.name for rule in options.checks] == ["json_only"]
    assert options.system_prompt == "Answer as JSON."
    assert options.chat_template is False
    assert options.columns == {"question": "prompt"}
    assert (options.min_chrf, options.batch_size) == (55.0, 8)
    assert pairs_options("embedded", None, max_new_tokens=9) == PairsOptions(max_new_tokens=9)


def test_cli_prints_counts_and_exit_codes(
    target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_dir = tmp_path / "model"  # a model folder TARGET, as `tuneforge export` writes
    target.model.save_pretrained(base_dir)
    target.tokenizer.save_pretrained(base_dir)
    data = write_jsonl(tmp_path / "sft.jsonl", SFT_ROWS[:1])
    out = tmp_path / "pairs.jsonl"
    code = pairs_command(str(base_dir), data, out, min_chrf=100.0, max_new_tokens=3)
    printed = capsys.readouterr().out
    assert code == 0
    assert f"Wrote 1 pair from 1 row to {out}" in printed
    assert "  kept: 1 below_chrf" in printed
    assert len(_read(out)) == 1

    # No chrF is below 0, and without JSON or checks nothing else makes a reply a mistake:
    # every row is dropped, the (empty) files are still written, and the exit code is 1.
    code = pairs_command(str(base_dir), data, out, min_chrf=0.0, max_new_tokens=3)
    captured = capsys.readouterr()
    assert code == 1
    assert "No row was a mistake" in captured.err
    assert out.read_text(encoding="utf-8") == ""


def test_bad_data_and_options_exit_2_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "sft.jsonl"
    data.write_text(
        json.dumps(SFT_ROWS[0]) + "\n" + json.dumps({"prompt": "no reply"}) + "\n{broken\n",
        encoding="utf-8",
    )
    out = tmp_path / "pairs.jsonl"
    # The rows are checked before any model is loaded: the target is never touched.
    assert pairs_command("no-such-model", data, out) == 2
    err = capsys.readouterr().err
    assert f"error: {data}:2: completion: missing" in err
    assert f"error: {data}:3: json: invalid JSON" in err
    assert not out.exists()

    good = write_jsonl(tmp_path / "good.jsonl", SFT_ROWS[:1])
    assert pairs_command("embedded", good, out, min_chrf=101.0) == 2
    assert "--min-chrf must be in [0, 100], got 101.0" in capsys.readouterr().err
    assert pairs_command(str(tmp_path / "nowhere"), good, out) == 2
    assert "no such file or folder; expected a run directory" in capsys.readouterr().err


def test_a_run_directory_brings_its_checks_and_prompt(
    target: Target, base_dir: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    train = write_jsonl(tmp_path / "sft.jsonl", SFT_ROWS)
    config = {
        "method": "sft",
        "model": str(base_dir),
        "output": str(run),
        "data": {"train": str(train), "system_prompt": "Answer briefly."},
        "eval": {"checks": [{"name": "short", "max_words": 40}]},
    }
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    target.model.save_pretrained(run / "final")  # a full fine-tuning run's final model
    out = tmp_path / "pairs.jsonl"
    args = ["pairs", str(run), "--data", str(train), "--out", str(out), "--min-chrf", "100"]
    result = CliRunner().invoke(app, [*args, "--max-new-tokens", str(STEPS)])
    assert result.exit_code == 0, result.output
    assert "Wrote 3 pairs from 3 rows" in result.output
    # The run's own system prompt (its data.system_prompt) renders the prompts.
    loaded = load_target(run)
    assert loaded.system_prompt == "Answer briefly."
    prompts = ["Hi", CONVERSATION[:3], "Where is my parcel?"]
    assert [row["rejected"] for row in _read(out)] == [_greedy_reply(loaded, p) for p in prompts]
    assert json.loads(summary_path(out).read_text(encoding="utf-8"))["checks"] == ["short"]
