"""SFT: the pure loss, collate options, and step on a tiny random Llama."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from transformers import PreTrainedModel

from tuneforge.config import parse_config
from tuneforge.data.collate import model_inputs
from tuneforge.data.tokenize import IGNORE_INDEX, TokenizedPair, TokenizedSFT
from tuneforge.data.types import Origin
from tuneforge.errors import ConfigError
from tuneforge.methods import METHODS, build_method
from tuneforge.methods import sft as sft_module
from tuneforge.methods.logps import token_logps
from tuneforge.methods.sft import SFTMethod, SFTSection, sft_token_losses

M = IGNORE_INDEX
PAD = 2
ORIGIN = Origin("x.jsonl", 1)


def sft(ids: list[int], labels: list[int]) -> TokenizedSFT:
    """A tokenised SFT example."""
    return TokenizedSFT(ORIGIN, ids, labels)


# Three examples of different lengths, prompt tokens unlearned.
ITEMS = [
    sft([101, 102, 103, 104, 105, 106], [M, M, M, 104, 105, 106]),
    sft([201, 202, 203], [M, 202, 203]),
    sft([301, 302, 303, 304, 305, 306, 307, 308, 309], [M, M, M, M, 305, 306, 307, 308, 309]),
]


def method(*, packing: bool = False, completion_only: bool = True) -> SFTMethod:
    """An SFTMethod with the given section settings."""
    return SFTMethod(SFTSection(packing=packing, completion_only=completion_only))


def grad_of(model: PreTrainedModel, loss: torch.Tensor) -> torch.Tensor:
    """Gradient of ``loss`` on the first layer's query projection (grads cleared first)."""
    model.zero_grad(set_to_none=True)
    loss.backward()
    weight = model.model.layers[0].self_attn.q_proj.weight
    assert weight.grad is not None
    return weight.grad.clone()


class FixedLogits(torch.nn.Module):
    """A stand-in causal LM whose forward returns the given logits, whatever the inputs."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.fixed = logits

    def forward(self, **inputs: object) -> SimpleNamespace:
        return SimpleNamespace(logits=self.fixed)


def test_sft_token_losses_hand_computed() -> None:
    ln2 = math.log(2.0)
    model = FixedLogits(torch.tensor([[[0.0, 0.0, 0.0], [ln2, 0.0, 0.0], [9.0, 9.0, 9.0]]]))
    inputs = {"input_ids": torch.tensor([[0, 1, 0]])}
    # -log(1/3) for label 1 at position 0, -log(1/2) for label 0 at position 1.
    losses, mask = sft_token_losses(model, inputs, torch.tensor([[M, 1, 0]]))
    torch.testing.assert_close(losses, torch.tensor([[math.log(3.0), ln2]]))
    torch.testing.assert_close(losses.sum(), torch.tensor(math.log(6.0)))
    assert mask.all()
    losses, mask = sft_token_losses(model, inputs, torch.tensor([[M, M, 0]]))
    torch.testing.assert_close(losses, torch.tensor([[0.0, ln2]]))
    assert not torch.signbit(losses[0, 0])  # +0.0, not -0.0


@pytest.mark.parametrize("packing", [False, True])
def test_step_sums_sft_token_losses(tiny_model: PreTrainedModel, packing: bool) -> None:
    """The loss step returns is the sum of `sft_token_losses` (the tested function)."""
    sft_method = method(packing=packing)
    batch = sft_method.collate(ITEMS, PAD)
    losses, mask = sft_token_losses(tiny_model, model_inputs(batch), batch["labels"])
    assert int(mask.sum()) == sft_method.count_units(batch)
    step = sft_method.step(tiny_model, batch, None)
    torch.testing.assert_close(step.loss_sum, losses.sum())
    # And it is the NLL of the full logits (the head-on-learned-positions path changes nothing).
    logits = tiny_model(**model_inputs(batch), use_cache=False).logits
    full, _ = token_logps(logits, batch["labels"])
    torch.testing.assert_close(step.loss_sum, -full.sum(), atol=1e-5, rtol=1e-5)


def test_method_attributes_and_units() -> None:
    sft_method = method()
    assert sft_method.name == "sft"
    assert sft_method.needs_reference is False
    # Learned after the shift: 3 + 2 + 5.
    assert sft_method.count_units(sft_method.collate(ITEMS, PAD)) == 10
    assert method(packing=True).count_units(method(packing=True).collate(ITEMS, PAD)) == 10


def test_completion_only_false_learns_prompt_tokens() -> None:
    full = method(completion_only=False)
    batch = full.collate(ITEMS, PAD)
    # Every real token is a label, padding is not: (6-1) + (3-1) + (9-1).
    assert full.count_units(batch) == 15
    real = batch["attention_mask"].bool()
    assert torch.equal(batch["labels"][real], batch["input_ids"][real])
    assert (batch["labels"][~real] == M).all()
    packed = method(packing=True, completion_only=False)
    assert packed.count_units(packed.collate(ITEMS, PAD)) == 15


def test_collate_refuses_other_records() -> None:
    pair = TokenizedPair(ORIGIN, [1], [2], [3])
    with pytest.raises(TypeError, match="TokenizedSFT"):
        method().collate([pair], PAD)


def test_right_padding_does_not_change_the_loss(tiny_model: PreTrainedModel) -> None:
    sft_method = method()
    short = ITEMS[1]
    alone = sft_method.step(tiny_model, sft_method.collate([short], PAD), None)
    # The longer neighbour learns nothing, so the batch loss is the short example's alone.
    silent = sft(ITEMS[2].input_ids, [M] * len(ITEMS[2].input_ids))
    padded = sft_method.step(tiny_model, sft_method.collate([short, silent], PAD), None)
    assert padded.tokens == 3 + 9
    torch.testing.assert_close(padded.loss_sum, alone.loss_sum, atol=1e-5, rtol=0)
    # And the batch loss is the sum of the examples' losses.
    separate = sum(
        sft_method.step(tiny_model, sft_method.collate([item], PAD), None).loss_sum
        for item in ITEMS
    )
    batch = sft_method.step(tiny_model, sft_method.collate(ITEMS, PAD), None)
    torch.testing.assert_close(batch.loss_sum, separate, atol=1e-5, rtol=0)


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
def test_packed_equals_padded(tiny_model: PreTrainedModel, attn_implementation: str) -> None:
    tiny_model.set_attn_implementation(attn_implementation)
    padded_method, packed_method = method(), method(packing=True)
    padded_batch = padded_method.collate(ITEMS, PAD)
    packed_batch = packed_method.collate(ITEMS, PAD)
    assert packed_batch["input_ids"].shape == (1, 18)
    padded = padded_method.step(tiny_model, padded_batch, None)
    padded_grad = grad_of(tiny_model, padded.loss_sum)
    packed = packed_method.step(tiny_model, packed_batch, None)
    packed_grad = grad_of(tiny_model, packed.loss_sum)
    assert packed.tokens == padded.tokens == 18
    assert packed_method.count_units(packed_batch) == padded_method.count_units(padded_batch)
    torch.testing.assert_close(packed.loss_sum, padded.loss_sum, atol=1e-5, rtol=0)
    torch.testing.assert_close(packed_grad, padded_grad, atol=1e-5, rtol=0)
    assert padded_grad.abs().sum() > 0


def test_all_masked_batch_gives_exact_zero(tiny_model: PreTrainedModel) -> None:
    items = [sft(item.input_ids, [M] * len(item.input_ids)) for item in ITEMS]
    for sft_method in (method(), method(packing=True)):
        batch = sft_method.collate(items, PAD)
        assert sft_method.count_units(batch) == 0
        out = sft_method.step(tiny_model, batch, None)
        assert out.loss_sum.item() == 0.0
        assert out.loss_sum.requires_grad
        tiny_model.zero_grad(set_to_none=True)
        out.loss_sum.backward()
        grads = [p.grad for p in tiny_model.parameters() if p.grad is not None]
        assert all(torch.isfinite(g).all() and not g.any() for g in grads)


def test_completion_only_false_loss_covers_prompt(tiny_model: PreTrainedModel) -> None:
    full = method(completion_only=False)
    as_labels = [sft(item.input_ids, list(item.input_ids)) for item in ITEMS]
    expected = method().step(tiny_model, method().collate(as_labels, PAD), None).loss_sum
    got = full.step(tiny_model, full.collate(ITEMS, PAD), None).loss_sum
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    completion = method().step(tiny_model, method().collate(ITEMS, PAD), None).loss_sum
    assert got > completion


def test_registry_builds_sft() -> None:
    config = parse_config({"method": "sft", "data": {"train": "x.jsonl"}})
    assert METHODS["sft"].build is sft_module.build and METHODS["sft"].section is SFTSection
    built = build_method(config)
    assert isinstance(built, SFTMethod)
    assert built.section == config.sft
    assert built.section.completion_only is True and built.section.packing is False


def test_config_rejects_unknown_method() -> None:
    message = r"method: must be one of sft, dpo, orpo, kto \(got 'nope'\)"
    with pytest.raises(ConfigError, match=message):
        parse_config({"method": "nope", "data": {"train": "x.jsonl"}})
