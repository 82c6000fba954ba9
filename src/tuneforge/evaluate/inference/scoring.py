"""Log-probabilities of given continuations: constrained choice and preference scoring.

Every continuation (each label, or the chosen and the rejected reply) is scored as the summed
log-probability of its tokens — the quantity training optimises — through the shared
`sequence_logps`. A prompt is run once (`prefilled_batches`); then all of its continuations are
*packed* into one short row on top of its cache, with an attention mask that lets each
continuation see the prompt and itself but not its siblings, and position ids that restart
after the prompt for each of them. Scoring six labels therefore costs one prompt pass plus one
pass over the six labels' tokens, and the prompt's cache is never copied per label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from tuneforge.data.tokenize import IGNORE_INDEX
from tuneforge.evaluate.inference.generate import (
    PrefilledBatch,
    Sampling,
    greedy_decode,
    model_device,
    prefilled_batches,
    select_cache_rows,
    stop_token_ids,
)
from tuneforge.methods.logps import sequence_logps

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

Continuations = Sequence[Sequence[int]]


@dataclass(frozen=True)
class ContinuationScore:
    """Summed log-probability of a continuation's tokens, and how many tokens it has."""

    logp: float
    tokens: int

    @property
    def mean_logp(self) -> float:
        """Per-token log-probability (0 for an empty continuation)."""
        return self.logp / self.tokens if self.tokens else 0.0


@dataclass(frozen=True)
class PackedRows:
    """Continuations of several prompts packed one row per prompt.

    ``ids``, ``positions`` (R, Q); ``mask`` (R, 1, Q, C + Q) additive attention mask over the
    cached context and the packed tokens; ``starts[r][j]`` is where continuation j of row r
    begins in the packed row.
    """

    ids: torch.Tensor
    positions: torch.Tensor
    mask: torch.Tensor
    starts: list[list[int]]


def pack_rows(
    groups: Sequence[Continuations],
    context_mask: torch.Tensor,
    *,
    pad_id: int,
    dtype: torch.dtype,
) -> PackedRows:
    """Pack each row's continuations side by side after its cached context (see module doc).

    ``context_mask`` (R, C) marks the real cached tokens of each row.
    """
    rows, context = context_mask.shape
    width = max(1, max(sum(len(c) for c in group) for group in groups))
    ids = torch.full((rows, width), pad_id, dtype=torch.long)
    lengths = context_mask.sum(dim=1).cpu()
    position_ids = lengths[:, None].repeat(1, width)
    allowed = torch.zeros((rows, width, context + width), dtype=torch.bool)
    allowed[:, :, :context] = context_mask.bool().cpu()[:, None, :]
    starts: list[list[int]] = []
    for r, group in enumerate(groups):
        offset, row_starts = 0, []
        for continuation in group:
            n = len(continuation)
            row_starts.append(offset)
            ids[r, offset : offset + n] = torch.tensor(list(continuation), dtype=torch.long)
            position_ids[r, offset : offset + n] = lengths[r] + torch.arange(n)
            block = slice(context + offset, context + offset + n)
            allowed[r, offset : offset + n, block] = torch.tril(torch.ones(n, n, dtype=torch.bool))
            offset += n
        starts.append(row_starts)
        # Padding positions attend to themselves only, so no softmax row is empty.
        for q in range(offset, width):
            allowed[r, q, context + q] = True
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)
    return PackedRows(ids, position_ids, mask[:, None], starts)


def _score_rows(
    model: PreTrainedModel,
    cache: object,
    context_mask: torch.Tensor,
    last_logits: torch.Tensor,
    groups: Sequence[Continuations],
    pad_id: int,
) -> list[list[ContinuationScore]]:
    """One packed pass over the rows' continuations; the cache grows by the packed width."""
    device = model_device(model)
    dtype = next(model.parameters()).dtype
    packed = pack_rows(groups, context_mask, pad_id=pad_id, dtype=dtype)
    out = model(
        input_ids=packed.ids.to(device),
        attention_mask=packed.mask.to(device),
        position_ids=packed.positions.to(device),
        cache=cache,
        use_cache=True,
    )
    # Per continuation: the logits that predict each of its tokens — the prompt's last logits
    # for the first token, then the packed positions of its own earlier tokens.
    flat = [(r, j) for r, group in enumerate(groups) for j in range(len(group))]
    longest = max((len(groups[r][j]) for r, j in flat), default=0)
    vocab = last_logits.shape[-1]
    predictors = torch.zeros((len(flat), longest + 1, vocab), device=device)
    labels = torch.full((len(flat), longest + 1), IGNORE_INDEX, dtype=torch.long, device=device)
    for m, (r, j) in enumerate(flat):
        continuation = groups[r][j]
        if not continuation:
            continue
        start = packed.starts[r][j]
        predictors[m, 0] = last_logits[r]
        predictors[m, 1 : len(continuation)] = out.logits[r, start : start + len(continuation) - 1]
        labels[m, 1 : 1 + len(continuation)] = torch.tensor(list(continuation), device=device)
    sums, counts = sequence_logps(predictors, labels)
    scores: list[list[ContinuationScore]] = [[] for _ in groups]
    for (r, _), logp, count in zip(flat, sums.tolist(), counts.tolist(), strict=True):
        scores[r].append(ContinuationScore(float(logp), int(count)))
    return scores


def score_batch(
    model: PreTrainedModel,
    batch: PrefilledBatch,
    groups: Sequence[Continuations],
    *,
    pad_id: int,
    token_budget: int = 1024,
) -> list[list[ContinuationScore]]:
    """Scores of each row's continuations; ``batch.cache`` is left as the prefill made it.

    Rows are scored in chunks whose packed tokens stay within ``token_budget`` (the logits of a
    pass are rows × width × vocabulary floats).
    """
    context = batch.mask.shape[1]
    widths = [max(1, sum(len(c) for c in group)) for group in groups]
    per_chunk = max(1, token_budget // max(widths))
    if per_chunk >= len(groups):
        scores = _score_rows(model, batch.cache, batch.mask, batch.last_logits, groups, pad_id)
        # Drop the packed tokens again: generation continues from the prompt.
        extra = batch.cache.get_seq_length() - context
        if extra > 0:
            batch.cache.crop(-extra)
        return scores
    scores = []
    for first in range(0, len(groups), per_chunk):
        index = torch.arange(first, min(first + per_chunk, len(groups)))
        scores += _score_rows(
            model,
            select_cache_rows(batch.cache, index),
            batch.mask[index.to(batch.mask.device)],
            batch.last_logits[index.to(batch.last_logits.device)],
            groups[first : first + per_chunk],
            pad_id,
        )
    return scores


@torch.no_grad()
def score_continuations(
    model: PreTrainedModel,
    prompts: Sequence[Sequence[int]],
    continuations: Sequence[Continuations],
    *,
    pad_id: int,
    batch_size: int = 16,
    token_budget: int = 1024,
) -> list[list[ContinuationScore]]:
    """Score ``continuations[i][j]`` after ``prompts[i]``; returns scores in the same nesting."""
    was_training = model.training
    model.eval()
    results: dict[int, list[ContinuationScore]] = {}
    for batch in prefilled_batches(model, prompts, pad_id=pad_id, batch_size=batch_size):
        groups = [continuations[i] for i in batch.rows]
        scores = score_batch(model, batch, groups, pad_id=pad_id, token_budget=token_budget)
        results.update(zip(batch.rows, scores, strict=True))
    model.train(was_training)
    return [results[i] for i in range(len(prompts))]


@torch.no_grad()
def generate_and_score(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Sequence[int]],
    continuations: Sequence[Continuations] | None,
    *,
    max_new_tokens: int | None,
    batch_size: int = 16,
    token_budget: int = 1024,
    sampling: Sampling | None = None,
    keys: Sequence[int] | None = None,
) -> tuple[list[str] | None, list[list[ContinuationScore]] | None]:
    """Greedy answers (when ``max_new_tokens``) and continuation scores from one prefill each.

    Scoring runs first and leaves the prompt cache as it was, so decoding then continues it.
    ``sampling`` samples the answers instead; prompt ``i`` draws from the random stream of
    ``keys[i]`` (default ``i``), so its answer does not depend on the batching.
    """
    was_training = model.training
    model.eval()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    stops = stop_token_ids(model, tokenizer)
    answers: dict[int, str] = {}
    scores: dict[int, list[ContinuationScore]] = {}
    for batch in prefilled_batches(model, prompts, pad_id=pad_id, batch_size=batch_size):
        if continuations is not None:
            groups = [continuations[i] for i in batch.rows]
            found = score_batch(model, batch, groups, pad_id=pad_id, token_budget=token_budget)
            scores.update(zip(batch.rows, found, strict=True))
        if max_new_tokens:
            pick = None
            if sampling is not None:
                row_keys = [keys[i] if keys is not None else i for i in batch.rows]
                pick = sampling.picker(row_keys, model_device(model))
            replies = greedy_decode(
                model, batch, max_new_tokens=max_new_tokens, stop_ids=stops, pick=pick
            )
            for index, reply in zip(batch.rows, replies, strict=True):
                answers[index] = tokenizer.decode(reply, skip_special_tokens=True).strip()
    model.train(was_training)
    indices = range(len(prompts))
    return (
        [answers[i] for i in indices] if max_new_tokens else None,
        [scores[i] for i in indices] if continuations is not None else None,
    )
