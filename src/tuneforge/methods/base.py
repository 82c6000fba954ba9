"""What a training method plugs into the one training loop.

A method turns tokenised records into a batch of tensors, says how many loss units (label
tokens for SFT, examples for preference methods) a batch holds, and computes the loss *sum*
over those units. The engine divides by the units of the whole accumulation window, so a
batch of 4 gives exactly the gradients of 4 micro-batches of 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

    from tuneforge.data.tokenize import Tokenized

Batch = dict[str, "torch.Tensor"]


@dataclass
class StepOutput:
    """One micro-batch's contribution.

    ``loss_sum`` is a scalar tensor (with grad): the per-unit losses summed, not averaged.
    ``metric_sums`` hold detached scalars summed over the same units; the engine divides them by
    the window's units before logging. ``tokens`` counts the non-padding tokens processed.
    """

    loss_sum: torch.Tensor
    metric_sums: dict[str, torch.Tensor] = field(default_factory=dict)
    tokens: int = 0


class ReferenceLogps(Protocol):
    """Reference-model log-probs for a batch (DPO, KTO); see ``engine/reference.py``."""

    def __call__(self, batch: Batch) -> dict[str, torch.Tensor]: ...


class TrainingMethod(Protocol):
    """The contract between a method module and ``engine/loop.py``."""

    name: str
    needs_reference: bool

    def collate(self, items: Sequence[Tokenized], pad_token_id: int) -> Batch:
        """Stack tokenised records into tensors (padding or packing as configured)."""
        ...

    def count_units(self, batch: Batch) -> int:
        """How many loss units the batch holds (label tokens, or examples)."""
        ...

    def step(
        self, model: PreTrainedModel, batch: Batch, reference: ReferenceLogps | None
    ) -> StepOutput:
        """Run the model on the batch and return the summed loss and metrics."""
        ...
