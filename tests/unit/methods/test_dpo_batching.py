"""Pair batching shared by DPO and ORPO: the collated layout and one-forward scoring."""

from __future__ import annotations

import pytest
import torch
from transformers import PreTrainedModel

from tuneforge.data.collate import model_inputs
from tuneforge.data.tokenize import IGNORE_INDEX, TokenizedPair, TokenizedSFT
from tuneforge.data.types import Origin
from tuneforge.methods.logps import token_logps
from tuneforge.methods.pairs import collate_pairs, count_pairs, pair_logps, pair_tokens

M = IGNORE_INDEX
ORIGIN = Origin("pairs.jsonl", 3)
PAIRS = [
    TokenizedPair(ORIGIN, [1, 10, 11], [20, 21, 2], [30, 2]),
    TokenizedPair(ORIGIN, [1, 12], [22, 2], [31, 32, 33, 34, 2]),
]


def test_layout_chosen_rows_then_rejected_rows() -> None:
    batch = collate_pairs(PAIRS, pad_token_id=2)
    assert batch["input_ids"].tolist() == [
        [1, 10, 11, 20, 21, 2, 2],
        [1, 12, 22, 2, 2, 2, 2],
        [1, 10, 11, 30, 2, 2, 2],
        [1, 12, 31, 32, 33, 34, 2],
    ]
    assert batch["labels"].tolist() == [
        [M, M, M, 20, 21, 2, M],
        [M, M, 22, 2, M, M, M],
        [M, M, M, 30, 2, M, M],
        [M, M, 31, 32, 33, 34, 2],
    ]
    # The mask comes from lengths: a pad id equal to EOS inside a reply stays attended.
    assert batch["attention_mask"].tolist() == [
        [1, 1, 1, 1, 1, 1, 0],
        [1, 1, 1, 1, 0, 0, 0],
        [1, 1, 1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1, 1, 1],
    ]
    assert count_pairs(batch) == 2
    assert pair_tokens(batch) == 6 + 4 + 5 + 7


def test_refuses_other_items_and_empty_replies() -> None:
    with pytest.raises(TypeError, match="TokenizedPair"):
        collate_pairs([TokenizedSFT(ORIGIN, [1, 2], [M, 2])], 2)
    with pytest.raises(ValueError, match="empty batch"):
        collate_pairs([], 2)
    with pytest.raises(ValueError, match="non-empty"):
        collate_pairs([TokenizedPair(ORIGIN, [1], [], [5])], 2)


def test_pair_logps_sum_completion_tokens_in_one_forward(tiny_model: PreTrainedModel) -> None:
    batch = collate_pairs(PAIRS, pad_token_id=2)
    calls = []
    handle = tiny_model.model.register_forward_hook(lambda *args: calls.append(1))
    try:
        logps = pair_logps(tiny_model, batch, score_chosen_prompt=True)
    finally:
        handle.remove()
    assert len(calls) == 1  # chosen and rejected rows share a single forward pass
    per_token, _ = token_logps(tiny_model(**model_inputs(batch)).logits, batch["labels"])
    sums = per_token.sum(-1)
    torch.testing.assert_close(logps.chosen, sums[:2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logps.rejected, sums[2:], atol=1e-5, rtol=1e-5)
    assert logps.chosen_tokens.tolist() == [3, 2] and logps.rejected_tokens.tolist() == [2, 5]
    torch.testing.assert_close(logps.chosen_mean(), sums[:2] / torch.tensor([3.0, 2.0]))
    # Prompt tokens after the shift: all but the first ([10, 11] and [12]).
    assert logps.chosen_prompt_tokens.tolist() == [2, 1]
    full = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, M)
    everything, _ = token_logps(tiny_model(**model_inputs(batch)).logits, full)
    torch.testing.assert_close(
        logps.chosen_prompt + logps.chosen, everything.sum(-1)[:2], atol=1e-5, rtol=1e-5
    )
    plain = pair_logps(tiny_model, batch)
    assert plain.chosen_prompt_tokens.tolist() == [0, 0]
    torch.testing.assert_close(plain.chosen, logps.chosen, atol=1e-5, rtol=1e-5)


def test_pack_rows_first_fit_longest_first() -> None:
    from tuneforge.methods.logps import pack_rows

    assert pack_rows([5, 3, 8, 2], capacity=10) == [[2, 3], [0, 1]]
    assert pack_rows([12, 3], capacity=10) == [[0], [1]]  # too long: a row of its own


@pytest.mark.parametrize("capacity", [1024, 9])
def test_packed_forward_equals_the_padded_rows(
    tiny_model: PreTrainedModel, monkeypatch: pytest.MonkeyPatch, capacity: int
) -> None:
    """Packing (one row, or several rows with padded tails at capacity 9) changes nothing."""
    import tuneforge.methods.logps as logps_module

    pairs = [*PAIRS, TokenizedPair(ORIGIN, [1, 40, 41, 42, 43], [50, 51, 52, 53, 2], [60, 2])]
    batch = collate_pairs(pairs, pad_token_id=2)
    monkeypatch.setattr(logps_module, "PACK_CAPACITY", capacity)
    results = []
    for packed in (True, False):
        monkeypatch.setattr(logps_module, "packable", lambda model, packed=packed: packed)
        tiny_model.zero_grad(set_to_none=True)
        logps = pair_logps(tiny_model, batch, score_chosen_prompt=True)
        (logps.chosen.sum() - 2 * logps.rejected.sum() + logps.chosen_prompt.sum()).backward()
        grad = tiny_model.model.layers[0].self_attn.q_proj.weight.grad.clone()
        results.append((logps, grad))
    (packed_logps, packed_grad), (padded_logps, padded_grad) = results
    for name in ("chosen", "rejected", "chosen_prompt"):
        torch.testing.assert_close(
            getattr(packed_logps, name), getattr(padded_logps, name), atol=1e-4, rtol=1e-5
        )
    assert packed_logps.chosen_tokens.tolist() == padded_logps.chosen_tokens.tolist()
    torch.testing.assert_close(packed_grad, padded_grad, atol=1e-5, rtol=1e-4)


def test_llama_is_packed(tiny_model: PreTrainedModel) -> None:
    from tuneforge.models import packable

    assert packable(tiny_model)
    assert not packable(torch.nn.Linear(2, 2))
