"""models.py: attaching a LoRA adapter and loading a trained one back, quietly."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
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


class FakeDDP(torch.nn.Module):
    """Stands in for DistributedDataParallel: the wrapped model under ``.module``."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module


def test_wrapper_helpers_look_through_ddp_and_peft(tiny_model: PreTrainedModel) -> None:
    from tuneforge.models import base_model, is_peft, model_family, packable, unwrap

    assert unwrap(tiny_model) is tiny_model and base_model(tiny_model) is tiny_model
    assert not is_peft(tiny_model)
    torch.manual_seed(0)
    adapted = attach_lora(tiny_model, LoraConfig(r=4, alpha=8, dropout=0.0))
    wrapped = FakeDDP(adapted)
    assert unwrap(wrapped) is adapted and is_peft(adapted) and not is_peft(wrapped)
    assert base_model(wrapped) is tiny_model and base_model(adapted) is tiny_model
    assert model_family(wrapped) == "llama" and packable(wrapped) and packable(adapted)
    assert model_family(torch.nn.Linear(2, 2)) is None and not packable(torch.nn.Linear(2, 2))


def test_adapter_disabled_gives_the_base_model_and_restores_the_mode(
    tiny_model: PreTrainedModel, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    from tuneforge.models import adapter_disabled

    ids = torch.tensor([[1, 5, 9, 13, 2]])
    with torch.no_grad():
        base_logits = build_tiny_model(embedded_tokenizer, seed=0)(input_ids=ids).logits
    torch.manual_seed(0)
    adapted = attach_lora(tiny_model, LoraConfig(r=4, alpha=8, dropout=0.0))
    with torch.no_grad():
        for name, param in adapted.named_parameters():
            if "lora_B" in name:
                param.fill_(0.01)
    adapted.train()
    with adapter_disabled(adapted) as model:
        assert model is adapted and not model.training and not torch.is_grad_enabled()
        torch.testing.assert_close(model(input_ids=ids).logits, base_logits)
    assert adapted.training and torch.is_grad_enabled()
    assert not torch.allclose(adapted.eval()(input_ids=ids).logits.detach(), base_logits)
    # A model without an adapter is itself, in eval mode without gradients; the mode returns.
    plain = torch.nn.Linear(2, 2).train()
    with pytest.raises(RuntimeError, match="inside"), adapter_disabled(plain) as model:
        assert model is plain and not plain.training and not torch.is_grad_enabled()
        raise RuntimeError("inside")
    assert plain.training
