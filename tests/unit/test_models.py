"""models.py: attaching a LoRA adapter and loading a trained one back, quietly."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tuneforge.config import LoraConfig
from tuneforge.models import attach_lora, build_tiny_model, load_adapter


def test_adapter_round_trip_reproduces_the_outputs_without_library_warnings(
    tiny_model: PreTrainedModel, embedded_tokenizer: PreTrainedTokenizerBase, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tuned = attach_lora(tiny_model, LoraConfig(r=4, alpha=8, dropout=0.0))
        with torch.no_grad():  # a non-zero adapter, so the round trip is not trivially equal
            for name, param in tuned.named_parameters():
                if "lora_B" in name:
                    param.fill_(0.01)
        tuned.save_pretrained(tmp_path)
        fresh = build_tiny_model(embedded_tokenizer, seed=0)
        reloaded = load_adapter(fresh, tmp_path).eval()
    assert not [w for w in caught if "is_gradient_checkpointing" in str(w.message)]
    ids = torch.tensor([[1, 5, 9, 13, 2]])
    with torch.no_grad():
        expected = tuned.eval()(input_ids=ids).logits
        base = build_tiny_model(embedded_tokenizer, seed=0)(input_ids=ids).logits
        got = reloaded(input_ids=ids).logits
    assert not torch.allclose(expected, base)
    torch.testing.assert_close(got, expected)
