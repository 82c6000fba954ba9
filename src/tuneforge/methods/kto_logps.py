"""Summed completion log-probs of right-padded rows, run padding-free where the model allows.

KTO scores three sets of rows per step (the matched completions with gradient, and the
mismatched pairs under the policy and the reference without), each right padded to its
longest row. On short feedback replies about a fifth of those positions are padding, and every
linear layer pays for them. For model families whose attention honours packed sequences (the
``methods.logps.PLAIN_HEAD_FAMILIES``: transformers builds a block-diagonal causal mask from
``position_ids`` that restart at 0 when there is no attention mask and no cache; see
``data/collate.py``), the rows are concatenated into one padding-free row for the forward pass
and the log-probs are summed back per row. Other models run the padded rows as they are. Both
give the same values up to float rounding.
"""

from __future__ import annotations

import torch

from tuneforge.data.tokenize import IGNORE_INDEX
from tuneforge.methods.logps import PLAIN_HEAD_FAMILIES, model_token_logps

__all__ = ["packable", "sequence_logp_sums"]


def packable(model: torch.nn.Module) -> bool:
    """True when ``model`` keeps packed sequences apart (a plain-head decoder family)."""
    inner = getattr(model, "module", model)  # DDP
    base = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    config = getattr(base, "config", None)
    return getattr(config, "model_type", None) in PLAIN_HEAD_FAMILIES


def sequence_logp_sums(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
    *,
    pack: bool | None = None,
) -> torch.Tensor:
    """Summed log-probs of each row's learned tokens, ``Σ_t log π(labels_t | ids_<t)``.

    Args:
        model: a causal LM (optionally peft- or DDP-wrapped); grad mode is the caller's.
        input_ids: (B, T) long, right padded.
        attention_mask: (B, T) long, 1 on the real tokens (a prefix of each row).
        labels: (B, T) long, ``IGNORE_INDEX`` where nothing is learned (and on padding).
        pack: force the packed (True) or padded (False) forward; None decides by `packable`.

    Returns:
        (B,) float32, with grad when the forward has it.
    """
    if pack is None:
        pack = packable(model)
    if not pack:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        logps, _ = model_token_logps(model, inputs, labels)  # (B, T-1)
        return logps.sum(dim=-1)
    keep = attention_mask.bool()  # (B, T), real tokens
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)
    row_of = rows.unsqueeze(1).expand_as(keep)[keep]  # (N,) the row each packed token came from
    positions = (keep.long().cumsum(dim=1) - 1)[keep]  # (N,) 0, 1, ... restarting per row
    # A row's first token is never a target: packed, it would be "predicted" by the previous
    # row's last token.
    first_ignored = labels.clone()
    first_ignored[:, 0] = IGNORE_INDEX
    inputs = {"input_ids": input_ids[keep].unsqueeze(0), "position_ids": positions.unsqueeze(0)}
    logps, mask = model_token_logps(model, inputs, first_ignored[keep].unsqueeze(0))  # (1, N-1)
    targets = row_of[1:][mask[0]]  # the row of each learned target position
    sums = torch.zeros(input_ids.shape[0], dtype=logps.dtype, device=logps.device)
    return sums.index_add(0, targets, logps[0][mask[0]])
