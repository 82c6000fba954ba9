"""Direct Preference Optimisation (Rafailov et al. 2023) and its common variants.

DPO trains the policy π_θ to prefer the chosen completion y_w over the rejected y_l of each
prompt x, relative to a frozen reference π_ref (the model before training). With the
log-ratios ``h_w = log π_θ(y_w|x) - log π_ref(y_w|x)`` and ``h_l`` likewise, the implicit
reward of a completion is ``β·h`` and every loss type is a function of the reward gap.

The reference log-probs come from ``engine/reference.py`` (precomputed and cached, or on the
fly); this module only asks for them through the ``reference`` callable the engine passes in.
The loss unit is one pair: ``loss_sum`` and every metric are sums over pairs, which the engine
divides by the pairs of the accumulation window.

``dpo.nll_weight`` α adds an NLL term on the chosen replies (RPO, Pang et al. 2024, "Iterative
Reasoning Preference Optimization", eq. 1; TRL: ``loss_type=["sigmoid", "sft"]`` with
``loss_weights=[1, α]``, which replaced ``rpo_alpha``): ``L = L_DPO + α · NLL(y_w)``. DPO alone
only moves the chosen reply *relative to* the rejected one, and both can fall together; the
NLL term keeps the chosen reply likely in absolute terms, which is what greedy decoding reads
(see README, "DPO and KTO: does the style show in what the model writes?"). ``dpo.nll_norm``
says which NLL (`chosen_nll_term`): each reply's summed NLL (default; DPO's own units) or
TRL's token mean over the batch, which let DPO undo SFT on json-extract.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from tuneforge.config.section import Float, Section
from tuneforge.data.types import RecordKind
from tuneforge.methods.base import (
    Batch,
    DefaultLR,
    MethodSpec,
    ReferenceLogps,
    StepOutput,
    section_of,
)
from tuneforge.methods.pairs import (
    PairLogps,
    collate_pairs,
    count_pairs,
    pair_logps,
    pair_tokens,
)

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from tuneforge.config import TuneforgeConfig
    from tuneforge.data.tokenize import Tokenized

__all__ = [
    "LOSS_TYPES",
    "DPOMethod",
    "DPOSection",
    "NLL_NORMS",
    "build",
    "chosen_nll_term",
    "dpo_loss",
    "initial_loss",
    "with_nll_term",
]

LOSS_TYPES = ("sigmoid", "ipo", "hinge", "robust")

#: Default α of the NLL term on the chosen reply (the README's measurements chose it).
NLL_WEIGHT = 1.0
#: How the NLL term is normalised: ``sum`` is the chosen reply's NLL ``-log π(y_w|x)``, in the
#: same units as DPO's summed log-ratios (see `with_nll_term`); ``token_mean`` is TRL's.
NLL_NORMS = ("sum", "token_mean")


class DPOSection(Section):
    """Direct Preference Optimisation settings (see ``methods/dpo.py``)."""

    beta: Float = Field(0.1, gt=0, description="Strength of the pull toward the reference.")
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust"] = Field(
        "sigmoid", description="sigmoid (DPO), ipo, hinge (SLiC) or robust (noisy labels)."
    )
    label_smoothing: Float = Field(
        0.0, ge=0, lt=0.5, description="Assumed share of flipped pairs (robust; cDPO for sigmoid)."
    )
    precompute_ref: bool = Field(
        True, description="Reference log-probs computed once before training and cached."
    )
    nll_weight: Float = Field(
        NLL_WEIGHT,
        ge=0,
        le=100,
        description="α of the NLL term on the chosen reply (RPO; TRL's sft loss weight); 0: DPO.",
    )
    nll_norm: Literal["sum", "token_mean"] = Field(
        "sum",
        description=(
            "NLL term per pair: sum = the chosen reply's -log p (DPO's units), "
            "token_mean = per-token mean over the batch's chosen replies (TRL's sft term)."
        ),
    )


def dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    *,
    beta: float = 0.1,
    loss_type: str = "sigmoid",
    label_smoothing: float = 0.0,
    chosen_lengths: torch.Tensor | None = None,
    rejected_lengths: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pair DPO losses and implicit rewards.

    With ``h_w = policy_chosen - ref_chosen``, ``h_l = policy_rejected - ref_rejected`` and the
    gap ``h = h_w - h_l`` (all summed sequence log-probs):

    * ``sigmoid`` — DPO, Rafailov et al. 2023, eq. 7: ``-log σ(β·h)``. With
      ``label_smoothing`` ε > 0 it is conservative DPO (Mitchell 2023):
      ``-(1-ε)·log σ(β·h) - ε·log σ(-β·h)``; TRL 1.16 ignores ε for this type.
    * ``ipo`` — IPO, Azar et al. 2023, eq. 17, on length-normalised log-ratios (as the IPO
      authors and TRL compute it): ``(h_w/|y_w| - h_l/|y_l| - 1/(2β))²``; needs
      ``chosen_lengths`` and ``rejected_lengths``.
    * ``hinge`` — SLiC (Zhao et al. 2023): ``max(0, 1 - β·h)``.
    * ``robust`` — Chowdhury et al. 2024, eq. 8, unbiased under a label-flip rate ε:
      ``(-(1-ε)·log σ(β·h) + ε·log σ(-β·h)) / (1 - 2ε)``.

    ``log σ`` is ``F.logsigmoid`` (stable for any finite input), so huge gaps give finite
    losses and gradients.

    Args:
        policy_chosen_logps: (B,) log π_θ(y_w|x), summed over the completion tokens.
        policy_rejected_logps: (B,) log π_θ(y_l|x).
        ref_chosen_logps: (B,) log π_ref(y_w|x) (no grad needed).
        ref_rejected_logps: (B,) log π_ref(y_l|x).
        beta: β, the strength of the KL regularisation (IPO's τ is β).
        loss_type: one of `LOSS_TYPES`.
        label_smoothing: ε in [0, 0.5): the assumed rate of flipped labels.
        chosen_lengths: (B,) completion token counts of y_w (``ipo`` only).
        rejected_lengths: (B,) completion token counts of y_l (``ipo`` only).

    Returns:
        ``(losses, chosen_rewards, rejected_rewards)``, each (B,) float: the per-pair losses
        (with grad) and the detached implicit rewards ``β·h_w`` and ``β·h_l``.
    """
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"label_smoothing must be in [0, 0.5), got {label_smoothing}")
    chosen_logratios = policy_chosen_logps - ref_chosen_logps  # (B,)
    rejected_logratios = policy_rejected_logps - ref_rejected_logps
    gap = beta * (chosen_logratios - rejected_logratios)
    if loss_type == "sigmoid":
        losses = -(1 - label_smoothing) * F.logsigmoid(gap) - label_smoothing * F.logsigmoid(-gap)
    elif loss_type == "robust":
        losses = (
            -(1 - label_smoothing) * F.logsigmoid(gap) + label_smoothing * F.logsigmoid(-gap)
        ) / (1 - 2 * label_smoothing)
    elif loss_type == "hinge":
        losses = torch.relu(1 - gap)
    elif loss_type == "ipo":
        if chosen_lengths is None or rejected_lengths is None:
            raise ValueError("loss_type 'ipo' needs chosen_lengths and rejected_lengths")
        # Per-token log-ratios keep the squared target 1/(2β) independent of reply length.
        normalised = chosen_logratios / chosen_lengths.clamp(min=1) - (
            rejected_logratios / rejected_lengths.clamp(min=1)
        )
        losses = (normalised - 1 / (2 * beta)) ** 2
    else:
        raise ValueError(f"unknown DPO loss_type {loss_type!r}; expected one of {LOSS_TYPES}")
    chosen_rewards = beta * chosen_logratios.detach()
    rejected_rewards = beta * rejected_logratios.detach()
    return losses, chosen_rewards, rejected_rewards


def with_nll_term(
    losses: torch.Tensor, chosen_nll: torch.Tensor, nll_weight: float
) -> torch.Tensor:
    """Per-pair losses plus the chosen replies' NLL term: ``L_i + α · NLL_i``.

    RPO (Pang et al. 2024, eq. 1): ``L_DPO + α · NLL(y_w)``. ``chosen_nll`` is either (B,), one
    NLL per pair, or 0-dim, one value shared by every pair of the micro-batch; which NLL it is
    is `chosen_nll_term`'s choice (``dpo.nll_norm``). The mean over a micro-batch of B pairs is
    ``mean_i L_i + α · mean_i NLL_i``.

    Args:
        losses: (B,) per-pair preference losses (`dpo_loss`), with grad.
        chosen_nll: (B,) or 0-dim NLL of the chosen replies, with grad.
        nll_weight: α ≥ 0; 0 returns ``losses`` itself (plain DPO, bit for bit).

    Returns:
        (B,) the per-pair losses with the NLL term.
    """
    if nll_weight == 0:
        return losses
    return losses + nll_weight * chosen_nll


def chosen_nll_term(policy: PairLogps, nll_norm: str) -> torch.Tensor:
    """The NLL of the chosen replies that ``dpo.nll_weight`` multiplies.

    * ``sum`` (default): (B,), each chosen reply's own ``-log π(y_w|x)`` summed over its
      tokens: the units of DPO's log-ratios, so every chosen token is pulled up with weight α
      while the DPO term moves a token by at most β. The balance does not depend on reply
      length. With the token mean, a reply of T tokens pulls each token by α/T only: on pairs
      whose replies differ in one field of a 70-token JSON object, DPO's push on the differing
      token (up to β = 0.1) beat the NLL's hold (1/70) and the model learnt to write ``null``
      in every field the pairs' rejected replies had filled (README, "Measured: json-extract").
    * ``token_mean``: 0-dim, the token mean over the micro-batch's chosen replies
      (`PairLogps.chosen_nll`; TRL's ``sft`` loss term and the RPO paper's ``/|y_w|``).

    Args:
        policy: the policy's `PairLogps` of the micro-batch.
        nll_norm: one of `NLL_NORMS`.

    Returns:
        (B,) for ``sum``, 0-dim for ``token_mean``; with grad.
    """
    if nll_norm == "sum":
        return -policy.chosen
    if nll_norm == "token_mean":
        return policy.chosen_nll()
    raise ValueError(f"unknown dpo.nll_norm {nll_norm!r}; expected one of {NLL_NORMS}")


def initial_loss(loss_type: str, beta: float) -> float:
    """The loss of every pair while the policy equals the reference (all log-ratios 0).

    ln 2 for sigmoid and robust (whatever ε), 1 for hinge, ``(1/(2β))²`` for ipo. A loss that
    stays here means nothing is being learned (see ``engine/watchdog.py``).
    """
    if loss_type in ("sigmoid", "robust"):
        return math.log(2.0)
    if loss_type == "hinge":
        return 1.0
    if loss_type == "ipo":
        return (1 / (2 * beta)) ** 2
    raise ValueError(f"unknown DPO loss_type {loss_type!r}; expected one of {LOSS_TYPES}")


class DPOMethod:
    """The DPO plug-in for the training loop (see ``methods/base.py``)."""

    name = "dpo"
    needs_reference = True

    def __init__(self, section: DPOSection) -> None:
        self.section = section
        #: Reference log-probs computed once before training (and cached) rather than per step.
        self.precompute_reference = section.precompute_ref
        #: The loss while the policy equals the reference; the watchdog warns if it stays there.
        #: With the NLL term the loss has no such fixed value (it moves with each batch's NLL).
        self.stuck_loss = (
            initial_loss(section.loss_type, section.beta) if section.nll_weight == 0 else None
        )

    def collate(self, items: Sequence[Tokenized], pad_token_id: int) -> Batch:
        """Chosen rows then rejected rows, right padded (see `collate_pairs`)."""
        return collate_pairs(items, pad_token_id)

    def count_units(self, batch: Batch) -> int:
        """The loss unit is a pair."""
        return count_pairs(batch)

    def reference_settings(self) -> dict[str, object]:
        """What reference values depend on besides the model and the tokens (cache key)."""
        return {"values": "pair-completion-logp-sums", "version": 1}

    def reference_values(self, model: torch.nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        """Reference sequence log-probs of the batch: ``chosen`` and ``rejected``, each (B,).

        Called by ``engine/reference.py`` on the reference model, under ``torch.no_grad``.
        """
        logps = pair_logps(model, batch)
        return {"chosen": logps.chosen.detach(), "rejected": logps.rejected.detach()}

    def step(
        self, model: PreTrainedModel, batch: Batch, reference: ReferenceLogps | None
    ) -> StepOutput:
        """Forward both completions of every pair, look up the reference, sum the losses.

        With ``dpo.nll_weight`` α > 0 each pair's loss carries α times its chosen reply's NLL
        (`chosen_nll_term`, `with_nll_term`); ``nll_chosen`` logs the token-mean NLL either way.
        """
        if reference is None:
            raise ValueError("DPO needs reference log-probs; the engine passed none")
        policy = pair_logps(model, batch)
        ref = reference(batch)
        losses, chosen_rewards, rejected_rewards = dpo_loss(
            policy.chosen,
            policy.rejected,
            ref["chosen"].to(policy.chosen.dtype),
            ref["rejected"].to(policy.rejected.dtype),
            beta=self.section.beta,
            loss_type=self.section.loss_type,
            label_smoothing=self.section.label_smoothing,
            chosen_lengths=policy.chosen_tokens,
            rejected_lengths=policy.rejected_tokens,
        )
        chosen_nll = policy.chosen_nll()
        losses = with_nll_term(
            losses, chosen_nll_term(policy, self.section.nll_norm), self.section.nll_weight
        )
        margins = chosen_rewards - rejected_rewards
        metric_sums = {
            "rewards/chosen": chosen_rewards.sum(),
            "rewards/rejected": rejected_rewards.sum(),
            "rewards/margins": margins.sum(),
            "rewards/accuracies": (margins > 0).float().sum(),
            "logps/chosen": policy.chosen.detach().sum(),
            "logps/rejected": policy.rejected.detach().sum(),
            # Logged whatever α: how likely the chosen replies stay is worth watching in DPO.
            "nll_chosen": chosen_nll.detach() * len(losses),
        }
        return StepOutput(loss_sum=losses.sum(), metric_sums=metric_sums, tokens=pair_tokens(batch))


def build(config: TuneforgeConfig) -> DPOMethod:
    """The DPO method for a config (its ``dpo:`` section)."""
    return DPOMethod(section_of(config, DPOSection))


#: Preference methods start from an SFT-quality policy and move it gently (Zephyr's DPO: 5e-7
#: for full fine-tuning; LoRA about 100x that).
SPEC = MethodSpec(
    name="dpo",
    section=DPOSection,
    record_kind=RecordKind.PAIR,
    default_lr=DefaultLR(lora=5e-5, full=5e-7),
    build=build,
    summary="direct preference optimisation on chosen/rejected pairs against a reference",
)
