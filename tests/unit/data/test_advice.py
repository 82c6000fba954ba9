"""Advice in plain words: exact sentences per data kind, interval half-widths for given n."""

from __future__ import annotations

import pytest

from tuneforge.data.advice import advise, held_out_advice, interval_points, method_advice
from tuneforge.data.types import RecordKind

SFT_ADVICE = (
    "These rows hold good responses only: train SFT on them first. Then collect the tuned "
    "model's own mistakes as preference pairs (`tuneforge pairs runs/a --data t.jsonl --out "
    "pairs.jsonl`) and train DPO on those pairs to push it away from the answers it still gets "
    "wrong."
)
PAIR_ADVICE = (
    "These rows are preference pairs (a chosen and a rejected reply): train DPO. ORPO learns "
    "from the same pairs without a reference model, so it needs less memory and time; choose "
    "it when memory is tight and the model may drift further from where it started."
)
SCORED_ADVICE = (
    "These rows are single replies with a score or a thumbs up/down: train KTO, which learns "
    "from good and bad replies without needing them paired. By default it also learns to write "
    "the good replies (kto.nll_weight: 1), which is what a style or voice needs; when good and "
    "bad replies differ in facts rather than style and ranking them is all that matters, "
    "kto.nll_weight: 0 (KTO alone) separates them more."
)


@pytest.mark.parametrize(
    ("n", "points"),
    [(1, 98.0), (40, 15.4952), (100, 9.8), (200, 6.9296), (400, 4.9), (10_000, 0.98)],
)
def test_interval_half_width_near_fifty_percent(n: int, points: float) -> None:
    # 1.96 * sqrt(0.25 / n), in percentage points: 100 rows give 1.96 * 0.05 = 9.8 points.
    assert interval_points(n) == pytest.approx(points, abs=5e-5)


def test_interval_needs_a_row() -> None:
    with pytest.raises(ValueError, match="at least one held-out row, got 0"):
        interval_points(0)


def test_method_advice_per_kind() -> None:
    assert method_advice(RecordKind.SFT, data="t.jsonl", run_dir="runs/a") == SFT_ADVICE
    assert method_advice(RecordKind.PAIR) == PAIR_ADVICE
    assert method_advice(RecordKind.SCORED) == SCORED_ADVICE
    # Pairs read as scored data (check --method kto on a pair file) are still pairs.
    assert method_advice(RecordKind.SCORED, paired=True) == PAIR_ADVICE


def test_held_out_advice() -> None:
    assert held_out_advice(40) == (
        "With 40 held-out rows, a difference smaller than ±15 points cannot be told from "
        "noise; aim for at least 200 rows for ±7 points."
    )
    assert held_out_advice(400) == (
        "With 400 held-out rows, a difference smaller than ±5 points cannot be told from "
        "noise; that is enough to see the differences that matter."
    )
    assert held_out_advice(1).startswith("With 1 held-out row, a difference smaller than ±98 ")
    assert held_out_advice(0) == (
        "No row would be held out, so nothing can be measured: give a held-out file "
        "(data.eval), or more rows and a data.eval_split above 0 to split from."
    )


def test_advise_as_json() -> None:
    advice = advise(RecordKind.PAIR, 100)
    assert advice.to_dict() == {
        "method": PAIR_ADVICE,
        "held_out": held_out_advice(100),
        "held_out_rows": 100,
        "interval_points": 9.8,
    }
    assert advice.lines() == [PAIR_ADVICE, held_out_advice(100)]
    assert advise(RecordKind.SFT, 0).to_dict()["interval_points"] is None
