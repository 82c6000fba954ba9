"""The frozen held-out set and the train split, in the form evaluation needs.

The held-out set is ``data.eval`` when the config names one, else the run's ``eval.jsonl``
(the automatic split frozen at training time), else the same hash-based split recomputed from
``data.train``. Few-shot examples for the baseline come from the train side only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from tuneforge.config import TuneforgeConfig
from tuneforge.data.split import HELD_OUT_FILE, DataSource, load_splits
from tuneforge.data.types import Example, Message, PairExample, RecordKind, ScoredExample, Text


@dataclass(frozen=True)
class EvalItem:
    """One held-out example: what the model is asked, and the answers it is judged by."""

    prompt: Text
    """The request; for a conversation, every turn before the last assistant reply."""
    reference: str
    """The good answer: the SFT completion, the chosen reply, or the scored KTO completion."""
    rejected: str | None = None
    """The rejected reply of a preference pair."""
    desirable: bool | None = None
    """For scored (KTO) data: whether ``reference`` is a desirable answer."""


@dataclass
class EvalData:
    """The held-out items, the train records few-shot examples come from, and provenance."""

    kind: RecordKind
    items: list[EvalItem]
    train: list[Example]
    source: str
    available: int
    """Held-out rows before ``eval.max_examples`` sampled some of them."""


def text_of(text: Text) -> str:
    """A reply as plain text: a string, or the contents of its messages joined."""
    if isinstance(text, str):
        return text
    return "\n\n".join(m.get("content", "") for m in text)


def to_item(example: Example) -> EvalItem | None:
    """The evaluation view of a record; None for a conversation without an assistant reply."""
    if isinstance(example, PairExample):
        return EvalItem(example.prompt, text_of(example.chosen), text_of(example.rejected))
    if isinstance(example, ScoredExample):
        return EvalItem(example.prompt, text_of(example.completion), desirable=example.desirable)
    if example.messages is not None:
        return _conversation_item(example.messages)
    assert example.prompt is not None and example.completion is not None
    return EvalItem(example.prompt, text_of(example.completion))


def _conversation_item(messages: list[Message]) -> EvalItem | None:
    """The last assistant turn is the reference; everything before it is the prompt."""
    last = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None or last == 0:
        return None
    return EvalItem(list(messages[:last]), messages[last]["content"])


def shot_pair(example: Example) -> tuple[Text, str] | None:
    """A (request, good answer) pair to show as a few-shot example; None if the record has none."""
    if isinstance(example, ScoredExample) and not example.desirable:
        return None
    item = to_item(example)
    return None if item is None else (item.prompt, item.reference)


def load_eval_data(cfg: TuneforgeConfig, run_dir: Path | None) -> EvalData:
    """Held-out items and train records for ``cfg`` (and its run directory, when there is one).

    The records come from `data.split.load_splits`, as training's do, so both sides split and
    label the data the same way.
    """
    frozen = run_dir / HELD_OUT_FILE if run_dir is not None else None
    source = DataSource.of(cfg)
    splits = load_splits(source, frozen_held_out=frozen)
    items = [item for item in map(to_item, splits.held_out) if item is not None]
    available = len(items)
    cap = cfg.eval.max_examples
    if cap is not None and cap < len(items):
        # A seeded sample in file order: the first rows of a file sorted by label would skew.
        keep = sorted(random.Random(cfg.eval.seed).sample(range(len(items)), cap))
        items = [items[i] for i in keep]
    return EvalData(source.kind, items, splits.train, splits.held_out_source, available)


def few_shot(
    train: list[Example], k: int, *, seed: int, labels: list[str] | None = None
) -> list[tuple[Text, str]]:
    """``k`` train examples for the baseline prompt, chosen with ``seed``.

    With class labels the choice cycles through the labels (most common first), so a few-shot
    prompt shows the model as many different answers as it can.
    """
    if k <= 0:
        return []
    pairs = [pair for pair in map(shot_pair, train) if pair is not None]
    rng = random.Random(seed)
    rng.shuffle(pairs)
    if not labels:
        return pairs[:k]
    by_label: dict[str, list[tuple[Text, str]]] = {label: [] for label in labels}
    for pair in pairs:
        by_label.setdefault(pair[1].strip(), []).append(pair)
    chosen: list[tuple[Text, str]] = []
    while len(chosen) < k and any(by_label.values()):
        for label in list(by_label):
            if by_label[label] and len(chosen) < k:
                chosen.append(by_label[label].pop(0))
    return chosen


__all__ = [
    "EvalData",
    "EvalItem",
    "few_shot",
    "load_eval_data",
    "text_of",
]
