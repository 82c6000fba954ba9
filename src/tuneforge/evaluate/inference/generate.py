"""Fast batched inference: greedy decoding with left padding and the KV cache.

Evaluation prompts usually share a long start (the system prompt, few-shot examples), so the
keys and values of the longest common token prefix are computed once and copied into every
batch; each batch then only runs its own suffixes. The suffixes are left-padded *after* the
shared prefix, so a batch reads [prefix | pads | suffix] and every row ends at the same position,
as generation needs; explicit attention masks and position ids keep the pads invisible.
One prefill per batch serves both greedy decoding and continuation scoring: production runs
both through `scoring.generate_and_score`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from tuneforge.data.render import RenderSettings, render_prompt
from tuneforge.data.template_roles import end_of_turn_token
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


def common_prefix_length(sequences: Sequence[Sequence[int]], *, keep: int = 1) -> int:
    """Length of the longest token prefix all sequences share, leaving each ≥ ``keep`` tokens."""
    if not sequences:
        return 0
    limit = max(0, min(len(s) for s in sequences) - keep)
    first = sequences[0]
    length = 0
    while length < limit and all(s[length] == first[length] for s in sequences):
        length += 1
    return length


def model_device(model: PreTrainedModel) -> torch.device:
    """The device of the model's first parameter (where inputs must go)."""
    return next(model.parameters()).device


@dataclass
class SharedPrefix:
    """The keys/values of a token prefix every prompt starts with, computed once (batch 1)."""

    ids: list[int]
    cache: Any | None
    """A transformers Cache holding the prefix, or None for an empty prefix."""

    @classmethod
    def encode(cls, model: PreTrainedModel, ids: Sequence[int]) -> SharedPrefix:
        """Run the prefix once; only the cache is kept (``logits_to_keep=1`` skips the head)."""
        if not ids:
            return cls([], None)
        tokens = torch.tensor([list(ids)], dtype=torch.long, device=model_device(model))
        out = model(input_ids=tokens, use_cache=True, logits_to_keep=1)
        return cls(list(ids), out.cache)

    def for_rows(self, rows: int) -> Any | None:
        """The prefix cache repeated ``rows`` times, as a new cache (this one stays as it is)."""
        if self.cache is None:
            return None
        return select_cache_rows(self.cache, torch.zeros(rows, dtype=torch.long))

    def batch(
        self, suffixes: Sequence[Sequence[int]], pad_id: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(input_ids, attention_mask), each (B, P + T): the prefix, then left-padded suffixes."""
        ids, mask = left_pad(suffixes, pad_id)
        rows = len(suffixes)
        prefix = torch.tensor([self.ids] * rows, dtype=torch.long).reshape(rows, len(self.ids))
        ones = torch.ones_like(prefix)
        return torch.cat([prefix, ids], dim=1), torch.cat([ones, mask], dim=1)


def select_cache_rows(cache: Any, index: torch.Tensor) -> Any:
    """A new cache whose row r is row ``index[r]`` of ``cache``; ``cache`` is left untouched.

    Layers are shallow-copied and their tensors re-selected (which copies them), so the costly
    deep copy of the whole cache is never needed; a dynamic cache grows by concatenation,
    never in place, so the original stays valid for the next batch.
    """
    new = copy.copy(cache)
    new.layers = [copy.copy(layer) for layer in cache.layers]
    device = next((layer.keys.device for layer in cache.layers if _has_keys(layer)), None)
    new.batch_select_indices(index.to(device) if device is not None else index)
    return new


def _has_keys(layer: Any) -> bool:
    """True for a cache layer that already holds key tensors."""
    return isinstance(getattr(layer, "keys", None), torch.Tensor)


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids (B, T) that skip padding: real tokens count 0, 1, 2 ... (pads get 0)."""
    return (mask.long().cumsum(dim=1) - 1).clamp(min=0)


def length_order(sequences: Sequence[Sequence[int]]) -> list[int]:
    """Indices sorted by sequence length, so each batch pads little."""
    return sorted(range(len(sequences)), key=lambda i: len(sequences[i]))


def stop_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Every token that ends a reply: the tokenizer's EOS, the model's generation EOS and the
    chat template's end-of-turn token (Llama-3's ``<|eot_id|>`` and Gemma's ``<end_of_turn>``
    are not EOS, yet training learned them as the end of every reply)."""
    ids: list[int] = []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    turn_end = end_of_turn_token(tokenizer)
    turn_end_id = tokenizer.convert_tokens_to_ids(turn_end) if turn_end is not None else None
    for value in (tokenizer.eos_token_id, configured, turn_end_id):
        for token in value if isinstance(value, list) else [value]:
            if token is not None and token not in ids:
                ids.append(int(token))
    return ids


#: Chooses the next token of each active row: (logits (B, V), active rows (B,)) → tokens (B,).
#: ``active[b]`` is the row's index in its `PrefilledBatch`, so a picker can keep per-row state.
Picker = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def greedy_pick(logits: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """The most likely token of every row (greedy decoding)."""
    return logits.argmax(dim=-1)


@dataclass(frozen=True)
class Sampling:
    """Temperature and nucleus (top-p) sampling, reproducible prompt by prompt.

    Every prompt draws from its own ``torch.Generator``, seeded from ``seed`` and the prompt's
    key (its position in the input file), so a prompt's reply depends neither on the batch it
    lands in nor on a resumed run, and no global random state is read or changed.
    """

    temperature: float
    top_p: float = 1.0
    seed: int = 0

    def generator(self, key: int, device: torch.device) -> torch.Generator:
        """The random stream of the prompt with ``key``."""
        return torch.Generator(device=device).manual_seed((self.seed * 1_000_003 + key) % 2**63)

    def picker(self, keys: Sequence[int], device: torch.device) -> Picker:
        """A picker for one batch whose row ``r`` holds the prompt with key ``keys[r]``."""
        generators = [self.generator(key, device) for key in keys]

        def pick(logits: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
            rows = [generators[r] for r in active.tolist()]
            picked = [self.draw(row, gen) for row, gen in zip(logits, rows, strict=True)]
            return torch.stack(picked)

        return pick

    def draw(self, logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One token from ``logits`` (V,): softmax at the temperature, cut to the top-p mass."""
        probs = torch.softmax(logits.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            sorted_probs, order = probs.sort(descending=True)
            # Keep the most likely tokens until their mass reaches top_p (always the first).
            keep = sorted_probs.cumsum(dim=-1) - sorted_probs < self.top_p
            choice = torch.multinomial(sorted_probs * keep, 1, generator=generator)
            return order[choice[0]]
        return torch.multinomial(probs, 1, generator=generator)[0]


@dataclass
class PrefilledBatch:
    """A batch of prompts run through the model once: the start of generation and of scoring.

    Row ``r`` holds prompt ``rows[r]``; ``mask`` marks its real (non-pad) cached tokens, and
    ``last_logits`` are the logits after its last prompt token (they predict the reply's first).
    """

    rows: list[int]
    cache: Any
    mask: torch.Tensor
    """(B, C) attention mask of the cached tokens (shared prefix + left-padded suffixes)."""
    last_logits: torch.Tensor
    """(B, V) float logits at each row's last prompt token."""

    @property
    def lengths(self) -> torch.Tensor:
        """(B,) real tokens per row: the position id of the first reply token."""
        return self.mask.sum(dim=1)


def prefilled_batches(
    model: PreTrainedModel, prompts: Sequence[Sequence[int]], *, pad_id: int, batch_size: int
) -> Iterator[PrefilledBatch]:
    """Prompts in length-sorted batches, each run once on top of the shared prefix cache."""
    device = model_device(model)
    shared = SharedPrefix.encode(model, prompts[0][: common_prefix_length(prompts, keep=1)])
    start = len(shared.ids)
    order = length_order(prompts)
    for begin in range(0, len(order), batch_size):
        rows = order[begin : begin + batch_size]
        ids, mask = shared.batch([prompts[i][start:] for i in rows], pad_id)
        out = model(
            input_ids=ids[:, start:].to(device),
            attention_mask=mask.to(device),
            position_ids=positions(mask)[:, start:].to(device),
            cache=shared.for_rows(len(rows)),
            use_cache=True,
            logits_to_keep=1,
        )
        yield PrefilledBatch(rows, out.cache, mask.to(device), out.logits[:, -1].float())


def greedy_decode(
    model: PreTrainedModel,
    batch: PrefilledBatch,
    *,
    max_new_tokens: int,
    stop_ids: Sequence[int],
    pick: Picker | None = None,
) -> list[list[int]]:
    """Greedy reply tokens of each row (stop token excluded); extends ``batch.cache``.

    Rows that have stopped are dropped from the batch, so a few long answers do not keep
    paying for the short ones. ``pick`` replaces the argmax (sampling, `Sampling.picker`).
    """
    pick = pick or greedy_pick
    device = model_device(model)
    stops = torch.tensor(list(stop_ids) or [-1], device=device)
    replies: list[list[int]] = [[] for _ in batch.rows]
    active = torch.arange(len(batch.rows), device=device)
    cache, mask = batch.cache, batch.mask
    next_position = batch.lengths.clone()
    tokens = pick(batch.last_logits, active)
    for step in range(max_new_tokens):
        done = torch.isin(tokens, stops)
        stopped = done.tolist()
        for row, token, finished in zip(active.tolist(), tokens.tolist(), stopped, strict=True):
            if not finished:
                replies[row].append(token)
        keep = ~done
        if not keep.any() or step == max_new_tokens - 1:
            break
        if not keep.all():
            cache = select_cache_rows(cache, keep.nonzero().squeeze(1))
            active, tokens, mask = active[keep], tokens[keep], mask[keep]
            next_position = next_position[keep]
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = model(
            input_ids=tokens[:, None],
            attention_mask=mask,
            position_ids=next_position[:, None],
            cache=cache,
            use_cache=True,
        )
        cache = out.cache
        next_position = next_position + 1
        tokens = pick(out.logits[:, -1], active)
    return replies
