"""The watchdog on synthetic logged records: stuck at ln 2 (three causes), NaN rewards."""

from __future__ import annotations

import math
from typing import Any

from tuneforge.engine.watchdog import Watchdog

LN2 = math.log(2.0)


def records(
    losses: list[float], *, grad: float = 0.5, margin: float = 0.01, every: int = 5
) -> list[dict[str, Any]]:
    """Training records logged every ``every`` steps."""
    return [
        {
            "step": every * (i + 1),
            "loss": loss,
            "lr": 5e-7,
            "grad_norm": grad,
            "rewards/margins": margin,
            "rewards/chosen": 0.0,
        }
        for i, loss in enumerate(losses)
    ]


def watch(rows: list[dict[str, Any]], **kw: Any) -> list[str]:
    messages: list[str] = []
    dog = Watchdog(messages.append, stuck_loss=LN2, **kw)
    for row in rows:
        dog.observe(row)
    return messages


def test_low_learning_rate() -> None:
    messages = watch(records([LN2, LN2 - 4e-4, LN2 + 9e-4, LN2 - 1e-4, LN2]), patience_steps=20)
    assert len(messages) == 1  # once, at step 20
    assert "0.6931" in messages[0] and "first 20 steps" in messages[0]
    assert "learning rate (lr 5e-07) is probably too low" in messages[0]


def test_identical_pairs() -> None:
    messages = watch(records([LN2] * 4, margin=0.0, grad=3e-9), patience_steps=20)
    assert len(messages) == 1 and "identical" in messages[0]


def test_flat_margins_with_different_replies_blame_the_learning_rate() -> None:
    # At a tiny lr the reference equals the policy exactly: margins are 0 although the pairs
    # differ, which their log-probs show.
    rows = records([LN2] * 4, margin=0.0)
    for row in rows:
        row.update({"logps/chosen": -390.0, "logps/rejected": -330.1})
    messages = watch(rows, patience_steps=20)
    assert len(messages) == 1 and "learning rate (lr 5e-07) is probably too low" in messages[0]


def test_nothing_trainable() -> None:
    messages = watch(records([LN2] * 4, grad=0.0, margin=0.0), patience_steps=20)
    assert len(messages) == 1 and "nothing is trainable" in messages[0]


def test_a_moving_loss_is_quiet() -> None:
    assert watch(records([LN2, LN2 - 0.002, LN2 - 0.01, 0.6, 0.5]), patience_steps=20) == []
    # Back in the band later does not count: the loss left it once.
    assert watch(records([LN2, 0.60, LN2, LN2, LN2]), patience_steps=20) == []


def test_short_run_resumed_run_and_other_methods_are_quiet() -> None:
    assert watch(records([LN2, LN2]), patience_steps=20) == []  # the run ended first
    resumed = records([LN2] * 8)[4:]  # first record at step 25
    assert watch(resumed, patience_steps=20) == []
    messages: list[str] = []
    dog = Watchdog(messages.append, stuck_loss=None, patience_steps=5)
    for row in records([LN2] * 3):
        dog.observe(row)
    assert messages == []


def test_eval_records_are_ignored() -> None:
    rows = [{"step": 5, "eval_loss": LN2, "eval_rewards/margins": math.nan}]
    assert watch(rows, patience_steps=5) == []


def test_nan_rewards_warn_once() -> None:
    rows = records([0.5, 0.4, 0.3])
    rows[1]["rewards/chosen"] = math.nan
    rows[2]["rewards/chosen"] = "nan"  # as the metrics file writes it
    messages = watch(rows, patience_steps=5)
    assert len(messages) == 1
    assert "rewards/chosen became NaN at step 10" in messages[0]


def nll_records(values: list[float]) -> list[dict[str, Any]]:
    """DPO training records whose chosen replies' token-mean NLL is ``values``."""
    return [
        {"step": 5 * (i + 1), "loss": 0.7, "nll_chosen": value, "rewards/margins": 0.2}
        for i, value in enumerate(values)
    ]


def test_rising_chosen_nll_warns_once() -> None:
    """The json-extract DPO run's logged nll_chosen: the chosen replies became less likely."""
    logged = [0.1117, 0.0831, 0.0834, 0.1037, 0.1082, 0.1274, 0.1360, 0.1603]
    messages = watch(nll_records(logged), patience_steps=20)
    assert len(messages) == 1
    # First three: (0.1117 + 0.0831 + 0.0834) / 3 = 0.0927; by step 35 the last three are
    # (0.1082 + 0.1274 + 0.1360) / 3 = 0.1239, a rise of 34% (over the 25% and 0.02 bars).
    assert "rose from 0.093 to 0.124 nats" in messages[0]
    assert "now step 35" in messages[0]
    assert "dpo.nll_weight" in messages[0]


def test_steady_or_falling_chosen_nll_is_quiet() -> None:
    assert watch(nll_records([0.5, 0.45, 0.4, 0.38, 0.35, 0.3, 0.3]), patience_steps=20) == []
    # A 30% rise of a tiny NLL (0.01 -> 0.013 nats) is under the 0.02-nat floor: noise.
    assert watch(nll_records([0.01, 0.01, 0.01, 0.013, 0.013, 0.013]), patience_steps=20) == []
    # Five records are not enough to compare three with three.
    assert watch(nll_records([0.1, 0.1, 0.1, 0.5, 0.5]), patience_steps=20) == []
