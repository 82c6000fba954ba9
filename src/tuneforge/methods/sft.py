"""Supervised fine-tuning: next-token negative log-likelihood on the learned tokens.

The loss is the standard next-token NLL; with ``completion_only`` (the default) only the
response tokens are learned, as in TRL's ``completion_only_loss``. The loss unit is one learned
label token, so the engine's division by the window's units gives the per-token mean over the
whole accumulation window, however the tokens are spread across micro-batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from pydantic import Field

from tuneforge.config.section import Section
from tuneforge.data.collate import model_inputs, pack_sft, pad_sft
from tuneforge.data.tokenize import IGNORE_INDEX, TokenizedSFT
from tuneforge.data.types import RecordKind
from tuneforge.methods.base import (
    Batch,
    DefaultLR,
    MethodSpec,
    ReferenceLogps,
    StepOutput,
    section_of,
)
from tuneforge.methods.logps import model_token_logps

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from tuneforge.config import TuneforgeConfig
    from tuneforge.data.tokenize import Tokenized

__all__ = ["SFTMethod", "SFTSection", "build", "sft_token_losses"]


class SFTSection(Section):
    """Supervised fine-tuning settings."""

    packing: bool = False
    completion_only: bool = Field(True, description="Loss on the response tokens only.")


def sft_token_losses(
    model: torch.nn.Module, inputs: dict[str, torch.Tensor], labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token NLL ``-log p(labels[:, t+1] | input_ids[:, :t+1])`` of the learned tokens.

    Standard next-token NLL; completion-only loss as in TRL's ``completion_only_loss`` when the
    prompt labels are ``IGNORE_INDEX``. The logits come from `model_token_logps` (the output
    head runs on the learned positions alone where the model allows).

    Args:
        model: a causal LM (optionally peft-wrapped); grad mode is the caller's.
        inputs: model inputs (input_ids (B, T), and attention_mask or position_ids).
        labels: (B, T) long; ``IGNORE_INDEX`` where nothing is learned.

    Returns:
        ``(losses, mask)``: ``losses`` (B, T-1) float32, exactly 0 where masked; ``mask``
        (B, T-1) bool, True where a token is learned.
    """
    logps, mask = model_token_logps(model, inputs, labels)
    # where() rather than plain negation: -0.0 at masked positions would print as "-0".
    return torch.where(mask, -logps, 0.0), mask


@dataclass(frozen=True)
class _Labelled:
    """Ids with replacement labels (used when every token is learned)."""

    input_ids: list[int]
    labels: list[int]


class SFTMethod:
    """The SFT plug-in for the training loop (see ``methods/base.py``)."""

    name = "sft"
    needs_reference = False

    def __init__(self, section: SFTSection) -> None:
        self.section = section

    def collate(self, items: Sequence[Tokenized], pad_token_id: int) -> Batch:
        """Pad (or pack, with ``packing``) the examples; see ``data/collate.py``.

        With ``completion_only`` off, every token of every example (the prompt included) is
        learned: the labels become a copy of the ids here, before padding, so padding itself
        stays unlearned.
        """
        sft_items: list[TokenizedSFT | _Labelled] = []
        for item in items:
            if not isinstance(item, TokenizedSFT):
                raise TypeError(f"SFT expects TokenizedSFT items, got {type(item).__name__}")
            if self.section.completion_only:
                sft_items.append(item)
            else:
                sft_items.append(_Labelled(item.input_ids, list(item.input_ids)))
        collate = pack_sft if self.section.packing else pad_sft
        return collate(sft_items, pad_token_id)

    def count_units(self, batch: Batch) -> int:
        """Learned label tokens after the shift (``labels[:, 1:] != IGNORE_INDEX``)."""
        return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum().item())

    def step(
        self, model: PreTrainedModel, batch: Batch, reference: ReferenceLogps | None
    ) -> StepOutput:
        """Forward the batch and return the summed token NLL.

        ``use_cache=False`` matters beyond saving memory: with a cache object present,
        transformers skips the packed-sequence detection that keeps packed examples apart.
        """
        del reference
        losses, _ = sft_token_losses(model, model_inputs(batch), batch["labels"])
        if "attention_mask" in batch:
            tokens = int(batch["attention_mask"].sum().item())
        else:
            tokens = batch["input_ids"].numel()
        return StepOutput(loss_sum=losses.sum(), metric_sums={}, tokens=tokens)


def build(config: TuneforgeConfig) -> SFTMethod:
    """The SFT method for a config (its ``sft:`` section)."""
    return SFTMethod(section_of(config, SFTSection))


#: Common SFT recipes use 2e-5 for full fine-tuning; LoRA's low-rank delta needs about 10x.
SPEC = MethodSpec(
    name="sft",
    section=SFTSection,
    record_kind=RecordKind.SFT,
    default_lr=DefaultLR(lora=2e-4, full=2e-5),
    build=build,
    summary="supervised fine-tuning on a request and a good response",
)
