"""`tuneforge chat` over a pipe: streamed replies, commands, context trimming, --compare base."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
import yaml
from transformers import PreTrainedTokenizerBase

from helpers import talkative_tiny_model, write_jsonl
from tuneforge.cli import chat_command
from tuneforge.config import LoraConfig
from tuneforge.data.render import RenderSettings
from tuneforge.evaluate.inference.generate import prompt_ids
from tuneforge.models import attach_lora
from tuneforge.run.chat import chat
from tuneforge.run.generate import GenerateOptions, generate_file
from tuneforge.target import Target

STEPS = 4


@pytest.fixture()
def target(embedded_tokenizer: PreTrainedTokenizerBase) -> Target:
    model = talkative_tiny_model(embedded_tokenizer)
    return Target("tiny", embedded_tokenizer, model, RenderSettings(system_prompt="Be brief."))


def _chat(target: Target, lines: list[str], **options: object) -> tuple[object, str, str]:
    out, info = io.StringIO(), io.StringIO()
    session = chat(target, lines, max_new_tokens=STEPS, out=out, info=info, **options)
    return session, out.getvalue(), info.getvalue()


def _tokens(target: Target, messages: list[dict], system: str | None) -> int:
    render = RenderSettings(system_prompt=system)
    return len(prompt_ids(messages, target.tokenizer, render))


def test_chat_over_a_pipe_with_reset_system_and_exit(target: Target) -> None:
    lines = [
        "Hello there",
        "What can you do?",
        "/reset",
        "Again",
        "/system Answer in French.",
        "Bonjour",
        "/exit",
        "never answered",
    ]
    session, out, info = _chat(target, lines)
    messages = session.conversation.messages
    # After /reset only "Again" and "Bonjour" (with their replies) remain; /exit ends the input.
    assert [m["content"] for m in messages if m["role"] == "user"] == ["Again", "Bonjour"]
    assert session.system_prompt == "Answer in French."
    # The last prompt was the two-turn conversation under the new system prompt.
    expected = _tokens(target, [*messages[:3]], "Answer in French.")
    assert session.conversation.last_prompt_tokens == expected
    # Every reply was streamed to the output as it came, and equals what generate writes.
    replies = [m["content"] for m in messages if m["role"] == "assistant"]
    assert all(replies) and all(reply in out for reply in replies)
    assert len(out.strip().splitlines()) == 4
    assert "(conversation reset)" in info and "system prompt set: Answer in French." in info


def test_a_chat_reply_equals_the_generate_output(target: Target, tmp_path: Path) -> None:
    session, _, _ = _chat(target, ["Where is my parcel?"])
    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": "Where is my parcel?"}])
    generate_file(target, data, tmp_path / "out.jsonl", GenerateOptions(max_new_tokens=STEPS))
    written = (tmp_path / "out.jsonl").read_text(encoding="utf-8")
    assert f'"output": "{session.conversation.messages[1]["content"]}"' in written


def test_old_turns_are_dropped_to_fit_the_context(target: Target) -> None:
    one_turn = _tokens(target, [{"role": "user", "content": "Message number 1"}], "Be brief.")
    target.model.config.max_position_embeddings = one_turn + 30 + STEPS
    lines = [f"Message number {i}" for i in range(1, 7)]
    session, _, info = _chat(target, lines)
    conversation = session.conversation
    assert conversation.dropped_turns > 0 and "dropped the oldest turn" in info
    assert conversation.last_prompt_tokens <= target.context_length - STEPS
    assert conversation.messages[0]["role"] == "user"  # whole turns go, the system stays
    assert conversation.messages[-2]["content"] == "Message number 6"


def test_compare_base_answers_with_the_adapter_off(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    base = talkative_tiny_model(embedded_tokenizer)
    tuned = attach_lora(talkative_tiny_model(embedded_tokenizer), LoraConfig(r=2, alpha=4))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # a non-zero adapter, so tuned and base answer differently
        for name, param in tuned.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator))
    run = Target("run", embedded_tokenizer, tuned.eval(), RenderSettings(system_prompt="Hi."))
    plain = Target("base", embedded_tokenizer, base, RenderSettings(system_prompt="Hi."))
    session, out, _ = _chat(run, ["Hello", "Thanks"], compare="base")
    tuned_side, base_side = session.sides
    expected, _, _ = _chat(plain, ["Hello", "Thanks"])
    assert base_side.messages == expected.conversation.messages  # the adapter was off
    assert tuned_side.messages != base_side.messages
    assert out.count("[tuned] ") == 2 and out.count("[base] ") == 2


def test_chat_errors(target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exception, match="--compare base needs a run directory"):
        _chat(target, ["Hi"], compare="base")
    assert chat_command(str(tmp_path), lines=[]) == 2
    assert "neither config.yaml nor config.json inside" in capsys.readouterr().err
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"method": "sft"}), encoding="utf-8")
    assert chat_command(str(run), lines=[]) == 2
    assert "a run directory without final/" in capsys.readouterr().err
    assert chat_command("embedded", compare="other", lines=[]) == 2
    assert "--compare takes 'base'" in capsys.readouterr().err
