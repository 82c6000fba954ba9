"""Early stopping's decisions and its best-weights file, without a training run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tuneforge.config import EarlyStoppingConfig, parse_config
from tuneforge.engine.early_stop import (
    EarlyStopping,
    check_every,
    early_stopping_off,
    make_early_stopping,
    subset_indices,
)
from tuneforge.errors import ConfigError


def stopper(tmp_path: Path, **settings: object) -> EarlyStopping:
    return EarlyStopping(
        EarlyStoppingConfig(**settings),
        total_steps=100,
        eval_count=50,
        run_dir=tmp_path,
        step_items=16,  # so that 20 checks over the 100 steps stay within the cost share
    )


def test_defaults_and_shorthands() -> None:
    config = EarlyStoppingConfig()
    assert (config.enabled, config.patience, config.min_delta) == (True, 3, 0.01)
    assert (config.every_steps, config.max_items) == (None, 32)
    base = {"method": "sft", "data": {"train": "t.jsonl"}}
    off = parse_config({**base, "train": {"early_stopping": False}})
    assert off.train.early_stopping.enabled is False
    assert off.train.early_stopping.patience == 3
    empty = parse_config({**base, "train": {"early_stopping": None}})
    assert empty.train.early_stopping == EarlyStoppingConfig()
    assert parse_config(base).train.early_stopping.enabled is True


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"patience": 0}, "patience"),
        ({"min_delta": -0.1}, "min_delta"),
        ({"min_delta": 1.0}, "min_delta"),
        ({"every_steps": 0}, "every_steps"),
        ({"max_items": 0}, "max_items"),
        ({"patience": 2.5}, "patience"),
        ({"enabled": "yes"}, "enabled"),
        ({"typo": 1}, "typo"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, object], field: str) -> None:
    base = {"method": "sft", "data": {"train": "t.jsonl"}}
    with pytest.raises((ConfigError, ValueError), match=field):
        parse_config({**base, "train": {"early_stopping": settings}})


def test_cadence_and_subset() -> None:
    assert check_every(None, 336) == 17  # 20 checks over the quickstart's 336 steps
    assert check_every(None, 7) == 1
    assert check_every(5, 336) == 5
    # The checks may cost at most a fifth of the training: 32 items scored per check against
    # 4 trained per step (forward and backward, three passes) allows a check every 14 steps.
    assert check_every(None, 40, check_items=32, step_items=4) == 14
    assert check_every(None, 336, check_items=32, step_items=4) == 17
    assert check_every(None, 40, check_items=32, step_items=16) == 4
    assert check_every(3, 40, check_items=32, step_items=4) == 3  # set: taken as it is
    assert subset_indices(10, 4) == [0, 2, 5, 7]
    assert subset_indices(143, 32)[:4] == [0, 4, 8, 13]
    assert subset_indices(143, 32)[-1] == 138
    assert subset_indices(3, 32) == [0, 1, 2]
    assert subset_indices(5, None) == [0, 1, 2, 3, 4]


def test_patience_counts_checks_without_a_relative_improvement(tmp_path: Path) -> None:
    early = stopper(tmp_path, patience=2, min_delta=0.1)
    model = torch.nn.Linear(2, 1)
    assert early.every == 5 and len(early.indices) == 32
    assert [early.due(s) for s in (4, 5, 10)] == [False, True, True]
    # 1.0 sets the bar; 0.95 is the lowest yet (kept) but not 10% better (bad 1); 0.89 is
    # (new bar, reset); 0.85 is kept as the lowest but is not 10% below 0.89 (bad 1); nan: bad 2.
    assert early.observe(5, 1.0, model) is False
    assert early.observe(10, 0.95, model) is False
    assert (early.state.best_step, early.state.bad_checks) == (10, 1)
    assert early.observe(15, 0.89, model) is False
    assert (early.state.best_step, early.state.bad_checks, early.state.bar_loss) == (15, 0, 0.89)
    assert early.observe(20, 0.85, model) is False
    assert (early.state.best_step, early.state.bad_checks) == (20, 1)
    assert early.observe(25, float("nan"), model) is True
    assert early.stopped and early.state.stopped_step == 25 and not early.due(30)
    summary = early.summary(100, 25)
    assert summary["best_step"] == 20 and summary["best_loss"] == 0.85
    assert summary["checks"] == 5 and summary["stopped_step"] == 25
    assert summary["stop_reason"] == "no improvement of more than 0.1 (relative) in 2 checks"
    running = stopper(tmp_path / "other")
    assert running.summary(100, 100)["stop_reason"] == "step budget spent"
    assert running.summary(100, 40)["stop_reason"] == "interrupted"


def test_best_weights_are_kept_and_restored(tmp_path: Path) -> None:
    early = stopper(tmp_path, patience=1)
    model = torch.nn.Linear(2, 1)
    frozen_bias = model.bias.detach().clone()
    model.bias.requires_grad_(False)  # only trainable weights are kept
    best = model.weight.detach().clone()
    early.observe(5, 1.0, model)
    assert json.loads((tmp_path / "best" / "best.json").read_text()) == {"step": 5, "loss": 1.0}
    with torch.no_grad():
        model.weight.add_(1.0)
        model.bias.add_(1.0)
    assert early.observe(10, 2.0, model) is True
    assert early.restore_best(model) is True
    assert torch.equal(model.weight, best)
    assert torch.equal(model.bias, frozen_bias + 1.0)


def test_state_round_trips_and_a_foreign_best_folder_is_not_restored(tmp_path: Path) -> None:
    early = stopper(tmp_path)
    model = torch.nn.Linear(2, 1)
    early.observe(5, 1.0, model)
    early.observe(10, 0.5, model)
    again = stopper(tmp_path)
    again.load_state_dict(json.loads(json.dumps(early.state_dict())))
    assert again.state == early.state
    # A resumed run whose state says step 5 was best, while best/ holds step 10's weights.
    stale = stopper(tmp_path)
    stale.load_state_dict({**early.state_dict(), "best_step": 5, "best_loss": 1.0})
    assert stale.restore_best(model) is False
    assert stopper(tmp_path / "none").restore_best(model) is False


def test_nothing_to_do_without_held_out_data(tmp_path: Path) -> None:
    lines: list[str] = []
    config = EarlyStoppingConfig()
    made = make_early_stopping(
        config, total_steps=10, eval_items=[], run_dir=tmp_path, is_main=True, log=lines.append
    )
    assert made is None and len(lines) == 1 and "no held-out data" in lines[0]
    off = EarlyStoppingConfig(enabled=False)
    assert (
        make_early_stopping(
            off, total_steps=10, eval_items=[1], run_dir=tmp_path, is_main=True, log=lines.append
        )
        is None
    )
    assert len(lines) == 1
    assert early_stopping_off(config)["stop_reason"] == "no held-out data"
    assert early_stopping_off(off) == {
        "enabled": False,
        "checks": 0,
        "stop_reason": "off (train.early_stopping.enabled: false)",
    }
