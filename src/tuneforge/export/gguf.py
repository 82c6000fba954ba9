"""``model.gguf``: the merged model in llama.cpp's format, written with the ``gguf`` package.

No llama.cpp checkout, compiler or download: `gguf.GGUFWriter` and its tensor-name map
(`gguf.get_tensor_name_map`) write the architecture metadata, the tensors and the tokenizer.
What the Hugging Face → GGUF direction needs (DESIGN.md §7):

- Llama's q/k projections are stored in llama.cpp's rotary layout: transformers un-permutes
  them on load (``LlamaTensorProcessor``), so they are permuted here (as llama.cpp's converter
  does);
- tied embeddings are written once (``token_embd.weight``, no ``output.weight``);
- 1-D tensors (norms) stay F32; a matrix whose rows do not split into quantisation blocks is
  written F16 (llama.cpp's converter does the same);
- the tokenizer: byte-level BPE tokens, token types, merges, the pre-tokenizer name, special
  ids, the add-BOS flag and ``tokenizer.chat_template``.

Types: those the ``gguf`` package quantises in pure Python (`GGUF_TYPES`; no K-quants).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuneforge.errors import TuneforgeError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: Hugging Face ``model_type`` → gguf architecture (MODEL_ARCH member name).
SUPPORTED_ARCHITECTURES = {"llama": "LLAMA"}
#: ``--gguf`` type → (GGMLQuantizationType name, LlamaFileType name).
GGUF_TYPES = {
    "f32": ("F32", "ALL_F32"),
    "f16": ("F16", "MOSTLY_F16"),
    "bf16": ("BF16", "MOSTLY_BF16"),
    "q8_0": ("Q8_0", "MOSTLY_Q8_0"),
    "q5_1": ("Q5_1", "MOSTLY_Q5_1"),
    "q5_0": ("Q5_0", "MOSTLY_Q5_0"),
    "q4_1": ("Q4_1", "MOSTLY_Q4_1"),
    "q4_0": ("Q4_0", "MOSTLY_Q4_0"),
}
GGUF_FILE = "model.gguf"


class UnsupportedExport(TuneforgeError):
    """A model or tokenizer the GGUF writer cannot express."""


def check_gguf_type(name: str) -> str:
    """The normalised ``--gguf`` type, or a clear error listing the supported ones."""
    key = name.lower()
    if key not in GGUF_TYPES:
        raise TuneforgeError(
            f"--gguf {name}: unknown type; choose one of {', '.join(GGUF_TYPES)} (the types the "
            "gguf package quantises in Python; K-quants need llama.cpp's own quantize tool)"
        )
    return key


def check_architecture(config: Any) -> str:
    """The gguf architecture name of a transformers config, or an error naming what works."""
    model_type = getattr(config, "model_type", None)
    if model_type not in SUPPORTED_ARCHITECTURES:
        supported = ", ".join(sorted(SUPPORTED_ARCHITECTURES))
        raise UnsupportedExport(
            f"GGUF export does not support the '{model_type}' architecture; supported: "
            f"{supported} (the Llama family, e.g. the embedded SmolLM2). The Hugging Face "
            "folder is written without --gguf"
        )
    rope = getattr(config, "rope_parameters", None) or {}
    rope_type = rope.get("rope_type", "default") if isinstance(rope, dict) else "default"
    if rope_type not in (None, "default"):
        raise UnsupportedExport(
            f"GGUF export supports Llama models with plain RoPE; this one uses '{rope_type}' "
            "RoPE scaling"
        )
    return SUPPORTED_ARCHITECTURES[model_type]


def permute_rotary(weights: np.ndarray, heads: int) -> np.ndarray:
    """Llama q/k weights in llama.cpp's rotary layout (the inverse of transformers' load)."""
    rows = weights.shape[0]
    return (
        weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _rope_theta(config: Any) -> float:
    rope = getattr(config, "rope_parameters", None) or {}
    theta = rope.get("rope_theta") if isinstance(rope, dict) else None
    return float(theta if theta is not None else getattr(config, "rope_theta", 10000.0))


def write_gguf(
    path: Path,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    gguf_type: str,
    name: str,
    add_bos: bool,
    eot_token_id: int | None = None,
) -> None:
    """Write ``model`` (merged, plain transformers) and ``tokenizer`` to ``path``."""
    import gguf

    config = model.config
    arch = getattr(gguf.MODEL_ARCH, check_architecture(config))
    qtype_name, ftype_name = GGUF_TYPES[check_gguf_type(gguf_type)]
    qtype = gguf.GGMLQuantizationType[qtype_name]
    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[arch])
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    writer.add_type("model")
    writer.add_name(name)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(_rope_theta(config))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(getattr(gguf.LlamaFileType, ftype_name))
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _add_tokenizer(writer, tokenizer, config.vocab_size, add_bos=add_bos, eot=eot_token_id)
    _add_tensors(writer, model, arch, qtype, heads=heads, kv_heads=kv_heads)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _add_tensors(
    writer: Any, model: PreTrainedModel, arch: Any, qtype: Any, *, heads: int, kv_heads: int
) -> None:
    """Every weight under its GGUF name, permuted and quantised; tied embeddings once."""
    import gguf
    from gguf.quants import quantize

    config = model.config
    names = gguf.get_tensor_name_map(arch, config.num_hidden_layers)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    block_size, _ = gguf.GGML_QUANT_SIZES[qtype]
    for key, tensor in model.state_dict().items():
        if tied and key == "lm_head.weight":
            continue
        if key.endswith("rotary_emb.inv_freq"):
            continue
        target = names.get_name(key, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise UnsupportedExport(f"GGUF export: no GGUF name for the tensor {key}")
        data = tensor.detach().float().cpu().numpy()
        if key.endswith("q_proj.weight"):
            data = permute_rotary(data, heads)
        elif key.endswith("k_proj.weight"):
            data = permute_rotary(data, kv_heads)
        kind = qtype
        if data.ndim < 2:
            kind = gguf.GGMLQuantizationType.F32
        elif data.shape[-1] % block_size:
            kind = gguf.GGMLQuantizationType.F16
        writer.add_tensor(target, quantize(np.ascontiguousarray(data), kind), raw_dtype=kind)


def _backend_json(tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise UnsupportedExport(
            "GGUF export needs a fast (tokenizers) tokenizer with byte-level BPE"
        )
    return json.loads(backend.to_str())


def _add_tokenizer(
    writer: Any,
    tokenizer: PreTrainedTokenizerBase,
    vocab_size: int,
    *,
    add_bos: bool,
    eot: int | None,
) -> None:
    """Byte-level BPE ("gpt2") vocabulary, merges, special ids, flags and chat template."""
    import gguf

    spec = _backend_json(tokenizer)
    model = spec.get("model", {})
    if model.get("type") != "BPE" or "ByteLevel" not in json.dumps(spec.get("pre_tokenizer")):
        raise UnsupportedExport(
            "GGUF export supports byte-level BPE tokenizers (GPT-2 style: SmolLM, Llama-3, "
            f"Qwen2); this tokenizer is {model.get('type')}"
        )
    by_id = {index: token for token, index in tokenizer.get_vocab().items()}
    added = getattr(tokenizer, "added_tokens_decoder", {})
    tokens: list[str] = []
    types: list[int] = []
    for index in range(vocab_size):
        token = by_id.get(index)
        if token is None:
            tokens.append(f"[PAD{index}]")
            types.append(gguf.TokenType.UNUSED)
        elif index in added:
            tokens.append(token)
            special = getattr(added[index], "special", False)
            types.append(gguf.TokenType.CONTROL if special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(token)
            types.append(gguf.TokenType.NORMAL)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_tokenizer(tokens))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for token_id, add in (
        (tokenizer.bos_token_id, writer.add_bos_token_id),
        (tokenizer.eos_token_id, writer.add_eos_token_id),
        (tokenizer.unk_token_id, writer.add_unk_token_id),
        (tokenizer.pad_token_id, writer.add_pad_token_id),
    ):
        if token_id is not None:
            add(int(token_id))
    if eot is not None and eot != tokenizer.eos_token_id:
        writer.add_eot_token_id(int(eot))
    writer.add_add_bos_token(add_bos)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(False)
    if getattr(tokenizer, "chat_template", None):
        writer.add_chat_template(tokenizer.chat_template)


def _pre_tokenizer(tokens: list[str]) -> str:
    """llama.cpp's pre-tokenizer name: the shipped embedded GGUF's (``smollm``) when the
    vocabulary is the embedded model's, else ``default``."""
    embedded = _embedded_vocabulary()
    if embedded is not None and embedded[0] == tokens:
        return embedded[1]
    return "default"


@lru_cache(maxsize=1)
def _embedded_vocabulary() -> tuple[list[str], str] | None:
    """(tokens, pre-tokenizer) of the shipped embedded GGUF, or None when not installed."""
    from gguf import GGUFReader

    from tuneforge.embedded import find_gguf

    try:
        reader = GGUFReader(str(find_gguf()))
    except TuneforgeError:
        return None
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    return list(tokens), str(reader.fields["tokenizer.ggml.pre"].contents())
