"""Shared batching for the pair methods (DPO, ORPO): collate pairs, score both completions.

A pair is a prompt with a chosen and a rejected completion. The layout lives behind two
functions, `collate_pairs` and `pair_logps`, and nothing else in the methods depends on it:
each sequence is prompt + completion and all 2B sequences of a batch share one forward pass;
a later layout (the prompt computed once for both completions, prefix sharing) only has to
replace these two.

A collated batch of B pairs is model-agnostic, right padded to the longest of the 2B
sequences::

    rows 0 .. B-1    prompt_i + chosen_i
    rows B .. 2B-1   prompt_i + rejected_i

``labels`` carry the completion tokens and ``IGNORE_INDEX`` on the prompt and the padding, so
the summed log-prob of a row is exactly the sequence log-prob of its completion,
``log π(y | x) = Σ_t log π(y_t | x, y_<t)``, computed by the one shared shift-and-mask
(`methods.logps`).

The forward pass does not run on the padding. Preference pairs vary a lot in length (a terse
rejected reply next to a long chosen one), so padding every row to the longest typically
wastes a third to a half of the compute and activation memory. For model families whose
attention turns restarting ``position_ids`` into a block-diagonal mask (`PACKED_FAMILIES`),
`pair_logps` packs the sequences end to end into rows of about `PACK_CAPACITY` tokens, with no
attention across sequences, and maps the log-probs back onto the padded grid. Other models run
the padded rows as they are. Either way the values are the same (up to float rounding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from tuneforge.data.collate import model_inputs, pad_right
from tuneforge.data.tokenize import IGNORE_INDEX, TokenizedPair
from tuneforge.methods.base import Batch
from tuneforge.methods.logps import model_token_logps

if TYPE_CHECKING:
    from tuneforge.data.tokenize import Tokenized

__all__ = [
    "PACKED_FAMILIES",
    "PACK_CAPACITY",
    "PairLogps",
    "collate_pairs",
    "count_pairs",
    "pair_logps",
    "pair_tokens",
]

#: Model families whose transformers 5.24 attention (sdpa, eager, flash) keeps sequences
#: packed in one row apart when ``position_ids`` restart at 0 and no attention mask is given
#: (``masking_utils.find_packed_sequence_indices``; the model must run with use_cache=False).
PACKED_FAMILIES = frozenset(
    {"llama", "mistral", "qwen2", "qwen3", "phi3", "olmo2", "smollm3", "starcoder2"}
)
#: Tokens per packed row. A row's attention costs O(length²) (the mask is dense), so rows are
#: kept short enough for that to stay small next to the linear layers; a longer sequence gets
#: a row of its own.
PACK_CAPACITY = 1024


def collate_pairs(items: Sequence[Tokenized], pad_token_id: int) -> Batch:
    """Stack B pairs into 2B right-padded rows: the chosen rows, then the rejected rows.

    Returns:
        ``input_ids`` (2B, T) long, padded with ``pad_token_id``; ``attention_mask`` (2B, T)
        long, 1 on real tokens; ``labels`` (2B, T) long, the completion ids and
        ``IGNORE_INDEX`` on prompt and padding positions.
    """
    if not items:
        raise ValueError("cannot collate an empty batch of pairs")
    pairs: list[TokenizedPair] = []
    for item in items:
        if not isinstance(item, TokenizedPair):
            raise TypeError(f"pair methods expect TokenizedPair items, got {type(item).__name__}")
        if not item.chosen_ids or not item.rejected_ids:
            raise ValueError(f"{item.origin}: a pair needs a non-empty chosen and rejected reply")
        pairs.append(item)
    completions = [p.chosen_ids for p in pairs] + [p.rejected_ids for p in pairs]
    prompts = [p.prompt_ids for p in pairs] * 2
    sequences = [prompt + reply for prompt, reply in zip(prompts, completions, strict=True)]
    labels = [
        [IGNORE_INDEX] * len(prompt) + list(reply)
        for prompt, reply in zip(prompts, completions, strict=True)
    ]
    return {
        "input_ids": pad_right(sequences, pad_token_id),
        # From lengths, not `ids != pad`: the pad id is often EOS, a real token of each reply.
        "attention_mask": pad_right([[1] * len(s) for s in sequences], 0),
        "labels": pad_right(labels, IGNORE_INDEX),
    }


def count_pairs(batch: Batch) -> int:
    """Number of pairs B in a batch laid out by `collate_pairs` (2B rows)."""
    return int(batch["input_ids"].shape[0]) // 2


def pair_tokens(batch: Batch) -> int:
    """Non-padding tokens the forward pass processes (both rows of every pair)."""
    return int(batch["attention_mask"].sum().item())


@dataclass
class PairLogps:
    """Per-pair sequence log-probs of one batch; every tensor is (B,).

    ``chosen``/``rejected`` are summed over the completion tokens (float32, with grad when the
    forward had grad); ``*_tokens`` count those tokens (long). ``chosen_prompt`` sums the
    log-probs of the chosen row's prompt tokens (after the shift: every prompt token but the
    first) and ``chosen_prompt_tokens`` counts them; both are zero unless requested.
    """

    chosen: torch.Tensor
    rejected: torch.Tensor
    chosen_tokens: torch.Tensor
    rejected_tokens: torch.Tensor
    chosen_prompt: torch.Tensor
    chosen_prompt_tokens: torch.Tensor

    def chosen_mean(self) -> torch.Tensor:
        """(B,) length-normalised chosen log-prob, ``chosen / chosen_tokens``."""
        return self.chosen / self.chosen_tokens.clamp(min=1)

    def rejected_mean(self) -> torch.Tensor:
        """(B,) length-normalised rejected log-prob."""
        return self.rejected / self.rejected_tokens.clamp(min=1)


def pair_logps(
    model: torch.nn.Module, batch: Batch, *, score_chosen_prompt: bool = False
) -> PairLogps:
    """Score the chosen and rejected completions of every pair in one forward pass.

    The output head runs only where a log-prob is needed (`model_token_logps`): the
    completion tokens, plus the chosen rows' prompt tokens when ``score_chosen_prompt`` (ORPO's
    NLL over the whole chosen sequence, as TRL computes it).

    Args:
        model: the causal LM (optionally peft-wrapped); grad mode is the caller's.
        batch: a batch from `collate_pairs` (extra keys such as ``index`` are ignored).
        score_chosen_prompt: also sum the chosen rows' prompt-token log-probs.

    Returns:
        `PairLogps` with (B,) tensors.
    """
    labels = batch["labels"]  # (2B, T)
    pairs = count_pairs(batch)
    completion = labels[:, 1:] != IGNORE_INDEX  # (2B, T-1)
    scored_labels = labels
    if score_chosen_prompt:
        # Chosen rows learn every real token; rejected rows keep completion-only labels.
        everything = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, IGNORE_INDEX)
        scored_labels = torch.cat([everything[:pairs], labels[pairs:]], dim=0)
    if _packable(model) and "attention_mask" in batch:
        logps, scored = _packed_token_logps(model, batch, scored_labels)  # (2B, T-1)
    else:
        logps, scored = model_token_logps(model, model_inputs(batch), scored_labels)
    sums = torch.where(completion, logps, 0.0).sum(dim=-1)  # (2B,)
    counts = completion.sum(dim=-1)
    prompt_positions = scored & ~completion
    prompt_sums = torch.where(prompt_positions, logps, 0.0).sum(dim=-1)
    prompt_counts = prompt_positions.sum(dim=-1)
    return PairLogps(
        chosen=sums[:pairs],
        rejected=sums[pairs:],
        chosen_tokens=counts[:pairs],
        rejected_tokens=counts[pairs:],
        chosen_prompt=prompt_sums[:pairs],
        chosen_prompt_tokens=prompt_counts[:pairs],
    )


def _packable(model: torch.nn.Module) -> bool:
    """True when ``model``'s family keeps packed sequences apart (see `PACKED_FAMILIES`)."""
    inner = getattr(model, "module", model)
    base = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    return getattr(getattr(base, "config", None), "model_type", None) in PACKED_FAMILIES


def _pack_rows(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Sequence indices per packed row: first-fit, longest first, rows of ``capacity`` tokens."""
    rows: list[list[int]] = []
    room: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        for row, free in enumerate(room):
            if lengths[index] <= free:
                rows[row].append(index)
                room[row] -= lengths[index]
                break
        else:
            rows.append([index])
            room.append(capacity - lengths[index])
    return rows


def _packed_token_logps(
    model: torch.nn.Module, batch: Batch, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """`model_token_logps` of the padded batch, computed on packed rows without padding.

    Args:
        model: a model of a `PACKED_FAMILIES` family.
        batch: ``input_ids`` and ``attention_mask`` (R, T), right padded.
        labels: (R, T) long, ``IGNORE_INDEX`` where nothing is learned.

    Returns:
        ``(logps, mask)`` on the padded grid, (R, T-1) float32 and (R, T-1) bool, exactly as
        `model_token_logps` on the padded rows would return them.
    """
    input_ids, device = batch["input_ids"], batch["input_ids"].device
    rows_total, width = input_ids.shape
    lengths = batch["attention_mask"].sum(dim=-1).tolist()
    rows = _pack_rows(lengths, max(PACK_CAPACITY, max(lengths)))
    packed_width = max(sum(lengths[i] for i in row) for row in rows)
    ids = torch.zeros(len(rows), packed_width, dtype=torch.long, device=device)
    positions = torch.zeros_like(ids)
    packed_labels = torch.full_like(ids, IGNORE_INDEX)
    # (packed row, packed column) of each sequence's shifted positions, and their grid place.
    source_rows, source_cols, target_rows, target_cols = [], [], [], []
    for packed_row, members in enumerate(rows):
        offset = 0
        for index in members:
            n = lengths[index]
            ids[packed_row, offset : offset + n] = input_ids[index, :n]
            positions[packed_row, offset : offset + n] = torch.arange(n, device=device)
            # The first label of each sequence stays unlearned: it would be predicted from
            # the previous sequence's last token.
            packed_labels[packed_row, offset + 1 : offset + n] = labels[index, 1:n]
            source_rows += [packed_row] * (n - 1)
            source_cols += range(offset, offset + n - 1)
            target_rows += [index] * (n - 1)
            target_cols += range(n - 1)
            offset += n
        # The tail padding restarts its positions too: a block of its own, never learned.
        positions[packed_row, offset:] = torch.arange(packed_width - offset, device=device)
    packed_logps, _ = model_token_logps(
        model, {"input_ids": ids, "position_ids": positions}, packed_labels
    )
    as_index = {"dtype": torch.long, "device": device}
    gathered = packed_logps[
        torch.tensor(source_rows, **as_index), torch.tensor(source_cols, **as_index)
    ]
    grid = torch.zeros(rows_total, width - 1, dtype=packed_logps.dtype, device=device)
    grid = grid.index_put(
        (torch.tensor(target_rows, **as_index), torch.tensor(target_cols, **as_index)), gathered
    )
    return grid, labels[:, 1:] != IGNORE_INDEX
