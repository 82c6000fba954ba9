"""What a training method is: its spec (for the config and the data) and its training plug-in.

`MethodSpec` is what the rest of tuneforge knows about a method without naming it: the config
section it reads, the kind of record it learns from (data handling dispatches on that), its
default learning rates, and how to build its `TrainingMethod` for a config. The registry
(``methods/__init__.py``) maps each method name to its spec.

A training method turns tokenised records into a batch of tensors, says how many loss units (label
tokens for SFT, examples for preference methods) a batch holds, and computes the loss *sum*
over those units. The engine divides by the units of the whole accumulation window, so a
batch of 4 gives exactly the gradients of 4 micro-batches of 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from tuneforge.data.types import (
    Batch,  # re-exported: methods and engine import it here
    RecordKind,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

    from tuneforge.config import Section, TuneforgeConfig
    from tuneforge.data.tokenize import Tokenized

SectionT = TypeVar("SectionT", bound="Section")


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
    """Reference-model values for a batch (DPO, KTO); see ``engine/reference.py``.

    Returns the method's own per-example values, each (B,), as its `ReferenceMethod`
    ``reference_values`` computes them on the reference model. Batches built by the engine
    carry ``index`` (B,) long, the items' positions in their split, for cached lookups.
    """

    def __call__(self, batch: Batch) -> dict[str, torch.Tensor]: ...


class TrainingMethod(Protocol):
    """The contract between a method module and ``engine/loop.py``.

    Optional hooks (looked up with getattr): ``prepare_data((train_examples, train_items),
    (eval_examples, eval_items)) -> (train_items, eval_items, messages)``, called once by
    ``train.py`` after tokenisation; ``finish_metrics(record) -> record``, applied to every
    logged record after the per-unit division (``engine/loop.py``); ``state_dict() -> dict``
    and ``load_state_dict(dict)``, for a method that carries values from step to step (KTO's
    last KL estimate): the dict (plain JSON values) is saved with every checkpoint and given
    back on resume, so a resumed run computes exactly what an uninterrupted one would.
    """

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


class ReferenceMethod(TrainingMethod, Protocol):
    """A method with ``needs_reference = True`` also says how to score the reference model.

    ``precompute_reference``: compute the values once before training (and cache them on
    disk) rather than at every step. ``reference_settings()``: everything besides the model
    weights and the token ids that the values depend on (part of the cache key).
    ``reference_values(model, batch)``: per-example values, each (B,), computed by the engine
    under ``torch.no_grad`` with the reference model in eval mode.

    Optional on any method: ``stuck_loss`` (float or None), the loss while nothing is learned
    yet (ln 2 for DPO); ``engine/watchdog.py`` warns when the loss stays there.
    """

    precompute_reference: bool

    def reference_settings(self) -> dict[str, object]:
        """What the reference values depend on besides the model and the token ids."""
        ...

    def reference_values(self, model: torch.nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        """Per-example reference values of ``batch`` under ``model``, each (B,)."""
        ...


@dataclass(frozen=True)
class DefaultLR:
    """Learning rates used when ``train.lr`` is not set, by adapter kind.

    LoRA updates a small low-rank delta and needs roughly 10x the full fine-tuning rate.
    """

    lora: float
    full: float

    def for_adapter(self, *, lora: bool) -> float:
        """The rate for a LoRA run (``lora=True``) or a full fine-tune."""
        return self.lora if lora else self.full


@dataclass(frozen=True)
class MethodSpec:
    """Everything tuneforge needs to know about a method, declared by the method's module.

    ``name`` is the config's ``method:`` value and the name of its section in the file;
    ``section`` the pydantic model of that section (derived from ``tuneforge.config.Section``);
    ``record_kind`` the records it learns from (what ``tuneforge check`` and loading expect);
    ``build(config)`` the `TrainingMethod` for a validated config. ``check_config(config)``,
    when set, checks rules across sections (e.g. a batch size the loss needs) and raises
    ValueError with a message that starts with the offending key's path. A scored-kind
    method's section has a ``threshold`` (None: automatic) that splits desirable from
    undesirable scores.
    """

    name: str
    section: type[Section]
    record_kind: RecordKind
    default_lr: DefaultLR
    build: Callable[[TuneforgeConfig], TrainingMethod]
    check_config: Callable[[TuneforgeConfig], None] | None = None
    summary: str = ""


def section_of(config: TuneforgeConfig, section_type: type[SectionT]) -> SectionT:
    """The selected method's section of ``config``, checked to be a ``section_type``.

    Raises TypeError when the config selects a method with another section (a method built
    from the wrong config).
    """
    section = config.method_config
    if not isinstance(section, section_type):
        raise TypeError(
            f"method {config.method!r} has a {type(section).__name__} section, "
            f"not {section_type.__name__}"
        )
    return section
