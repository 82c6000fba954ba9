"""Several processes of one training (``torchrun``, ``accelerate launch``): who does what.

tuneforge has no launcher of its own: a launcher starts N copies of the same command and
accelerate joins them into one process group (gloo on CPU, NCCL on GPUs). Every process
trains on its own slice of each global batch; only the main process writes files. This module
holds the few collective steps the stage and the loop need beyond accelerate's: the process
group before the Accelerator exists, "main does it, everyone learns the outcome" (so a failure
on the main process stops every process with the same message instead of leaving the others
waiting in a collective forever), and the sharding kinds under which a LoRA adapter cannot be
switched off inside the model (FSDP, DeepSpeed ZeRO-3).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import DistributedType, broadcast_object_list, gather_object

from tuneforge.errors import TuneforgeError

__all__ = [
    "MainProcessFailed",
    "agree_to_stop",
    "all_gather",
    "configure_deepspeed",
    "cpu_only",
    "full_state_dict",
    "is_sharded",
    "process_state",
    "refuse_live_reference_when_sharded",
    "refuse_sharded_resume",
    "run_on_main",
    "shards_parameters",
    "split_evenly",
    "zero_stage",
]

T = TypeVar("T")


class MainProcessFailed(TuneforgeError):
    """The main process of a distributed launch failed; the others stop with its message."""


def cpu_only() -> bool:
    """True where neither CUDA nor Apple's MPS is available: accelerate's ``cpu=True``.

    On such a machine, under torchrun, ``cpu=True`` is what makes the processes one gloo
    group; without it accelerate gives N independent single-process runs. Where a GPU or MPS
    exists accelerate chooses the device itself (nothing here forces CPU or CUDA).
    """
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    return not torch.cuda.is_available() and not has_mps


def process_state() -> PartialState:
    """The launch's processes, with the process group initialised (one process: no group).

    The same device choice as `engine.precision.make_accelerator` (`cpu_only`): the state is
    a process-wide singleton, and the first one made decides the device for the Accelerator.
    """
    return PartialState(cpu=cpu_only())


def run_on_main(state: Any, action: Callable[[], T]) -> T:
    """Run ``action`` on the main process only and give every process its result.

    ``state`` is a `PartialState` or an Accelerator's state; the result must pickle. When
    ``action`` raises on the main process, the others raise `MainProcessFailed` with the same
    message (the main process re-raises its own error), so no process waits for a partner
    that has given up.
    """
    if state.num_processes == 1:
        return action()
    outcome: list[Any] = [None, None]
    error: BaseException | None = None
    if state.is_main_process:
        try:
            outcome[0] = action()
        except BaseException as exc:  # noqa: BLE001 - shared with the others, then re-raised
            error = exc
            outcome[1] = str(exc) or type(exc).__name__
    broadcast_object_list(outcome, from_process=0)
    if error is not None:
        raise error
    if outcome[1] is not None:
        raise MainProcessFailed(f"the main process stopped: {outcome[1]}")
    return outcome[0]


def all_gather(state: Any, value: T) -> list[T]:
    """``value`` from every process, in process order (picklable values; one process: [value])."""
    if state.num_processes == 1:
        return [value]
    return list(gather_object([value]))


def split_evenly(count: int, num_processes: int, process_index: int) -> range:
    """The contiguous share of ``range(count)`` one process takes (the first ones take more)."""
    base, extra = divmod(count, num_processes)
    start = process_index * base + min(process_index, extra)
    return range(start, start + base + (1 if process_index < extra else 0))


def shards_parameters(distributed_type: DistributedType, zero_stage: int | None) -> bool:
    """True under FSDP or DeepSpeed ZeRO-3, where each process holds a slice of every weight.

    There, peft's ``disable_adapter()`` inside the sharded model is a known failure (peft#1442,
    peft#2977, trl#3371), so the reference must be computed before sharding (precomputed).
    """
    if distributed_type == DistributedType.FSDP:
        return True
    return distributed_type == DistributedType.DEEPSPEED and zero_stage == 3


def zero_stage(accelerator: Accelerator) -> int | None:
    """The DeepSpeed ZeRO stage of this launch, or None without DeepSpeed."""
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    return getattr(plugin, "zero_stage", None) if plugin is not None else None


def is_sharded(accelerator: Accelerator) -> bool:
    """True when this launch shards parameters (FSDP, DeepSpeed ZeRO-3)."""
    return shards_parameters(accelerator.distributed_type, zero_stage(accelerator))


def full_state_dict(accelerator: Accelerator, model: torch.nn.Module) -> dict[str, Any] | None:
    """The full (unsharded) state dict under FSDP/ZeRO-3, else None (the model holds it all).

    A collective: every process must call it. Saving a sharded model's own ``state_dict``
    would write each process's slice only (an empty LoRA adapter under ZeRO-3, trl#4416).
    """
    if not is_sharded(accelerator):
        return None
    return accelerator.get_state_dict(model)


def refuse_sharded_resume(accelerator: Accelerator, checkpoint: Path | None) -> None:
    """Stop a resume from a checkpoint under FSDP/ZeRO-3, whose optimizer state is sharded.

    Checkpoints hold the optimizer state of the main process only (one full copy under DDP);
    resuming a sharded run from them would silently drop every other process's moments.
    """
    if checkpoint is None or not is_sharded(accelerator):
        return
    raise TuneforgeError(
        f"{checkpoint}: resuming under FSDP or DeepSpeed ZeRO-3 is not supported (the "
        "checkpoint holds one process's optimizer state, not every shard); its model/ folder "
        "holds the full weights: resume this run under DDP (examples/accelerate/multi_gpu.yaml) "
        "or start a new run from those weights"
    )


def agree_to_stop(accelerator: Accelerator, requested: bool) -> bool:
    """True on every process when any process was asked to stop (SIGINT/SIGTERM).

    A launcher forwards a signal to each process at a slightly different moment; without this
    one process could start a step the others never join.
    """
    if accelerator.num_processes == 1:
        return requested
    flag = torch.tensor(1 if requested else 0, device=accelerator.device)
    return bool(accelerator.reduce(flag, "sum") > 0)


def refuse_live_reference_when_sharded(method: Any, accelerator: Accelerator) -> None:
    """Refuse a reference computed at every step under FSDP/ZeRO-3, before any work is done.

    Switching a LoRA adapter off inside a sharded model fails (peft#1442, peft#2977,
    trl#3371) and a frozen full copy would be sharded too; the precomputed reference runs
    before the model is sharded, so it is the one that works there.
    """
    live = getattr(method, "needs_reference", False) and not getattr(
        method, "precompute_reference", False
    )
    if not live or not is_sharded(accelerator):
        return
    name = getattr(method, "name", "the method")
    raise TuneforgeError(
        f"{name}.precompute_ref: the reference would be computed at every step, which does not "
        "work under FSDP or DeepSpeed ZeRO-3 (a LoRA adapter cannot be switched off inside a "
        "sharded model: peft#1442, peft#2977, trl#3371); set "
        f"{name}.precompute_ref: true (with LoRA) so it is computed once before sharding, or "
        "train under DDP (examples/accelerate/multi_gpu.yaml)"
    )


def configure_deepspeed(
    accelerator: Accelerator, batch_size: int, grad_accum: int, clip: float
) -> None:
    """Fill the DeepSpeed config from the run's settings before ``accelerator.prepare``.

    tuneforge prepares no dataloader, so DeepSpeed cannot infer its micro-batch; the engine
    steps the optimizer inside ``accelerator.backward``, so accumulation over micro-batches of
    uneven windows (the last window of an epoch) cannot be handed to it: a DeepSpeed run
    takes ``train.grad_accum: 1`` and gets its global batch from processes × batch_size.
    Gradient clipping moves into the engine (``train.max_grad_norm``).
    """
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is None:
        return
    if grad_accum != 1:
        raise TuneforgeError(
            f"train.grad_accum: {grad_accum} is not supported under DeepSpeed (its engine steps "
            "the optimizer after every backward pass); set train.grad_accum: 1 and raise "
            "train.batch_size or the number of processes for a larger global batch"
        )
    config = plugin.deepspeed_config
    config["train_micro_batch_size_per_gpu"] = batch_size
    config["gradient_accumulation_steps"] = 1
    config["train_batch_size"] = batch_size * accelerator.num_processes
    config["gradient_clipping"] = clip if clip > 0 else 0.0
