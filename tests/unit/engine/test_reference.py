"""Reference values: LoRA adapter off vs frozen copy, precompute, the on-disk cache and its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tuneforge.config import LoraConfig
from tuneforge.data.tokenize import TokenizedPair
from tuneforge.data.types import Origin
from tuneforge.engine.reference import (
    OnTheFlyReference,
    PrecomputedReference,
    build_reference,
    compute_reference_values,
    in_layout,
    items_fingerprint,
    model_fingerprint,
    reference_cache_key,
)
from tuneforge.methods.dpo import DPOMethod, DPOSection
from tuneforge.models import attach_lora, build_tiny_model

ORIGIN = Origin("pairs.jsonl", 1)
ITEMS = [
    TokenizedPair(ORIGIN, [1, 520, 33, 90], [701, 702, 2], [801, 2]),
    TokenizedPair(ORIGIN, [1, 610], [44, 45, 46, 47, 2], [46, 2]),
    TokenizedPair(ORIGIN, [1, 77, 78, 79, 80, 81], [12, 2], [13, 14, 15, 2]),
    TokenizedPair(ORIGIN, [1, 5, 6], [900, 901, 2], [902, 2]),
    TokenizedPair(ORIGIN, [1, 8], [7, 2], [9, 10, 11, 2]),
]
EVAL_ITEMS = ITEMS[:2]


def dpo(precompute: bool = True) -> DPOMethod:
    return DPOMethod(DPOSection(precompute_ref=precompute))


def lora(model: PreTrainedModel) -> PreTrainedModel:
    torch.manual_seed(0)
    return attach_lora(model, LoraConfig(r=4, alpha=8, dropout=0.1))


def nudge_lora(model: PreTrainedModel) -> None:
    """Make the adapter change the outputs (a fresh LoRA B is zero)."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.fill_(0.05)


def build(
    model: PreTrainedModel, cache: Path | None, items: list[TokenizedPair] = ITEMS, **kw: bool
) -> object:
    return build_reference(
        dpo(**kw),
        model,
        train_items=items,
        eval_items=EVAL_ITEMS,
        batch_size=2,
        pad_token_id=2,
        accelerator=Accelerator(cpu=True),
        cache_dir=cache,
    )


def batch_of(positions: list[int]) -> dict[str, torch.Tensor]:
    batch = dpo().collate([ITEMS[i] for i in positions], 2)
    batch["index"] = torch.tensor(positions)
    return batch


def test_lora_reference_is_the_base_model_with_the_adapter_off(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    base = build_tiny_model(embedded_tokenizer, seed=0)
    with torch.no_grad():
        expected = dpo().reference_values(base, batch_of([0, 2]))
    model = lora(build_tiny_model(embedded_tokenizer, seed=0))
    nudge_lora(model)
    model.train()
    reference = OnTheFlyReference(dpo(False), model)
    assert reference.model is model  # no second copy with LoRA
    values = reference(batch_of([0, 2]))
    torch.testing.assert_close(values["chosen"], expected["chosen"])
    torch.testing.assert_close(values["rejected"], expected["rejected"])
    assert model.training  # the training mode is restored
    with torch.no_grad():
        policy = dpo().reference_values(model, batch_of([0, 2]))
    assert not torch.allclose(policy["chosen"], expected["chosen"])


def test_full_fine_tuning_reference_is_a_frozen_copy(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    model = build_tiny_model(embedded_tokenizer, seed=0)
    reference = OnTheFlyReference(dpo(False), model)
    before = reference(batch_of([1]))
    with torch.no_grad():
        model.model.layers[0].mlp.up_proj.weight.add_(0.1)  # "training" moves the policy
    after = reference(batch_of([1]))
    torch.testing.assert_close(before["chosen"], after["chosen"])
    assert not any(p.requires_grad for p in reference.model.parameters())


def test_precomputed_values_equal_on_the_fly_values_and_keep_the_rng(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    model = lora(build_tiny_model(embedded_tokenizer, seed=0))
    model.train()  # LoRA dropout is active in training mode: the pass must switch it off
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    table = compute_reference_values(
        dpo(), model, ITEMS, batch_size=2, pad_token_id=2, accelerator=Accelerator(cpu=True)
    )
    assert torch.equal(torch.random.get_rng_state(), state)
    assert model.training
    assert table["chosen"].shape == (5,) and table["chosen"].dtype == torch.float32
    precomputed = PrecomputedReference(table)
    on_the_fly = OnTheFlyReference(dpo(False), model)
    for positions in ([3, 0], [4], [1, 2, 0]):
        a, b = precomputed(batch_of(positions)), on_the_fly(batch_of(positions))
        torch.testing.assert_close(a["chosen"], b["chosen"], atol=1e-5, rtol=0)
        torch.testing.assert_close(a["rejected"], b["rejected"], atol=1e-5, rtol=0)
    with pytest.raises(KeyError, match="index"):
        precomputed({"input_ids": torch.zeros(2, 3)})


def test_cache_miss_then_hit_then_invalidation(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    cache = tmp_path / "refcache"
    first = build(lora(build_tiny_model(embedded_tokenizer, seed=0)), cache)
    assert first.info["mode"] == "precomputed"  # type: ignore[attr-defined]
    splits = first.info["splits"]  # type: ignore[attr-defined]
    assert splits["train"]["cache"] == "miss" and splits["eval"]["cache"] == "miss"
    assert len(list(cache.glob("*.pt"))) == 2 and not list(cache.glob(".*"))  # no temp files

    # A new run (fresh LoRA, other adapter seed): same base model and items → read back.
    torch.manual_seed(99)
    again = build(attach_lora(build_tiny_model(embedded_tokenizer, seed=0), LoraConfig()), cache)
    assert again.info["splits"]["train"]["cache"] == "hit"  # type: ignore[attr-defined]
    torch.testing.assert_close(
        again.train.values["chosen"],  # type: ignore[attr-defined]
        first.train.values["chosen"],  # type: ignore[attr-defined]
    )

    # Full fine-tuning of the same base weights shares the values too.
    plain = build(build_tiny_model(embedded_tokenizer, seed=0), cache)
    assert plain.info["splits"]["train"]["cache"] == "hit"  # type: ignore[attr-defined]

    # Other weights, other items, other method settings: misses.
    other_model = build(build_tiny_model(embedded_tokenizer, seed=1), cache)
    assert other_model.info["splits"]["train"]["cache"] == "miss"  # type: ignore[attr-defined]
    changed = [ITEMS[0], TokenizedPair(ORIGIN, [1, 610], [44, 45, 2], [46, 2]), *ITEMS[2:]]
    other_items = build(build_tiny_model(embedded_tokenizer, seed=0), cache, changed)
    assert other_items.info["splits"]["train"]["cache"] == "miss"  # type: ignore[attr-defined]
    assert other_items.info["splits"]["eval"]["cache"] == "hit"  # type: ignore[attr-defined]


def test_damaged_cache_file_is_recomputed(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    cache = tmp_path / "refcache"
    first = build(build_tiny_model(embedded_tokenizer, seed=0), cache)
    key = first.info["splits"]["train"]["key"]  # type: ignore[attr-defined]
    (cache / f"{key}.pt").write_bytes(b"not a torch file")
    again = build(build_tiny_model(embedded_tokenizer, seed=0), cache)
    assert again.info["splits"]["train"]["cache"] == "miss"  # type: ignore[attr-defined]
    third = build(build_tiny_model(embedded_tokenizer, seed=0), cache)
    assert third.info["splits"]["train"]["cache"] == "hit"  # type: ignore[attr-defined]


def test_on_the_fly_and_no_cache_modes(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    model = lora(build_tiny_model(embedded_tokenizer, seed=0))
    setup = build(model, tmp_path, precompute=False)
    assert setup.info == {"mode": "on_the_fly"}  # type: ignore[attr-defined]
    assert setup.train is setup.eval  # type: ignore[attr-defined]
    assert not list(tmp_path.iterdir())
    off = build(model, None)
    assert off.info["splits"]["train"]["cache"] == "off"  # type: ignore[attr-defined]


def test_fingerprints_change_with_what_the_values_depend_on(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    model = build_tiny_model(embedded_tokenizer, seed=0)
    fingerprint = model_fingerprint(model)
    assert fingerprint == model_fingerprint(build_tiny_model(embedded_tokenizer, seed=0))
    assert fingerprint == model_fingerprint(lora(build_tiny_model(embedded_tokenizer, seed=0)))
    with torch.no_grad():
        model.model.norm.weight[0] += 1e-3
    assert model_fingerprint(model) != fingerprint
    items = items_fingerprint(ITEMS)
    assert items == items_fingerprint(list(ITEMS))
    assert items != items_fingerprint(ITEMS[::-1])
    moved = [TokenizedPair(Origin("other.jsonl", 9), *astuple_ids(ITEMS[0])), *ITEMS[1:]]
    assert items == items_fingerprint(moved)  # where a record came from does not matter
    key = reference_cache_key(fingerprint, items, dpo(), "no")
    assert key != reference_cache_key(fingerprint, items, dpo(), "bf16")
    assert key == reference_cache_key(fingerprint, items, DPOMethod(DPOSection(beta=0.5)), "no")


def astuple_ids(item: TokenizedPair) -> tuple[list[int], list[int], list[int]]:
    return item.prompt_ids, item.chosen_ids, item.rejected_ids


def test_items_without_precomputed_values_are_refused_by_name() -> None:
    table = {"chosen": torch.tensor([1.0, float("nan"), 3.0])}
    reference = PrecomputedReference(table, torch.tensor([True, False, True]))
    assert reference({"index": torch.tensor([2, 0])})["chosen"].tolist() == [3.0, 1.0]
    with pytest.raises(RuntimeError, match=r"no precomputed reference values for items \[1\]"):
        reference({"index": torch.tensor([0, 1])})


def test_in_layout_groups_items_as_the_micro_batches_hold_them() -> None:
    assert in_layout([0, 1, 2, 3, 4], [[3, 0], [4, 1], [2]]) == [[3, 0], [4, 1], [2]]
    assert in_layout([0, 2, 4], [[3, 0], [4, 1], [2]]) == [[0], [4], [2]]
    assert in_layout([1, 5], [[3, 0], [4, 1]]) == [[1], [5]]  # 5 is in no micro-batch


def test_the_train_pass_in_the_training_layout_equals_the_policy_at_step_1(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    model = lora(build_tiny_model(embedded_tokenizer, seed=0))
    model.train()
    layout = [[3, 0], [4, 1], [2]]
    setup = build_reference(
        dpo(),
        model,
        train_items=ITEMS,
        eval_items=[],
        batch_size=2,
        pad_token_id=2,
        accelerator=Accelerator(cpu=True),
        cache_dir=None,
        train_layout=layout,
    )
    assert setup.train is not None
    for positions in layout:
        batch = batch_of(positions)
        policy = dpo().reference_values(model, batch)  # with grad, in training mode
        reference = setup.train(batch)
        # Bit for bit: a fresh adapter adds exact zeros; the rows are padded as in training.
        assert torch.equal(reference["chosen"], policy["chosen"].detach())
        assert torch.equal(reference["rejected"], policy["rejected"].detach())
