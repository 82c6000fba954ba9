"""SIGKILL at random moments, then the same command again: the run ends exactly as if never killed.

Each run is a real process (tests/crash_child.py) that loads a tiny model from a folder the way
``tuneforge train`` does. The uninterrupted run and the killed-and-rerun one must leave
bit-identical final weights and the same metrics.jsonl. "The same" means every field of every
record is equal except ``tokens_per_s``, the one wall-clock measurement in the file; every
other field (step, epoch, loss, lr, grad_norm, eval_loss) is deterministic and compared exactly.

Also here: the same config and seed, trained twice through the real loading path, give the
same weights and metrics; another seed does not.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file

from helpers import SUPPORT_REQUESTS
from tuneforge.config import load_config
from tuneforge.run.stage import train

TESTS = Path(__file__).resolve().parents[1]
CHILD = TESTS / "crash_child.py"
SRC = TESTS.parent / "src"
#: The wall-clock fields of metrics.jsonl; everything else must match exactly.
TIMING_FIELDS = frozenset({"tokens_per_s"})
ROWS = SUPPORT_REQUESTS
STEPS = 10


def write_config(folder: Path, base: Path, output: str, **train_settings: Any) -> Path:
    """An SFT config on the tiny model in ``base``: LoRA with dropout (so RNG matters)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "train.jsonl"
    data.write_text("".join(json.dumps({"prompt": p, "completion": c}) + "\n" for p, c in ROWS))
    settings = {
        "precision": "fp32",
        "batch_size": 2,
        "grad_accum": 2,
        "max_steps": STEPS,
        "lr": 1e-3,
        "logging_steps": 3,  # a window is pending at every checkpoint but step 6
        "save_steps": 2,
        # Checks at every step that cannot stop the 10 steps: its state and best/ go through
        # every kill, and the schedule stays whole.
        "early_stopping": {"patience": STEPS},
        **train_settings,
    }
    document = {
        "method": "sft",
        "model": str(base),
        "output": str(folder / output),
        "data": {"train": str(data), "eval_split": 0.25},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.1},
        "train": settings,
    }
    path = folder / f"{output}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


class Child:
    """One training process and the progress files it writes."""

    def __init__(self, config: Path, progress: Path, slow_save_step: int = 0) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{SRC}{os.pathsep}{TESTS}"}
        self.progress = progress
        self.log = progress.with_suffix(".log")
        progress.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, str(CHILD), str(config), str(progress), str(slow_save_step)]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)

    def step(self) -> int:
        path = self.progress / "step"
        return int(path.read_text()) if path.is_file() else 0

    def kill_when(self, condition: Callable[[], bool], delay: float) -> None:
        """SIGKILL the process ``delay`` s after ``condition`` holds; it must not end first."""
        deadline = time.monotonic() + 300
        while not condition():
            assert self.process.poll() is None, f"ended before the kill:\n{self.log.read_text()}"
            assert time.monotonic() < deadline, "the child made no progress"
            time.sleep(0.002)
        time.sleep(delay)
        self.process.kill()
        assert self.process.wait() == -9, self.log.read_text()

    def finish(self) -> None:
        code = self.process.wait(timeout=300)
        assert code == 0, self.log.read_text()


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "final" / "adapter_model.safetensors")


def deterministic_metrics(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]


def assert_same_weights(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> None:
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


@pytest.mark.slow  # five real training processes: about 40 s
def test_sigkill_at_random_moments_then_rerun_gives_the_uninterrupted_result(
    tmp_path: Path, base_dir: Path
) -> None:
    rng = random.Random(20261128)
    straight = write_config(tmp_path, base_dir, "straight")
    Child(straight, tmp_path / "p-straight").finish()

    config = write_config(tmp_path, base_dir, "killed")
    run_dir = tmp_path / "killed"
    # 1. Killed between or inside steps, before or after its first checkpoint.
    first = Child(config, tmp_path / "p1")
    target = rng.randint(1, 3)
    first.kill_when(lambda: first.step() >= target, rng.uniform(0, 0.05))
    # 2. Killed while a checkpoint is half written (weights saved, state not yet).
    slow = rng.choice([4, 6])
    second = Child(config, tmp_path / "p2", slow_save_step=slow)
    second.kill_when(lambda: (tmp_path / "p2" / "saving").exists(), 0.0)
    staging = [p.name for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")]
    assert staging and all(p.startswith(f".step-{slow}.") for p in staging)
    assert f"step-{slow}" not in os.listdir(run_dir / "checkpoints")
    # 3. Killed again a little later, in the middle of whatever it does.
    third = Child(config, tmp_path / "p3")
    target = rng.randint(slow + 1, STEPS - 2)
    third.kill_when(lambda: third.step() >= target, rng.uniform(0, 0.05))
    assert (run_dir / ".lock").exists()  # SIGKILL leaves the lock file; the next run takes it
    # 4. The same command once more finishes the run.
    last = Child(config, tmp_path / "p4")
    last.finish()
    log = last.log.read_text()
    assert "Resuming the unfinished run (same training config)" in log
    assert "taking over the lock left by process" in log

    assert_same_weights(final_weights(run_dir), final_weights(tmp_path / "straight"))
    expected = deterministic_metrics(tmp_path / "straight")
    assert [r["step"] for r in expected if "loss" in r] == [3, 6, 9, 10]
    assert deterministic_metrics(run_dir) == expected
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "finished"
    leftovers = [p for p in run_dir.rglob(".*")]
    assert leftovers == []


def test_same_seed_reproduces_and_another_seed_does_not(tmp_path: Path, base_dir: Path) -> None:
    # Through the real loading path: cfg.model is a folder, train() loads model and tokenizer.
    runs = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        path = write_config(tmp_path, base_dir, name, seed=seed, max_steps=4)
        runs[name] = train(load_config(path)).run_dir
    assert_same_weights(final_weights(runs["a"]), final_weights(runs["b"]))
    assert deterministic_metrics(runs["a"]) == deterministic_metrics(runs["b"])
    other = final_weights(runs["c"])
    assert any(not torch.equal(t, other[n]) for n, t in final_weights(runs["a"]).items())
    losses = [r["loss"] for r in deterministic_metrics(runs["c"]) if "loss" in r]
    assert losses != [r["loss"] for r in deterministic_metrics(runs["a"]) if "loss" in r]
