"""Where a model runs and in what form: weight dtype, attention implementation, and what the
manifest records about the hardware.

The decisions are pure functions of the settings and of facts about the machine (`Hardware`),
so they are tested on a CPU by passing the facts a GPU machine would report; `Hardware.probe`
reads the real ones. Shared ground (DESIGN.md §2): model loading, the engine, evaluation and
the stage all ask these functions and never decide on their own.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tuneforge.errors import TuneforgeError

if TYPE_CHECKING:
    import torch

__all__ = [
    "FLASH_ATTENTION",
    "Hardware",
    "LoadSettings",
    "check_attn_implementation",
    "check_trainable_dtype",
    "default_device",
    "device_record",
    "inference_placement",
    "inference_settings",
    "resolve_attn_implementation",
    "resolve_dtype",
    "uses_flash_attention",
]

#: The transformers name of FlashAttention-2 (the ``flash-attn`` package's kernels).
FLASH_ATTENTION = "flash_attention_2"
_DTYPE_NAMES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


@dataclass(frozen=True)
class Hardware:
    """The facts the loading decisions depend on."""

    cuda: bool
    bf16_supported: bool = False
    flash_attn_installed: bool = False
    gpu_name: str | None = None

    @classmethod
    def probe(cls) -> Hardware:
        """This machine: CUDA present, bf16 support, flash-attn importable, the GPU's name."""
        import torch

        if not torch.cuda.is_available():
            return cls(cuda=False)
        return cls(
            cuda=True,
            bf16_supported=bool(torch.cuda.is_bf16_supported()),
            flash_attn_installed=importlib.util.find_spec("flash_attn") is not None,
            gpu_name=torch.cuda.get_device_name(torch.cuda.current_device()),
        )


def resolve_dtype(setting: str, hardware: Hardware, *, trains_weights: bool = False) -> str:
    """The weight dtype's torch name for ``model.dtype``.

    ``auto`` loads bf16 weights on a CUDA GPU that supports bf16 when they stay frozen (a LoRA
    or QLoRA base, evaluation), and fp32 otherwise: a full fine-tune (``trains_weights``)
    keeps fp32 master weights and computes in bf16 through autocast (``train.precision``),
    because AdamW steps of ``lr × update`` below bf16's 2⁻⁸ relative spacing round to nothing
    on bf16 weights. On a CPU, autocast alone decides about bf16.

    Raises:
        TuneforgeError: ``bf16`` on a CUDA GPU without bf16, or ``fp16`` without CUDA (CPU
            fp16 matmuls are emulated and slower than fp32).
    """
    if setting == "auto":
        half = hardware.cuda and hardware.bf16_supported and not trains_weights
        return "bfloat16" if half else "float32"
    if setting == "bf16" and hardware.cuda and not hardware.bf16_supported:
        raise TuneforgeError(
            "model.dtype: bf16 is not supported by this GPU; use fp16, fp32 or auto"
        )
    if setting == "fp16" and not hardware.cuda:
        raise TuneforgeError(
            "model.dtype: fp16 needs a CUDA GPU (on a CPU it is emulated and slower than "
            "fp32); use auto, bf16 or fp32"
        )
    return _DTYPE_NAMES[setting]


def resolve_attn_implementation(setting: str, dtype: str, hardware: Hardware) -> str:
    """The transformers ``attn_implementation`` for ``model.attn_implementation``.

    ``auto`` is FlashAttention-2 on a CUDA GPU with ``flash-attn`` installed and half-precision
    weights (it has no fp32 kernel); its variable-length path keeps packed sequences apart
    without a mask (`methods.logps` packs them into one row for it). Everywhere else it is
    sdpa: packed rows get a block-diagonal mask, padded rows a causal one.

    Raises:
        TuneforgeError: an explicit ``flash_attention_2`` where it cannot run.
    """
    if setting == "auto":
        flash = hardware.cuda and hardware.flash_attn_installed
        return FLASH_ATTENTION if flash and dtype in ("bfloat16", "float16") else "sdpa"
    if setting == FLASH_ATTENTION:
        check_attn_implementation(dtype, hardware)
    return setting


def check_attn_implementation(dtype: str, hardware: Hardware) -> None:
    """Refuse ``model.attn_implementation: flash_attention_2`` where its kernels cannot run."""
    key = "model.attn_implementation: flash_attention_2"
    if not hardware.cuda:
        raise TuneforgeError(f"{key} needs a CUDA GPU; use auto or sdpa on this machine")
    if not hardware.flash_attn_installed:
        raise TuneforgeError(
            f"{key} needs the flash-attn package (pip install flash-attn "
            "--no-build-isolation); or use auto or sdpa"
        )
    if dtype not in ("bfloat16", "float16"):
        raise TuneforgeError(f"{key} runs in bf16 or fp16 only; set model.dtype to bf16 or auto")


def check_trainable_dtype(dtype: str, *, lora: bool) -> None:
    """Refuse fp16 weights for a full fine-tune.

    AdamW updates fp16 weights in place without loss scaling, so small updates round to zero
    and large gradients overflow; a LoRA adapter is kept in fp32 by peft over an fp16 base,
    which is safe.
    """
    if dtype == "float16" and not lora:
        raise TuneforgeError(
            "model.dtype: fp16 weights train only through a LoRA adapter (a full fine-tune "
            "would update fp16 weights without loss scaling); use bf16, fp32 or auto"
        )


def uses_flash_attention(model: Any) -> bool:
    """True when ``model``'s config runs a FlashAttention kernel (any version)."""
    config = getattr(model, "config", None)
    name = getattr(config, "_attn_implementation", None) or ""
    return "flash" in str(name)


@dataclass(frozen=True)
class LoadSettings:
    """How the base model's weights are loaded: dtype, attention, quantisation."""

    dtype: str = "float32"
    attn_implementation: str = "sdpa"
    quantize: str | None = None

    @classmethod
    def resolve(
        cls,
        dtype: str,
        attn_implementation: str,
        quantize: str | None,
        hardware: Hardware,
        *,
        trains_weights: bool = False,
    ) -> LoadSettings:
        """The settings for ``model.dtype``, ``model.attn_implementation`` and
        ``lora.quantize`` on ``hardware`` (each ``auto`` resolved; see the resolvers);
        ``trains_weights`` for a full fine-tune."""
        torch_dtype = resolve_dtype(dtype, hardware, trains_weights=trains_weights)
        return cls(
            torch_dtype,
            resolve_attn_implementation(attn_implementation, torch_dtype, hardware),
            quantize,
        )

    def torch_dtype(self) -> torch.dtype:
        """The weight dtype as a ``torch.dtype``."""
        import torch

        dtype: torch.dtype = getattr(torch, self.dtype)
        return dtype


def default_device(hardware: Hardware) -> str:
    """Where a model runs outside the training loop (evaluation, chat): the GPU, else CPU.

    Apple's MPS is taken when torch offers it (untested here); training's device is
    accelerate's choice (``accelerator.device``), which makes the same pick.
    """
    if hardware.cuda:
        return "cuda"
    import torch

    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else "cpu"


def inference_settings(dtype: str, attn_implementation: str, hardware: Hardware) -> LoadSettings:
    """How evaluation loads its models: the run's dtype, never FlashAttention-2.

    Evaluation scores continuations on packed rows with a custom 4D mask over a KV cache
    (``evaluate/inference/scoring.py``), which FlashAttention-2 cannot take; sdpa (or an
    explicit eager) runs it. Never quantised: a QLoRA run's adapter is evaluated on the
    unquantised base, as export merges it.
    """
    torch_dtype = resolve_dtype(dtype, hardware)
    attention = "eager" if attn_implementation == "eager" else "sdpa"
    return LoadSettings(torch_dtype, attention, None)


def inference_placement(
    dtype: str, attn_implementation: str, hardware: Hardware | None = None
) -> dict[str, Any]:
    """``load_model`` keyword arguments for evaluation: dtype, attention and device.

    ``dtype`` and ``attn_implementation`` are the run's ``model.*`` settings; ``hardware``
    None probes this machine. On a CPU: fp32, sdpa, cpu (what evaluation always used).
    """
    hardware = hardware or Hardware.probe()
    settings = inference_settings(dtype, attn_implementation, hardware)
    return {
        "dtype": settings.torch_dtype(),
        "attn_implementation": settings.attn_implementation,
        "device": default_device(hardware),
    }


def device_record(
    device: str, hardware: Hardware, settings: LoadSettings, world_size: int
) -> dict[str, Any]:
    """What ``manifest.json`` records under ``device``: where and in what form the run trained.

    ``gpu_name`` is None on a CPU (and on MPS, which is not CUDA).
    """
    return {
        "device": device,
        "gpu_name": hardware.gpu_name if device.startswith("cuda") else None,
        "dtype": settings.dtype,
        "attn_implementation": settings.attn_implementation,
        "quantize": settings.quantize,
        "world_size": world_size,
    }
