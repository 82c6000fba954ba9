"""Which examples go into which micro-batch, deterministically per (seed, epoch).

The order of an epoch depends only on the seed and the epoch number, never on the global
random state, so a resumed run reads exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from tuneforge.data.tokenize import Tokenized
    from tuneforge.methods.base import Batch, ReferenceMethod, TrainingMethod


def epoch_batches(
    num_items: int,
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    process_index: int = 0,
    num_processes: int = 1,
) -> list[list[int]]:
    """Micro-batches of item indices for one epoch, on one process.

    Items are shuffled with a generator seeded by ``seed`` and ``epoch``; the last micro-batch
    may be short. With several processes each takes every ``num_processes``-th micro-batch,
    so the processes' k-th micro-batches together are micro-batches ``k·P … k·P + P - 1`` of
    the epoch order: one process with ``batch_size · P`` reads the same items per step. Every
    process gets as many entries as process 0; where the epoch runs out first, the missing
    ones are empty lists (the loop runs a zero-weight stand-in there, so every process takes
    part in every collective).
    """
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(num_items, generator=generator).tolist()
    batches = [order[start : start + batch_size] for start in range(0, num_items, batch_size)]
    mine = batches[process_index::num_processes]
    return mine + [[] for _ in range(len(batches[0::num_processes]) - len(mine))]


def steps_per_epoch(num_micro_batches: int, grad_accum: int) -> int:
    """Optimizer steps in one epoch; the last window of an epoch may be short."""
    return max(1, math.ceil(num_micro_batches / grad_accum))


def total_steps(
    num_micro_batches: int, grad_accum: int, epochs: float, max_steps: int | None
) -> int:
    """Optimizer steps for the whole run: ``max_steps`` when set, else ``epochs`` worth."""
    if max_steps is not None:
        return max_steps
    return max(1, math.ceil(steps_per_epoch(num_micro_batches, grad_accum) * epochs))


def items_read(
    num_items: int,
    batch_size: int,
    grad_accum: int,
    *,
    seed: int,
    epochs: float,
    max_steps: int | None,
    num_processes: int = 1,
) -> list[int] | None:
    """Positions of the items a run reads when it ends inside its first epoch, else None.

    Process ``p`` reads micro-batches ``p, p + P, ...`` of the epoch order, ``grad_accum`` per
    step, so a run of ``steps`` steps reads the first ``steps · grad_accum · P`` of them.
    Methods with per-item precomputed values compute only these.
    """
    batches = epoch_batches(num_items, batch_size, seed=seed, epoch=0)
    per_process = len(batches[0::num_processes])
    steps = total_steps(per_process, grad_accum, epochs, max_steps)
    read = steps * grad_accum * num_processes
    if read >= len(batches):
        return None
    return sorted(index for batch in batches[:read] for index in batch)


def indexed_batches(
    method: TrainingMethod | ReferenceMethod,
    items: Sequence[Tokenized],
    batch_size: int,
    pad_token_id: int,
    device: torch.device,
) -> Iterator[Batch]:
    """``items`` in order, collated ``batch_size`` at a time onto ``device``.

    Each batch carries ``index`` (B,) long: its items' positions in ``items``, by which
    precomputed per-item values (the reference) are looked up.
    """
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        batch = method.collate(chunk, pad_token_id)
        batch["index"] = torch.arange(start, start + len(chunk))
        yield {key: value.to(device) for key, value in batch.items()}
