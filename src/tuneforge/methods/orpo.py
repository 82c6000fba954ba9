"""Odds-Ratio Preference Optimisation (Hong et al. 2024): SFT and preference in one loss.

ORPO needs no reference model. For a prompt x with chosen y_w and rejected y_l it adds to the
NLL of the chosen reply a penalty on the log odds ratio of the two replies (eqs. 4-7)::

    odds(y|x)     = P(y|x) / (1 - P(y|x)),   P(y|x) = exp(mean_t log π(y_t | x, y_<t))
    log_odds      = log odds(y_w|x) - log odds(y_l|x)
    L_ORPO        = L_NLL(y_w) - β · log σ(log_odds)

P(y|x) is the *length-averaged* likelihood, so ``log odds(y) = m - log(1 - exp(m))`` with m
the mean token log-prob.

The NLL term, by default, covers the chosen completion tokens only (the tokens the model is
asked to produce). ``orpo.nll_on_prompt: true`` also counts the chosen row's prompt tokens,
which is what TRL's ORPOTrainer (and the paper's reference code) does: it then also teaches
the model to predict the user's messages and the system prompt, which shifts probability mass
toward prompt text without helping the replies. In both cases the NLL is the token mean over
the micro-batch's chosen rows (as in TRL and the reference code: a causal-LM loss over the
batch), entered once per pair, so with one micro-batch per step the loss is exactly TRL's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

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
from tuneforge.methods.pairs import collate_pairs, count_pairs, pair_logps, pair_tokens

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from tuneforge.config import TuneforgeConfig
    from tuneforge.data.tokenize import Tokenized

__all__ = ["ORPOMethod", "ORPOSection", "build", "log1mexp", "odds_ratio_loss"]

#: log(1 - exp(x)) is -inf at x = 0 (a reply of probability 1); mean log-probs are clamped
#: just below 0 so that the odds stay finite. Far below any value seen in practice.
_MAX_MEAN_LOGP = -1e-7


class ORPOSection(Section):
    """Odds-Ratio Preference Optimisation settings (see ``methods/orpo.py``)."""

    beta: Float = Field(0.1, gt=0, description="Weight of the odds-ratio term against the NLL.")
    nll_on_prompt: bool = Field(
        False, description="NLL on the prompt tokens too, as TRL does; default: the reply only."
    )


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """``log(1 - exp(x))`` for x < 0, accurate everywhere (Mächler 2012).

    ``log(-expm1(x))`` near 0 and ``log1p(-exp(x))`` below -ln 2, where each form avoids
    cancellation.

    Args:
        x: any shape, values < 0.

    Returns:
        Same shape as ``x``.
    """
    # Both branches are evaluated by where(); clamp their inputs so neither produces NaN
    # (whose gradient would leak through the unselected branch).
    near_zero = torch.log(-torch.expm1(x.clamp(min=-math.log(2.0))))
    far = torch.log1p(-torch.exp(x.clamp(max=-math.log(2.0))))
    return torch.where(x > -math.log(2.0), near_zero, far)


def odds_ratio_loss(
    chosen_mean_logps: torch.Tensor,
    rejected_mean_logps: torch.Tensor,
    *,
    beta: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """ORPO's odds-ratio term (Hong et al. 2024, eqs. 6-7) per pair.

    ``log_odds = (m_w - m_l) - (log(1 - e^{m_w}) - log(1 - e^{m_l}))`` from the mean token
    log-probs m, and ``losses = -β · log σ(log_odds)``.

    Args:
        chosen_mean_logps: (B,) mean token log-prob of the chosen completion (≤ 0).
        rejected_mean_logps: (B,) mean token log-prob of the rejected completion.
        beta: β (the paper's λ), the weight of the odds-ratio term against the NLL.

    Returns:
        ``(losses, log_odds_ratio)``, each (B,), float32 (float64 for float64 inputs):
        ``losses`` with grad, and the log odds ratio (with grad; detach it for logging).
    """
    # At least float32: bf16 log-probs would lose the odds near P = 1.
    dtype = torch.promote_types(chosen_mean_logps.dtype, torch.float32)
    chosen = chosen_mean_logps.to(dtype).clamp(max=_MAX_MEAN_LOGP)
    rejected = rejected_mean_logps.to(dtype).clamp(max=_MAX_MEAN_LOGP)
    log_odds = (chosen - rejected) - (log1mexp(chosen) - log1mexp(rejected))
    return -beta * F.logsigmoid(log_odds), log_odds


class ORPOMethod:
    """The ORPO plug-in for the training loop (see ``methods/base.py``)."""

    name = "orpo"
    needs_reference = False
    precompute_reference = False
    #: ORPO's loss has no fixed "nothing learned" value (it includes the NLL).
    stuck_loss = None

    def __init__(self, section: ORPOSection) -> None:
        self.section = section

    def collate(self, items: Sequence[Tokenized], pad_token_id: int) -> Batch:
        """Chosen rows then rejected rows, right padded (see `collate_pairs`)."""
        return collate_pairs(items, pad_token_id)

    def count_units(self, batch: Batch) -> int:
        """The loss unit is a pair."""
        return count_pairs(batch)

    def step(
        self, model: PreTrainedModel, batch: Batch, reference: ReferenceLogps | None
    ) -> StepOutput:
        """One forward for both replies; NLL of the chosen rows plus the odds-ratio term.

        Metrics follow TRL's names and meanings: rewards are ``β·mean log-prob``, ``logps/*``
        are mean token log-probs, ``log_odds_chosen`` is the log odds ratio and
        ``log_odds_ratio`` is ``log σ(log odds ratio)``.
        """
        del reference
        logps = pair_logps(model, batch, score_chosen_prompt=self.section.nll_on_prompt)
        pairs = count_pairs(batch)
        # The token mean over the micro-batch, once per pair (the engine divides by pairs).
        nll = logps.chosen_nll(with_prompt=self.section.nll_on_prompt)
        chosen_mean, rejected_mean = logps.chosen_mean(), logps.rejected_mean()
        ratio_losses, log_odds = odds_ratio_loss(chosen_mean, rejected_mean, beta=self.section.beta)
        loss_sum = nll * pairs + ratio_losses.sum()
        beta = self.section.beta
        chosen_rewards = beta * chosen_mean.detach()
        rejected_rewards = beta * rejected_mean.detach()
        margins = chosen_rewards - rejected_rewards
        log_odds = log_odds.detach()
        metric_sums = {
            "rewards/chosen": chosen_rewards.sum(),
            "rewards/rejected": rejected_rewards.sum(),
            "rewards/margins": margins.sum(),
            "rewards/accuracies": (margins > 0).float().sum(),
            "logps/chosen": chosen_mean.detach().sum(),
            "logps/rejected": rejected_mean.detach().sum(),
            "nll_loss": nll.detach() * pairs,
            "log_odds_ratio": F.logsigmoid(log_odds).sum(),
            "log_odds_chosen": log_odds.sum(),
        }
        return StepOutput(loss_sum=loss_sum, metric_sums=metric_sums, tokens=pair_tokens(batch))


def build(config: TuneforgeConfig) -> ORPOMethod:
    """The ORPO method for a config (its ``orpo:`` section)."""
    return ORPOMethod(section_of(config, ORPOSection))


#: ORPO carries an NLL term and sits between SFT and DPO (the ORPO paper: 8e-6 full).
SPEC = MethodSpec(
    name="orpo",
    section=ORPOSection,
    record_kind=RecordKind.PAIR,
    default_lr=DefaultLR(lora=1e-4, full=8e-6),
    build=build,
    summary="odds-ratio preference optimisation on pairs, no reference model",
)
