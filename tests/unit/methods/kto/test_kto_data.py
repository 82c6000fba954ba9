"""KTO data decisions: score weights, class balance, unpairing, the collated layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from helpers import kind
from tuneforge.config import parse_config
from tuneforge.data.load import load_examples
from tuneforge.data.tokenize import IGNORE_INDEX, TokenizedScored
from tuneforge.data.types import Origin, ScoredExample
from tuneforge.errors import ConfigError
from tuneforge.methods.kto import KTOSection
from tuneforge.methods.kto.data import (
    apply_score_weights,
    balance_weights,
    collate_scored,
    kl_partner,
    score_weights,
)

M = IGNORE_INDEX


def scored(line: int, prompt: list[int], completion: list[int], desirable: bool) -> TokenizedScored:
    return TokenizedScored(Origin("f.jsonl", line), prompt, completion, desirable)


# ------------------------------------------------------------------------------------------
# Score weights
# ------------------------------------------------------------------------------------------


def test_score_weights_are_distances_normalised_to_mean_one_per_class() -> None:
    # 1-5 ratings, threshold 3: desirable distances [2, 1, 2], undesirable [1, 2].
    weights = score_weights([5, 4, 2, 1, 5], [True, True, False, False, True], 3.0)
    assert weights == pytest.approx([1.2, 0.6, 2 / 3, 4 / 3, 1.2])
    # A 5-star reply counts twice a 4-star one; each class still sums to its count.
    assert weights[0] == pytest.approx(2 * weights[1])
    assert sum(weights[i] for i in (0, 1, 4)) == pytest.approx(3)
    assert sum(weights[i] for i in (2, 3)) == pytest.approx(2)


def test_score_weights_for_floats_and_equal_distances() -> None:
    assert score_weights([0.9, 0.6, 0.2], [True, True, False], 0.5) == pytest.approx(
        [0.4 / 0.25, 0.1 / 0.25, 1.0]
    )
    assert score_weights([4, 4, 2], [True, True, False], 3.0) == [1.0, 1.0, 1.0]


def test_apply_score_weights_matches_items_to_scores_by_origin() -> None:
    examples = [
        ScoredExample(Origin("f.jsonl", i + 1), "p", "c", score=s, desirable=s > 3)
        for i, s in enumerate([5, 4, 1, 2])
    ]
    # Item order differs from the records', and line 2 was dropped by tokenisation.
    items = [scored(3, [1], [2], False), scored(1, [1], [2], True), scored(4, [1], [2], False)]
    weighted, note = apply_score_weights(examples, items, None)
    assert [item.origin.line for item in weighted] == [3, 1, 4]
    # Desirable: only line 1 left (weight 1); undesirable distances 2 and 1 → 4/3 and 2/3.
    assert [item.weight for item in weighted] == pytest.approx([4 / 3, 1.0, 2 / 3])
    assert "|score - 3|" in (note or "")


def test_apply_score_weights_leaves_bool_scores_alone() -> None:
    examples = [ScoredExample(Origin("f.jsonl", 1), "p", "c", score=True, desirable=True)]
    weighted, note = apply_score_weights(examples, [scored(1, [1], [2], True)], None)
    assert weighted[0].weight == 1.0
    assert "bools" in (note or "")


# ------------------------------------------------------------------------------------------
# Balance
# ------------------------------------------------------------------------------------------


def test_balanced_counts_give_no_message() -> None:
    weights = balance_weights(163, 127, KTOSection())
    assert (weights.desirable, weights.undesirable, weights.messages) == (1.0, 1.0, [])


def test_imbalance_warns_with_the_weights_that_fix_it() -> None:
    weights = balance_weights(100, 300, KTOSection())
    assert (weights.desirable, weights.undesirable) == (1.0, 1.0)  # only a warning
    (message,) = weights.messages
    assert "warning" in message
    assert "kto.desirable_weight: 3 and kto.undesirable_weight: 1" in message


def test_auto_weights_apply_the_suggestion() -> None:
    weights = balance_weights(100, 300, KTOSection(auto_weights=True))
    assert (weights.desirable, weights.undesirable) == (3.0, 1.0)
    assert 1.0 <= weights.desirable * 100 / (weights.undesirable * 300) <= 4 / 3
    weights = balance_weights(400, 100, KTOSection(auto_weights=True))
    assert (weights.desirable, weights.undesirable) == (1.0, 4.0)
    assert "kto.auto_weights" in weights.messages[0]


def test_auto_weights_keep_configured_weights_already_in_range() -> None:
    section = KTOSection(auto_weights=True, desirable_weight=2.0)
    weights = balance_weights(60, 100, section)  # 2·60 / 100 = 1.2
    assert (weights.desirable, weights.undesirable) == (2.0, 1.0)
    assert "unchanged" in weights.messages[0]


def test_config_weights_in_range_do_not_warn() -> None:
    assert balance_weights(100, 300, KTOSection(desirable_weight=3.5)).messages == []


# ------------------------------------------------------------------------------------------
# Micro-batch constraint
# ------------------------------------------------------------------------------------------


def test_batch_size_one_is_rejected_at_load_time() -> None:
    data = {"method": "kto", "data": {"train": "x.jsonl"}, "train": {"batch_size": 1}}
    with pytest.raises(ConfigError, match=r"train\.batch_size: must be at least 2") as info:
        parse_config(data, source="kto.yaml")
    assert "mismatched pairs" in str(info.value)
    assert "kto.yaml" in str(info.value)
    # apo_zero_unpaired has no KL term; other methods are unaffected.
    parse_config({**data, "kto": {"loss_type": "apo_zero_unpaired"}})
    parse_config({**data, "method": "sft"})


# ------------------------------------------------------------------------------------------
# Unpairing
# ------------------------------------------------------------------------------------------


def test_a_dpo_file_is_unpaired_for_kto(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    rows = [
        {"prompt": "Hi", "chosen": "Hello! How can I help?", "rejected": "What."},
        {"prompt": "Bye", "chosen": "Goodbye, take care.", "rejected": "k"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples = load_examples(path, kind("kto"))
    assert [(e.completion, e.desirable) for e in examples] == [  # type: ignore[union-attr]
        ("Hello! How can I help?", True),
        ("What.", False),
        ("Goodbye, take care.", True),
        ("k", False),
    ]
    assert [e.origin.line for e in examples] == [1, 1, 2, 2]


def test_renamed_pair_columns_are_unpaired_too(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"q": "Hi", "good": "Hello!", "bad": "No."}) + "\n")
    columns = {"q": "prompt", "good": "chosen", "bad": "rejected"}
    examples = load_examples(path, kind("kto"), columns=columns)
    assert [e.desirable for e in examples] == [True, False]  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------
# Collate
# ------------------------------------------------------------------------------------------


ITEMS = [
    scored(1, [11, 12], [13, 14, 15], True),
    scored(2, [21], [22], False),
    scored(3, [31, 32, 33], [34, 35], True),
]


def test_collate_rows_labels_and_flags() -> None:
    batch = collate_scored(ITEMS, 0, max_length=100, with_kl=True)
    assert batch["input_ids"].tolist() == [
        [11, 12, 13, 14, 15],
        [21, 22, 0, 0, 0],
        [31, 32, 33, 34, 35],
    ]
    assert batch["attention_mask"].tolist() == [[1] * 5, [1, 1, 0, 0, 0], [1] * 5]
    assert batch["labels"].tolist() == [
        [M, M, 13, 14, 15],
        [M, 22, M, M, M],
        [M, M, M, 34, 35],
    ]
    assert batch["desirable"].tolist() == [True, False, True]
    assert batch["weight"].dtype == torch.float32


def test_mismatched_pairs_rotate_completions_by_one() -> None:
    assert [kl_partner(i, 3) for i in range(3)] == [2, 0, 1]
    batch = collate_scored(ITEMS, 0, max_length=100, with_kl=True)
    # x_1 + y_3, x_2 + y_1, x_3 + y_2 (as TRL's rotation).
    assert batch["kl_input_ids"].tolist() == [
        [11, 12, 34, 35],
        [21, 13, 14, 15],
        [31, 32, 33, 22],
    ]
    assert batch["kl_labels"].tolist() == [
        [M, M, 34, 35],
        [M, 13, 14, 15],
        [M, M, M, 22],
    ]


def test_mismatched_pairs_are_cut_at_max_length() -> None:
    batch = collate_scored(ITEMS[:2], 0, max_length=3, with_kl=True)
    # Row 2 (prompt 1 token) borrows the 3-token completion: cut to 3 tokens in all.
    assert batch["kl_input_ids"].tolist() == [[11, 12, 22], [21, 13, 14]]


def test_no_mismatched_rows_for_one_example_or_without_kl() -> None:
    assert "kl_input_ids" not in collate_scored(ITEMS[:1], 0, max_length=100, with_kl=True)
    assert "kl_input_ids" not in collate_scored(ITEMS, 0, max_length=100, with_kl=False)


def test_collate_refuses_other_items() -> None:
    from tuneforge.data.tokenize import TokenizedSFT

    with pytest.raises(TypeError, match="TokenizedScored"):
        collate_scored([TokenizedSFT(Origin("f", 1), [1], [1])], 0, max_length=9, with_kl=True)


def test_check_accepts_a_dpo_file_for_kto(tmp_path: Path) -> None:
    from tuneforge.run.check import check_file

    path = tmp_path / "pairs.jsonl"
    rows = [
        {"prompt": f"Q{i}?", "chosen": f"Good answer {i}.", "rejected": "No."} for i in range(3)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = check_file(path, method="kto", model="none")
    assert not [p for p in report.problems if p.is_error]
    assert report.summary["kto"]["desirable"] == 3 and report.summary["kto"]["undesirable"] == 3
