"""One accumulation window: forward and backward over its micro-batches, on every process.

The loss of a window is the sum over its units (tokens, examples, pairs) divided by the
units of the whole window on all processes, so N processes with ``batch_size`` B take the
step one process takes with ``batch_size`` N·B; the numbers it reports are summed over all
processes, so the main process logs what one process with the whole window would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object

from tuneforge.methods.base import Batch, ReferenceLogps, TrainingMethod

__all__ = ["WindowResult", "accumulate_window"]


@dataclass
class WindowResult:
    """One accumulation window: mean loss over its units, summed metrics, tokens seen."""

    loss: float
    units: int
    metric_sums: dict[str, float] = field(default_factory=dict)
    tokens: int = 0


def accumulate_window(
    model: torch.nn.Module,
    method: TrainingMethod,
    micro_batches: Sequence[Batch],
    accelerator: Accelerator,
    reference: ReferenceLogps | None = None,
    stand_ins: int = 0,
) -> WindowResult:
    """Forward and backward every micro-batch of one window; gradients are left in ``.grad``.

    Each micro-batch's loss sum is divided by the units of the *whole* window (all processes),
    so the gradient equals that of one big batch; a window without units contributes zero.
    The last ``stand_ins`` micro-batches are zero-weight stand-ins for batches this process
    lacks at the end of an epoch: they run forward and backward (every process must take part
    in each collective of DDP/FSDP) but add nothing to the gradient, loss, metrics or tokens.
    Loss, units, metric sums and tokens are summed over all processes: the same numbers one
    process with the whole window would log.
    """
    real = len(micro_batches) - stand_ins
    local_units = sum(method.count_units(batch) for batch in micro_batches[:real])
    units = int(accelerator.reduce(torch.tensor(local_units, device=accelerator.device), "sum"))
    scale = accelerator.num_processes / max(units, 1)
    loss_total = torch.zeros((), device=accelerator.device)
    metric_sums: dict[str, torch.Tensor] = {}
    tokens = 0
    for index, batch in enumerate(micro_batches):
        batch = {key: value.to(accelerator.device) for key, value in batch.items()}
        last = index == len(micro_batches) - 1
        weight = scale if index < real else 0.0
        sync = contextlib.nullcontext() if last else accelerator.no_sync(model)
        with sync, accelerator.autocast():
            output = method.step(model, batch, reference)
            accelerator.backward(output.loss_sum.float() * weight)
        if index >= real:
            continue
        loss_total += output.loss_sum.detach().float()
        for name, value in output.metric_sums.items():
            metric_sums[name] = metric_sums.get(name, 0) + value.detach().float()
        tokens += output.tokens
    sums = _reduce_sums(accelerator, {"": loss_total, **metric_sums})
    return WindowResult(
        loss=sums.pop("") / max(units, 1),
        units=units,
        metric_sums=sums,
        tokens=int(accelerator.reduce(torch.tensor(tokens, device=accelerator.device), "sum")),
    )


def _reduce_sums(accelerator: Accelerator, sums: dict[str, torch.Tensor]) -> dict[str, float]:
    """Every value summed over all processes, in one collective.

    Processes may hold different metric names (a metric a micro-batch did not produce), so the
    names are taken from every process first; a name a process lacks counts as zero there.
    """
    if accelerator.num_processes == 1:
        return {name: float(value) for name, value in sums.items()}
    names = sorted({name for names in gather_object([sorted(sums)]) for name in names})
    zero = torch.zeros((), device=accelerator.device)
    stacked = torch.stack([sums.get(name, zero).float().reshape(()) for name in names])
    total = accelerator.reduce(stacked, "sum")
    return {name: float(value) for name, value in zip(names, total, strict=True)}
