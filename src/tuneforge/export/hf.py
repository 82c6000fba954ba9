"""The Hugging Face folder of an export: merged weights, tokenizer, generation config.

What ``vllm serve DIR``, TGI and plain ``AutoModelForCausalLM.from_pretrained(DIR)`` take:
``config.json``, ``model.safetensors`` (sharded above `MAX_SHARD_SIZE`), the tokenizer files
with the chat template the model was trained with, and ``generation_config.json`` whose
``eos_token_id`` lists every token that ended a reply in training (ChatML's ``<|im_end|>``),
so a server stops exactly where the tuned model learned to stop.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING

from tuneforge.export.template import RAW_TEXT_TEMPLATE, stop_tokens

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: Safetensors shards of at most this size (what hub models use; vLLM reads any sharding).
MAX_SHARD_SIZE = "5GB"


def export_tokenizer(
    tokenizer: PreTrainedTokenizerBase, *, chat_template: bool
) -> PreTrainedTokenizerBase:
    """The tokenizer as the model was trained with it: its own chat template, or for a run
    trained on raw text (``data.chat_template: false`` or no template) `RAW_TEXT_TEMPLATE`."""
    exported = copy.deepcopy(tokenizer)
    if not (chat_template and getattr(tokenizer, "chat_template", None)):
        exported.chat_template = RAW_TEXT_TEMPLATE
    return exported


def stop_token_ids(tokenizer: PreTrainedTokenizerBase, *, chat: bool) -> list[int]:
    """Ids of every token that ends a reply (see `template.stop_tokens`)."""
    ids = tokenizer.convert_tokens_to_ids(stop_tokens(tokenizer, chat=chat))
    return [int(i) for i in ids if i is not None]


def write_hf(
    folder: Path,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    stop_ids: list[int],
) -> list[str]:
    """Write the merged model, ``tokenizer`` and the generation config into ``folder``.

    Returns the names of the files written.
    """
    from transformers import GenerationConfig

    before = set(p.name for p in folder.iterdir()) if folder.is_dir() else set()
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=stop_ids if len(stop_ids) > 1 else stop_ids[0],
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    model.save_pretrained(folder, max_shard_size=MAX_SHARD_SIZE)
    tokenizer.save_pretrained(folder)
    return sorted(p.name for p in folder.iterdir() if p.name not in before)
