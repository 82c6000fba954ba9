"""Shared batching for the pair methods (DPO, ORPO): collate pairs, score both completions.

A pair is a prompt with a chosen and a rejected completion. The layout lives behind two
functions, `collate_pairs` and `pair_logps`, and nothing else in the methods depends on it:
each sequence is prompt + completion and all 2B sequences of a batch share one forward pass;
a later layout (the prompt computed once for both completions, prefix sharing) only has to
replace these two.

A collated batch of B pairs is model-agnostic, right padded to the longest of the 2B
sequences::

    rows 0 .. B-1    prompt_i + chosen_i
    rows B .. 2B-1   prompt_i + rejected_i

``labels`` carry the completion tokens and ``IGNORE_INDEX`` on the prompt and the padding, so
the summed log-prob of a row is exactly the sequence log-prob of its completion,
``log π(y | x) = Σ_t log π(y_t | x, y_<t)``, computed by the one shared shift-and-mask
(`methods.logps`).

The forward pass does not run on the padding. Preference pairs vary a lot in length (a terse
rejected reply next to a long chosen one), so padding every row to the longest typically
wastes a third to a half of the compute and activation memory. For model families whose
attention turns restarting ``position_ids`` into a block-diagonal mask
(``model_families.PACKED_FAMILIES``), `pair_logps` packs the sequences end to end into rows of about
``methods.logps.PACK_CAPACITY`` tokens, with no attention across sequences, and maps the
log-probs back onto the padded grid (``methods.logps.batch_token_logps``). Other models run
the padded rows as they are. Either way the values are the same (up to float rounding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from tuneforge.data.collate import pad_right
from tuneforge.data.tokenize import IGNORE_INDEX, TokenizedPair
from tuneforge.methods.base import Batch
from tuneforge.methods.logps import batch_token_logps, mean_token_nll

if TYPE_CHECKING:
    from tuneforge.data.tokenize import Tokenized

__all__ = [
    "PairLogps",
    "collate_pairs",
    "count_pairs",
    "pair_logps",
    "pair_tokens",
]


def collate_pairs(items: Sequence[Tokenized], pad_token_id: int) -> Batch:
    """Stack B pairs into 2B right-padded rows: the chosen rows, then the rejected rows.

    Returns:
        ``input_ids`` (2B, T) long, padded with ``pad_token_id``; ``attention_mask`` (2B, T)
        long, 1 on real tokens; ``labels`` (2B, T) long, the completion ids and
        ``IGNORE_INDEX`` on prompt and padding positions.
    """
    if not items:
        raise ValueError("cannot collate an empty batch of pairs")
    pairs: list[TokenizedPair] = []
    for item in items:
        if not isinstance(item, TokenizedPair):
            raise TypeError(f"pair methods expect TokenizedPair items, got {type(item).__name__}")
        if not item.chosen_ids or not item.rejected_ids:
            raise ValueError(f"{item.origin}: a pair needs a non-empty chosen and rejected reply")
        pairs.append(item)
    completions = [p.chosen_ids for p in pairs] + [p.rejected_ids for p in pairs]
    prompts = [p.prompt_ids for p in pairs] * 2
    sequences = [prompt + reply for prompt, reply in zip(prompts, completions, strict=True)]
    labels = [
        [IGNORE_INDEX] * len(prompt) + list(reply)
        for prompt, reply in zip(prompts, completions, strict=True)
    ]
    return {
        "input_ids": pad_right(sequences, pad_token_id),
        # From lengths, not `ids != pad`: the pad id is often EOS, a real token of each reply.
        "attention_mask": pad_right([[1] * len(s) for s in sequences], 0),
        "labels": pad_right(labels, IGNORE_INDEX),
    }


def count_pairs(batch: Batch) -> int:
    """Number of pairs B in a batch laid out by `collate_pairs` (2B rows)."""
    return int(batch["input_ids"].shape[0]) // 2


def pair_tokens(batch: Batch) -> int:
    """Non-padding tokens the forward pass processes (both rows of every pair)."""
    return int(batch["attention_mask"].sum().item())


@dataclass
class PairLogps:
    """Per-pair sequence log-probs of one batch; every tensor is (B,).

    ``chosen``/``rejected`` are summed over the completion tokens (float32, with grad when the
    forward had grad); ``*_tokens`` count those tokens (long). ``chosen_prompt`` sums the
    log-probs of the chosen row's prompt tokens (after the shift: every prompt token but the
    first) and ``chosen_prompt_tokens`` counts them; both are zero unless requested.
    """

    chosen: torch.Tensor
    rejected: torch.Tensor
    chosen_tokens: torch.Tensor
    rejected_tokens: torch.Tensor
    chosen_prompt: torch.Tensor
    chosen_prompt_tokens: torch.Tensor

    def chosen_mean(self) -> torch.Tensor:
        """(B,) length-normalised chosen log-prob, ``chosen / chosen_tokens``."""
        return self.chosen / self.chosen_tokens.clamp(min=1)

    def rejected_mean(self) -> torch.Tensor:
        """(B,) length-normalised rejected log-prob."""
        return self.rejected / self.rejected_tokens.clamp(min=1)

    def chosen_nll(self, *, with_prompt: bool = False) -> torch.Tensor:
        """The token-mean NLL of the chosen replies over the batch (`mean_token_nll`), 0-dim.

        ``with_prompt`` also counts the chosen rows' prompt tokens (only meaningful when
        `pair_logps` scored them: ``score_chosen_prompt``).
        """
        sums, counts = self.chosen, self.chosen_tokens
        if with_prompt:
            sums, counts = sums + self.chosen_prompt, counts + self.chosen_prompt_tokens
        return mean_token_nll(sums, counts)


def pair_logps(
    model: torch.nn.Module, batch: Batch, *, score_chosen_prompt: bool = False
) -> PairLogps:
    """Score the chosen and rejected completions of every pair in one forward pass.

    The output head runs only where a log-prob is needed (``methods.logps``): the completion
    tokens, plus the chosen rows' prompt tokens when ``score_chosen_prompt`` (ORPO's NLL over
    the whole chosen sequence, as TRL computes it); the rows are packed where the model allows
    (`batch_token_logps`).

    Args:
        model: the causal LM (optionally peft-wrapped); grad mode is the caller's.
        batch: a batch from `collate_pairs` (extra keys such as ``index`` are ignored).
        score_chosen_prompt: also sum the chosen rows' prompt-token log-probs.

    Returns:
        `PairLogps` with (B,) tensors.
    """
    labels = batch["labels"]  # (2B, T)
    pairs = count_pairs(batch)
    completion = labels[:, 1:] != IGNORE_INDEX  # (2B, T-1)
    scored_labels = labels
    if score_chosen_prompt:
        # Chosen rows learn every real token; rejected rows keep completion-only labels.
        everything = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, IGNORE_INDEX)
        scored_labels = torch.cat([everything[:pairs], labels[pairs:]], dim=0)
    logps, scored = batch_token_logps(
        model, batch["input_ids"], batch["attention_mask"], scored_labels
    )  # (2B, T-1), packed where the model allows
    sums = torch.where(completion, logps, 0.0).sum(dim=-1)  # (2B,)
    counts = completion.sum(dim=-1)
    prompt_positions = scored & ~completion
    prompt_sums = torch.where(prompt_positions, logps, 0.0).sum(dim=-1)
    prompt_counts = prompt_positions.sum(dim=-1)
    return PairLogps(
        chosen=sums[:pairs],
        rejected=sums[pairs:],
        chosen_tokens=counts[:pairs],
        rejected_tokens=counts[pairs:],
        chosen_prompt=prompt_sums[:pairs],
        chosen_prompt_tokens=prompt_counts[:pairs],
    )
