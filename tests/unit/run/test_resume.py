"""run/resume.py: what a run folder holds, and which config changes stop a run from continuing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tuneforge.config import dump_config, parse_config
from tuneforge.errors import TuneforgeError
from tuneforge.run.resume import (
    TRAJECTORY_EXEMPT,
    RunState,
    plan_start,
    run_state,
    trajectory_differences,
)


def config(tmp_path: Path, **train: Any) -> Any:
    data = tmp_path / "train.jsonl"
    data.write_text('{"prompt": "a", "completion": "b"}\n')
    return parse_config(
        {
            "method": "sft",
            "output": str(tmp_path / "run"),
            "data": {"train": str(data)},
            "train": train,
        }
    ).resolved()


def as_yaml(cfg: Any) -> dict[str, Any]:
    return yaml.safe_load(dump_config(cfg))


def test_the_keys_that_do_not_change_the_trajectory_are_exactly_these() -> None:
    assert TRAJECTORY_EXEMPT == (
        "output",
        "train.logging_steps",
        "train.eval_steps",
        "train.save_steps",
        "train.save_minutes",
        "train.save_every_epoch",
        "train.save_total_limit",
        "train.report_to",
        "eval",
    )


def test_trajectory_differences_name_every_changed_training_key(tmp_path: Path) -> None:
    saved = as_yaml(config(tmp_path))
    changed = as_yaml(config(tmp_path, lr=5e-4, batch_size=8, seed=1))
    changed["lora"]["r"] = 8
    changed["sft"] = {**changed["sft"], "packing": not saved["sft"].get("packing", False)}
    assert trajectory_differences(saved, changed) == [
        "lora.r (16 → 8)",
        "sft.packing (False → True)",
        "train.batch_size (4 → 8)",
        "train.lr (0.0002 → 0.0005)",
        "train.seed (42 → 1)",
    ]


def test_output_logging_saving_reporting_and_eval_settings_may_change(tmp_path: Path) -> None:
    saved = as_yaml(config(tmp_path))
    changed = as_yaml(
        config(
            tmp_path,
            logging_steps=1,
            eval_steps=3,
            save_steps=2,
            save_minutes=1,
            save_every_epoch=False,
            save_total_limit=5,
            report_to="tensorboard",
        )
    )
    changed["output"] = "elsewhere"
    changed["eval"]["max_examples"] = 3
    assert trajectory_differences(saved, changed) == []


def test_a_key_missing_on_one_side_is_a_difference() -> None:
    assert trajectory_differences({"train": {"lr": 1, "seed": 2}}, {"train": {"seed": 2}}) == [
        "train.lr (1 → '(absent)')"
    ]


def test_run_state(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert run_state(run) is RunState.EMPTY
    run.mkdir()
    (run / ".lock").write_text("{}")
    assert run_state(run) is RunState.EMPTY
    (run / "notes.txt").write_text("mine")
    assert run_state(run) is RunState.FOREIGN
    (run / "config.yaml").write_text("method: sft\n")
    assert run_state(run) is RunState.UNFINISHED  # no manifest yet: the start failed
    (run / "manifest.json").write_text(json.dumps({"status": "interrupted"}))
    assert run_state(run) is RunState.UNFINISHED
    (run / "manifest.json").write_text(json.dumps({"status": "finished"}))
    assert run_state(run) is RunState.FINISHED


def test_plan_start(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    run = tmp_path / "run"
    assert plan_start(run, cfg, resume=False).resume is False
    with pytest.raises(TuneforgeError, match="nothing to resume"):
        plan_start(run, cfg, resume=True)
    run.mkdir()
    (run / "stray.txt").write_text("x")
    with pytest.raises(TuneforgeError, match="not empty but holds no tuneforge run"):
        plan_start(run, cfg, resume=False)
    (run / "config.yaml").write_text(dump_config(cfg))
    plan = plan_start(run, cfg, resume=False)
    assert plan.resume and plan.forced == []
    assert plan.message == (
        f"Resuming the unfinished run (same training config) in {run}: no checkpoint yet, "
        "so it starts again from step 0."
    )
    other = config(tmp_path, lr=1e-3)
    with pytest.raises(TuneforgeError, match=r"train\.lr \(0\.0002 → 0\.001\)\. Continuing"):
        plan_start(run, other, resume=True)
    forced = plan_start(run, other, resume=True, force_config=True)
    assert forced.resume and forced.forced == ["train.lr (0.0002 → 0.001)"]


def test_another_number_of_processes_is_another_trajectory(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(dump_config(cfg))
    (run / "manifest.json").write_text(json.dumps({"status": "running", "world_size": 2}))
    assert plan_start(run, cfg, resume=True, world_size=2).forced == []
    with pytest.raises(TuneforgeError, match=r"world size \(2 → 1 processes; train\.batch_size"):
        plan_start(run, cfg, resume=True)
    (run / "manifest.json").write_text(json.dumps({"status": "running"}))  # single-process run
    assert plan_start(run, cfg, resume=True).resume
    forced = plan_start(run, cfg, resume=True, world_size=4, force_config=True)
    assert forced.forced == ["world size (1 → 4 processes; train.batch_size is per process)"]
