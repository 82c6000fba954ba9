"""`tuneforge export` on tiny random runs: merged HF folder, GGUF round trip, verification."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM, PreTrainedTokenizerBase
from typer.testing import CliRunner

from helpers import write_jsonl
from tuneforge.cli import app
from tuneforge.config import LoraConfig
from tuneforge.errors import TuneforgeError
from tuneforge.export import export_run
from tuneforge.export.gguf import UnsupportedExport, check_architecture
from tuneforge.models import attach_lora, build_tiny_model, load_adapter, merged_model

ROWS = [
    ("Where is my parcel?", "shipping"),
    ("I was charged twice this month.", "billing"),
    ("The app crashes when I open settings.", "technical"),
    ("Please close my account.", "cancellation"),
]
QUICK = {"samples": 3, "max_new_tokens": 12}


def _run_dir(tmp_path: Path, tokenizer: PreTrainedTokenizerBase, *, lora: bool) -> Path:
    """A finished run: config.yaml and final/ (a trained-looking LoRA adapter, or a full model)."""
    base = tmp_path / "base"
    if not base.is_dir():
        build_tiny_model(tokenizer, seed=0).save_pretrained(base)
        tokenizer.save_pretrained(base)
    run = tmp_path / ("lora" if lora else "full")
    run.mkdir()
    rows = [{"prompt": p, "completion": c} for p, c in ROWS]
    config = {
        "method": "sft",
        "model": str(base),
        "output": str(run),
        "data": {
            "train": str(write_jsonl(tmp_path / "train.jsonl", rows * 3)),
            "eval": str(write_jsonl(tmp_path / "eval.jsonl", rows)),
            "system_prompt": "Route it.",
        },
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    if lora:
        model = attach_lora(build_tiny_model(tokenizer, seed=0), LoraConfig(r=2, alpha=4))
        generator = torch.Generator().manual_seed(1)
        for name, parameter in model.named_parameters():
            if "lora_B" in name:  # a fresh adapter is the identity: make it change the model
                parameter.data = torch.randn(parameter.shape, generator=generator) * 0.5
    else:
        model = build_tiny_model(tokenizer, seed=1)
    model.save_pretrained(run / "final")
    tokenizer.save_pretrained(run / "final")
    return run


def test_lora_export_merges_and_answers_like_the_adapter_run(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    run = _run_dir(tmp_path, embedded_tokenizer, lora=True)
    out = tmp_path / "export"
    result = export_run(run, out, gguf="f32", ollama=True, **QUICK)
    assert result.passed, result.verdict
    formats = result.document["verification"]["formats"]
    for name in ("hf", "gguf-f32"):
        check = formats[name]
        assert check["identical_outputs"] == check["prompts"] == 3
        assert check["identical_tokens"] == 3 and check["max_logprob_diff"] < 1e-3
    written = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json"} <= (
        written
    )
    assert {"model.gguf", "Modelfile", "export.json"} <= written
    assert "adapter_config.json" not in written
    on_disk = json.loads((out / "export.json").read_text(encoding="utf-8"))
    assert on_disk["adapter_merged"] is True and on_disk["verification"]["passed"] is True
    end_of_turn = embedded_tokenizer.convert_tokens_to_ids("<|im_end|>")
    generation = json.loads((out / "generation_config.json").read_text(encoding="utf-8"))
    assert generation["eos_token_id"] == end_of_turn and generation["do_sample"] is False
    assert 'SYSTEM """Route it."""' in (out / "Modelfile").read_text(encoding="utf-8")

    # The folder loads in plain transformers and computes the adapter run's logits.
    exported = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    adapter_run = load_adapter(build_tiny_model(embedded_tokenizer, seed=0), run / "final")
    ids = torch.tensor([embedded_tokenizer("Where is my parcel? Route it.")["input_ids"]])
    with torch.no_grad():
        expected = adapter_run.eval()(input_ids=ids).logits
        got = exported(input_ids=ids).logits
    assert torch.allclose(got, expected, atol=1e-5, rtol=1e-5)
    assert (got.argmax(-1) == expected.argmax(-1)).all()


def test_merged_model_of_a_full_run_is_the_model_as_it_is(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    run = _run_dir(tmp_path, embedded_tokenizer, lora=False)
    model = merged_model(run / "final", str(tmp_path / "base"))
    expected = build_tiny_model(embedded_tokenizer, seed=1).state_dict()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in expected.items())
    result = export_run(run, tmp_path / "export", gguf="f16", **QUICK)
    assert result.passed, result.verdict
    assert result.document["adapter_merged"] is False
    gguf_check = result.document["verification"]["formats"]["gguf-f16"]
    assert gguf_check["identical_outputs"] == 3 and gguf_check["max_logprob_diff"] < 0.1


def test_export_errors_are_clear(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    run = _run_dir(tmp_path, embedded_tokenizer, lora=False)
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.yaml").write_text((run / "config.yaml").read_text())
    result = CliRunner().invoke(app, ["export", str(unfinished), "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "no final/ folder" in result.output
    assert not (tmp_path / "x").exists()
    with pytest.raises(TuneforgeError, match="--ollama needs --gguf"):
        export_run(run, tmp_path / "y", ollama=True)
    with pytest.raises(TuneforgeError, match="unknown type; choose one of f32, f16"):
        export_run(run, tmp_path / "y", gguf="q4_k_m")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(TuneforgeError, match="not empty and holds no earlier export"):
        export_run(run, foreign)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_unsupported_architecture_names_the_supported_ones(tmp_path: Path) -> None:
    from transformers import Qwen2Config

    with pytest.raises(UnsupportedExport, match="'qwen2' architecture; supported: llama"):
        check_architecture(Qwen2Config())
    from transformers import LlamaConfig

    assert check_architecture(LlamaConfig()) == "LLAMA"


def test_cli_exit_codes_follow_the_verdict(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _run_dir(tmp_path, embedded_tokenizer, lora=True)
    out = tmp_path / "export"
    args = ["export", str(run), "--out", str(out), "--samples", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "export verified: hf 2/2 identical" in result.output
    # An export that differs beyond its tolerance is written, reported and exits 1.
    monkeypatch.setitem(__import__("tuneforge.export.verify").export.verify.TOLERANCES, "hf", -1)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "export verification FAILED" in result.output
    assert json.loads((out / "export.json").read_text())["verification"]["passed"] is False
    skipped = CliRunner().invoke(app, [*args, "--no-verify"])
    assert skipped.exit_code == 0 and "verification skipped" in skipped.output


@pytest.mark.slow
def test_embedded_model_gguf_round_trip(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    """The real embedded model (Llama, tied embeddings, ChatML) through f16 GGUF and back."""
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"prompt": p, "completion": c} for p, c in ROWS]
    config = {
        "method": "sft",
        "model": "embedded",
        "output": str(run),
        "data": {
            "train": str(write_jsonl(tmp_path / "train.jsonl", rows * 3)),
            "eval": str(write_jsonl(tmp_path / "eval.jsonl", rows)),
            "system_prompt": "Route each support message to one team.",
        },
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    from tuneforge.models import load_model

    model = attach_lora(load_model("embedded"), LoraConfig(r=4, alpha=8))
    model.save_pretrained(run / "final")
    embedded_tokenizer.save_pretrained(run / "final")
    result = export_run(run, tmp_path / "export", gguf="f16", samples=2, max_new_tokens=16)
    assert result.passed, result.verdict
    check = result.document["verification"]["formats"]["gguf-f16"]
    assert check["identical_tokens"] == 2 and check["identical_outputs"] == 2
