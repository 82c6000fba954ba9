"""Reference-model values for methods that compare against the model before training.

DPO (and KTO) score every example under a frozen reference π_ref. This module gives the
engine those values without a second model in memory wherever it can:

* With LoRA the reference *is* the policy with its adapter switched off
  (``peft``'s ``disable_adapter()``); with full fine-tuning it is a frozen deep copy, made only
  when the values are computed on the fly.
* By default (``precompute_reference``) the values are computed in one pass before the first
  step and cached under ``$TUNEFORGE_HOME/refcache/<key>.pt``, keyed by the model weights and
  config, the token ids of the split, the method's reference settings and the precision, so
  later epochs, re-runs and ``--resume`` read them back instead. A run that ends inside its
  first epoch (``max_steps``) computes only the items it reads; the file records which items
  it holds, and a later run computes just the ones it lacks.

It is method-agnostic: a method with ``needs_reference`` says what to compute
(``reference_values(model, batch)``, per-example (B,) tensors; see ``methods/base.py``); this
module decides on which model, in which mode, and whether from the cache. Reference passes run
in eval mode (no dropout), without gradients, under the training precision's autocast, and
never touch the global RNG, so precomputed and on-the-fly runs train identically.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from tuneforge.data.tokenize import Tokenized
from tuneforge.engine.batches import indexed_batches
from tuneforge.engine.distributed import all_gather, run_on_main, split_evenly
from tuneforge.engine.reference_cache import (
    CACHE_FORMAT,
    fill_missing,
    items_fingerprint,
    load_cached,
    model_fingerprint,
    reference_cache_key,
    same_names,
    save_atomic,
)
from tuneforge.methods.base import Batch, ReferenceLogps, ReferenceMethod
from tuneforge.models import adapter_disabled, is_peft, place_model

__all__ = [
    "CACHE_FORMAT",
    "OnTheFlyReference",
    "PrecomputedReference",
    "ReferenceSetup",
    "build_reference",
    "compute_reference_values",
    "items_fingerprint",
    "model_fingerprint",
    "reference_cache_key",
]


@contextlib.contextmanager
def _rng_untouched() -> Iterator[None]:
    """Restore the global torch RNG state(s) afterwards, whatever the pass did with them."""
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        yield


class OnTheFlyReference:
    """Reference values computed at every step (``precompute_reference: false``).

    With a peft model the policy itself is used with its adapter disabled; otherwise a frozen
    deep copy of the model is taken here, before any update.
    """

    def __init__(self, method: ReferenceMethod, model: torch.nn.Module) -> None:
        self.method = method
        if is_peft(model):
            self.model = model
        else:
            self.model = copy.deepcopy(model).eval()
            self.model.requires_grad_(False)

    def __call__(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Per-example reference values of ``batch``, each (B,), without gradients.

        A full run's frozen copy follows the batches to their device (once): it is taken
        from the policy as it was handed over, which may precede the engine's placement.
        """
        if not is_peft(self.model) and "input_ids" in batch:
            place_model(self.model, batch["input_ids"].device)
        with adapter_disabled(self.model) as model:
            values = self.method.reference_values(model, batch)
        return {name: value.detach().float() for name, value in values.items()}


class PrecomputedReference:
    """Reference values looked up by item position (the batch's ``index``, (B,) long).

    ``computed`` (N,) bool marks the items that have values (a run that ends inside its first
    epoch computes only the items it reads); None means all of them.
    """

    def __init__(
        self, values: dict[str, torch.Tensor], computed: torch.Tensor | None = None
    ) -> None:
        self.values = values
        self.computed = computed

    def __call__(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The cached values of the batch's items, each (B,), on the batch's device."""
        if "index" not in batch:
            raise KeyError("precomputed reference values need the batch's 'index' (item positions)")
        index = batch["index"]
        if self.computed is not None and not bool(self.computed[index.cpu()].all()):
            missing = index.cpu()[~self.computed[index.cpu()]].tolist()
            raise RuntimeError(
                f"no precomputed reference values for items {missing}: the run read items its "
                "schedule did not predict (a tuneforge bug; dpo.precompute_ref: false avoids it)"
            )
        return {name: table[index.cpu()].to(index.device) for name, table in self.values.items()}

    def __len__(self) -> int:
        return len(next(iter(self.values.values()))) if self.values else 0


def compute_reference_values(
    method: ReferenceMethod,
    model: torch.nn.Module,
    items: Sequence[Tokenized],
    *,
    batch_size: int,
    pad_token_id: int,
    accelerator: Accelerator,
) -> dict[str, torch.Tensor]:
    """One pass over ``items`` in order: every reference value, each (N,) float32 on the CPU.

    ``model`` is the policy before training (peft: the adapter is disabled for the pass).
    """
    collected: dict[str, list[torch.Tensor]] = {}
    with _rng_untouched(), adapter_disabled(model) as reference:
        for batch in indexed_batches(method, items, batch_size, pad_token_id, accelerator.device):
            with accelerator.autocast():
                values = method.reference_values(reference, batch)
            for name, value in values.items():
                collected.setdefault(name, []).append(value.detach().float().cpu())
    return {name: torch.cat(parts) for name, parts in collected.items()}


def in_layout(indices: Sequence[int], layout: Sequence[Sequence[int]]) -> list[list[int]]:
    """``indices`` grouped as the micro-batches of ``layout`` hold them, in layout order.

    An item of ``indices`` that no micro-batch holds comes last, in a group of its own.
    """
    wanted = set(indices)
    groups = [[i for i in batch if i in wanted] for batch in layout]
    placed = {i for group in groups for i in group}
    groups.append([i for i in indices if i not in placed])
    return [group for group in groups if group]


def _compute_shared(
    method: ReferenceMethod,
    model: torch.nn.Module,
    items: Sequence[Tokenized],
    *,
    batch_size: int,
    pad_token_id: int,
    accelerator: Accelerator,
) -> dict[str, torch.Tensor]:
    """`compute_reference_values` over ``items``, split across the launch's processes.

    Each process computes a contiguous share (the model is not wrapped yet, so no process
    waits on another during the pass) and every process gets all the values, each (N,) in
    the order of ``items``.
    """
    state = accelerator.state
    share = split_evenly(len(items), state.num_processes, state.process_index)
    mine = compute_reference_values(
        method,
        model,
        [items[i] for i in share],
        batch_size=batch_size,
        pad_token_id=pad_token_id,
        accelerator=accelerator,
    )
    parts = all_gather(state, mine)
    names = sorted({name for part in parts for name in part})
    return {name: torch.cat([part[name] for part in parts if name in part]) for name in names}


@dataclass
class ReferenceSetup:
    """References for the training and held-out splits, and what happened (for the manifest)."""

    train: ReferenceLogps | None = None
    eval: ReferenceLogps | None = None
    info: dict[str, Any] = field(default_factory=dict)


def build_reference(
    method: ReferenceMethod,
    model: torch.nn.Module,
    *,
    train_items: Sequence[Tokenized],
    eval_items: Sequence[Tokenized],
    batch_size: int,
    pad_token_id: int,
    accelerator: Accelerator,
    cache_dir: Path | None,
    log: Callable[[str], None] | None = None,
    train_visited: Sequence[int] | None = None,
    train_layout: Sequence[Sequence[int]] | None = None,
) -> ReferenceSetup:
    """Set up the reference for a run whose method needs one; call before the first update.

    Precomputed (``method.precompute_reference``): each split's values come from
    ``cache_dir/<key>.pt`` when present; the items they lack are computed in one pass and the
    file is rewritten (atomically; ``cache_dir=None`` disables the cache). ``train_visited``
    (item positions) limits the train split's pass to the items a short run reads (None: all).
    ``train_layout`` (the micro-batches of the first epoch, item positions) makes the train
    pass read the items as training does: where the pass reads whole micro-batches (one
    process, nothing cached yet) the same rows are padded together, so the same kernels run on
    the same shapes and at step 1 the policy's values equal the reference's exactly (a LoRA
    adapter starts as a no-op), not up to float rounding. None: in order.
    On the fly: one `OnTheFlyReference` serves both splits. ``log`` receives one line per
    split (computed or read back).
    """
    if not getattr(method, "needs_reference", False):
        return ReferenceSetup(info={"mode": "none"})
    # The pass runs before the loop's `prepare` moves the model, on batches already on the
    # accelerator's device: the model goes there first (a no-op once the stage placed it).
    place_model(model, accelerator.device)
    if not getattr(method, "precompute_reference", False):
        on_the_fly = OnTheFlyReference(method, model)
        return ReferenceSetup(on_the_fly, on_the_fly, {"mode": "on_the_fly"})
    model_id = model_fingerprint(model)
    info: dict[str, Any] = {"mode": "precomputed", "splits": {}}
    references: list[PrecomputedReference | None] = []
    for split, items in (("train", train_items), ("eval", eval_items)):
        if not items:
            references.append(None)
            continue
        needed = torch.ones(len(items), dtype=torch.bool)
        if split == "train" and train_visited is not None:
            needed = torch.zeros(len(items), dtype=torch.bool)
            needed[list(train_visited)] = True
        key = reference_cache_key(
            model_id, items_fingerprint(items), method, accelerator.mixed_precision
        )
        path = cache_dir / f"{key}.pt" if cache_dir is not None else None

        layout = train_layout if split == "train" else None

        def compute(
            indices: list[int],
            items: Sequence[Tokenized] = items,
            layout: Sequence[Sequence[int]] | None = layout,
        ) -> dict[str, Any]:
            # Read in the training layout (micro-batch after micro-batch), then put the
            # values back in the order of ``indices``.
            order = (
                [i for group in in_layout(indices, layout) for i in group] if layout else indices
            )
            values = _compute_shared(
                method,
                model,
                [items[i] for i in order],
                batch_size=batch_size,
                pad_token_id=pad_token_id,
                accelerator=accelerator,
            )
            where = {i: k for k, i in enumerate(order)}
            back = torch.tensor([where[i] for i in indices], dtype=torch.long)
            return {name: table[back] for name, table in values.items()}

        # The main process reads the cache and every process gets what it read, so all of
        # them agree on what to compute (each computation is a collective).
        cached = (
            run_on_main(accelerator.state, partial(load_cached, path, key, len(items), log))
            if path is not None
            else None
        )
        if cached is not None and path is not None:
            cached = same_names(cached, compute, path, log)
        have = cached[1] if cached else torch.zeros(len(items), dtype=torch.bool)
        missing = int((needed & ~have).sum())
        if missing and log is not None:
            log(f"Reference log-probs: one pass over {missing} of {len(items)} {split} items ...")
        values, computed, fresh = fill_missing(cached, needed, compute)
        if fresh and path is not None and accelerator.is_main_process:
            payload = {"key": key, "values": values, "count": len(items), "computed": computed}
            save_atomic(path, payload)
        if not fresh and log is not None:
            log(f"Reference log-probs for the {len(items)} {split} items: read from {path}")
        info["splits"][split] = {
            "cache": "hit" if not fresh else ("miss" if path is not None else "off"),
            "key": key,
            "items": len(items),
            "computed": fresh,
        }
        references.append(PrecomputedReference(values, None if computed.all() else computed))
    return ReferenceSetup(references[0], references[1], info)
