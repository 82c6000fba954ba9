"""Stopping and continuing a run: signals, periodic checkpoints, re-runs, config checks, lock.

On a tiny random model; each run is a few steps. The SIGKILL-at-random-moments test is in
test_kill_resume.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from transformers import PreTrainedTokenizerBase

import tuneforge.run.stage as stage
from helpers import SUPPORT_REQUESTS
from tuneforge.cli.commands import train_command
from tuneforge.config import TuneforgeConfig, parse_config
from tuneforge.engine.checkpoint import list_checkpoints
from tuneforge.engine.stop import StoppedWithoutSaving
from tuneforge.errors import TuneforgeError
from tuneforge.models import build_tiny_model
from tuneforge.run.lock import RunLocked
from tuneforge.run.stage import TrainOutcome, train

REQUESTS = SUPPORT_REQUESTS[:8]
SCORED = [
    ("How do I reset my password?", "Open Settings > Account > Reset password.", 5),
    ("Can I export to PDF?", "No idea, sorry.", 1),
    ("Where is dark mode?", "Settings > Appearance > Theme.", 5),
    ("Is there an API?", "Read the docs before asking.", 1),
    ("How long does shipping take?", "Orders ship within 2 working days.", 5),
    ("Why was I charged twice?", "That never happens.", 1),
    ("Can I add a teammate?", "Go to Members and click Invite.", 5),
]
#: Checkpoints only where a test asks for them.
NO_PERIODIC = {"save_minutes": 0, "save_every_epoch": False}


def make_config(tmp_path: Path, method: str = "sft", **train_settings: Any) -> TuneforgeConfig:
    """8 SFT examples (or 7 scored ones for KTO), batch 2, LoRA with dropout, fp32."""
    if method == "sft":
        rows = [{"prompt": p, "completion": c} for p, c in REQUESTS]
    else:
        rows = [{"prompt": p, "completion": c, "score": s} for p, c, s in SCORED]
    tmp_path.mkdir(parents=True, exist_ok=True)
    data = tmp_path / f"{method}.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    settings = {"precision": "fp32", "logging_steps": 1, "batch_size": 2, "lr": 1e-3}
    settings.update(train_settings)
    document: dict[str, Any] = {
        "method": method,
        "output": str(tmp_path / "run"),
        "data": {"train": str(data), "eval_split": 0, "max_length": 128},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.1},
        "train": settings,
    }
    if method == "kto":
        document["kto"] = {"threshold": 3}
    return parse_config(document)


def run(cfg: TuneforgeConfig, tokenizer: PreTrainedTokenizerBase, **kwargs: Any) -> TrainOutcome:
    return train(cfg, model=build_tiny_model(tokenizer, seed=0), tokenizer=tokenizer, **kwargs)


def signal_at(step: int, *signums: int) -> Any:
    """An ``on_step`` hook that sends this process ``signums`` after optimizer step ``step``."""

    def hook(current: int, _window: Any) -> None:
        if current == step:
            for signum in signums:
                os.kill(os.getpid(), signum)

    return hook


def metrics(run_dir: Path) -> list[dict[str, Any]]:
    """metrics.jsonl without its one wall-clock field."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in records]


def manifest(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "manifest.json").read_text())


def names(run_dir: Path) -> list[str]:
    return [path.name for path in list_checkpoints(run_dir)]


def test_sigterm_finishes_the_step_saves_and_says_how_to_continue(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase, capsys: Any
) -> None:
    cfg = make_config(tmp_path, max_steps=6, **NO_PERIODIC)
    outcome = run(cfg, embedded_tokenizer, on_step=signal_at(3, signal.SIGTERM))
    assert outcome.result.interrupted and outcome.result.stop_signal == signal.SIGTERM
    assert outcome.result.state.global_step == 3 and outcome.final_dir is None
    assert names(outcome.run_dir) == ["step-3"]
    assert manifest(outcome.run_dir)["status"] == "interrupted"
    out = capsys.readouterr().out
    assert (
        "Interrupted by SIGTERM: saved checkpoints/step-3 at step 3/6; run the same command "
        "again to continue from it (or add --resume)." in out
    )
    # The same call again continues from step 3 and finishes.
    again = run(cfg, embedded_tokenizer)
    assert again.result.state.global_step == 6 and again.final_dir is not None
    assert f"Resuming the unfinished run (same training config) in {outcome.run_dir} from " in (
        capsys.readouterr().out
    )


def test_the_train_command_exits_143_after_sigterm_and_130_after_sigint(
    tmp_path: Path, base_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exits = {}
    real_train = stage.train
    for signum in (signal.SIGTERM, signal.SIGINT):
        folder = tmp_path / signum.name
        folder.mkdir()
        cfg = make_config(folder, max_steps=4, **NO_PERIODIC)
        document = yaml.safe_load(stage.dump_config(cfg))
        document["model"] = str(base_dir)
        path = folder / "config.yaml"
        path.write_text(yaml.safe_dump(document))

        def train_with_signal(*args: Any, _signum: int = signum, **kwargs: Any) -> Any:
            return real_train(*args, on_step=signal_at(2, _signum), **kwargs)

        monkeypatch.setattr(stage, "train", train_with_signal)
        exits[signum] = train_command(path, [], resume=False)
        monkeypatch.setattr(stage, "train", real_train)
    assert exits == {signal.SIGTERM: 143, signal.SIGINT: 130}


def test_ctrl_c_outside_the_steps_exits_130_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    def interrupted(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyboardInterrupt  # e.g. while the model loads

    monkeypatch.setattr(stage, "train", interrupted)
    config = tmp_path / "c.yaml"
    make_config(tmp_path)
    config.write_text(f"method: sft\ndata:\n  train: {tmp_path / 'sft.jsonl'}\n")
    assert train_command(config, [], resume=False) == 130
    assert capsys.readouterr().err == (
        "Interrupted outside the training steps; run the same command again to continue "
        "from the last checkpoint.\n"
    )


def test_a_second_signal_stops_at_once_without_saving(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    cfg = make_config(tmp_path, max_steps=4, **NO_PERIODIC)
    with pytest.raises(StoppedWithoutSaving, match="SIGINT"):
        run(cfg, embedded_tokenizer, on_step=signal_at(2, signal.SIGINT, signal.SIGINT))
    run_dir = tmp_path / "run"
    assert names(run_dir) == []  # nothing saved: the step may have been half applied
    assert manifest(run_dir)["status"] == "running"
    assert not (run_dir / ".lock").exists()
    assert run(cfg, embedded_tokenizer).result.state.global_step == 4


def test_a_failed_start_leaves_the_folder_usable(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = make_config(tmp_path, max_steps=2)

    def broken(*_args: Any) -> Any:
        raise OSError("model.safetensors: truncated file")

    monkeypatch.setattr(stage, "prepare_model", broken)
    with pytest.raises(OSError, match="truncated"):
        run(cfg, embedded_tokenizer)
    run_dir = tmp_path / "run"
    found = sorted(p.name for p in run_dir.iterdir())
    assert found == ["config.yaml", "eval.jsonl", "manifest.json"]
    monkeypatch.undo()
    outcome = run(cfg, embedded_tokenizer)
    assert outcome.final_dir is not None and manifest(run_dir)["status"] == "finished"


def test_resume_refuses_a_changed_trajectory_and_force_config_overrides_it(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    cfg = make_config(tmp_path, max_steps=4, save_steps=1)
    run(cfg, embedded_tokenizer, on_step=signal_at(2, signal.SIGINT))
    changed = make_config(tmp_path, max_steps=4, save_steps=1, lr=2e-3, seed=7)
    with pytest.raises(TuneforgeError) as refused:
        run(changed, embedded_tokenizer, resume=True)
    message = str(refused.value)
    assert "differs from this one in: train.lr (0.001 → 0.002); train.seed (42 → 7)." in message
    assert "add --force-config to continue it with this config anyway" in message
    with pytest.raises(TuneforgeError, match=r"add --resume --force-config to continue"):
        run(changed, embedded_tokenizer)
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["train"]["lr"] == 1e-3
    # Settings that do not change the trajectory may change.
    quieter = make_config(tmp_path, max_steps=4, save_steps=2, logging_steps=2)
    run(quieter, embedded_tokenizer, resume=True, on_step=signal_at(3, signal.SIGINT))
    outcome = run(changed, embedded_tokenizer, resume=True, force_config=True)
    assert outcome.result.state.global_step == 4
    assert manifest(outcome.run_dir)["forced_config"] == [
        "train.lr (0.001 → 0.002)",
        "train.seed (42 → 7)",
    ]
    saved = yaml.safe_load((outcome.run_dir / "config.yaml").read_text())
    assert saved["train"]["lr"] == 2e-3


def test_a_finished_run_is_never_overwritten(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    cfg = make_config(tmp_path, max_steps=1)
    run(cfg, embedded_tokenizer)
    with pytest.raises(TuneforgeError, match="already holds a run, and it finished"):
        run(cfg, embedded_tokenizer)


def test_a_changed_training_file_is_refused(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    cfg = make_config(tmp_path, max_steps=3)
    run(cfg, embedded_tokenizer, on_step=signal_at(1, signal.SIGINT))
    data = Path(cfg.data.train)
    data.write_text(data.read_text().replace("parcel", "package"))
    with pytest.raises(TuneforgeError, match=r"data\.train \(the contents of .* changed"):
        run(cfg, embedded_tokenizer)


def test_resume_restores_the_pending_log_window_and_tolerates_a_torn_metrics_line(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    settings = {"max_steps": 7, "logging_steps": 3, "save_steps": 2, **NO_PERIODIC}
    straight = run(make_config(tmp_path / "a", **settings), embedded_tokenizer)
    cfg = make_config(tmp_path / "b", **settings)
    run(cfg, embedded_tokenizer, on_step=signal_at(5, signal.SIGINT))  # saves step 5, 4 and 5
    metrics_file = tmp_path / "b" / "run" / "metrics.jsonl"
    with metrics_file.open("a") as stream:  # what a crash in the middle of a write leaves
        stream.write('{"step": 6, "loss": 1.2')
    run(cfg, embedded_tokenizer)
    expected = metrics(straight.run_dir)
    assert [r["step"] for r in expected] == [3, 6, 7]
    assert metrics(tmp_path / "b" / "run") == expected


def test_kto_resume_keeps_the_last_kl_estimate(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    # 7 examples in batches of 2: steps 4 and 8 are one-example micro-batches, which reuse the
    # KL estimate of the step before; the run is stopped right before step 4.
    settings = {"epochs": 2, "lr": 1e-2, **NO_PERIODIC}
    straight = run(make_config(tmp_path / "a", "kto", **settings), embedded_tokenizer)
    cfg = make_config(tmp_path / "b", "kto", **settings)
    run(cfg, embedded_tokenizer, on_step=signal_at(3, signal.SIGINT))
    run(cfg, embedded_tokenizer)
    expected = metrics(straight.run_dir)
    assert len(expected) == 8 and expected[3]["kl"] == expected[2]["kl"] != 0
    assert metrics(tmp_path / "b" / "run") == expected


def test_periodic_checkpoints_by_time_and_at_every_epoch_end(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    # 8 examples in batches of 2 = 4 steps per epoch.
    by_epoch = run(make_config(tmp_path / "e", epochs=3, save_minutes=0), embedded_tokenizer)
    assert names(by_epoch.run_dir) == ["step-8", "step-12"]  # save_total_limit 2 prunes step-4
    kept_all = make_config(tmp_path / "t", max_steps=3, save_minutes=1e-9, save_total_limit=None)
    assert names(run(kept_all, embedded_tokenizer).run_dir) == ["step-1", "step-2", "step-3"]
    only_end = make_config(tmp_path / "n", max_steps=3, **NO_PERIODIC)
    assert names(run(only_end, embedded_tokenizer).run_dir) == ["step-3"]


def test_two_runs_cannot_share_a_folder(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    code = (
        "import sys, time; from pathlib import Path; from tuneforge.run.lock import run_lock\n"
        "with run_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(stage.__file__).parents[2])}
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(run_dir)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        with pytest.raises(
            RunLocked, match=rf"in use by another tuneforge run \(process {holder.pid} "
        ):
            run(make_config(tmp_path, max_steps=1), embedded_tokenizer)
    finally:
        holder.kill()
        holder.wait()
    assert run(make_config(tmp_path, max_steps=1), embedded_tokenizer).final_dir is not None
