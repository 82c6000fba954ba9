"""The run's precision and its Accelerator: bf16 autocast where the hardware runs it."""

from __future__ import annotations

from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState

from tuneforge.config import TrainConfig
from tuneforge.engine.distributed import cpu_only
from tuneforge.engine.logging import check_trackers
from tuneforge.errors import TuneforgeError


def resolve_precision(setting: str) -> str:
    """accelerate's mixed-precision name: bf16 where the hardware runs it, else fp32 ("no")."""
    if setting == "fp32":
        return "no"
    if torch.cuda.is_available():
        supported = torch.cuda.is_bf16_supported()
    else:
        supported = bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())
        supported = supported or bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())
    if setting == "bf16" and not supported and torch.cuda.is_available():
        raise TuneforgeError("train.precision: bf16 is not supported by this GPU; use auto or fp32")
    return "bf16" if supported or setting == "bf16" else "no"


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
