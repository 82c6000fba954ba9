"""Lists of token ids → padded or packed tensors.

Pure helpers: no tokenizer, no model, no device. Methods call these from their ``collate``.

Padding (`pad_sft`) puts each example in its own row, padded on the right, with an
``attention_mask``. Packing (`pack_sft`) concatenates the examples into a single row with no
padding at all and ``position_ids`` that restart at 0 for each example. It has no
``attention_mask`` on purpose: transformers 5.24 (``masking_utils.find_packed_sequence_indices``,
called from ``create_causal_mask`` only when the 2D attention mask is None *and* there is no
cache) turns restarting positions into a block-diagonal causal mask, for the sdpa and eager
implementations alike. The model must therefore be called with ``use_cache=False``; with the
config default (``use_cache=True``) it builds an empty cache, skips that detection, and the
examples attend to each other. FlashAttention-2 takes no mask: it finds the sequences'
boundaries (``cu_seqlens``) from the restarting ``position_ids`` itself, and only in a batch
of one row, which is why `pack_sft` always builds exactly one (``methods.logps.check_packed_layout``
refuses anything else under it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch

from tuneforge.data.tokenize import IGNORE_INDEX
from tuneforge.data.types import Batch

__all__ = ["MODEL_INPUT_KEYS", "LabelledIds", "model_inputs", "pack_sft", "pad_right", "pad_sft"]

#: Batch keys that are model inputs; anything else (labels, seq_lengths) stays out of forward.
MODEL_INPUT_KEYS = ("input_ids", "attention_mask", "position_ids")


class LabelledIds(Protocol):
    """A token sequence with per-token labels (``TokenizedSFT`` is one)."""

    @property
    def input_ids(self) -> Sequence[int]: ...

    @property
    def labels(self) -> Sequence[int]: ...


def pad_right(sequences: Sequence[Sequence[int]], pad_value: int) -> torch.Tensor:
    """Stack sequences into one long tensor, padded on the right.

    Returns:
        (B, T_max) long, where T_max is the longest sequence; shorter rows end in ``pad_value``.
    """
    if not sequences:
        raise ValueError("cannot pad an empty list of sequences")
    width = max(len(sequence) for sequence in sequences)
    out = torch.full((len(sequences), width), pad_value, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        if sequence:
            out[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
    return out


def pad_sft(items: Sequence[LabelledIds], pad_token_id: int) -> Batch:
    """One example per row, padded on the right.

    Returns:
        ``input_ids`` (B, T) long, padded with ``pad_token_id``; ``attention_mask`` (B, T) long,
        1 on real tokens and 0 on padding; ``labels`` (B, T) long, ``IGNORE_INDEX`` on padding
        and on tokens that are not learned.
    """
    _check_lengths(items)
    input_ids = pad_right([item.input_ids for item in items], pad_token_id)
    labels = pad_right([item.labels for item in items], IGNORE_INDEX)
    # Built from lengths, not from `input_ids != pad`: pad_token_id is often EOS, which also
    # appears as a real (learned) token at the end of each example.
    attention_mask = pad_right([[1] * len(item.input_ids) for item in items], 0)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def pack_sft(items: Sequence[LabelledIds], pad_token_id: int) -> Batch:
    """All examples concatenated into one padding-free row.

    ``pad_token_id`` is unused (nothing is padded); it keeps the signature of `pad_sft`.

    Returns:
        ``input_ids`` (1, N) long and ``labels`` (1, N) long, N = sum of the example lengths,
        with each example's first label set to ``IGNORE_INDEX`` (otherwise the shift would
        learn it from the previous example's last token); ``position_ids`` (1, N) long,
        0, 1, ... restarting at each example; ``seq_lengths`` (E,) long, the E example lengths
        (for metrics only, never a model input). No ``attention_mask``: see the module docstring.
    """
    del pad_token_id
    _check_lengths(items)
    input_ids: list[int] = []
    labels: list[int] = []
    position_ids: list[int] = []
    lengths: list[int] = []
    for item in items:
        length = len(item.input_ids)
        if length == 0:
            continue
        input_ids.extend(item.input_ids)
        labels.append(IGNORE_INDEX)
        labels.extend(item.labels[1:])
        position_ids.extend(range(length))
        lengths.append(length)
    return {
        "input_ids": torch.tensor([input_ids], dtype=torch.long),
        "labels": torch.tensor([labels], dtype=torch.long),
        "position_ids": torch.tensor([position_ids], dtype=torch.long),
        "seq_lengths": torch.tensor(lengths, dtype=torch.long),
    }


def model_inputs(batch: Batch) -> Batch:
    """The subset of ``batch`` that is passed to the model's forward (see MODEL_INPUT_KEYS)."""
    return {key: batch[key] for key in MODEL_INPUT_KEYS if key in batch}


def _check_lengths(items: Sequence[LabelledIds]) -> None:
    """Refuse an empty batch, or an item whose labels do not line up with its ids."""
    if not items:
        raise ValueError("cannot collate an empty batch")
    for index, item in enumerate(items):
        if len(item.labels) != len(item.input_ids):
            raise ValueError(
                f"item {index}: {len(item.labels)} labels for {len(item.input_ids)} input ids"
            )
