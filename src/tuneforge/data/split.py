"""The automatic held-out split: deterministic, order-independent, hash-based.

Each record lands in the eval split when the hash of its content falls below the eval
fraction, so the same record is held out on every run, whatever the file order, and adding
rows to the file never moves an existing row between splits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from tuneforge.data.types import Example
from tuneforge.io import to_jsonl


def example_to_row(example: Example) -> dict[str, Any]:
    """The record as a plain JSON object in tuneforge's own field names (origin left out)."""
    row = {key: value for key, value in asdict(example).items() if key != "origin"}
    return {key: value for key, value in row.items() if value is not None}


def content_hash(example: Example) -> str:
    """SHA-256 of the record's canonical JSON content."""
    canonical = json.dumps(example_to_row(example), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def hash_fraction(example: Example) -> float:
    """A number in [0, 1) fixed by the record's content."""
    return int(content_hash(example)[:15], 16) / float(16**15)


def split_examples(
    examples: Sequence[Example], eval_fraction: float
) -> tuple[list[Example], list[Example]]:
    """(train, eval): records whose content hash falls below ``eval_fraction`` are held out.

    Identical records hash alike, so a duplicated row never sits on both sides of the split.
    """
    if eval_fraction <= 0:
        return list(examples), []
    train: list[Example] = []
    held_out: list[Example] = []
    for example in examples:
        (held_out if hash_fraction(example) < eval_fraction else train).append(example)
    return train, held_out


def rows_to_jsonl(examples: Sequence[Example]) -> str:
    """JSONL text of the records, one object per line."""
    return to_jsonl((example_to_row(e) for e in examples), ensure_ascii=False)
