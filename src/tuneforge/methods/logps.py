"""The one shared shift-and-mask: per-token log-probs of the labels under the model's logits.

Every method (SFT, DPO, ORPO, KTO) goes through `token_logps`, so "which token predicts which"
and "which positions count" are decided in exactly one place. Position ``t`` of the logits
predicts ``labels[:, t + 1]``; a label of ``IGNORE_INDEX`` (-100) is not learned.

Three layers, each giving the same values (up to float rounding):

* `token_logps`: from logits already computed.
* `model_token_logps`: runs the model; for plain-head families the output head runs on the
  learned positions alone.
* `batch_token_logps`: right-padded rows, run without the padding where the model allows
  (`packed_token_logps`), with the log-probs mapped back onto the padded grid.

Packing. Preference pairs and KTO's feedback replies vary a lot in length, so padding every
row to the longest typically wastes a fifth to a half of the compute and activation memory.
For model families whose attention turns restarting ``position_ids`` into a block-diagonal
mask (``model_families.PACKED_FAMILIES``: transformers builds it when there is no attention
mask and no cache; see ``data/collate.py``), `packed_token_logps` lays the sequences end to
end into rows of about `PACK_CAPACITY` tokens (first fit, longest first), with no attention
across sequences. Other models run the padded rows as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from tuneforge.data.tokenize import IGNORE_INDEX
from tuneforge.model_families import PLAIN_HEAD_FAMILIES
from tuneforge.models import base_model, model_family, packable, unwrap

__all__ = [
    "PACK_CAPACITY",
    "batch_token_logps",
    "mean_token_nll",
    "model_token_logps",
    "pack_rows",
    "packed_token_logps",
    "sequence_logps",
    "token_logps",
]

#: Tokens per packed row. A row's attention costs O(length²) (the mask is dense), so rows are
#: kept short enough for that to stay small next to the linear layers; a longer sequence gets
#: a row of its own.
PACK_CAPACITY = 1024


def token_logps(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each next label token, and which positions are learned.

    Args:
        logits: (B, T, V) model outputs, any float dtype.
        labels: (B, T) long token ids; ``IGNORE_INDEX`` where nothing is learned.

    Returns:
        ``(logps, mask)``: ``logps`` (B, T-1) float32, ``log p(labels[:, t+1] | logits[:, t])``
        and exactly 0 where masked; ``mask`` (B, T-1) bool, True where ``labels[:, 1:]`` is
        learned.
    """
    if logits.ndim != 3 or labels.shape != logits.shape[:2]:
        raise ValueError(
            f"expected logits (B, T, V) and labels (B, T), got {tuple(logits.shape)} "
            f"and {tuple(labels.shape)}"
        )
    shift_labels = labels[:, 1:]
    mask = shift_labels != IGNORE_INDEX
    # Only the learned rows are gathered (and upcast): with completion-only masking most rows
    # are prompt or padding, and a full (B, T-1, V) float copy is the largest tensor in the
    # step. The float upcast keeps bf16 logits from losing precision in the log-sum-exp.
    valid_logits = logits[:, :-1][mask].float()  # (N, V), N = learned positions
    nll = F.cross_entropy(valid_logits, shift_labels[mask], reduction="none")  # (N,)
    # masked_scatter is differentiable and leaves masked positions at exactly 0 (with a grad
    # path even when N == 0, so an all-masked batch backpropagates zeros, not NaN).
    zeros = torch.zeros(mask.shape, dtype=torch.float32, device=logits.device)
    logps = zeros.masked_scatter(mask, -nll)
    return logps, mask


def sequence_logps(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probability of each row's learned tokens, and how many there are.

    Args:
        logits: (B, T, V) model outputs.
        labels: (B, T) long token ids; ``IGNORE_INDEX`` where nothing is learned.

    Returns:
        ``(sums, counts)``: ``sums`` (B,) float32 summed log-probs (0 for a row with nothing
        learned); ``counts`` (B,) long number of learned tokens after the shift.
    """
    logps, mask = token_logps(logits, labels)
    return logps.sum(dim=-1), mask.sum(dim=-1)


def mean_token_nll(
    logp_sums: torch.Tensor, token_counts: torch.Tensor, rows: torch.Tensor | None = None
) -> torch.Tensor:
    """The token-mean negative log-likelihood over the selected rows of a micro-batch.

    ``-Σ_{i ∈ rows} logp_sums[i] / Σ_{i ∈ rows} token_counts[i]``: a causal-LM loss over
    the batch's tokens (TRL's ``sft`` loss and ORPO's NLL term), so a long reply weighs more
    than a short one. The one home of the NLL term that ORPO (Hong et al. 2024, eq. 6), DPO's
    ``dpo.nll_weight`` (RPO, Pang et al. 2024, eq. 1) and KTO's ``kto.nll_weight`` add to
    their preference losses.

    Args:
        logp_sums: (B,) summed log-probs of each row's learned tokens, with grad.
        token_counts: (B,) how many tokens each sum covers.
        rows: (B,) bool, the rows that count (None: all). Unselected rows get zero gradient.

    Returns:
        0-dim float tensor; exactly 0 (with a grad path) when no selected row has a token.
    """
    if rows is None:
        rows = torch.ones_like(token_counts, dtype=torch.bool)
    # where(), not indexing: keeps the grad path when no row is selected.
    total = torch.where(rows, logp_sums, 0.0).sum()
    tokens = torch.where(rows, token_counts, 0).sum()
    return -total / tokens.clamp(min=1)


def _head_and_decoder(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module] | None:
    """(decoder, lm_head) when logits can be computed for chosen positions only, else None.

    Needs a plain (not DDP-wrapped) causal LM of a family whose logits are the head applied to
    the last hidden state; a peft wrapper is looked through (LoRA layers live in the decoder).
    """
    if unwrap(model) is not model:  # DDP must see its own forward to synchronise gradients
        return None
    if model_family(model) not in PLAIN_HEAD_FAMILIES:
        return None
    base = base_model(model)
    get_decoder = getattr(base, "get_decoder", None)
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    decoder = get_decoder() if callable(get_decoder) else None
    if decoder is None or head is None:
        return None
    return decoder, head


def model_token_logps(
    model: torch.nn.Module, inputs: dict[str, torch.Tensor], labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """`token_logps` of ``labels`` under ``model(**inputs)``, computing logits only where needed.

    With completion-only masking most positions are prompt or padding; the output head
    (hidden × vocabulary) and its log-softmax are the largest cost of a small model's step, so
    for plain-head families the head runs on the learned positions alone. Other models fall
    back to full logits. Same result either way (up to float rounding).

    Args:
        model: a causal LM (optionally peft-wrapped).
        inputs: model inputs (input_ids (B, T), and attention_mask or position_ids).
        labels: (B, T) long; ``IGNORE_INDEX`` where nothing is learned.

    Returns:
        ``(logps, mask)`` exactly as `token_logps`: (B, T-1) float32 and (B, T-1) bool.
    """
    parts = _head_and_decoder(model)
    if parts is None:
        return token_logps(model(**inputs, use_cache=False).logits, labels)
    decoder, head = parts
    hidden = decoder(**inputs, use_cache=False).last_hidden_state  # (B, T, H)
    shift_labels = labels[:, 1:]
    mask = shift_labels != IGNORE_INDEX
    valid_logits = head(hidden[:, :-1][mask]).float()  # (N, V)
    nll = F.cross_entropy(valid_logits, shift_labels[mask], reduction="none")  # (N,)
    zeros = torch.zeros(mask.shape, dtype=torch.float32, device=labels.device)
    return zeros.masked_scatter(mask, -nll), mask


def pack_rows(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Sequence indices per packed row: first-fit, longest first, rows of ``capacity`` tokens.

    A sequence longer than ``capacity`` gets a row of its own.
    """
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


def packed_token_logps(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
    *,
    capacity: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`model_token_logps` of right-padded rows, computed on packed rows without the padding.

    The R sequences are laid end to end into rows of ``capacity`` tokens (`pack_rows`; default
    `PACK_CAPACITY`, at least the longest sequence) with ``position_ids`` restarting at 0 for
    each sequence and for the tail padding of a packed row (a block of its own, never
    learned), and no attention mask. A sequence's first label is not learned there: packed, it
    would be predicted from the previous sequence's last token (on the padded grid it is never
    a target anyway). The log-probs are mapped back onto the padded grid.

    Args:
        model: a causal LM of a `model_families.PACKED_FAMILIES` family (optionally peft- or
            DDP-wrapped); grad mode is the caller's.
        input_ids: (R, T) long, right padded.
        attention_mask: (R, T) long, 1 on the real tokens (a prefix of each row).
        labels: (R, T) long, ``IGNORE_INDEX`` where nothing is learned (and on padding).
        capacity: tokens per packed row (None: `PACK_CAPACITY`).

    Returns:
        ``(logps, mask)`` on the padded grid, (R, T-1) float32 and (R, T-1) bool, exactly as
        `model_token_logps` on the padded rows would return them (up to float rounding).
    """
    device = input_ids.device
    width = input_ids.shape[1]
    real = attention_mask.bool()  # (R, T)
    lengths = real.sum(dim=-1).tolist()
    capacity = PACK_CAPACITY if capacity is None else capacity
    rows = pack_rows(lengths, max([capacity, *lengths]))
    # The packed row and the column offset of every sequence, and each packed row's fill.
    row_of = [0] * len(lengths)
    offset_of = [0] * len(lengths)
    used = []
    for packed_row, members in enumerate(rows):
        fill = 0
        for index in members:
            row_of[index], offset_of[index] = packed_row, fill
            fill += lengths[index]
        used.append(fill)
    packed_width = max(used)
    as_index = {"dtype": torch.long, "device": device}
    seq_rows = torch.tensor(row_of, **as_index)[:, None].expand(-1, width)  # (R, T)
    columns = torch.arange(width, **as_index)
    seq_cols = torch.tensor(offset_of, **as_index)[:, None] + columns  # (R, T)
    # Tail padding restarts its positions too (columns past a row's fill count from 0 there);
    # the real tokens are then written over with their own positions 0, 1, ...
    positions = torch.arange(packed_width, **as_index) - torch.tensor(used, **as_index)[:, None]
    positions = positions.clamp(min=0)
    first_ignored = labels.clone()
    first_ignored[:, 0] = IGNORE_INDEX
    where = (seq_rows[real], seq_cols[real])  # packed (row, column) of each real token
    ids = torch.zeros(len(rows), packed_width, **as_index).index_put(where, input_ids[real])
    positions = positions.index_put(where, columns.expand(len(lengths), -1)[real])
    packed_labels = torch.full_like(ids, IGNORE_INDEX).index_put(where, first_ignored[real])
    packed_logps, _ = model_token_logps(
        model, {"input_ids": ids, "position_ids": positions}, packed_labels
    )  # (packed rows, packed_width - 1)
    # Grid position (i, t) predicts token t + 1 of sequence i: it exists where that token is
    # real, and sits at the packed position of token t.
    targets = real[:, 1:]  # (R, T-1)
    gathered = packed_logps[seq_rows[:, :-1][targets], seq_cols[:, :-1][targets]]
    grid = torch.zeros(targets.shape, dtype=packed_logps.dtype, device=device)
    return grid.masked_scatter(targets, gathered), labels[:, 1:] != IGNORE_INDEX


def batch_token_logps(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
    *,
    pack: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`token_logps` of right-padded rows under ``model``: packed where the model allows.

    Args:
        model: a causal LM (optionally peft- or DDP-wrapped); grad mode is the caller's.
        input_ids: (R, T) long, right padded.
        attention_mask: (R, T) long, 1 on the real tokens (a prefix of each row).
        labels: (R, T) long, ``IGNORE_INDEX`` where nothing is learned (and on padding).
        pack: force the packed (True, `packed_token_logps`) or padded (False) forward; None
            decides by ``models.packable``.

    Returns:
        ``(logps, mask)`` on the padded grid: (R, T-1) float32, exactly 0 where masked, and
        (R, T-1) bool, as `token_logps`.
    """
    if pack is None:
        pack = packable(model)
    if pack:
        return packed_token_logps(model, input_ids, attention_mask, labels)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    return model_token_logps(model, inputs, labels)
