"""QLoRA: the frozen base model loaded in 4 or 8 bits (bitsandbytes), a LoRA adapter on top.

``lora.quantize: 4bit`` loads the base weights as NF4 with double quantisation and computes in
the weight dtype (bf16 on a GPU that has it); ``8bit`` uses LLM.int8(). Only the adapter
trains. The reference of DPO and KTO is the same quantised base with the adapter switched
off, so policy and reference start from identical log-probs. Export and a pipeline's merged
model load the base *unquantised* in the export dtype and merge the adapter into it
(`models.merged_model` never quantises): merging into 4-bit weights would round the adapter's
update away, and a quantised folder is not what GGUF or Ollama read.

bitsandbytes is an optional dependency (``pip install 'tuneforge[qlora]'``) and runs on CUDA
only; `check_quantize` says so before any weight is read.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from tuneforge.errors import TuneforgeError

if TYPE_CHECKING:
    import torch

__all__ = ["bitsandbytes_installed", "check_quantize", "prepare_quantized", "quantization_config"]

_KEY = "lora.quantize"


def bitsandbytes_installed() -> bool:
    """True when the bitsandbytes package can be imported."""
    return importlib.util.find_spec("bitsandbytes") is not None


def check_quantize(
    quantize: str | None, *, cuda: bool, installed: bool | None = None, lora: bool = True
) -> None:
    """Refuse a quantised base where it cannot run, naming the key and the fix.

    Args:
        quantize: ``lora.quantize`` (None, ``4bit`` or ``8bit``).
        cuda: whether a CUDA GPU is present.
        installed: whether bitsandbytes imports (None: look).
        lora: False for a full fine-tune (quantised weights cannot be trained).
    """
    if quantize is None:
        return
    if not lora:
        raise TuneforgeError(f"{_KEY}: a quantised base trains only through a LoRA adapter")
    if not cuda:
        raise TuneforgeError(
            f"{_KEY}: {quantize} (QLoRA, bitsandbytes) needs a CUDA GPU and none was found; "
            f"remove {_KEY} to train the unquantised model here"
        )
    if not (bitsandbytes_installed() if installed is None else installed):
        raise TuneforgeError(
            f"{_KEY}: {quantize} needs the bitsandbytes package, which is not installed; "
            "pip install 'tuneforge[qlora]'"
        )


def quantization_config(quantize: str, compute_dtype: torch.dtype) -> Any:
    """transformers' ``BitsAndBytesConfig`` for ``4bit`` (NF4, double quant) or ``8bit``."""
    from transformers import BitsAndBytesConfig

    if quantize == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
            bnb_4bit_quant_storage=compute_dtype,
        )
    if quantize == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    raise ValueError(f"unknown quantisation {quantize!r}")


def prepare_quantized(model: Any, *, gradient_checkpointing: bool) -> Any:
    """peft's preparation of a quantised base for adapter training.

    Freezes the base, keeps layer norms in fp32 and makes the embedding outputs require
    grads, so a checkpointed forward still reaches the adapter (non-reentrant checkpointing).
    """
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(
        model,
        use_gradient_checkpointing=gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False},
    )
