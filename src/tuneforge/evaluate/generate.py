"""Fast batched inference: greedy decoding with left padding and the KV cache."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from tuneforge.data.render import RenderSettings, render_prompt
from tuneforge.data.types import Text

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def prompt_ids(
    prompt: Text, tokenizer: PreTrainedTokenizerBase, settings: RenderSettings
) -> list[int]:
    """Token ids of a prompt exactly as training renders it, generation prompt included."""
    text = render_prompt(prompt, tokenizer, settings)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), each (B, T_max), padded on the left for generation."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        if sequence:
            ids[row, width - len(sequence) :] = torch.tensor(list(sequence), dtype=torch.long)
            mask[row, width - len(sequence) :] = 1
    return ids, mask


@torch.no_grad()
def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    batch_size: int = 16,
) -> list[str]:
    """Greedy completions of tokenised prompts, decoded without special tokens.

    Prompts are sorted by length so each batch pads little, then returned in input order.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    outputs: dict[int, str] = {}
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        ids, mask = left_pad([prompts[i] for i in chunk], tokenizer.pad_token_id)
        generated = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        for row, index in enumerate(chunk):
            new_tokens = generated[row, ids.shape[1] :]
            outputs[index] = tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
    model.train(was_training)
    return [outputs[i] for i in range(len(prompts))]
