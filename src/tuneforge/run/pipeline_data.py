"""A pipeline's data: one held-out set, frozen for every stage, that no stage trains on.

Without ``data.eval`` the first stage's file is split once (`data.split.load_splits`, the same
hash-based split ``tuneforge train`` uses) and the held-out rows are written, as they were in
the source file, to ``eval.jsonl`` in the pipeline folder; every stage reads its own record
kind from those rows (a pair row is prompt + chosen for SFT, the whole pair for DPO). Each
stage's training file is then written without the rows whose prompt is a held-out prompt
(``data/NAME.jsonl``), so no stage trains on the held-out set, whichever file it reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tuneforge.config import TuneforgeConfig
from tuneforge.data.load import load_examples
from tuneforge.data.readers import read_rows
from tuneforge.data.split import HELD_OUT_FILE, DataSource, load_splits
from tuneforge.data.types import Example, RecordKind
from tuneforge.errors import ConfigError, DataError
from tuneforge.evaluate.heldout import to_item
from tuneforge.io import to_jsonl, write_text_atomic

#: Where each stage's training rows (held-out prompts removed) are written.
TRAIN_DIR = "data"


def prompt_key(example: Example) -> str | None:
    """The request of a record as canonical JSON (None for one without a reply to hold out)."""
    item = to_item(example)
    return None if item is None else json.dumps(item.prompt, sort_keys=True, ensure_ascii=False)


def _source_rows(path: str, lines: set[int] | None = None) -> list[dict[str, Any]]:
    """The rows of ``path`` as read from the file (all, or those at ``lines``), in order."""
    raw = read_rows(path)
    if raw.text_cells:
        raise ConfigError(
            f"{path}: a pipeline writes its frozen split as JSON Lines and cannot keep CSV "
            "cells as they were; convert the file to .jsonl, or set data.eval"
        )
    return [row.data for row in raw.rows if lines is None or row.line in lines]


def freeze_held_out(first: TuneforgeConfig, folder: Path) -> tuple[Path, set[str]]:
    """Split the first stage's file once; write the held-out rows to ``folder/eval.jsonl``.

    Returns the file and the held-out prompts (`prompt_key`). An existing file is kept: the
    split is frozen on the first run, so later runs measure on the same rows.
    """
    target = folder / HELD_OUT_FILE
    if not Path(first.data.train).is_file():
        raise ConfigError(
            f"{first.data.train}: the pipeline splits its held-out set from the first stage's "
            "training file, which must be a local file; or set data.eval at the top level"
        )
    if not target.is_file():
        splits = load_splits(DataSource.of(first))
        if not splits.held_out:
            raise DataError(
                f"{first.data.train}: the automatic split holds nothing out (data.eval_split "
                f"{first.data.eval_split:g}); set data.eval at the top level of the pipeline"
            )
        lines = {example.origin.line for example in splits.held_out}
        write_text_atomic(target, to_jsonl(_source_rows(first.data.train, lines)))
    return target, held_out_prompts(first, target)


def held_out_prompts(cfg: TuneforgeConfig, held_out: Path) -> set[str]:
    """The prompts of the held-out file, read as ``cfg``'s record kind."""
    examples = load_examples(held_out, cfg.method_spec.record_kind, columns=dict(cfg.columns))
    return {key for key in map(prompt_key, examples) if key is not None}


def write_train_without(cfg: TuneforgeConfig, prompts: set[str], target: Path) -> tuple[Path, int]:
    """``cfg``'s training rows without those whose prompt is in ``prompts``, written to ``target``.

    Returns the file and how many rows were left out.
    """
    examples = load_examples(cfg.data.train, cfg.method_spec.record_kind, columns=dict(cfg.columns))
    dropped = {e.origin.line for e in examples if prompt_key(e) in prompts}
    kept = [e.origin.line for e in examples if e.origin.line not in dropped]
    write_text_atomic(target, to_jsonl(_source_rows(cfg.data.train, set(kept))))
    return target, len(dropped)


def reads(path: str | Path, kind: RecordKind, columns: dict[str, str] | None) -> bool:
    """True when the held-out file ``path`` is usable as ``kind`` (e.g. SFT rows are not pairs)."""
    try:
        load_examples(path, kind, columns=columns)
    except DataError:
        return False
    return True


def eval_kind_stage(configs: Iterable[TuneforgeConfig], held_out: str) -> TuneforgeConfig:
    """The stage config the evaluation reads the held-out set with: the last stage that can.

    Pairs give the richest evaluation (the reference and the rejected reply are both scored),
    so a DPO stage after SFT on a pair file is preferred; SFT rows fall back to an SFT stage.
    """
    configs = list(configs)
    for cfg in reversed(configs):
        if reads(held_out, cfg.method_spec.record_kind, dict(cfg.columns) or None):
            return cfg
    # None can: let the first stage's reader raise its own, precise error.
    load_examples(held_out, configs[0].method_spec.record_kind, columns=dict(configs[0].columns))
    return configs[0]
