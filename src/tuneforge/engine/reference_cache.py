"""The reference-value cache: its key (model, items, settings), validated reads, atomic writes.

``$TUNEFORGE_HOME/refcache/<key>.pt`` holds a split's reference values (see
`tuneforge.engine.reference`). Anything wrong in a file (structure, key, count, shapes, dtype,
non-finite values, value names) makes it a miss: the values are recomputed and rewritten.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from tuneforge.data.tokenize import Tokenized
from tuneforge.io import write_file_atomic
from tuneforge.methods.base import ReferenceMethod
from tuneforge.models import base_model

#: Bumped whenever the cache file layout or the meaning of its values changes.
CACHE_FORMAT = 1
#: Config keys that do not change the model's outputs (left out of the fingerprint).
_VOLATILE_CONFIG_KEYS = ("use_cache", "_name_or_path", "transformers_version", "architectures")


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


def load_cached(
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
    computed hold NaN by design (`fill_missing`).
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


def same_names(
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


def fill_missing(
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


def save_atomic(path: Path, payload: dict[str, Any]) -> None:
    """torch.save to a temporary file in the same folder, then rename over ``path``."""
    write_file_atomic(path, lambda temporary: torch.save(payload, temporary))
