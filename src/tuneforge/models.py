"""Load a base model and its tokenizer from ``embedded``, a local folder or a hub id; and the
helpers that look through the wrappers a model runs in (DDP, peft) and say what it supports.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from tuneforge.embedded import EMBEDDED_NAME, ensure_embedded
from tuneforge.errors import ModelLoadError
from tuneforge.model_families import PACKED_FAMILIES, check_model_family
from tuneforge.safe_loading import SAFE, LoadPolicy, check_weights, warn_pickle

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from tuneforge.config import LoraConfig


def resolve_model_source(name: str, home: Path | None = None) -> str:
    """Map a config's ``model:`` value to something ``from_pretrained`` accepts."""
    if name == EMBEDDED_NAME:
        return str(ensure_embedded(home))
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
            raise ModelLoadError(f"{name}: not a model folder (no config.json inside)")
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelLoadError(f"{name}: no such model folder")
    return name


def load_tokenizer(
    name: str, home: Path | None = None, *, policy: LoadPolicy = SAFE
) -> PreTrainedTokenizerBase:
    """Load the tokenizer of ``name``; a missing pad token falls back to the EOS token.

    A folder's own tokenizer code runs only with ``policy.trust_remote_code``.
    """
    from transformers import AutoTokenizer

    source = resolve_model_source(name, home)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **policy.tokenizer_kwargs())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_load_hint(name, exc)) from exc
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    name: str,
    *,
    dtype: torch.dtype | None = None,
    home: Path | None = None,
    policy: LoadPolicy = SAFE,
) -> PreTrainedModel:
    """Load the causal LM ``name`` in ``dtype`` (float32 by default), ready for training.

    Weights come from safetensors only unless ``policy.allow_pickle`` (a folder holding only
    pickle weights is refused before anything is read); the folder's own code runs only with
    ``policy.trust_remote_code``.
    """
    import pickle

    import torch
    from transformers import AutoModelForCausalLM

    source = resolve_model_source(name, home)
    if Path(source).is_dir():
        check_weights(Path(source), policy)
    elif policy.allow_pickle:
        warn_pickle(f"{name} when it has no safetensors weights")
    check_model_family(source, name, policy)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            source, dtype=dtype or torch.float32, **policy.model_kwargs()
        )
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(_refused_pickle(name)) from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(_load_hint(name, exc)) from exc
    return model


def _refused_pickle(name: str) -> str:
    """Why pickle weights let in by --allow-pickle were still refused."""
    return (
        f"could not load model '{name}': its pickle weights hold more than tensors, so torch's "
        "restricted unpickler (weights_only) refused them and nothing in them ran; use "
        "safetensors weights from a source you trust"
    )


def _load_hint(name: str, exc: Exception) -> str:
    """A one-paragraph explanation of why ``name`` did not load."""
    if "custom code" in str(exc) or "trust_remote_code" in str(exc):
        return (
            f"could not load model '{name}': it ships its own Python code (auto_map), which "
            "tuneforge does not run unless the config sets `trust_remote_code: true`; set it "
            "only for a model whose code you have read"
        )
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"could not load model '{name}': {first_line}. "
        "Use `model: embedded`, a local folder holding config.json, or a hub id that is "
        "already in the local Hugging Face cache (tuneforge never downloads at run time "
        "unless the hub is reachable)."
    )


def build_tiny_model(
    tokenizer: PreTrainedTokenizerBase,
    *,
    seed: int,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
) -> PreTrainedModel:
    """A small random Llama with the tokenizer's vocabulary, for tests and benchmarks.

    Built locally from a LlamaConfig, so it needs no download; ``seed`` fixes its weights.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=max(1, num_heads // 2),
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(generator_state)
    return model.float().eval()


def attach_lora(model: PreTrainedModel, lora: LoraConfig) -> PreTrainedModel:
    """Wrap ``model`` with a fresh LoRA adapter (peft); only the adapter is trainable.

    ``all-linear`` targets every linear layer except the output head, as peft defines it.
    The adapter's random initialisation draws from torch's global generator: seed it first.
    """
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    peft_config = PeftLoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )
    with _quiet_peft_wrapping():
        return get_peft_model(model, peft_config)


def load_adapter(
    model: PreTrainedModel, folder: str | Path, *, policy: LoadPolicy = SAFE
) -> PreTrainedModel:
    """``model`` with the trained LoRA adapter saved in ``folder`` (peft), for inference.

    peft 0.21 reads ``adapter_model.safetensors`` and falls back to ``adapter_model.bin`` on
    its own, so a pickle-only adapter is refused here unless ``policy.allow_pickle``.
    """
    import pickle

    from peft import PeftModel

    check_weights(Path(folder), policy, adapter=True)
    try:
        with _quiet_peft_wrapping():
            return PeftModel.from_pretrained(model, str(folder))
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(_refused_pickle(str(folder))) from exc


def is_adapter_folder(folder: Path) -> bool:
    """True when ``folder`` holds a LoRA adapter (peft) rather than a full model."""
    return (folder / "adapter_config.json").is_file()


def load_trained(
    base: str, final: str | Path, *, home: Path | None = None, policy: LoadPolicy = SAFE
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """The tokenizer and model a run saved in ``final`` (its ``final/`` folder).

    ``final`` holds a LoRA adapter (loaded onto the base model ``base``) or a full model; its
    tokenizer is used when it saved one, else the base model's.
    """
    final = Path(final)
    if (final / "tokenizer_config.json").is_file():
        tokenizer = load_tokenizer(str(final), policy=policy)
    else:
        tokenizer = load_tokenizer(base, home, policy=policy)
    if is_adapter_folder(final):
        loaded_base = load_model(base, home=home, policy=policy)
        return tokenizer, load_adapter(loaded_base, final, policy=policy)
    return tokenizer, load_model(str(final), policy=policy)


def merged_model(
    final_dir: str | Path,
    base_name: str,
    *,
    dtype: torch.dtype | None = None,
    policy: LoadPolicy = SAFE,
) -> PreTrainedModel:
    """The trained model of a run's ``final/`` as one plain transformers model (no peft).

    A LoRA adapter is loaded onto its base model ``base_name`` and merged into the base weights
    (peft ``merge_and_unload``); a full fine-tune's ``final/`` is loaded as it is. Export writes
    this model, and a pipeline stage trains on the previous stage's merged model.
    """
    final = Path(final_dir)
    if not final.is_dir():
        raise ModelLoadError(f"{final}: no trained model here (the run has no final/ folder)")
    if is_adapter_folder(final):
        base = load_model(base_name, dtype=dtype, policy=policy)
        adapted = load_adapter(base, final, policy=policy)
        with _quiet_peft_wrapping():
            merged = adapted.merge_and_unload()
        return merged.eval()
    return load_model(str(final), dtype=dtype, policy=policy).eval()


@contextmanager
def _quiet_peft_wrapping() -> Iterator[None]:
    # peft 0.21 reads transformers' deprecated `is_gradient_checkpointing` when it wraps a
    # model; the FutureWarning is the libraries' business and only confuses our users.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        yield


# ---------------------------------------------------------------------------------------------
# Looking through wrappers
# ---------------------------------------------------------------------------------------------


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module under a DistributedDataParallel wrapper (``.module``), else ``model``."""
    return getattr(model, "module", model)


def is_peft(model: torch.nn.Module) -> bool:
    """True when ``model`` is a peft wrapper (an adapter that can be switched off)."""
    return hasattr(model, "disable_adapter") and hasattr(model, "get_base_model")


def base_model(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model under the DDP and peft wrappers (its LoRA layers stay inside)."""
    inner = unwrap(model)
    return inner.get_base_model() if hasattr(inner, "get_base_model") else inner


def model_family(model: torch.nn.Module) -> str | None:
    """The ``config.model_type`` of the model under its wrappers (None without a config)."""
    return getattr(getattr(base_model(model), "config", None), "model_type", None)


def packable(model: torch.nn.Module) -> bool:
    """True when ``model`` keeps sequences packed in one row apart (see `PACKED_FAMILIES`)."""
    return model_family(model) in PACKED_FAMILIES


@contextmanager
def adapter_disabled(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """The reference view of ``model``: eval mode, no gradients, LoRA adapter disabled.

    A peft model runs with its adapter switched off (``disable_adapter()``), so it computes the
    base model; any other model is yielded as it is (eval mode, no gradients). Restores the
    previous train/eval mode afterwards, so it can wrap a call in the middle of a training step.
    """
    import torch

    was_training = model.training
    model.eval()
    adapter_off = model.disable_adapter() if is_peft(model) else nullcontext()
    try:
        with torch.no_grad(), adapter_off:
            yield model
    finally:
        model.train(was_training)
