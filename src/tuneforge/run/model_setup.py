"""The model a training stage starts from: how it loads (`load_settings`) and what is done to it
before the loop (`prepare_model`): dtype, attention, device, quantisation, checkpointing,
LoRA and compilation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from tuneforge.config import TuneforgeConfig
from tuneforge.device import Hardware, LoadSettings, check_trainable_dtype
from tuneforge.models import attach_lora, base_model, load_model, place_model, set_attention
from tuneforge.quantize import check_quantize, prepare_quantized, quantization_config
from tuneforge.safe_loading import LoadPolicy

if TYPE_CHECKING:
    from transformers import PreTrainedModel

__all__ = ["load_settings", "prepare_model"]


def load_settings(cfg: TuneforgeConfig, hardware: Hardware) -> LoadSettings:
    """How this stage loads its base model on ``hardware``; raises before any weight is read.

    Checks ``lora.quantize`` (CUDA, bitsandbytes), then resolves ``model.dtype`` and
    ``model.attn_implementation`` (`tuneforge.device`); fp16 weights need a LoRA adapter.
    """
    quantize = cfg.lora.quantize if cfg.lora is not None else None
    check_quantize(quantize, cuda=hardware.cuda)
    model, full = cfg.model, cfg.lora is None
    settings = LoadSettings.resolve(
        model.dtype, model.attn_implementation, quantize, hardware, trains_weights=full
    )
    check_trainable_dtype(settings.dtype, lora=not full)
    return settings


def prepare_model(
    cfg: TuneforgeConfig,
    model: PreTrainedModel | None,
    policy: LoadPolicy,
    settings: LoadSettings | None = None,
    device: torch.device | str = "cpu",
) -> PreTrainedModel:
    """The base model on ``device``, seeded LoRA unless ``lora: null``, ready for training.

    Loaded under ``policy`` and ``settings`` (dtype, attention, quantisation; default: fp32,
    sdpa) unless given; a given model (tests, benchmarks) is cast to the settings' dtype and
    keeps its own attention unless ``model.attn_implementation`` names one. The model is
    moved to ``device`` *before* anything runs on it, so the reference pass (which precedes
    the loop's ``prepare``) finds model and batches together. Gradient checkpointing is
    non-reentrant, which lets gradients reach a LoRA adapter behind frozen embeddings without
    ``enable_input_require_grads``.
    """
    settings = settings or LoadSettings()
    if model is None:
        quantization = (
            quantization_config(settings.quantize, settings.torch_dtype())
            if settings.quantize
            else None
        )
        model = load_model(
            cfg.model.path,
            dtype=settings.torch_dtype(),
            policy=policy,
            attn_implementation=settings.attn_implementation,
            quantization=quantization,
            device=device,
        )
    else:
        model = model.to(settings.torch_dtype())
        if cfg.model.attn_implementation != "auto":
            set_attention(model, settings.attn_implementation)
    place_model(model, device)
    torch.manual_seed(cfg.train.seed)
    if settings.quantize:
        model = prepare_quantized(model, gradient_checkpointing=cfg.train.gradient_checkpointing)
    if cfg.train.gradient_checkpointing:
        model.activation_checkpointing_enable({"use_reentrant": False})
        model.config.use_cache = False
    if cfg.lora is not None:
        model = attach_lora(model, cfg.lora)
    if cfg.train.compile:
        # In place (nn.Module.compile): the wrappers (peft, DDP) and their attributes stay.
        base_model(model).compile(dynamic=True)
    return model
