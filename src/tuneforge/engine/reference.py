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
import dataclasses
import hashlib
import json
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
from tuneforge.io import write_file_atomic
from tuneforge.methods.base import Batch, ReferenceLogps, ReferenceMethod
from tuneforge.models import adapter_disabled, base_model, is_peft, place_model

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

#: Bumped whenever the cache file layout or the meaning of its values changes.
CACHE_FORMAT = 1
#: Config keys that do not change the model's outputs (left out of the fingerprint).
_VOLATILE_CONFIG_KEYS = ("use_cache", "_name_or_path", "transformers_version", "architectures")


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


def _canonical_name(name: str) -> str:
    """A parameter name without peft's wrapping, so LoRA and full runs share a fingerprint."""
    return name.replace("base_model.model.", "", 1).replace(".base_layer.", ".")


def model_fingerprint(model: torch.nn.Module) -> str:
    """SHA-256 over the reference model: its config and the bytes of every non-LoRA tensor.

    Hashing all weights (≈0.5 s for 135M parameters) catches any change, such as a model
    fine-tuned by an earlier stage under the same path.
    """
    base = base_model(model)
    digest = hashlib.sha256()
    config = getattr(base, "config", None)
    if config is not None:
        settings = {k: v for k, v in config.to_dict().items() if k not in _VOLATILE_CONFIG_KEYS}
        digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        if "lora_" in name:
            continue
        data = tensor.detach().to("cpu").contiguous()
        digest.update(f"{_canonical_name(name)}:{tuple(data.shape)}:{data.dtype}".encode())
        digest.update(data.view(torch.uint8).numpy() if data.numel() else b"")
    return digest.hexdigest()


def items_fingerprint(items: Sequence[Tokenized]) -> str:
    """SHA-256 over the token ids (and labels, for KTO) of every item, in order."""
    digest = hashlib.sha256()
    for item in items:
        fields = {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
        fields.pop("origin", None)  # where a record came from does not change its values
        digest.update(json.dumps(fields, sort_keys=True).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def reference_cache_key(
    model_id: str, items_id: str, method: ReferenceMethod, precision: str
) -> str:
    """The cache key: model, items, method settings and precision, hashed together."""
    parts = {
        "format": CACHE_FORMAT,
        "model": model_id,
        "items": items_id,
        "method": method.name,
        "settings": method.reference_settings(),
        "precision": precision,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


class _Invalid(Exception):
    """A cache file that loads but cannot be trusted; the message says why."""


def _load_cached(
    path: Path, key: str, count: int, log: Callable[[str], None] | None = None
) -> tuple[dict[str, torch.Tensor], torch.Tensor] | None:
    """The cached values under ``path`` and their (N,) computed mask, or None (a miss).

    The file is trusted only after `_validated` checks it: anything else (unreadable,
    truncated, another structure, another key, wrong shapes or dtypes, NaN or infinite values
    for items it claims) is a miss, reported in one ``log`` line, and recomputed by the
    caller, which then overwrites the file atomically.
    """
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        return _validated(stored, key, count)
    except _Invalid as invalid:
        reason = str(invalid)
    except Exception as exc:  # unpickling a damaged file raises many kinds of error
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        reason = f"unreadable ({type(exc).__name__}{': ' + detail[:120] if detail else ''})"
    if log is not None:
        log(f"Reference cache {path}: ignored, {reason}; recomputing it")
    return None


def _validated(stored: Any, key: str, count: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """``(values, computed)`` of a loaded cache file for ``count`` items, or raise _Invalid.

    A valid file is a dict with this ``key``; ``values`` maps names to (N,) float32 tensors,
    finite wherever ``computed`` ((N,) bool; absent: every item) is true. Items never
    computed hold NaN by design (`_fill_missing`).
    """
    if not isinstance(stored, dict):
        raise _Invalid(f"it holds a {type(stored).__name__} where a dict was expected")
    if stored.get("key") != key:
        raise _Invalid("its key does not match its name")
    if "count" in stored and stored["count"] != count:
        raise _Invalid(f"it is for {stored['count']!r} items, not {count}")
    values = stored.get("values")
    if not isinstance(values, dict) or not values:
        raise _Invalid("it has no 'values' table")
    computed = stored.get("computed")
    if computed is None:
        computed = torch.ones(count, dtype=torch.bool)
    elif not _is_vector(computed, torch.bool, count):
        raise _Invalid(f"its 'computed' mask is not a ({count},) bool tensor")
    for name, table in values.items():
        if not isinstance(name, str) or not _is_vector(table, torch.float32, count):
            raise _Invalid(f"its values '{name}' are not a ({count},) float32 tensor")
        if not bool(torch.isfinite(table[computed]).all()):
            raise _Invalid(f"its values '{name}' hold NaN or infinite numbers")
    return values, computed


def _same_names(
    cached: tuple[dict[str, torch.Tensor], torch.Tensor],
    compute: Callable[[list[int]], dict[str, torch.Tensor]],
    path: Path,
    log: Callable[[str], None] | None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor] | None:
    """``cached`` when it holds exactly the values the method computes, else None (a miss).

    The method does not declare its value names, so one item is computed to learn them (one
    small forward pass): a file with other names would fail deep inside the loss.
    """
    values, computed = cached
    first = computed.nonzero().flatten()[:1].tolist()
    if not first:
        return cached
    expected = sorted(compute(first))
    if sorted(values) == expected:
        return cached
    if log is not None:
        log(
            f"Reference cache {path}: ignored, it holds values {sorted(values)} where the "
            f"method computes {expected}; recomputing it"
        )
    return None


def _is_vector(value: Any, dtype: torch.dtype, count: int) -> bool:
    """True when ``value`` is a (count,) tensor of ``dtype``."""
    return isinstance(value, torch.Tensor) and value.dtype == dtype and value.shape == (count,)


def _fill_missing(
    cached: tuple[dict[str, torch.Tensor], torch.Tensor] | None,
    needed: torch.Tensor,
    compute: Callable[[list[int]], dict[str, torch.Tensor]],
) -> tuple[dict[str, torch.Tensor], torch.Tensor, int]:
    """Cached values completed with ``compute(indices)`` for the needed items they lack.

    Args:
        cached: values and (N,) computed mask from the cache, or None.
        needed: (N,) bool, the items the run reads.
        compute: reference values of the given item positions, each (K,) float32.

    Returns:
        ``(values, computed, newly_computed)``; items never computed hold NaN.
    """
    count = len(needed)
    computed = cached[1].clone() if cached else torch.zeros(count, dtype=torch.bool)
    missing = (needed & ~computed).nonzero().flatten().tolist()
    if not missing:
        assert cached is not None
        return cached[0], computed, 0
    fresh = compute(missing)
    values = dict(cached[0]) if cached else {}
    for name, part in fresh.items():
        table = values.get(name, torch.full((count,), float("nan"))).clone()
        table[missing] = part
        values[name] = table
    computed[missing] = True
    return values, computed, len(missing)


def _save_atomic(path: Path, payload: dict[str, Any]) -> None:
    """torch.save to a temporary file in the same folder, then rename over ``path``."""
    write_file_atomic(path, lambda temporary: torch.save(payload, temporary))


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
            run_on_main(accelerator.state, partial(_load_cached, path, key, len(items), log))
            if path is not None
            else None
        )
        if cached is not None and path is not None:
            cached = _same_names(cached, compute, path, log)
        have = cached[1] if cached else torch.zeros(len(items), dtype=torch.bool)
        missing = int((needed & ~have).sum())
        if missing and log is not None:
            log(f"Reference log-probs: one pass over {missing} of {len(items)} {split} items ...")
        values, computed, fresh = _fill_missing(cached, needed, compute)
        if fresh and path is not None and accelerator.is_main_process:
            payload = {"key": key, "values": values, "count": len(items), "computed": computed}
            _save_atomic(path, payload)
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
