"""`tuneforge generate`: batched = one-at-a-time greedy, rows carried, resumable, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import PreTrainedTokenizerBase

from helpers import greedy_reference_decode, talkative_tiny_model, write_jsonl
from tuneforge.cli import generate_command
from tuneforge.data.render import RenderSettings
from tuneforge.errors import TuneforgeError
from tuneforge.evaluate.inference.generate import prompt_ids
from tuneforge.run.generate import GenerateOptions, generate_file
from tuneforge.target import Target

STEPS = 5
ROWS = [
    {"id": 1, "prompt": "Hi"},
    {"id": 2, "prompt": "Where is my parcel? It has been two weeks and nobody answers me."},
    {
        "id": 3,
        "tags": ["chat"],
        "messages": [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Cancel my order."},
        ],
    },
    {"id": 4, "prompt": "Refund?", "meta": {"source": "mail", "score": 0.5}},
    {"id": 5, "messages": [{"role": "user", "content": "Is the shop open on Sundays?"}]},
]


@pytest.fixture(scope="module")
def target(embedded_tokenizer: PreTrainedTokenizerBase) -> Target:
    """A tiny random model that answers with visible text, and a system prompt."""
    model = talkative_tiny_model(embedded_tokenizer)
    return Target("tiny", embedded_tokenizer, model, RenderSettings(system_prompt="Be brief."))


def _expected(target: Target, row: dict) -> str:
    tokenizer = target.tokenizer
    prompt = row.get("prompt", row.get("messages"))
    ids = prompt_ids(prompt, tokenizer, target.render)
    reply = greedy_reference_decode(target.model, ids, {tokenizer.eos_token_id}, STEPS)
    return tokenizer.decode(reply, skip_special_tokens=True).strip()


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("batch_size", [1, 3])
def test_generate_equals_one_at_a_time_greedy_and_carries_fields(
    target: Target, tmp_path: Path, batch_size: int
) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    options = GenerateOptions(max_new_tokens=STEPS, batch_size=batch_size)
    result = generate_file(target, data, out, options)
    assert (result.total, result.skipped, result.generated) == (5, 0, 5)
    rows = _read(out)
    assert [{k: v for k, v in r.items() if k != "output"} for r in rows] == ROWS
    assert [r["output"] for r in rows] == [_expected(target, row) for row in ROWS]
    assert all(r["output"] for r in rows)  # real text was compared


def test_resume_skips_done_rows_and_drops_a_torn_line(target: Target, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", ROWS)
    options = GenerateOptions(max_new_tokens=STEPS, batch_size=2)
    full = tmp_path / "full.jsonl"
    generate_file(target, data, full, options)
    lines = full.read_text(encoding="utf-8").splitlines(keepends=True)

    # A job killed while writing its third row: two complete lines and half of the third.
    out = tmp_path / "out.jsonl"
    out.write_text("".join(lines[:2]) + lines[2][:15], encoding="utf-8")
    seen: list[tuple[int, int]] = []
    result = generate_file(target, data, out, options, progress=lambda d, t: seen.append((d, t)))
    assert (result.skipped, result.generated) == (2, 3)
    assert seen[0] == (2, 5) and seen[-1] == (5, 5)
    assert out.read_text(encoding="utf-8") == "".join(lines)  # every row exactly once

    # Finished: nothing to do, and the model is not even needed.
    again = generate_file("no-such-model", data, out, options)
    assert (again.skipped, again.generated) == (5, 0)


def test_an_output_file_of_another_input_is_refused(target: Target, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", ROWS)
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"id": 9, "prompt": "Other", "output": "x"}) + "\n", encoding="utf-8")
    with pytest.raises(TuneforgeError, match=r"out.jsonl:1: does not match .*in.jsonl:1"):
        generate_file(target, data, out, GenerateOptions(max_new_tokens=STEPS))


def test_sampling_is_seeded_per_row(target: Target, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", ROWS)
    outputs = {}
    state = torch.random.get_rng_state()
    for name, batch_size, seed in (("a", 1, 7), ("b", 3, 7), ("c", 3, 8)):
        options = GenerateOptions(
            temperature=1.5, top_p=0.95, seed=seed, batch_size=batch_size, max_new_tokens=STEPS
        )
        generate_file(target, data, tmp_path / f"{name}.jsonl", options)
        outputs[name] = [r["output"] for r in _read(tmp_path / f"{name}.jsonl")]
    # Each row draws from its own generator: the batching does not change its sample.
    assert outputs["a"] == outputs["b"]
    assert outputs["a"] != outputs["c"]
    assert torch.equal(state, torch.random.get_rng_state())  # no global state was used


def test_bad_rows_are_reported_by_line_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text(
        "\n".join(
            [
                json.dumps({"prompt": "fine"}),
                json.dumps({"prompt": ""}),
                json.dumps({"question": "where?"}),
                "{broken",
                json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant"}]}),
                json.dumps({"messages": [{"role": "assistant", "content": "done"}]}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    # The rows are checked before any model is loaded: the target is never touched.
    code = generate_command("embedded", data, out)
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: {data}:2: prompt: must not be empty" in err
    assert f"error: {data}:3: prompt: missing 'prompt' (or 'messages' for a chat)" in err
    assert f"error: {data}:4: json: invalid JSON" in err
    assert f"error: {data}:5: messages[1]: the message has no 'content'" in err
    assert f"error: {data}:6: messages: the conversation ends with an 'assistant'" in err
    assert "5 problems; nothing was generated" in err
    assert not out.exists()


def test_bad_options_and_targets_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", ROWS[:1])
    out = tmp_path / "out.jsonl"
    assert generate_command("embedded", data, out, options=GenerateOptions(top_p=0)) == 2
    assert "--top-p must be in (0, 1]" in capsys.readouterr().err
    assert generate_command(str(tmp_path / "nowhere"), data, out) == 2
    assert "no such file or folder; expected a run directory" in capsys.readouterr().err
