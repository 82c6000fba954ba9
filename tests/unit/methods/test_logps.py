"""The shared shift-and-mask against hand-computed values and a log_softmax reference."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from tuneforge.data.tokenize import IGNORE_INDEX
from tuneforge.methods.logps import sequence_logps, token_logps

M = IGNORE_INDEX
LN2, LN3 = math.log(2.0), math.log(3.0)


def tiny_logits() -> torch.Tensor:
    """(1, 3, 3): row 0 uniform; row 1 gives token 0 probability 1/2, tokens 1 and 2 1/4."""
    return torch.tensor([[[0.0, 0.0, 0.0], [LN2, 0.0, 0.0], [5.0, -1.0, 2.0]]])


def test_hand_computed_values() -> None:
    # Position 0 predicts label 1 (p = 1/3); position 1 predicts label 0 (p = 1/2).
    logps, mask = token_logps(tiny_logits(), torch.tensor([[M, 1, 0]]))
    assert mask.tolist() == [[True, True]]
    assert logps.dtype == torch.float32
    torch.testing.assert_close(logps, torch.tensor([[-LN3, -LN2]]))


def test_masked_positions_are_exactly_zero() -> None:
    # The first label is never predicted (nothing before it); position 0 predicts a masked one.
    logps, mask = token_logps(tiny_logits(), torch.tensor([[2, M, 2]]))
    assert mask.tolist() == [[False, True]]
    torch.testing.assert_close(logps, torch.tensor([[0.0, -2 * LN2]]))
    assert logps[0, 0].item() == 0.0


def test_sequence_logps_sums_and_counts() -> None:
    logits = tiny_logits().repeat(2, 1, 1)
    sums, counts = sequence_logps(logits, torch.tensor([[M, 1, 0], [M, M, 1]]))
    torch.testing.assert_close(sums, torch.tensor([-LN3 - LN2, -2 * LN2]))
    assert counts.tolist() == [2, 1]


def test_matches_log_softmax_reference() -> None:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 6, 7, generator=generator)
    labels = torch.randint(0, 7, (3, 6), generator=generator)
    labels[0, :3] = M
    labels[1, 4:] = M
    labels[2, :] = M
    logps, mask = token_logps(logits, labels)
    shift_labels = labels[:, 1:]
    expected_mask = shift_labels != M
    reference = (
        torch.log_softmax(logits[:, :-1], dim=-1)
        .gather(-1, shift_labels.clamp(min=0).unsqueeze(-1))
        .squeeze(-1)
        * expected_mask
    )
    assert torch.equal(mask, expected_mask)
    torch.testing.assert_close(logps, reference)


def test_bf16_logits_are_upcast() -> None:
    generator = torch.Generator().manual_seed(1)
    logits = (torch.randn(2, 5, 11, generator=generator) * 4).bfloat16()
    labels = torch.randint(0, 11, (2, 5), generator=generator)
    logps, _ = token_logps(logits, labels)
    assert logps.dtype == torch.float32
    reference = torch.log_softmax(logits.float()[:, :-1], -1).gather(-1, labels[:, 1:, None])
    torch.testing.assert_close(logps, reference.squeeze(-1))


def test_gradient_flows_and_all_masked_gives_zero() -> None:
    logits = torch.randn(2, 4, 5, requires_grad=True)
    logps, mask = token_logps(logits, torch.full((2, 4), M))
    assert not mask.any()
    total = logps.sum()
    assert total.item() == 0.0
    total.backward()
    assert logits.grad is not None
    assert torch.equal(logits.grad, torch.zeros_like(logits))


def test_gradient_matches_reference() -> None:
    generator = torch.Generator().manual_seed(2)
    logits = torch.randn(2, 5, 7, generator=generator)
    labels = torch.randint(0, 7, (2, 5), generator=generator)
    labels[1, 2:] = M
    ours = logits.clone().requires_grad_()
    token_logps(ours, labels)[0].sum().backward()
    ref = logits.clone().requires_grad_()
    mask = labels[:, 1:] != M
    (
        torch.log_softmax(ref[:, :-1], -1)
        .gather(-1, labels[:, 1:].clamp(min=0)[..., None])
        .squeeze(-1)
        .mul(mask)
        .sum()
        .backward()
    )
    torch.testing.assert_close(ours.grad, ref.grad)


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="expected logits"):
        token_logps(torch.zeros(1, 3, 4), torch.zeros(1, 4, dtype=torch.long))


def test_model_token_logps_matches_full_logits_with_and_without_lora(
    embedded_tokenizer: Any,
) -> None:
    from tuneforge.config import LoraConfig
    from tuneforge.methods.logps import _head_and_decoder, model_token_logps
    from tuneforge.models import attach_lora, build_tiny_model

    torch.manual_seed(0)
    plain = build_tiny_model(embedded_tokenizer, seed=0)
    adapted = attach_lora(build_tiny_model(embedded_tokenizer, seed=0), LoraConfig(r=4))
    for name, parameter in adapted.named_parameters():
        if "lora_B" in name:  # a non-zero adapter, so the LoRA path really contributes
            torch.nn.init.normal_(parameter, std=0.1)
    input_ids = torch.tensor([[1, 4093, 198, 26843, 2, 198], [1, 520, 9531, 198, 2, 2]])
    attention_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    labels = torch.tensor([[-100, -100, -100, 26843, 2, 198], [-100, -100, 9531, 198, -100, -100]])
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    for model in (plain, adapted):
        model.eval()
        assert _head_and_decoder(model) is not None
        fast, fast_mask = model_token_logps(model, inputs, labels)
        full, full_mask = token_logps(model(**inputs, use_cache=False).logits, labels)
        assert torch.equal(fast_mask, full_mask)
        torch.testing.assert_close(fast, full, atol=1e-5, rtol=1e-5)
    plain.config.model_type = "gemma2"  # soft-capped logits: must use the full-logits path
    assert _head_and_decoder(plain) is None
    fallback, _ = model_token_logps(plain, inputs, labels)
    plain.config.model_type = "llama"
    reference, _ = token_logps(plain(**inputs, use_cache=False).logits, labels)
    torch.testing.assert_close(fallback, reference, atol=1e-5, rtol=1e-5)


def padded_rows(lengths: list[int], prompt: list[int], seed: int) -> tuple[torch.Tensor, ...]:
    """Right-padded (R, T) ids, attention mask and completion labels (T = longest + 2)."""
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths) + 2
    input_ids = torch.randint(3, 2000, (len(lengths), width), generator=generator)
    attention_mask = (torch.arange(width)[None] < torch.tensor(lengths)[:, None]).long()
    input_ids = input_ids.masked_fill(attention_mask == 0, 2)  # the pad id, also EOS
    labels = input_ids.masked_fill(attention_mask == 0, M)
    for row, count in enumerate(prompt):
        labels[row, :count] = M
    return input_ids, attention_mask, labels


@pytest.mark.parametrize("capacity", [None, 16, 12])
def test_packed_token_logps_equal_the_padded_rows(tiny_model: Any, capacity: int | None) -> None:
    """Packed into one row (default capacity) or several first-fit rows, values and grads agree."""
    from tuneforge.methods.logps import model_token_logps, pack_rows, packed_token_logps

    # Six sequences, one of a single token (nothing to predict), one longer than capacity 12
    # (a row of its own); rows of 12 or 16 tokens leave padded tails.
    lengths = [7, 3, 13, 5, 9, 1]
    input_ids, attention_mask, labels = padded_rows(lengths, [2, 1, 4, 0, 3, 0], seed=3)
    rows = pack_rows(lengths, max(capacity or 1024, *lengths))
    assert len(rows) == 1 if capacity is None else len(rows) == 3
    shapes: list[tuple[int, ...]] = []
    hook = tiny_model.model.register_forward_hook(
        lambda module, args, kwargs, output: shapes.append(tuple(kwargs["input_ids"].shape)),
        with_kwargs=True,
    )
    try:
        tiny_model.zero_grad(set_to_none=True)
        packed, packed_mask = packed_token_logps(
            tiny_model, input_ids, attention_mask, labels, capacity=capacity
        )
        packed.sum().backward()
    finally:
        hook.remove()
    packed_grad = tiny_model.model.layers[0].self_attn.q_proj.weight.grad.clone()
    # One forward over the packed rows, as wide as the fullest one.
    assert shapes == [(len(rows), max(sum(lengths[i] for i in row) for row in rows))]
    tiny_model.zero_grad(set_to_none=True)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    padded, padded_mask = model_token_logps(tiny_model, inputs, labels)
    padded.sum().backward()
    padded_grad = tiny_model.model.layers[0].self_attn.q_proj.weight.grad.clone()
    assert packed.shape == padded.shape == (len(lengths), max(lengths) + 1)
    assert torch.equal(packed_mask, padded_mask)
    assert not packed[~packed_mask].any()  # exactly 0 off the learned positions
    torch.testing.assert_close(packed, padded, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(packed_grad, padded_grad, atol=1e-5, rtol=1e-4)


def test_batch_token_logps_packs_only_models_that_allow_it(tiny_model: Any) -> None:
    import tuneforge.methods.logps as logps_module

    input_ids, attention_mask, labels = padded_rows([4, 6, 2], [1, 2, 0], seed=4)
    seen: list[tuple[str, ...]] = []
    hook = tiny_model.model.register_forward_hook(
        lambda module, args, kwargs, output: seen.append(tuple(sorted(kwargs))), with_kwargs=True
    )
    try:
        with torch.no_grad():
            auto, _ = logps_module.batch_token_logps(tiny_model, input_ids, attention_mask, labels)
            padded, _ = logps_module.batch_token_logps(
                tiny_model, input_ids, attention_mask, labels, pack=False
            )
    finally:
        hook.remove()
    assert "position_ids" in seen[0] and "attention_mask" not in seen[0]  # a llama is packed
    assert "attention_mask" in seen[1]
    torch.testing.assert_close(auto, padded, atol=1e-5, rtol=1e-5)
