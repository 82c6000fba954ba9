"""Train and held-out records of a stage, computed in one place for training and evaluation.

`load_splits` reads the train file and the held-out set (``data.eval``, or the automatic split
of the train file) and labels scored records with ONE threshold, the one the train file's
scores give (or the config's), so training and evaluation label every example the same way.

The automatic held-out split is deterministic, order-independent and hash-based: each record
lands in the eval split when the hash of its content falls below the eval fraction, so the
same record is held out on every run, whatever the file order, and adding rows to the file
never moves an existing row between splits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneforge.data.load import load_examples, load_labelled
from tuneforge.data.types import Example, RecordKind
from tuneforge.io import to_jsonl

if TYPE_CHECKING:
    from tuneforge.config import TuneforgeConfig

#: The frozen held-out split a training run writes into its run directory.
HELD_OUT_FILE = "eval.jsonl"


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


@dataclass(frozen=True)
class DataSource:
    """Where a stage's records come from and how they are read (the config's ``data:``)."""

    train: str
    kind: RecordKind
    eval: str | None = None
    eval_split: float = 0.1
    columns: dict[str, str] | None = None
    score_threshold: float | None = None
    """The explicit threshold of a scored-kind method (None: chosen from the train scores)."""

    @classmethod
    def of(cls, cfg: TuneforgeConfig) -> DataSource:
        """The data source of a config: its ``data:`` section and its method's record kind."""
        return cls(
            train=cfg.data.train,
            kind=cfg.method_spec.record_kind,
            eval=cfg.data.eval,
            eval_split=cfg.data.eval_split,
            columns=dict(cfg.columns) or None,
            score_threshold=getattr(cfg.method_config, "threshold", None),
        )


@dataclass
class Splits:
    """The train records and the held-out records of a stage."""

    train: list[Example]
    held_out: list[Example]
    held_out_source: str
    """Where the held-out records came from, in words (a file, or the automatic split)."""
    score_threshold: float | None = None
    """The threshold that labelled scored records on both sides (None: bools, or not scored)."""


def load_splits(source: DataSource, *, frozen_held_out: Path | None = None) -> Splits:
    """Train and held-out records; scored records on both sides labelled by one threshold.

    The held-out set is ``source.eval`` when given; else ``frozen_held_out`` when that file
    exists (the split a training run froze in its run directory); else the hash-based split
    of the train file. Raises DataError for unusable files (see `load_examples`).
    """
    train, threshold = load_labelled(
        source.train, source.kind, columns=source.columns, score_threshold=source.score_threshold
    )
    if source.eval is not None:
        held_out = load_examples(
            source.eval, source.kind, columns=source.columns, score_threshold=threshold
        )
        return Splits(train, held_out, source.eval, threshold)
    train, split_off = split_examples(train, source.eval_split)
    if frozen_held_out is not None and frozen_held_out.is_file():
        # Written in tuneforge's own field names: no columns mapping applies.
        held_out = load_examples(frozen_held_out, source.kind, score_threshold=threshold)
        return Splits(train, held_out, str(frozen_held_out), threshold)
    described = f"{source.train} (automatic {source.eval_split:.0%} split)"
    return Splits(train, split_off, described, threshold)
