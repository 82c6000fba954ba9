"""KTO's data decisions: score weights, class balance, and the batch layout with mismatched pairs.

Score weighting (``kto.score_weighting``): an example's loss is scaled by how far its score lies
from the threshold, ``d_i = |s_i - t|``, normalised to mean 1 *within its class*::

    w_i = d_i / mean_{j : desirable_j = desirable_i} d_j

so a 5-star reply counts more than a 4-star one (with 1-5 ratings and t = 3: weights 2/1.5 and
1/1.5 when both are equally common), while each class's total weight stays its example count.
That keeps λ_D·n_D / (λ_U·n_U), the paper's balance rule, meaning the same with and without
score weighting. Bool scores carry no distance: every weight stays 1.

Balance (paper §4.2, Eq. 8): λ_D·n_D / (λ_U·n_U) should lie in [1, 4/3]. Outside it a warning
gives the weights that restore it (the same suggestion as ``tuneforge check``, from
``data.lint.rules.kto_weights``); ``kto.auto_weights`` applies them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import torch

from tuneforge.data.collate import pad_right
from tuneforge.data.kto_labels import resolve_kto_labels
from tuneforge.data.lint.rules import KTO_RATIO_RANGE, kto_balance, kto_weights
from tuneforge.data.tokenize import IGNORE_INDEX, Tokenized, TokenizedScored
from tuneforge.data.types import Batch, Example, Origin, ScoredExample

if TYPE_CHECKING:
    from tuneforge.methods.kto import KTOSection

__all__ = [
    "ClassWeights",
    "apply_score_weights",
    "balance_weights",
    "collate_scored",
    "score_weights",
    "scored_items",
]


def scored_items(items: Sequence[Tokenized]) -> list[TokenizedScored]:
    """The items as `TokenizedScored`, refusing anything else with a clear message."""
    out: list[TokenizedScored] = []
    for item in items:
        if not isinstance(item, TokenizedScored):
            raise TypeError(f"KTO expects TokenizedScored items, got {type(item).__name__}")
        out.append(item)
    return out


# --------------------------------------------------------------------------------------------
# Score weights
# --------------------------------------------------------------------------------------------


def score_weights(
    scores: Sequence[float], desirable: Sequence[bool], threshold: float
) -> list[float]:
    """Per-example weights ``|s - t|`` normalised to mean 1 within each class (module docstring).

    Args:
        scores: the raw numeric scores (bools count as 1/0).
        desirable: each example's label (``score > threshold``); neutral examples are excluded.
        threshold: the threshold ``t`` that labelled them.

    Returns:
        One weight per example, in order; mean 1 over the desirable ones and over the
        undesirable ones.
    """
    if len(scores) != len(desirable):
        raise ValueError(f"{len(scores)} scores for {len(desirable)} labels")
    distances = [abs(float(score) - threshold) for score in scores]
    means: dict[bool, float] = {}
    for label in (True, False):
        members = [d for d, flag in zip(distances, desirable, strict=True) if flag is label]
        means[label] = sum(members) / len(members) if members else 1.0
    return [
        d / means[flag] if means[flag] > 0 else 1.0
        for d, flag in zip(distances, desirable, strict=True)
    ]


def apply_score_weights(
    examples: Sequence[Example], items: Sequence[Tokenized], threshold: float | None
) -> tuple[list[TokenizedScored], str | None]:
    """Items with ``weight`` set from their example's score; also a note for the user.

    Weights are normalised over the examples that survived tokenisation (``items``), matched to
    their records by origin. Bool scores (no threshold) leave every weight at 1.

    Args:
        examples: the labelled records of one split (`tuneforge.data.load.load_examples`).
        items: their tokenised forms (some records may have been dropped as too long).
        threshold: ``kto.threshold`` as configured (None: the automatic rule).

    Returns:
        ``(items, note)``: new items with weights, and one line saying what was done.
    """
    scored = scored_items(items)
    records = [ex for ex in examples if isinstance(ex, ScoredExample)]
    labelling = resolve_kto_labels(records, threshold)
    if labelling.threshold is None:
        note = "kto.score_weighting: the scores are bools, so every example keeps weight 1"
        return scored, note
    by_origin: dict[Origin, float] = {ex.origin: float(ex.score) for ex in records}
    scores = [by_origin[item.origin] for item in scored]
    weights = score_weights(scores, [item.desirable for item in scored], labelling.threshold)
    low, high = (min(weights), max(weights)) if weights else (1.0, 1.0)
    note = (
        f"kto.score_weighting: each example weighs |score - {labelling.threshold:g}| / its "
        f"class mean (weights {low:.2f} to {high:.2f})"
    )
    return [replace(item, weight=w) for item, w in zip(scored, weights, strict=True)], note


# --------------------------------------------------------------------------------------------
# Class balance
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassWeights:
    """λ_D and λ_U in force for a run, and what the user should be told about them."""

    desirable: float
    undesirable: float
    messages: list[str] = field(default_factory=list)


def balance_weights(
    desirable: int, undesirable: int, section: KTOSection, *, file: str = "train"
) -> ClassWeights:
    """λ_D, λ_U for the training counts: the configured ones, or balanced ones (auto_weights).

    Warns (in ``messages``) when λ_D·n_D / (λ_U·n_U) lies outside [1, 4/3], with the weights
    that would restore it; with ``section.auto_weights`` those weights are used instead.
    """
    configured = (section.desirable_weight, section.undesirable_weight)
    warnings = [p.format() for p in kto_balance(desirable, undesirable, file, configured)]
    if not section.auto_weights or desirable == 0 or undesirable == 0:
        return ClassWeights(*configured, warnings)
    low, high = KTO_RATIO_RANGE
    ratio = configured[0] * desirable / (configured[1] * undesirable)
    suggested = kto_weights(desirable, undesirable)
    if low <= ratio <= high or suggested is None:
        note = (
            f"kto.auto_weights: {desirable} desirable vs {undesirable} undesirable with weights "
            f"{configured[0]:g}/{configured[1]:g} give λ_D·n_D / (λ_U·n_U) = {ratio:.2f}, "
            "already within [1, 4/3]; weights unchanged"
        )
        return ClassWeights(*configured, [note])
    weight_d, weight_u = suggested
    achieved = weight_d * desirable / (weight_u * undesirable)
    note = (
        f"kto.auto_weights: {desirable} desirable vs {undesirable} undesirable examples; using "
        f"kto.desirable_weight {weight_d:g} and kto.undesirable_weight {weight_u:g} "
        f"(λ_D·n_D / (λ_U·n_U) = {achieved:.2f}, was {ratio:.2f})"
    )
    return ClassWeights(weight_d, weight_u, [note])


# --------------------------------------------------------------------------------------------
# Batch layout
# --------------------------------------------------------------------------------------------


def kl_partner(index: int, size: int) -> int:
    """Whose completion row ``index`` borrows for its mismatched pair: the previous row's.

    Rotating the completions by one, ``(x_1, y_B), (x_2, y_1), ..., (x_B, y_{B-1})``, as TRL
    does, makes the mismatched completions the same set as the matched ones.
    """
    return (index - 1) % size


def collate_scored(
    items: Sequence[Tokenized], pad_token_id: int, *, max_length: int, with_kl: bool
) -> Batch:
    """Stack B scored examples into right-padded rows, plus their mismatched pairs.

    Args:
        items: B `TokenizedScored` examples.
        pad_token_id: the padding id.
        max_length: the token limit of one sequence; a mismatched pair keeps its prompt and
            loses the end of the borrowed completion (the matched rows already fit).
        with_kl: build the mismatched rows (needs B ≥ 2; a single example gets none).

    Returns:
        ``input_ids``, ``attention_mask``, ``labels`` (B, T) long: prompt + completion, labels
        ``IGNORE_INDEX`` except on the completion; ``desirable`` (B,) bool; ``weight`` (B,)
        float32, the score weight. With mismatched pairs also ``kl_input_ids``,
        ``kl_attention_mask``, ``kl_labels`` (B, T') long: prompt_i + completion of
        `kl_partner` (i), laid out the same way.
    """
    scored = scored_items(items)
    if not scored:
        raise ValueError("cannot collate an empty batch")
    for item in scored:
        if not item.completion_ids:
            raise ValueError(f"{item.origin}: a scored example needs a non-empty completion")
    completions = [item.completion_ids for item in scored]
    batch = _rows([item.prompt_ids for item in scored], completions, pad_token_id, max_length)
    batch["desirable"] = torch.tensor([item.desirable for item in scored], dtype=torch.bool)
    batch["weight"] = torch.tensor([item.weight for item in scored], dtype=torch.float32)
    if with_kl and len(scored) >= 2:
        partners = [completions[kl_partner(i, len(scored))] for i in range(len(scored))]
        kl_rows = _rows([item.prompt_ids for item in scored], partners, pad_token_id, max_length)
        batch.update({f"kl_{key}": value for key, value in kl_rows.items()})
    return batch


def _rows(
    prompts: Sequence[Sequence[int]],
    completions: Sequence[Sequence[int]],
    pad_token_id: int,
    max_length: int,
) -> Batch:
    """Ids, attention mask and labels of prompt + completion rows, cut at ``max_length``."""
    sequences = [
        (list(p) + list(c))[:max_length] for p, c in zip(prompts, completions, strict=True)
    ]
    labels = [
        ([IGNORE_INDEX] * len(p) + list(c))[:max_length]
        for p, c in zip(prompts, completions, strict=True)
    ]
    return {
        "input_ids": pad_right(sequences, pad_token_id),
        # From lengths, not `ids != pad`: the pad id is often EOS, a real token of each reply.
        "attention_mask": pad_right([[1] * len(s) for s in sequences], 0),
        "labels": pad_right(labels, IGNORE_INDEX),
    }
