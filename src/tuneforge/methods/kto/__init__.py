"""Kahneman-Tversky Optimisation (Ethayarajh et al. 2024) from scored, unpaired feedback.

Each example is one prompt, one completion and a label (desirable or undesirable, from a bool,
int or float score by the threshold rule of ``data/kto_labels.py``). The loss
(`kto_loss`, paper Eq. 7-8) pushes the implied reward ``r = log π(y|x) - log π_ref(y|x)`` of a
desirable completion above the reference point ``z`` and that of an undesirable one below it.

The reference point ``z`` (`kl_reference_point`) is estimated per micro-batch from mismatched
pairs: the completions are rotated by one inside the micro-batch (``x_i`` with ``y_{i-1}``, as in
TRL), scored under the policy (no gradient, dropout off) and the reference, and
``z = max(0, mean(log-ratio))``, averaged over processes when distributed.

Reference log-probs. The matched ones depend only on the example, so by default they are
computed once before training and cached (``engine/reference.py``). The mismatched pairs change
with every epoch's shuffle, so theirs cannot be cached: with LoRA they are computed at each step
on the policy with its adapter switched off (one extra no-grad forward). Full fine-tuning has no
such view of the policy, so there everything comes from the engine's frozen copy on the fly.

A micro-batch of one example has no mismatched pair (config validation asks for
``train.batch_size >= 2``, but the last micro-batch of an epoch can still hold one): it reuses the
``z`` of the previous micro-batch in the same mode (train or eval), or 0 before any.

``kto.nll_weight`` α (default 1; 0 is KTO alone) adds an NLL term on the desirable replies
(`nll_term`), so the model learns to write them, not only to rank them. With
``kto.nll_norm: sum`` (default) each desirable example carries α times its own reply's NLL
``-log π(y|x)``, in the units of KTO's reward (summed log-probs): the summed loss of B examples
is ``Σ_i w_i·L_KTO(i) + α·Σ_{i desirable} NLL(y_i)``. With ``token_mean`` every example carries
α times the token-mean NLL of the micro-batch's desirable replies (`desirable_nll`):
``Σ_i w_i·L_KTO(i) + B·α·NLL(desirable)``. Score weights do not scale the NLL term.

The loss unit is one example; metrics are emitted as sums plus class counts and turned into
TRL's per-class means by `KTOMethod.finish_metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import torch
from pydantic import Field

from tuneforge.config.section import Float, Section
from tuneforge.data.types import Example, RecordKind
from tuneforge.methods.base import (
    Batch,
    DefaultLR,
    MethodSpec,
    ReferenceLogps,
    StepOutput,
    section_of,
)
from tuneforge.methods.kto.data import apply_score_weights, balance_weights, collate_scored
from tuneforge.methods.kto.loss import (
    KTOLossType,
    desirable_nll,
    kl_reference_point,
    kto_loss,
    nll_term,
)
from tuneforge.methods.logps import batch_token_logps
from tuneforge.models import adapter_disabled, is_peft, unwrap

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from tuneforge.config import TuneforgeConfig
    from tuneforge.data.tokenize import Tokenized

__all__ = [
    "KTOLossType",
    "KTOMethod",
    "KTOSection",
    "build",
    "desirable_nll",
    "kl_reference_point",
    "kto_loss",
]


#: Default α of the NLL term on the desirable replies: on brand-voice replies KTO alone passed
#: every check on 53% of replies, with α 1 (summed) 93% (README, "does the style show").
NLL_WEIGHT = 1.0


class KTOSection(Section):
    """Kahneman-Tversky Optimisation settings."""

    beta: Float = Field(0.1, gt=0)
    desirable_weight: Float = Field(1.0, gt=0)
    undesirable_weight: Float = Field(1.0, gt=0)
    threshold: Float | None = Field(None, description="Scores above this are desirable.")
    loss_type: Literal["kto", "apo_zero_unpaired"] = "kto"
    score_weighting: bool = Field(
        False, description="Weight each example by its score's distance from the threshold."
    )
    auto_weights: bool = Field(
        False, description="Set desirable/undesirable weights to balance the classes."
    )
    precompute_ref: bool = Field(
        True, description="Reference log-probs of the examples computed once upfront."
    )
    nll_weight: Float = Field(
        NLL_WEIGHT,
        ge=0,
        le=100,
        description="α of the NLL term on the desirable replies (default 1); 0: KTO alone.",
    )
    nll_norm: Literal["sum", "token_mean"] = Field(
        "sum",
        description=(
            "NLL term per desirable reply: sum = its -log p (KTO's reward units), "
            "token_mean = per-token mean over the batch's desirable replies."
        ),
    )

    @property
    def needs_kl(self) -> bool:
        """True when the loss uses the KL reference point (estimated within a micro-batch)."""
        return self.loss_type == "kto"


#: `KTOMethod.state_dict` keys → the ``model.training`` flag their ``z`` belongs to.
_MODES = {"last_kl_train": True, "last_kl_eval": False}

#: Per-class sums emitted by `KTOMethod.step` → the count they are averaged over.
_CLASS_MEANS = {
    "rewards/chosen": "count/chosen",
    "rewards/rejected": "count/rejected",
    "logps/chosen": "count/chosen",
    "logps/rejected": "count/rejected",
    "nll_chosen": "count/chosen",
}


def _completion_logps(model: torch.nn.Module, batch: Batch, prefix: str = "") -> torch.Tensor:
    """(B,) summed completion log-probs of the ``{prefix}input_ids`` rows under ``model``."""
    return _completion_logps_and_counts(model, batch, prefix)[0]


def _completion_logps_and_counts(
    model: torch.nn.Module, batch: Batch, prefix: str = ""
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,) summed completion log-probs and (B,) completion token counts, as above."""
    logps, mask = batch_token_logps(
        model,
        batch[f"{prefix}input_ids"],
        batch[f"{prefix}attention_mask"],
        batch[f"{prefix}labels"],
    )  # (B, T-1), packed where the model allows
    return logps.sum(dim=-1), mask.sum(dim=-1)


def _all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over every process (a copy; unchanged when not distributed)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        tensor = tensor.clone()
        torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)
    return tensor


class KTOMethod:
    """The KTO plug-in for the training loop (see ``methods/base.py``)."""

    name = "kto"
    needs_reference = True

    def __init__(self, section: KTOSection, *, max_length: int, uses_lora: bool) -> None:
        self.section = section
        self.max_length = max_length
        self.with_kl = section.needs_kl
        #: Matched reference log-probs cached upfront; the mismatched pairs' are live (see the
        #: module docstring), which needs the adapter-off view of a LoRA policy.
        self.precompute_reference = section.precompute_ref and (uses_lora or not self.with_kl)
        #: λ_D and λ_U in force; `prepare_data` may rebalance them (``kto.auto_weights``).
        self.desirable_weight = section.desirable_weight
        self.undesirable_weight = section.undesirable_weight
        # The last z per mode (True: training), for a one-example micro-batch.
        self._last_kl: dict[bool, float] = {}

    @property
    def stuck_loss(self) -> float | None:
        """The loss while the policy equals the reference: λ/2 when λ_D = λ_U, else unknown.

        Unknown too with ``kto.nll_weight`` > 0: the NLL term moves with each batch.
        """
        if self.desirable_weight == self.undesirable_weight and self.section.nll_weight == 0:
            return 0.5 * self.desirable_weight
        return None

    def state_dict(self) -> dict[str, float]:
        """The last ``z`` of each mode, so a resumed run's lone-example batches reuse it."""
        return {mode: self._last_kl[flag] for mode, flag in _MODES.items() if flag in self._last_kl}

    def load_state_dict(self, state: dict[str, float]) -> None:
        """Restore what `state_dict` returned (unknown keys are ignored)."""
        self._last_kl = {flag: float(state[mode]) for mode, flag in _MODES.items() if mode in state}

    # ----------------------------------------------------------------------------------------
    # Data
    # ----------------------------------------------------------------------------------------

    def prepare_data(
        self,
        train: tuple[Sequence[Example], Sequence[Tokenized]],
        held_out: tuple[Sequence[Example], Sequence[Tokenized]],
    ) -> tuple[list[Tokenized], list[Tokenized], list[str]]:
        """Score weights and class balance, once before training.

        Args:
            train: the training records and their tokenised items.
            held_out: the same for the held-out split.

        Returns:
            ``(train_items, eval_items, messages)``: the items (with score weights when
            ``kto.score_weighting``), and lines to show the user (balance warning, what
            ``auto_weights`` and ``score_weighting`` did).
        """
        train_items, eval_items = list(train[1]), list(held_out[1])
        messages: list[str] = []
        if self.section.score_weighting:
            weighted, note = apply_score_weights(train[0], train_items, self.section.threshold)
            train_items = list(weighted)
            if eval_items:
                eval_items = list(
                    apply_score_weights(held_out[0], eval_items, self.section.threshold)[0]
                )
            messages.append(note)
        desirable = sum(1 for item in train_items if getattr(item, "desirable", False))
        weights = balance_weights(desirable, len(train_items) - desirable, self.section)
        self.desirable_weight, self.undesirable_weight = weights.desirable, weights.undesirable
        messages.extend(weights.messages)
        return train_items, eval_items, messages

    def collate(self, items: Sequence[Tokenized], pad_token_id: int) -> Batch:
        """Prompt + completion rows and, for ``kto``, the rotated mismatched rows."""
        return collate_scored(items, pad_token_id, max_length=self.max_length, with_kl=self.with_kl)

    def count_units(self, batch: Batch) -> int:
        """The loss unit is one example."""
        return int(batch["desirable"].numel())

    # ----------------------------------------------------------------------------------------
    # Reference
    # ----------------------------------------------------------------------------------------

    def reference_settings(self) -> dict[str, object]:
        """What reference values depend on besides the model and the tokens (cache key)."""
        return {"values": "kto-completion-logp-sums", "max_length": self.max_length, "version": 1}

    def reference_values(self, model: torch.nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        """``logps`` (B,): the reference's completion log-probs; on the fly also ``kl_logps``.

        Called by ``engine/reference.py`` under ``torch.no_grad`` on the reference model. When
        precomputing, the mismatched pairs of the precompute batches are not the training ones,
        so they are left out here and scored live in `step`.
        """
        values = {"logps": _completion_logps(model, batch)}
        if not self.precompute_reference and "kl_input_ids" in batch:
            values["kl_logps"] = _completion_logps(model, batch, "kl_")
        return values

    def _live_reference_kl(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        """Reference log-probs of the mismatched rows: the LoRA policy with its adapter off."""
        inner = unwrap(model)  # under DDP, a no-grad pass needs no hooks
        if not is_peft(inner):
            raise ValueError(
                "KTO needs live reference log-probs for its mismatched pairs: use a LoRA "
                "adapter, or kto.precompute_ref: false for full fine-tuning"
            )
        with adapter_disabled(inner) as reference:
            return _completion_logps(reference, batch, "kl_").float()

    def _reference_point(
        self, model: torch.nn.Module, batch: Batch, ref: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """``z`` for this micro-batch (module docstring), remembered for a lone example."""
        if not self.with_kl:
            return torch.zeros((), device=batch["input_ids"].device)
        if "kl_input_ids" in batch:
            was_training = model.training
            model.eval()  # z measures the policy itself, without dropout noise
            try:
                with torch.no_grad():
                    policy_kl = _completion_logps(model, batch, "kl_").float()
            finally:
                model.train(was_training)
            ref_kl = ref.get("kl_logps")
            if ref_kl is None:
                ref_kl = self._live_reference_kl(model, batch)
        else:
            policy_kl = ref_kl = torch.zeros(0, device=batch["input_ids"].device)
        fallback = self._last_kl.get(model.training, 0.0)
        z, pairs = kl_reference_point(
            policy_kl,
            ref_kl.to(policy_kl.device),
            all_reduce_sum=_all_reduce_sum,
            fallback=fallback,
        )
        if pairs:
            self._last_kl[model.training] = float(z)
        return z

    # ----------------------------------------------------------------------------------------
    # Step and metrics
    # ----------------------------------------------------------------------------------------

    def step(
        self, model: PreTrainedModel, batch: Batch, reference: ReferenceLogps | None
    ) -> StepOutput:
        """Score the completions, estimate ``z``, and return the summed weighted losses.

        With ``kto.nll_weight`` α > 0 the loss carries α times the desirable replies' NLL
        (`nll_term`, ``kto.nll_norm``); ``nll_chosen`` logs their token-mean NLL either way.
        """
        if reference is None:
            raise ValueError("KTO needs reference log-probs; the engine passed none")
        policy_logps, token_counts = _completion_logps_and_counts(model, batch)  # (B,) each
        ref = reference(batch)
        z = self._reference_point(model, batch, ref)
        desirable = batch["desirable"].to(torch.bool)
        losses, rewards = kto_loss(
            policy_logps,
            ref["logps"].to(policy_logps.device, policy_logps.dtype),
            desirable,
            z,
            beta=self.section.beta,
            desirable_weight=self.desirable_weight,
            undesirable_weight=self.undesirable_weight,
            loss_type=self.section.loss_type,
        )
        # Score weights (1 unless kto.score_weighting) scale each example on top of λ.
        losses = losses * batch["weight"].to(losses.dtype)
        nll = desirable_nll(policy_logps, token_counts, desirable)
        if self.section.nll_weight != 0:  # 0 leaves KTO's loss bit for bit as it was
            term = nll_term(policy_logps, token_counts, desirable, self.section.nll_norm)
            losses = losses + self.section.nll_weight * term
        logps = policy_logps.detach()
        undesirable = ~desirable
        metric_sums = {
            # Per desirable reply (`finish_metrics`), like TRL's per-class means.
            "nll_chosen": nll.detach() * desirable.sum().float(),
            "kl": z.detach().float() * desirable.numel(),
            "rewards/chosen": rewards[desirable].sum(),
            "rewards/rejected": rewards[undesirable].sum(),
            "logps/chosen": logps[desirable].sum(),
            "logps/rejected": logps[undesirable].sum(),
            "count/chosen": desirable.sum().float(),
            "count/rejected": undesirable.sum().float(),
        }
        tokens = int(batch["attention_mask"].sum().item())
        return StepOutput(loss_sum=losses.sum(), metric_sums=metric_sums, tokens=tokens)

    def finish_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        """Per-unit metric means → what is logged: TRL's per-class means and the margin.

        The engine divides every metric sum by the window's examples; dividing two of those
        gives the exact ratio of sums, e.g. ``rewards/chosen`` = Σ_desirable β·r / n_desirable.
        A class absent from the window leaves its metrics (and the margin) out, as in TRL.
        """
        out = dict(metrics)
        for prefix in ("", "eval_"):  # training records, and held-out ones from evaluate_loss
            for name, count_name in _CLASS_MEANS.items():
                total, count = out.pop(prefix + name, None), metrics.get(prefix + count_name)
                if total is not None and count:
                    out[prefix + name] = total / count
            for count_name in set(_CLASS_MEANS.values()):
                out.pop(prefix + count_name, None)
            chosen = out.get(f"{prefix}rewards/chosen")
            rejected = out.get(f"{prefix}rewards/rejected")
            if chosen is not None and rejected is not None:
                out[f"{prefix}rewards/margins"] = chosen - rejected
        return out


def build(config: TuneforgeConfig) -> KTOMethod:
    """The KTO method for a config (its ``kto:`` section, the length limit, LoRA or not)."""
    return KTOMethod(
        section_of(config, KTOSection),
        max_length=config.data.max_length,
        uses_lora=config.uses_lora,
    )


def check_config(config: TuneforgeConfig) -> None:
    """KTO's KL estimate pairs each prompt with another example's completion in the batch."""
    section = section_of(config, KTOSection)
    if section.needs_kl and config.train.batch_size < 2:
        raise ValueError(
            f"train.batch_size: must be at least 2 for method {config.method} (got "
            f"{config.train.batch_size}): KTO estimates its KL reference point from mismatched "
            "pairs inside each micro-batch (each prompt with another example's completion), "
            "which needs two examples; raise train.batch_size (train.grad_accum does not "
            "help: it adds micro-batches, not examples per micro-batch), or set "
            "kto.loss_type: apo_zero_unpaired, which has no KL term"
        )


#: Like DPO, KTO moves an SFT-quality policy gently: 5e-7 for full fine-tuning, LoRA ~100x.
SPEC = MethodSpec(
    name="kto",
    section=KTOSection,
    record_kind=RecordKind.SCORED,
    default_lr=DefaultLR(lora=5e-5, full=5e-7),
    build=build,
    check_config=check_config,
    summary="Kahneman-Tversky optimisation on single replies with a score or thumbs",
)
