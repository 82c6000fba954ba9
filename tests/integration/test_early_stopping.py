"""Early stopping in real (tiny) runs: where it stops, the weights it keeps, resume, no data."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from transformers import PreTrainedTokenizerBase

from helpers import SUPPORT_REQUESTS, metrics_records, write_jsonl
from tuneforge.config import TuneforgeConfig, parse_config
from tuneforge.models import build_tiny_model
from tuneforge.run.stage import train

ADAPTER = "adapter_model.safetensors"


def config(tmp_path: Path, **train_settings: Any) -> TuneforgeConfig:
    """SFT on the tiny model, fp32, a quarter held out, checks every step, checkpoints kept."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    data = write_jsonl(
        tmp_path / "train.jsonl", [{"prompt": p, "completion": c} for p, c in SUPPORT_REQUESTS]
    )
    settings: dict[str, Any] = {
        "precision": "fp32",
        "batch_size": 2,
        "lr": 1e-3,
        "max_steps": 7,
        "logging_steps": 1,
        "save_steps": 1,
        "save_total_limit": None,
        "save_minutes": None,
        # A check every step: more often than the default's cost floor allows, to see each one.
        "early_stopping": {"every_steps": 1},
    }
    settings.update(train_settings)
    return parse_config(
        {
            "method": "sft",
            "output": str(tmp_path / "run"),
            "data": {"train": str(data), "eval_split": 0.25},
            "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
            "train": settings,
        }
    )


def expected_stop(losses: list[float], patience: int, min_delta: float) -> tuple[int, int]:
    """(best check, stopping check), 0-based, by the documented rule over the logged losses.

    The best check is the lowest loss; patience counts checks that are not ``min_delta``
    (relative) below the last check that was.
    """
    best, bar, bad = 0, 0, 0
    for index, loss in enumerate(losses[1:], start=1):
        if loss < losses[best]:
            best = index
        if loss < losses[bar] * (1 - min_delta):
            bar, bad = index, 0
        else:
            bad += 1
            if bad == patience:
                return best, index
    raise AssertionError(f"the rule does not stop on {losses}")


def test_a_run_stops_and_final_holds_the_best_checks_weights(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    # lr 0.1: the held-out loss falls, bottoms out and rises again before patience runs out,
    # so the kept weights are not the last ones.
    outcome = train(
        config(tmp_path, lr=1e-1),
        model=build_tiny_model(embedded_tokenizer, seed=0),
        tokenizer=embedded_tokenizer,
    )
    run = outcome.run_dir
    records = metrics_records(run)
    checks = [r for r in records if "early_stopping_loss" in r]
    losses = [r["early_stopping_loss"] for r in checks]
    best, stop = expected_stop(losses, patience=3, min_delta=0.01)
    best_step, stop_step = checks[best]["step"], checks[stop]["step"]
    assert [r["step"] for r in checks] == list(range(1, stop_step + 1))  # every step
    assert stop_step < 7 and outcome.result.state.global_step == stop_step
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["global_step"] == stop_step
    assert manifest["early_stopping"] == {
        "enabled": True,
        "every_steps": 1,
        "items": len(SUPPORT_REQUESTS) - manifest["counts"]["train_examples"],  # all of them
        "patience": 3,
        "min_delta": 0.01,
        "checks": stop + 1,
        "best_step": best_step,
        "best_loss": losses[best],
        "stopped_step": stop_step,
        "stop_reason": "no improvement of more than 0.01 (relative) in 3 checks",
        "restored_best": True,
    }
    # The stopping step is logged, evaluated on the whole held-out set and checkpointed.
    assert [r["step"] for r in records if "loss" in r][-1] == stop_step
    assert [r["step"] for r in records if "eval_loss" in r][-1] == stop_step
    checkpoint = run / "checkpoints"
    assert sorted(p.name for p in checkpoint.iterdir())[-1] == f"step-{stop_step}"
    final = load_file(run / "final" / ADAPTER)
    kept = load_file(checkpoint / f"step-{best_step}" / "model" / ADAPTER)
    last = load_file(checkpoint / f"step-{stop_step}" / "model" / ADAPTER)
    assert final.keys() == kept.keys()
    assert all(torch.equal(final[name], kept[name]) for name in final)
    assert not all(torch.equal(final[name], last[name]) for name in final)


def test_resume_across_a_check_gives_the_same_stop_and_weights(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    straight = train(
        config(tmp_path / "a"),
        model=build_tiny_model(embedded_tokenizer, seed=0),
        tokenizer=embedded_tokenizer,
    )

    def interrupt(step: int, _: Any) -> None:
        if step == 2:  # after the best check, before the stop
            os.kill(os.getpid(), signal.SIGINT)

    broken = config(tmp_path / "b")
    first = train(
        broken,
        model=build_tiny_model(embedded_tokenizer, seed=0),
        tokenizer=embedded_tokenizer,
        on_step=interrupt,
    )
    assert first.result.interrupted and first.result.state.global_step == 2
    state = json.loads((tmp_path / "b/run/checkpoints/step-2/loop_state.json").read_text())
    assert state["early_stopping"]["checks"] == 2
    second = train(
        broken,
        resume=True,
        model=build_tiny_model(embedded_tokenizer, seed=0),
        tokenizer=embedded_tokenizer,
    )
    assert second.result.state.global_step == straight.result.state.global_step < 7

    def comparable(run: Path) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in metrics_records(run)]

    assert comparable(second.run_dir) == comparable(straight.run_dir)
    assert second.result.early_stopping == straight.result.early_stopping
    ours, theirs = (
        load_file(second.run_dir / "final" / ADAPTER),
        load_file(straight.run_dir / "final" / ADAPTER),
    )
    assert all(torch.equal(ours[name], theirs[name]) for name in theirs)


def test_without_held_out_data_it_says_so_once_and_trains_the_whole_schedule(
    tmp_path: Path,
    embedded_tokenizer: PreTrainedTokenizerBase,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg = config(tmp_path, max_steps=4)
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"eval_split": 0.0})})
    outcome = train(
        cfg, model=build_tiny_model(embedded_tokenizer, seed=0), tokenizer=embedded_tokenizer
    )
    assert outcome.result.state.global_step == 4
    said = capsys.readouterr()
    assert (said.out + said.err).count("Early stopping is on but the run has no held-out") == 1
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert manifest["early_stopping"] == {
        "enabled": True,
        "checks": 0,
        "stop_reason": "no held-out data",
    }
    assert not (outcome.run_dir / "best").exists()
    assert not any("early_stopping_loss" in r for r in metrics_records(outcome.run_dir))


def test_switched_off_it_trains_the_whole_schedule(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    outcome = train(
        config(tmp_path, early_stopping=False),
        model=build_tiny_model(embedded_tokenizer, seed=0),
        tokenizer=embedded_tokenizer,
    )
    assert outcome.result.state.global_step == 7
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert manifest["early_stopping"]["enabled"] is False
    assert not (outcome.run_dir / "best").exists()
