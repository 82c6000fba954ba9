"""The models an evaluation runs: the tokenizer, the base model and the run's tuned model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tuneforge.config import TuneforgeConfig
from tuneforge.models import adapter_disabled, is_peft
from tuneforge.safe_loading import LoadPolicy
from tuneforge.target import FINAL_DIR

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass
class EvalModels:
    """The tokenizer, the base model and the tuned model (either may be missing).

    With a LoRA run one model serves both roles: the base model is the tuned one with its
    adapter disabled, so only one copy of the weights is in memory.
    """

    tokenizer: PreTrainedTokenizerBase
    base: PreTrainedModel | None = None
    tuned: PreTrainedModel | None = None

    @contextmanager
    def use(self, role: str) -> Iterator[PreTrainedModel]:
        """The model for ``role`` ('base' or 'tuned') for the duration of the block.

        Without a separate base model, 'base' is the tuned LoRA model with its adapter switched
        off (`adapter_disabled`: eval mode, no gradients).
        """
        if role == "tuned":
            assert self.tuned is not None
            yield self.tuned
        elif self.base is not None:
            yield self.base
        else:
            assert self.tuned is not None and is_peft(self.tuned)
            with adapter_disabled(self.tuned) as model:
                yield model


def load_models(
    cfg: TuneforgeConfig, run_dir: Path | None, *, allow_pickle: bool = False
) -> EvalModels:
    """The models of a run: ``final/`` (adapter or full model) and the base ``cfg.model``.

    Without ``final/`` only the base model is loaded (a baseline-only evaluation). Weights
    load from safetensors only unless ``allow_pickle`` (`tuneforge.safe_loading`).
    """
    from tuneforge.device import inference_placement
    from tuneforge.models import is_adapter_folder, load_model, load_tokenizer, load_trained

    policy = LoadPolicy.of(cfg, allow_pickle=allow_pickle)
    # On the GPU when there is one, in the run's weight dtype (`device.inference_settings`).
    placement = inference_placement(cfg.model.dtype, cfg.model.attn_implementation)
    final = run_dir / FINAL_DIR if run_dir is not None else None
    base = cfg.model.path
    if final is None or not final.is_dir():
        tokenizer = load_tokenizer(base, policy=policy)
        return EvalModels(tokenizer, base=load_model(base, policy=policy, **placement))
    tokenizer, tuned = load_trained(base, final, policy=policy, **placement)
    if is_adapter_folder(final):
        return EvalModels(tokenizer, tuned=tuned)
    return EvalModels(tokenizer, base=load_model(base, policy=policy, **placement), tuned=tuned)
