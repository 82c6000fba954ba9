"""The load-time family check: encoders and seq2seq models refused by model_type, untested
causal LMs loaded with a warning (and run unpacked), tested families loaded silently."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from transformers import (
    BertConfig,
    BertModel,
    GPT2Config,
    GPT2LMHeadModel,
    T5Config,
    T5ForConditionalGeneration,
    ViTConfig,
)

from tuneforge.errors import ModelLoadError
from tuneforge.model_families import (
    PACKED_FAMILIES,
    PLAIN_HEAD_FAMILIES,
    TESTED_FAMILIES,
    UntestedFamilyWarning,
    check_family,
    family_problem,
)
from tuneforge.models import load_model, packable


def test_tested_families_pack_and_use_the_plain_head() -> None:
    assert {"llama", "qwen2", "mistral", "gemma", "phi3"} == TESTED_FAMILIES
    assert TESTED_FAMILIES <= PACKED_FAMILIES
    assert TESTED_FAMILIES <= PLAIN_HEAD_FAMILIES
    assert "gemma2" not in PLAIN_HEAD_FAMILIES  # its logits are soft-capped


def test_seq2seq_encoder_and_headless_configs_are_refused_by_model_type() -> None:
    seq2seq = family_problem(T5Config())
    assert seq2seq is not None and seq2seq.startswith("model_type 't5' is an encoder-decoder")
    encoder = family_problem(BertConfig())
    assert encoder is not None and encoder.startswith("model_type 'bert' is an encoder")
    vision = family_problem(ViTConfig())
    assert vision == (
        "model_type 'vit' has no causal-LM architecture in transformers (AutoModelForCausalLM "
        "does not know it); tuneforge trains decoder-only causal language models"
    )
    with pytest.raises(ModelLoadError, match=r"^cannot train model 'x/y': model_type 'vit'"):
        check_family(ViTConfig(), "x/y")


def test_a_remote_code_causal_lm_is_allowed_with_a_warning() -> None:
    config = ViTConfig()
    config.auto_map = {"AutoModelForCausalLM": "modeling_mine.MineForCausalLM"}
    assert family_problem(config) is None
    with pytest.warns(UntestedFamilyWarning, match="model_type 'vit' is a causal LM"):
        check_family(config, "mine")


def test_loading_a_t5_folder_is_one_clear_line(tmp_path: Path) -> None:
    config = T5Config(vocab_size=32, d_model=8, d_ff=16, num_layers=1, num_heads=2, d_kv=4)
    T5ForConditionalGeneration(config).save_pretrained(tmp_path / "t5")
    with pytest.raises(ModelLoadError) as caught:
        load_model(str(tmp_path / "t5"))
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        f"cannot train model '{tmp_path / 't5'}': model_type 't5' is an encoder-decoder "
        "(seq2seq) model; tuneforge trains decoder-only causal language models"
    )


def test_loading_a_bert_folder_is_refused(tmp_path: Path) -> None:
    config = BertConfig(
        vocab_size=32,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
    )
    BertModel(config).save_pretrained(tmp_path / "bert")
    with pytest.raises(ModelLoadError, match="model_type 'bert' is an encoder"):
        load_model(str(tmp_path / "bert"))


def test_an_untested_causal_lm_loads_with_a_warning_and_runs_unpacked(tmp_path: Path) -> None:
    config = GPT2Config(vocab_size=32, n_embd=8, n_layer=1, n_head=2, n_positions=16)
    GPT2LMHeadModel(config).save_pretrained(tmp_path / "gpt2")
    with pytest.warns(UntestedFamilyWarning) as caught:
        model = load_model(str(tmp_path / "gpt2"))
    assert len(caught) == 1
    assert "model_type 'gpt2' is a causal LM of a family tuneforge has not tested" in str(
        caught[0].message
    )
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert not packable(model)


def test_a_tested_family_loads_without_a_warning(tmp_path: Path) -> None:
    from families import FAMILIES, save_family

    folder = save_family(FAMILIES["gemma"], tmp_path / "gemma")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UntestedFamilyWarning)
        model = load_model(str(folder))
    assert model.config.model_type == "gemma"
    assert packable(model)
