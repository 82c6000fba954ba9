"""Dataset-level checks of ``tuneforge check``: each returns warnings (or statistics), never raises.

Warnings do not make a file unusable; they point at things that quietly hurt training:
duplicates, length bias in preference pairs, KTO class imbalance, tiny datasets, train/eval
overlap, and examples longer than ``max_length``.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from tuneforge.data.problems import Problem
from tuneforge.data.readers import RawRow
from tuneforge.data.types import Example, PairExample, SFTExample, Text

SMALL_DATASET = 50
LENGTH_BIAS_SHARE = 0.8
LENGTH_BIAS_MIN_PAIRS = 5
KTO_RATIO_RANGE = (1.0, 4.0 / 3.0)
MAX_LABELS = 20
MAX_LABEL_CHARS = 50
SHOWN_LINES = 5


def _warn(file: str, line: int | None, field: str, message: str) -> Problem:
    return Problem(file, line, field, message, "warning")


def _lines_text(lines: list[int]) -> str:
    """``line 3``, ``lines 3, 8`` or ``lines 3, 8, 10, 12, 15 and 9 more``: never a wall."""
    shown = ", ".join(str(n) for n in lines[:SHOWN_LINES])
    rest = len(lines) - SHOWN_LINES
    word = "line" if len(lines) == 1 else "lines"
    return f"{word} {shown} and {rest} more" if rest > 0 else f"{word} {shown}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _verb(n: int, verb: str) -> str:
    """Third person: one prompt appears, two prompts appear."""
    return f"{verb}s" if n == 1 else verb


def duplicate_rows(rows: list[RawRow], file: str) -> list[Problem]:
    """One warning per row identical to an earlier one, naming the first occurrence."""
    first: dict[str, int] = {}
    problems: list[Problem] = []
    for row in rows:
        # Key order does not make rows different; default=str covers Parquet's odd types.
        key = json.dumps(row.data, sort_keys=True, ensure_ascii=False, default=str)
        if key in first:
            problems.append(_warn(file, row.line, "row", f"duplicate of line {first[key]}"))
        else:
            first[key] = row.line
    return problems


def text_length(text: Text) -> int:
    """Characters of a reply: a string, or the contents of its messages."""
    if isinstance(text, str):
        return len(text)
    return sum(len(m["content"]) for m in text)


def length_bias(pairs: list[PairExample], file: str) -> list[Problem]:
    """Warn when chosen is longer (or shorter) than rejected in most pairs."""
    total = len(pairs)
    if total < LENGTH_BIAS_MIN_PAIRS:
        return []
    longer = sum(1 for p in pairs if text_length(p.chosen) > text_length(p.rejected))
    shorter = sum(1 for p in pairs if text_length(p.chosen) < text_length(p.rejected))
    for count, word, fix in ((longer, "longer", "shorter"), (shorter, "shorter", "longer")):
        if count / total >= LENGTH_BIAS_SHARE:
            return [
                _warn(
                    file,
                    None,
                    "chosen",
                    f"chosen is {word} than rejected in {count} of {total} pairs "
                    f"({count / total:.0%}); the model may learn length instead of quality — "
                    f"add pairs where the preferred reply is the {fix} one",
                )
            ]
    return []


def kto_weights(desirable: int, undesirable: int) -> tuple[float, float] | None:
    """Weights (λ_D, λ_U) bringing λ_D·n_D / (λ_U·n_U) into [1, 4/3]; None when in range.

    The minority class gets the larger weight, rounded to 2 decimals in the direction that
    keeps the ratio inside the range (the epsilon absorbs float noise such as 3.0000000004).
    """
    low, high = KTO_RATIO_RANGE
    ratio = desirable / undesirable
    if low <= ratio <= high:
        return None
    if ratio < low:
        return math.ceil(undesirable / desirable * 100 - 1e-9) / 100, 1.0
    return 1.0, math.floor(desirable / undesirable * 100 + 1e-9) / 100


def kto_balance(
    desirable: int, undesirable: int, file: str, weights: tuple[float, float] = (1.0, 1.0)
) -> list[Problem]:
    """Warn when λ_D·n_D / (λ_U·n_U) lies outside [1, 4/3], with weights that fix it.

    ``weights`` are the configured (λ_D, λ_U); the suggestion replaces both.
    """
    if desirable + undesirable == 0:
        return []
    if desirable == 0 or undesirable == 0:
        missing = "desirable" if desirable == 0 else "undesirable"
        return [
            _warn(
                file,
                None,
                "score",
                f"there are no {missing} examples; KTO learns from the contrast between "
                "desirable and undesirable replies — add some, or use SFT",
            )
        ]
    low, high = KTO_RATIO_RANGE
    weighted = weights[0] * desirable / (weights[1] * undesirable)
    suggested = kto_weights(desirable, undesirable)
    if low <= weighted <= high or suggested is None:
        return []
    weight_d, weight_u = suggested
    achieved = weight_d * desirable / (weight_u * undesirable)
    configured = "" if weights == (1.0, 1.0) else f" with weights {weights[0]:g}/{weights[1]:g}"
    return [
        _warn(
            file,
            None,
            "score",
            f"{desirable} desirable vs {undesirable} undesirable examples (weighted ratio "
            f"{weighted:.2f}{configured}, recommended 1 to 4/3); set "
            f"kto.desirable_weight: {weight_d:g} and kto.undesirable_weight: {weight_u:g} "
            f"so that λ_D·n_D / (λ_U·n_U) = {achieved:.2f} and neither kind dominates the loss",
        )
    ]


def small_dataset(usable: int, file: str) -> list[Problem]:
    """Warn when there are too few examples for fine-tuning to be worth it."""
    if 0 < usable < SMALL_DATASET:
        return [
            _warn(
                file,
                None,
                "file",
                f"only {_count(usable, 'usable example')}; fine-tuning usually "
                f"needs at least {SMALL_DATASET} (a few hundred is better) — add more examples",
            )
        ]
    return []


def _norm(text: str) -> str:
    return " ".join(text.split())


def prompt_key(example: Example) -> str | None:
    """A whitespace-insensitive key of what the model is asked, to compare across files."""
    if isinstance(example, SFTExample) and example.messages is not None:
        replies = [i for i, m in enumerate(example.messages) if m["role"] == "assistant"]
        prompt: Text | None = example.messages[: replies[-1]] if replies else None
    else:
        prompt = example.prompt
    if not prompt:
        return None
    if isinstance(prompt, str):
        return _norm(prompt)
    return json.dumps([[m["role"], _norm(m["content"])] for m in prompt], ensure_ascii=False)


def overlap(
    train: list[Example], evaluation: list[Example], file: str, eval_file: str
) -> tuple[int, list[Problem]]:
    """Count training examples whose prompt also appears in the eval file."""
    eval_keys = {key for key in map(prompt_key, evaluation) if key is not None}
    lines = [ex.origin.line for ex in train if prompt_key(ex) in eval_keys]
    if not lines:
        return 0, []
    return len(lines), [
        _warn(
            file,
            None,
            "prompt",
            f"{_count(len(lines), 'prompt')} also {_verb(len(lines), 'appear')} in {eval_file} "
            f"({_lines_text(lines)}); the evaluation would overstate the gain — "
            "remove them from one of the files",
        )
    ]


def neutral_warning(lines: list[int], threshold: float | None, file: str) -> list[Problem]:
    """Say which KTO examples were left out for scoring exactly the threshold."""
    if not lines or threshold is None:
        return []
    return [
        _warn(
            file,
            None,
            "score",
            f"{_count(len(lines), 'example')} {_verb(len(lines), 'score')} exactly the "
            f"threshold {threshold:g} and {'is' if len(lines) == 1 else 'are'} left out as "
            f"neutral ({_lines_text(lines)})",
        )
    ]


def _final_reply(example: Example) -> Any:
    if isinstance(example, SFTExample):
        if example.messages is not None:
            return [m for m in example.messages if m["role"] == "assistant"][-1]["content"]
        return example.completion
    return None


def sft_labels(examples: Iterable[Example]) -> dict[str, int] | None:
    """Label counts when every SFT reply is a short one-line string from a small set.

    That shape is a classification task; the per-label counts show class imbalance at a glance.
    "Small set": at most 20 distinct values, each used twice on average.
    """
    counts: Counter[str] = Counter()
    for example in examples:
        reply = _final_reply(example)
        if not isinstance(reply, str):
            return None
        label = reply.strip()
        if "\n" in label or len(label) > MAX_LABEL_CHARS:
            return None
        counts[label] += 1
        if len(counts) > MAX_LABELS:
            return None
    # Each label should recur: replies that are all different are answers, not classes.
    if not counts or len(counts) * 2 > sum(counts.values()):
        return None
    return dict(counts.most_common())


def histogram(lengths: list[int], max_length: int) -> list[dict[str, Any]]:
    """Counts of full-sequence token lengths in buckets up to and past ``max_length``."""
    edges = sorted({max(1, max_length // d) for d in (8, 4, 2)} | {max_length})
    buckets: list[dict[str, Any]] = []
    low = 0
    for high in edges:
        count = sum(1 for n in lengths if low <= n <= high)
        buckets.append({"min": low, "max": high, "count": count})
        low = high + 1
    buckets.append({"min": low, "max": None, "count": sum(1 for n in lengths if n >= low)})
    return buckets
