"""Tiny random models of five architectures, each with a tokenizer and chat template of its
family's shape, built offline (no hub): the model-family tests train every method on them.

Each family's template is written here, after the shape of its real instruct models:

* ``llama``: Llama-3 headers, the template writes ``<|begin_of_text|>`` itself (and the
  tokenizer would add it again if asked to add special tokens), turns end with ``<|eot_id|>``
  while EOS is ``<|end_of_text|>``; no pad token (tuneforge pads with EOS).
* ``qwen2``: ChatML (``<|im_start|>``/``<|im_end|>``), a default system prompt when the
  conversation has none, no BOS token at all.
* ``mistral``: ``<s>[INST] … [/INST]reply</s>``; raises on any role order but
  user/assistant alternation, so a system message is an error.
* ``gemma``: ``<bos><start_of_turn>user``/``<end_of_turn>``, the assistant is ``model``;
  raises "System role not supported".
* ``phi3``: ``<|user|>``/``<|end|>``; silently drops system messages (early Phi-3 templates
  did) and writes the assistant header after every user turn whatever the generation flag.

Architectures vary the way real checkpoints do: tied heads (qwen2, gemma), grouped-query
attention (llama, qwen2, mistral; gemma multi-query), linear rope scaling (llama, qwen2) and a
partial rotary factor (phi3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import SUPPORT_REQUESTS

LLAMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{{ message['content'] | trim }}{{ '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
QWEN2_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"
)
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)
PHI3_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}"
    "{{ '<|user|>\\n' + message['content'] + '<|end|>\\n<|assistant|>\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + '<|end|>\\n' }}"
    "{% endif %}{% endfor %}"
)


@dataclass(frozen=True)
class Family:
    """One architecture: its config, tokenizer specials and chat template."""

    model_type: str
    template: str
    specials: dict[str, str | None]
    """bos, eos, pad token texts (None: the tokenizer has no such token)."""
    extra_tokens: tuple[str, ...]
    """Further special tokens of the template (turn markers)."""
    end_of_turn: str
    """The token that closes an assistant turn (learned after the reply)."""
    template_adds_bos: bool
    system_role: bool
    """Whether the template renders a system message as its own turn."""
    config: Callable[[int, dict[str, int | None]], Any]
    tokenizer_adds_bos: bool = False
    notes: dict[str, Any] = field(default_factory=dict)


def _common(vocab: int, ids: dict[str, int | None]) -> dict[str, Any]:
    """Tiny sizes shared by every family: 2 layers, 4 heads, hidden 32."""
    return {
        "vocab_size": vocab,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 512,
        "bos_token_id": ids["bos"],
        "eos_token_id": ids["eos"],
        "pad_token_id": ids["pad"],
    }


def _llama(vocab: int, ids: dict[str, int | None]) -> Any:
    from transformers import LlamaConfig

    rope = {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}
    return LlamaConfig(
        **_common(vocab, ids),
        num_key_value_heads=2,
        tie_word_embeddings=False,
        rope_parameters=rope,
    )


def _qwen2(vocab: int, ids: dict[str, int | None]) -> Any:
    from transformers import Qwen2Config

    rope = {"rope_type": "linear", "factor": 4.0, "rope_theta": 1000000.0}
    return Qwen2Config(
        **_common(vocab, ids), num_key_value_heads=2, tie_word_embeddings=True, rope_parameters=rope
    )


def _mistral(vocab: int, ids: dict[str, int | None]) -> Any:
    from transformers import MistralConfig

    return MistralConfig(
        **_common(vocab, ids), num_key_value_heads=2, tie_word_embeddings=False, sliding_window=None
    )


def _gemma(vocab: int, ids: dict[str, int | None]) -> Any:
    from transformers import GemmaConfig

    return GemmaConfig(
        **_common(vocab, ids), num_key_value_heads=1, head_dim=8, tie_word_embeddings=True
    )


def _phi3(vocab: int, ids: dict[str, int | None]) -> Any:
    from transformers import Phi3Config

    rope = {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5}
    return Phi3Config(
        **_common(vocab, ids),
        num_key_value_heads=4,
        tie_word_embeddings=False,
        rope_parameters=rope,
        sliding_window=None,
    )


FAMILIES: dict[str, Family] = {
    "llama": Family(
        "llama",
        LLAMA_TEMPLATE,
        {"bos": "<|begin_of_text|>", "eos": "<|end_of_text|>", "pad": None},
        ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
        "<|eot_id|>",
        template_adds_bos=True,
        system_role=True,
        config=_llama,
        tokenizer_adds_bos=True,
    ),
    "qwen2": Family(
        "qwen2",
        QWEN2_TEMPLATE,
        {"bos": None, "eos": "<|im_end|>", "pad": "<|endoftext|>"},
        ("<|im_start|>",),
        "<|im_end|>",
        template_adds_bos=False,
        system_role=True,
        config=_qwen2,
    ),
    "mistral": Family(
        "mistral",
        MISTRAL_TEMPLATE,
        {"bos": "<s>", "eos": "</s>", "pad": "<unk>"},
        ("[INST]", "[/INST]"),
        "</s>",
        template_adds_bos=True,
        system_role=False,
        config=_mistral,
    ),
    "gemma": Family(
        "gemma",
        GEMMA_TEMPLATE,
        {"bos": "<bos>", "eos": "<eos>", "pad": "<pad>"},
        ("<start_of_turn>", "<end_of_turn>"),
        "<end_of_turn>",
        template_adds_bos=True,
        system_role=False,
        config=_gemma,
    ),
    "phi3": Family(
        "phi3",
        PHI3_TEMPLATE,
        {"bos": "<s>", "eos": "<|endoftext|>", "pad": "<|dummy_pad|>"},
        ("<|user|>", "<|assistant|>", "<|end|>", "<|system|>"),
        "<|end|>",
        template_adds_bos=False,
        system_role=False,
        config=_phi3,
    ),
}

#: Text the tiny tokenizers learn their merges from (so words take a few tokens, not dozens).
CORPUS = [f"{request} {team}" for request, team in SUPPORT_REQUESTS] + [
    "You are a helpful assistant. Answer with the team name. Thank you for your message.",
    "assistant user system model The a an of to and is in for on it with please my order",
]


def build_tokenizer(family: Family, corpus: list[str] | None = None) -> Any:
    """A byte-level BPE tokenizer (about 400 ids) with the family's specials and template.

    Trained in memory on ``corpus`` (default `CORPUS`); deterministic for a given corpus.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    named = [text for text in family.specials.values() if text is not None]
    specials = list(dict.fromkeys([*named, *family.extra_tokens]))
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(corpus or CORPUS, trainer)
    bos = family.specials["bos"]
    if family.tokenizer_adds_bos and bos is not None:
        # Llama-3's tokenizer puts BOS in front of every encoding with special tokens.
        bos_id = backend.token_to_id(bos)
        backend.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
        )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=bos,
        eos_token=family.specials["eos"],
        pad_token=family.specials["pad"],
        extra_special_tokens=list(family.extra_tokens),
    )
    tokenizer.chat_template = family.template
    return tokenizer


def build_model(family: Family, tokenizer: Any, seed: int = 0) -> Any:
    """A random tiny model of ``family`` over ``tokenizer``'s ids; ``seed`` fixes the weights."""
    import torch
    from transformers import AutoModelForCausalLM

    ids = {
        "bos": tokenizer.bos_token_id,
        "eos": tokenizer.eos_token_id,
        "pad": tokenizer.pad_token_id,
    }
    config = family.config(len(tokenizer), ids)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = AutoModelForCausalLM.from_config(config)
    finally:
        torch.random.set_rng_state(state)
    return model.float().eval()


def save_family(family: Family, folder: Path, seed: int = 0) -> Path:
    """A tiny ``family`` model and its tokenizer saved like a hub model in ``folder``."""
    tokenizer = build_tokenizer(family)
    build_model(family, tokenizer, seed).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
