"""The KTO loss and its KL reference point: pure functions over tensors (no model, no device).

Kahneman-Tversky Optimisation (Ethayarajh et al. 2024, "KTO: Model Alignment as Prospect
Theoretic Optimization", Eq. 7-8) learns from single completions labelled desirable or
undesirable. With the implied reward ``r = log π(y|x) - log π_ref(y|x)`` and the reference point
``z`` (an estimate of ``KL(π ‖ π_ref)``), the per-example loss is::

    desirable:    λ_D · (1 - σ(β · (r - z)))
    undesirable:  λ_U · (1 - σ(β · (z - r)))

``z`` carries no gradient: it only shifts where the sigmoid is steep. It is estimated from
*mismatched* pairs (each prompt with another example's completion), so it measures how far the
policy has drifted in general, not on the example being scored. The ``apo_zero_unpaired`` variant
(D'Oosterlinck et al. 2024, "Anchored Preference Optimization", Eq. 7, unpaired form) drops ``z``:
desirable ``1 - σ(β·r)``, undesirable ``σ(β·r)``. The formulas and their float order follow TRL's
``KTOTrainer`` so that results are comparable.

``kto.nll_weight`` α adds an NLL term on the desirable replies only (`desirable_nll`), the KTO
counterpart of RPO's NLL on the chosen reply (Pang et al. 2024, eq. 1):
``L = mean_i L_KTO(i) + α · NLL(desirable)``. KTO alone moves log-ratios against the
reference point and can lower every reply's likelihood at once; the NLL term keeps the
desirable replies likely in absolute terms, which is what greedy decoding reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F

from tuneforge.methods.logps import mean_token_nll

__all__ = ["KTOLossType", "desirable_nll", "kl_reference_point", "kto_loss", "nll_term"]

KTOLossType = Literal["kto", "apo_zero_unpaired"]


def kto_loss(
    policy_logps: torch.Tensor,
    ref_logps: torch.Tensor,
    desirable: torch.Tensor,
    kl: torch.Tensor | float,
    *,
    beta: float = 0.1,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
    loss_type: KTOLossType = "kto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example KTO losses and implied rewards (paper Eq. 7-8; TRL ``KTOTrainer``).

    Args:
        policy_logps: (B,) summed log-prob of each completion under the policy, with grad.
        ref_logps: (B,) the same under the reference model (no grad needed).
        desirable: (B,) bool, True for desirable examples, False for undesirable ones.
        kl: the reference point ``z`` (a scalar tensor or float), already clamped at 0; it is
            detached here in any case. Ignored by ``apo_zero_unpaired``.
        beta: β, the sharpness of the value function (larger: stays closer to the reference).
        desirable_weight: λ_D, the weight of a desirable example's loss.
        undesirable_weight: λ_U, the weight of an undesirable example's loss.
        loss_type: ``kto`` (Eq. 7) or ``apo_zero_unpaired`` (no reference point).

    Returns:
        ``(losses, rewards)``, both (B,) in the dtype of ``policy_logps``: ``losses`` weighted by
        λ_D or λ_U (the caller sums or averages them); ``rewards`` = ``β · r``, detached.
    """
    if policy_logps.shape != ref_logps.shape or policy_logps.shape != desirable.shape:
        raise ValueError(
            f"policy_logps, ref_logps and desirable must have the same (B,) shape, got "
            f"{tuple(policy_logps.shape)}, {tuple(ref_logps.shape)}, {tuple(desirable.shape)}"
        )
    logratios = policy_logps - ref_logps  # r, (B,)
    if loss_type == "kto":
        z = torch.as_tensor(kl, dtype=logratios.dtype, device=logratios.device).detach()
        # 1 - σ(·) rather than σ(-·): the exact float order of TRL, for parity.
        desirable_losses = 1 - F.sigmoid(beta * (logratios - z))
        undesirable_losses = 1 - F.sigmoid(beta * (z - logratios))
    elif loss_type == "apo_zero_unpaired":
        desirable_losses = 1 - F.sigmoid(beta * logratios)
        undesirable_losses = F.sigmoid(beta * logratios)
    else:
        raise ValueError(f"unknown KTO loss_type {loss_type!r}; use kto or apo_zero_unpaired")
    mask = desirable.to(torch.bool)
    # where(), not indexing: the batch order is kept and the unselected branch gets zero grad.
    losses = torch.where(
        mask, desirable_weight * desirable_losses, undesirable_weight * undesirable_losses
    )
    return losses, beta * logratios.detach()


def kl_reference_point(
    policy_kl_logps: torch.Tensor,
    ref_kl_logps: torch.Tensor,
    *,
    all_reduce_sum: Callable[[torch.Tensor], torch.Tensor] | None = None,
    fallback: float = 0.0,
) -> tuple[torch.Tensor, int]:
    """The reference point ``z``: mean log-ratio of the mismatched pairs, clamped at 0, detached.

    ``z = max(0, mean_i [log π(y'_i|x_i) - log π_ref(y'_i|x_i)])`` over the mismatched pairs
    ``(x_i, y'_i)`` of the micro-batch — an unbiased-in-expectation estimate of
    ``KL(π ‖ π_ref)`` whose clamp keeps it a valid KL (paper §4.1, "in practice").

    Args:
        policy_kl_logps: (B',) summed completion log-probs of the mismatched pairs, policy.
        ref_kl_logps: (B',) the same under the reference. B' may be 0 (no pairs here).
        all_reduce_sum: when distributed, a function summing a tensor over all processes; the
            mean is then taken over every process's pairs (TRL averages the per-process means,
            the same thing for equal batch sizes).
        fallback: ``z`` to use when no process has a pair (e.g. a lone one-example micro-batch).

    Returns:
        ``(z, pairs)``: ``z`` a 0-dim float32 tensor without grad, and the number of pairs it
        was estimated from (over all processes).
    """
    diff = (policy_kl_logps.detach() - ref_kl_logps.detach()).float()
    totals = torch.stack([diff.sum(), torch.tensor(float(diff.numel()), device=diff.device)])
    if all_reduce_sum is not None:
        totals = all_reduce_sum(totals)
    pairs = int(totals[1].item())
    if pairs == 0:
        return torch.tensor(max(fallback, 0.0), device=diff.device), 0
    return (totals[0] / totals[1]).clamp(min=0), pairs


def desirable_nll(
    policy_logps: torch.Tensor, token_counts: torch.Tensor, desirable: torch.Tensor
) -> torch.Tensor:
    """The token-mean NLL of the micro-batch's desirable replies (undesirable rows excluded).

    ``-Σ_{i desirable} log π(y_i|x_i) / Σ_{i desirable} |y_i|`` (`mean_token_nll`): the same
    normalisation as DPO's ``nll_weight`` term and ORPO's NLL. Undesirable replies are never
    pushed up: their rows get zero gradient, and a micro-batch without a desirable reply
    gives exactly 0.

    Args:
        policy_logps: (B,) summed completion log-probs under the policy, with grad.
        token_counts: (B,) completion token counts.
        desirable: (B,) bool labels.

    Returns:
        0-dim float tensor, with grad.
    """
    return mean_token_nll(policy_logps, token_counts, desirable.to(torch.bool))


def nll_term(
    policy_logps: torch.Tensor,
    token_counts: torch.Tensor,
    desirable: torch.Tensor,
    nll_norm: str,
) -> torch.Tensor:
    """The NLL that ``kto.nll_weight`` multiplies, per example of the micro-batch.

    * ``sum``: (B,), ``-log π(y_i|x_i)`` summed over the reply's tokens for a desirable
      example, 0 for an undesirable one. The units of KTO's reward (summed log-probs), so each
      desirable token is pulled up with weight α whatever the reply's length.
    * ``token_mean``: 0-dim, `desirable_nll` (the token mean over the desirable replies),
      added to every example of the micro-batch.

    Args:
        policy_logps: (B,) summed completion log-probs under the policy, with grad.
        token_counts: (B,) completion token counts.
        desirable: (B,) bool labels.
        nll_norm: ``sum`` or ``token_mean``.

    Returns:
        (B,) or 0-dim float tensor, with grad; undesirable rows get zero gradient either way.
    """
    if nll_norm == "sum":
        return torch.where(desirable.to(torch.bool), -policy_logps, 0.0)
    if nll_norm == "token_mean":
        return desirable_nll(policy_logps, token_counts, desirable)
    raise ValueError(f"unknown kto.nll_norm {nll_norm!r}; expected sum or token_mean")
