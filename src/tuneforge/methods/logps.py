"""The one shared shift-and-mask: per-token log-probs of the labels under the model's logits.

Every method (SFT, DPO, ORPO, KTO) goes through `token_logps`, so "which token predicts which"
and "which positions count" are decided in exactly one place. Position ``t`` of the logits
predicts ``labels[:, t + 1]``; a label of ``IGNORE_INDEX`` (-100) is not learned.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tuneforge.data.tokenize import IGNORE_INDEX

__all__ = ["sequence_logps", "token_logps"]


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
