"""The one shared shift-and-mask: per-token log-probs of the labels under the model's logits.

Every method (SFT, DPO, ORPO, KTO) goes through `token_logps`, so "which token predicts which"
and "which positions count" are decided in exactly one place. Position ``t`` of the logits
predicts ``labels[:, t + 1]``; a label of ``IGNORE_INDEX`` (-100) is not learned.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tuneforge.data.tokenize import IGNORE_INDEX

__all__ = ["model_token_logps", "sequence_logps", "token_logps"]

#: Model families whose logits are exactly ``lm_head(last_hidden_state)`` (no soft-capping or
#: scaling), so the head can be applied to the learned positions alone.
PLAIN_HEAD_FAMILIES = frozenset(
    {"llama", "mistral", "qwen2", "qwen3", "phi3", "olmo2", "smollm3", "starcoder2"}
)


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


def _head_and_decoder(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module] | None:
    """(decoder, lm_head) when logits can be computed for chosen positions only, else None.

    Needs a plain (not DDP-wrapped) causal LM of a family whose logits are the head applied to
    the last hidden state; a peft wrapper is looked through (LoRA layers live in the decoder).
    """
    if hasattr(model, "module"):  # DDP must see its own forward to synchronise gradients
        return None
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    if getattr(config, "model_type", None) not in PLAIN_HEAD_FAMILIES:
        return None
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
