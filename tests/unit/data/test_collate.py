"""Padding and packing of token ids into exact tensors."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
import torch

from tuneforge.data.collate import LabelledIds, model_inputs, pack_sft, pad_right, pad_sft
from tuneforge.data.tokenize import IGNORE_INDEX, TokenizedSFT
from tuneforge.data.types import Origin
from tuneforge.methods.base import Batch

M = IGNORE_INDEX
PAD = 2


def sft(ids: list[int], labels: list[int]) -> TokenizedSFT:
    """A tokenised SFT example with a dummy origin."""
    return TokenizedSFT(Origin("x.jsonl", 1), ids, labels)


ITEMS = [
    sft([10, 11, 12, 13], [M, M, 12, 13]),
    sft([20, 21], [M, 21]),
    sft([30, 31, 32], [30, 31, 32]),
]


def test_pad_right_pads_to_longest() -> None:
    out = pad_right([[1, 2, 3], [4], []], pad_value=0)
    assert out.dtype == torch.long
    assert torch.equal(out, torch.tensor([[1, 2, 3], [4, 0, 0], [0, 0, 0]]))


def test_pad_right_refuses_empty_list() -> None:
    with pytest.raises(ValueError, match="empty"):
        pad_right([], pad_value=0)


def test_pad_sft_exact_tensors() -> None:
    batch = pad_sft(ITEMS, PAD)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert torch.equal(
        batch["input_ids"], torch.tensor([[10, 11, 12, 13], [20, 21, 2, 2], [30, 31, 32, 2]])
    )
    assert torch.equal(
        batch["attention_mask"], torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]])
    )
    assert torch.equal(
        batch["labels"], torch.tensor([[M, M, 12, 13], [M, 21, M, M], [30, 31, 32, M]])
    )
    assert all(tensor.dtype == torch.long for tensor in batch.values())


def test_pad_sft_mask_comes_from_lengths_not_pad_id() -> None:
    # The pad id is also EOS, a real learned token at the end of an example.
    batch = pad_sft([sft([5, PAD], [M, PAD]), sft([6], [M])], PAD)
    assert torch.equal(batch["attention_mask"], torch.tensor([[1, 1], [1, 0]]))
    assert torch.equal(batch["labels"], torch.tensor([[M, PAD], [M, M]]))


def test_pack_sft_exact_tensors() -> None:
    batch = pack_sft(ITEMS, PAD)
    assert set(batch) == {"input_ids", "labels", "position_ids", "seq_lengths"}
    assert torch.equal(batch["input_ids"], torch.tensor([[10, 11, 12, 13, 20, 21, 30, 31, 32]]))
    # Each example's first label is unlearned, even where the example had learned it (30).
    assert torch.equal(batch["labels"], torch.tensor([[M, M, 12, 13, M, 21, M, 31, 32]]))
    assert torch.equal(batch["position_ids"], torch.tensor([[0, 1, 2, 3, 0, 1, 0, 1, 2]]))
    assert torch.equal(batch["seq_lengths"], torch.tensor([4, 2, 3]))
    assert all(tensor.dtype == torch.long for tensor in batch.values())


def test_pack_sft_single_token_examples_restart_positions() -> None:
    batch = pack_sft([sft([1], [1]), sft([2], [2]), sft([3, 4], [3, 4])], PAD)
    assert torch.equal(batch["position_ids"], torch.tensor([[0, 0, 0, 1]]))
    assert torch.equal(batch["labels"], torch.tensor([[M, M, M, 4]]))


def test_model_inputs_drop_labels_and_lengths() -> None:
    assert set(model_inputs(pack_sft(ITEMS, PAD))) == {"input_ids", "position_ids"}
    assert set(model_inputs(pad_sft(ITEMS, PAD))) == {"input_ids", "attention_mask"}


@pytest.mark.parametrize("collate", [pad_sft, pack_sft])
def test_collate_refuses_mismatched_labels_and_empty_batch(
    collate: Callable[[Sequence[LabelledIds], int], Batch],
) -> None:
    with pytest.raises(ValueError, match="labels"):
        collate([sft([1, 2], [M])], PAD)
    with pytest.raises(ValueError, match="empty"):
        collate([], PAD)
