"""target.py: a run directory, a model folder or `embedded`; anything else is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from transformers import PreTrainedTokenizerBase
from typer.testing import CliRunner

from helpers import write_jsonl
from tuneforge.cli import app, chat_command
from tuneforge.config import LoraConfig
from tuneforge.errors import TuneforgeError
from tuneforge.models import attach_lora, build_tiny_model, is_peft
from tuneforge.target import load_target


def _run(tmp_path: Path, base: Path, name: str, **data: object) -> Path:
    run = tmp_path / name
    run.mkdir()
    train = write_jsonl(tmp_path / "train.jsonl", [{"prompt": "a", "completion": "b"}] * 4)
    config = {
        "method": "sft",
        "model": str(base),
        "output": str(run),
        "data": {"train": str(train), **data},
        "eval": {"tuned_system_prompt": "Route it."},
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return run


def test_a_lora_run_is_its_adapter_with_the_run_prompt(
    tmp_path: Path, base_dir: Path, embedded_tokenizer: PreTrainedTokenizerBase, capsys
) -> None:
    run = _run(tmp_path, base_dir, "lora", system_prompt="Long prompt.", chat_template=False)
    attach_lora(build_tiny_model(embedded_tokenizer, seed=0), LoraConfig(r=2)).save_pretrained(
        run / "final"
    )
    target = load_target(run)
    assert is_peft(target.model) and target.has_base and target.base is None
    assert target.system_prompt == "Route it."  # eval.tuned_system_prompt wins
    assert target.render.chat_template is False and target.run_dir == run
    assert load_target(run, system_prompt="").system_prompt is None

    data = write_jsonl(tmp_path / "in.jsonl", [{"prompt": "Hi", "id": 7}])
    out = tmp_path / "out.jsonl"
    args = ["generate", str(run), "--data", str(data), "--out", str(out), "--max-new-tokens", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["id"] == 7 and isinstance(row["output"], str)

    code = chat_command(str(run), compare="base", max_new_tokens=3, lines=["Hello", "/exit"])
    captured = capsys.readouterr()
    assert code == 0 and "[tuned] " in captured.out and "[base] " in captured.out
    assert "system prompt: 'Route it.'" in captured.err


def test_a_full_run_and_a_model_folder(
    tmp_path: Path, base_dir: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    run = _run(tmp_path, base_dir, "full")
    build_tiny_model(embedded_tokenizer, seed=1).save_pretrained(run / "final")
    target = load_target(run, with_base=True)
    assert not is_peft(target.model) and target.base is not None and target.has_base
    assert target.context_length == 2048
    folder = load_target(base_dir)
    assert folder.system_prompt is None and not folder.has_base and folder.run_dir is None


def test_what_is_not_a_target(tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase) -> None:
    with pytest.raises(TuneforgeError, match="no such file or folder; expected a run directory"):
        load_target(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    with pytest.raises(TuneforgeError, match="is a file; expected a run directory"):
        load_target(tmp_path / "file.txt")
    with pytest.raises(TuneforgeError, match="neither config.yaml nor config.json inside"):
        load_target(tmp_path)
    adapter = tmp_path / "adapter"
    attach_lora(build_tiny_model(embedded_tokenizer, seed=0), LoraConfig(r=2)).save_pretrained(
        adapter
    )
    with pytest.raises(TuneforgeError, match="LoRA adapter but no run config"):
        load_target(adapter)
