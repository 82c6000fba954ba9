"""The run's precision and its Accelerator: bf16 autocast only where the hardware runs it.

Measured on the embedded model with LoRA (README, "Precision"): on a CPU, bf16 autocast costs
even where AVX-512 bf16 runs it natively (0.62x fp32's tokens per CPU-second: the casts around
LoRA's small matmuls outweigh the faster products) and far more where it is emulated (0.06x),
so ``auto`` picks bf16 on a CPU only with AMX tiles (whose bf16 matmuls are several times
fp32's; not measured here), and on a GPU that supports it. The device is accelerate's choice
(CUDA, Apple MPS, CPU; `engine.distributed.cpu_only` forces the CPU only where there is
neither); the precision decision is a pure function of what the machine offers, tested
without the hardware.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState

from tuneforge.config import TrainConfig
from tuneforge.engine.distributed import cpu_only
from tuneforge.engine.logging import check_trackers
from tuneforge.errors import TuneforgeError

Device = Literal["cuda", "mps", "cpu"]
#: ATen's CPU kernel levels that run bf16 natively when the chip has the instructions
#: (``ATEN_CPU_CAPABILITY=avx2`` on such a chip forces the emulated paths).
_BF16_CAPABILITIES = frozenset({"AVX512", "AMX"})


def device_kind(*, cuda: bool, mps: bool) -> Device:
    """The accelerator accelerate will use: CUDA first, then Apple's MPS, else the CPU."""
    return "cuda" if cuda else "mps" if mps else "cpu"


def choose_precision(setting: str, *, device: Device, bf16_native: bool) -> str:
    """accelerate's mixed-precision name (``bf16`` or ``no``) for ``train.precision``.

    ``auto``: bf16 where ``device`` runs it natively (a GPU that supports it, a CPU with
    AVX-512 bf16 or AMX), fp32 elsewhere, MPS included (untested here). ``bf16`` is honoured
    on a CPU or MPS even when emulated (slower, but asked for); a CUDA GPU without bf16
    refuses it.
    """
    if setting == "fp32":
        return "no"
    if setting == "bf16":
        if device == "cuda" and not bf16_native:
            raise TuneforgeError(
                "train.precision: bf16 is not supported by this GPU; use auto or fp32"
            )
        return "bf16"
    return "bf16" if bf16_native and device != "mps" else "no"


def cpu_bf16_pays() -> bool:
    """True when this CPU has AMX tiles and ATen's kernels use them: bf16 is then faster.

    AVX-512 bf16 alone is not enough (measured slower than fp32, see the module docstring).
    """
    has_amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return bool(has_amx) and torch.backends.cpu.get_cpu_capability() in _BF16_CAPABILITIES


def resolve_precision(setting: str) -> str:
    """accelerate's mixed-precision name for ``setting`` on this machine."""
    cuda = torch.cuda.is_available()
    device = device_kind(cuda=cuda, mps=torch.backends.mps.is_available())
    if device == "cuda":
        native = torch.cuda.is_bf16_supported()
    else:
        native = device == "cpu" and cpu_bf16_pays()
    return choose_precision(setting, device=device, bf16_native=native)


def make_accelerator(train: TrainConfig, run_dir: Path) -> Accelerator:
    """An Accelerator for this run's precision and trackers.

    accelerate keeps its state in a process-wide singleton that refuses a second precision;
    each stage (a pipeline, a test session) may want its own, so the per-run part is reset
    while the distributed set-up (PartialState) is kept.
    """
    check_trackers(list(train.report_to))
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    return Accelerator(
        mixed_precision=resolve_precision(train.precision),
        cpu=cpu_only(),
        log_with=list(train.report_to) or None,
        project_dir=str(run_dir),
    )
