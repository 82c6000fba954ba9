"""The reference cache trusts nothing it reads: any damaged or tampered file is a logged miss.

Each case writes a bad file where the cache keeps the train split's values, then checks the
next run logs one line saying why, recomputes exactly the values a run without a cache
computes, and overwrites the file so that the run after it is a hit.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from accelerate import Accelerator
from transformers import PreTrainedTokenizerBase

from tuneforge.engine.reference import ReferenceSetup, build_reference
from tuneforge.models import build_tiny_model
from unit.engine.test_reference import EVAL_ITEMS, ITEMS, dpo

COUNT = len(ITEMS)


def build(tokenizer: PreTrainedTokenizerBase, cache: Path | None, log: list[str]) -> ReferenceSetup:
    return build_reference(
        dpo(),
        build_tiny_model(tokenizer, seed=0),
        train_items=ITEMS,
        eval_items=EVAL_ITEMS,
        batch_size=2,
        pad_token_id=2,
        accelerator=Accelerator(cpu=True),
        cache_dir=cache,
        log=log.append,
    )


def good_values() -> dict[str, torch.Tensor]:
    return {"chosen": torch.zeros(COUNT), "rejected": torch.zeros(COUNT)}


def payload(key: str, **changes: Any) -> dict[str, Any]:
    """A well-formed cache payload for ``key`` with ``changes`` applied."""
    base = {
        "key": key,
        "values": good_values(),
        "count": COUNT,
        "computed": torch.ones(COUNT, dtype=torch.bool),
    }
    return {**base, **changes}


def nan_chosen() -> dict[str, torch.Tensor]:
    values = good_values()
    values["chosen"][3] = float("nan")
    return values


CASES: dict[str, tuple[Callable[[str], Any], str]] = {
    "a list, not a dict": (
        lambda key: [key, good_values()],
        "it holds a list where a dict was expected",
    ),
    "no values": (lambda key: {"key": key}, "it has no 'values' table"),
    "values not a dict": (lambda key: payload(key, values=[1, 2]), "it has no 'values' table"),
    "a number for a table": (
        lambda key: payload(key, values={"chosen": 3, "rejected": 4}),
        "its values 'chosen' are not a (5,) float32 tensor",
    ),
    "wrong shape": (
        lambda key: payload(key, values={"chosen": torch.zeros(4), "rejected": torch.zeros(4)}),
        "its values 'chosen' are not a (5,) float32 tensor",
    ),
    "two-dimensional": (
        lambda key: payload(key, values={k: v[None] for k, v in good_values().items()}),
        "its values 'chosen' are not a (5,) float32 tensor",
    ),
    "wrong dtype": (
        lambda key: payload(key, values={k: v.long() for k, v in good_values().items()}),
        "its values 'chosen' are not a (5,) float32 tensor",
    ),
    "NaN under the right key": (
        lambda key: payload(key, values=nan_chosen()),
        "its values 'chosen' hold NaN or infinite numbers",
    ),
    "a bad mask": (
        lambda key: payload(key, computed=torch.ones(COUNT)),
        "its 'computed' mask is not a (5,) bool tensor",
    ),
    "another count": (lambda key: payload(key, count=7), "it is for 7 items, not 5"),
    "another key": (lambda key: payload("0" * 64), "its key does not match its name"),
    "other value names": (
        lambda key: payload(key, values={"chosen": torch.zeros(COUNT)}),
        "it holds values ['chosen'] where the method computes ['chosen', 'rejected']",
    ),
}


@pytest.fixture(scope="module")
def fresh(embedded_tokenizer: PreTrainedTokenizerBase) -> dict[str, torch.Tensor]:
    """The train split's values computed without any cache."""
    setup = build(embedded_tokenizer, None, [])
    return setup.train.values  # type: ignore[union-attr]


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_tampered_cache_file_is_a_logged_miss_and_is_recomputed_exactly(
    case: str,
    tmp_path: Path,
    embedded_tokenizer: PreTrainedTokenizerBase,
    fresh: dict[str, torch.Tensor],
) -> None:
    make, reason = CASES[case]
    cache = tmp_path / "refcache"
    first = build(embedded_tokenizer, cache, [])
    key = first.info["splits"]["train"]["key"]
    path = cache / f"{key}.pt"
    torch.save(make(key), path)

    log: list[str] = []
    again = build(embedded_tokenizer, cache, log)
    assert again.info["splits"]["train"]["cache"] == "miss"
    assert again.info["splits"]["eval"]["cache"] == "hit"
    assert f"Reference cache {path}: ignored, {reason}; recomputing it" in log
    assert sum(line.startswith("Reference cache") for line in log) == 1
    for name in ("chosen", "rejected"):
        assert torch.equal(again.train.values[name], fresh[name])  # type: ignore[union-attr]

    # Overwritten atomically with the recomputed values: the next run reads them back.
    third = build(embedded_tokenizer, cache, [])
    assert third.info["splits"]["train"]["cache"] == "hit"
    assert torch.equal(third.train.values["chosen"], fresh["chosen"])  # type: ignore[union-attr]
    assert not list(cache.glob(".*"))


def test_a_truncated_cache_file_is_a_logged_miss(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase, fresh: dict[str, torch.Tensor]
) -> None:
    cache = tmp_path / "refcache"
    first = build(embedded_tokenizer, cache, [])
    path = cache / f"{first.info['splits']['train']['key']}.pt"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    log: list[str] = []
    again = build(embedded_tokenizer, cache, log)
    assert again.info["splits"]["train"]["cache"] == "miss"
    [line] = [entry for entry in log if entry.startswith("Reference cache")]
    assert line.startswith(f"Reference cache {path}: ignored, unreadable (")
    assert line.endswith("; recomputing it") and "\n" not in line
    assert torch.equal(again.train.values["chosen"], fresh["chosen"])  # type: ignore[union-attr]


def test_items_never_computed_may_hold_nan(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase, fresh: dict[str, torch.Tensor]
) -> None:
    """A short run's file marks what it lacks with NaN: valid, and the gaps are filled."""
    cache = tmp_path / "refcache"
    first = build(embedded_tokenizer, cache, [])
    key = first.info["splits"]["train"]["key"]
    partial = {name: table.clone() for name, table in fresh.items()}
    computed = torch.tensor([True, True, False, True, False])
    for table in partial.values():
        table[~computed] = float("nan")
    torch.save(payload(key, values=partial, computed=computed), cache / f"{key}.pt")
    log: list[str] = []
    again = build(embedded_tokenizer, cache, log)
    assert not [line for line in log if line.startswith("Reference cache")]
    assert again.info["splits"]["train"]["computed"] == 2
    assert torch.equal(again.train.values["rejected"], fresh["rejected"])  # type: ignore[union-attr]
