"""Two processes through torchrun (gloo, CPU) train exactly what one process does.

Each distributed run is a real ``torchrun --nproc_per_node 2 -m tuneforge train CONFIG`` on a
free port (tests can run side by side), on a tiny random Llama saved like a hub model. The
single-process run it is compared with trains in this process with ``batch_size`` doubled: the
same global batch (``train.batch_size`` is per process). The training sets hold an odd number
of micro-batches, so the last step of every epoch has one process without data (it runs a
zero-weight stand-in).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file

from helpers import BRAND_VOICE, SUPPORT_REQUESTS, metrics_records, write_jsonl
from tuneforge.config import load_config
from tuneforge.run.stage import train

TESTS = Path(__file__).resolve().parents[1]
SRC = TESTS.parent / "src"
#: Losses and weights of 2 processes against 1: summation order differs, nothing else.
TOLERANCE = 1e-5


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def torchrun(config: Path, home: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    """``torchrun --nproc_per_node 2 -m tuneforge train CONFIG`` on a free port; must succeed."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": f"{SRC}{os.pathsep}{TESTS}",
        "TUNEFORGE_HOME": str(home),
    }
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
        "-m",
        "tuneforge",
        "train",
        str(config),
        *overrides,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def write_config(folder: Path, base: Path, method: str, **train: Any) -> Path:
    """A LoRA config of ``method`` on the tiny model in ``base``, fp32, evaluated at the end."""
    if method == "sft":
        rows = [{"prompt": p, "completion": c} for p, c in SUPPORT_REQUESTS]
    else:
        rows = [json.loads(line) for line in BRAND_VOICE.read_text().splitlines()[:13]]
    # 9 (SFT) or 10 (DPO) training rows: an odd number of micro-batches of 2.
    data = write_jsonl(folder / f"{method}.jsonl", rows[:-3])
    held_out = write_jsonl(folder / f"{method}-eval.jsonl", rows[-3:])
    # Early stopping checks every step on both sides but cannot end these short runs (patience
    # 10): the whole schedule runs, best/ is written by the main process only and restored on
    # every process.
    settings = {
        "precision": "fp32",
        "lr": 1e-3,
        "logging_steps": 1,
        "save_steps": 2,
        "early_stopping": {"patience": 10},
        **train,
    }
    document = {
        "method": method,
        "model": str(base),
        "output": str(folder / "unused"),
        "data": {"train": str(data), "eval": str(held_out)},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "train": settings,
    }
    if method == "dpo":
        # Plain DPO: the RPO term (dpo.nll_weight > 0) is a token mean within each micro-batch
        # (TRL's definition), so it depends on how a global batch is cut into micro-batches.
        document["dpo"] = {"nll_weight": 0}
    path = folder / f"{method}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def train_records(run_dir: Path) -> list[dict[str, Any]]:
    return [r for r in metrics_records(run_dir) if "loss" in r]


def adapter(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(run_dir / "final" / "adapter_model.safetensors")


def assert_close_weights(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> None:
    assert first.keys() == second.keys()
    for name in first:
        assert torch.allclose(first[name], second[name], atol=TOLERANCE, rtol=0), name


def one_process(
    config: Path, output: Path, monkeypatch: pytest.MonkeyPatch, **settings: int
) -> Path:
    """The same config trained in this process with the given ``train.`` overrides."""
    monkeypatch.setenv("TUNEFORGE_HOME", str(output.parent / "home-single"))
    overrides = [f"output={output}", *(f"train.{key}={value}" for key, value in settings.items())]
    return train(load_config(config, overrides)).run_dir


def compare_runs(single: Path, double: Path, *, steps: int) -> None:
    """Same per-step losses and final adapter; one metrics line per step; world size 2."""
    one, two = train_records(single), train_records(double)
    assert [r["step"] for r in two] == list(range(1, steps + 1))  # one line per step
    assert [r["step"] for r in one] == [r["step"] for r in two]
    for a, b in zip(one, two, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=TOLERANCE), a["step"]
        assert a["lr"] == b["lr"]
        assert a["epoch"] == b["epoch"]
    evals = [r for r in metrics_records(double) if "eval_loss" in r]
    assert len(evals) == len({r["step"] for r in evals})
    assert_close_weights(adapter(single), adapter(double))
    manifest = json.loads((double / "manifest.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["world_size"] == 2
    single_manifest = json.loads((single / "manifest.json").read_text())
    assert single_manifest["world_size"] == 1
    assert manifest["global_batch_size"] == single_manifest["global_batch_size"]


def test_sft_two_processes_train_like_one_with_the_same_global_batch(
    tmp_path: Path, base_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, base_dir, "sft", batch_size=2, epochs=2)
    double = tmp_path / "two"
    done = torchrun(config, tmp_path / "home", f"output={double}")
    single = one_process(config, tmp_path / "one", monkeypatch, batch_size=4)
    # 9 items, 3 global batches of 4 per epoch: 6 steps; global batch 2 x 1 x 2 = 4.
    compare_runs(single, double, steps=6)
    assert json.loads((double / "manifest.json").read_text())["global_batch_size"] == 4
    assert done.stdout.count("Run directory:") == 1  # only the main process reports
    saved = sorted(p.name for p in (double / "checkpoints" / "step-6").iterdir())
    assert saved == [
        "loop_state.json",
        "model",
        "optimizer.pt",
        "rng-rank1.pt",
        "rng.pt",
        "scheduler.pt",
        "trainer_state.json",
    ]


def test_dpo_two_processes_train_like_one_and_share_the_reference_pass(
    tmp_path: Path, base_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 10 training pairs; micro-batches of 2 per process, 2 per window: 3 windows per epoch.
    config = write_config(tmp_path, base_dir, "dpo", batch_size=2, grad_accum=2, max_steps=3)
    double = tmp_path / "two"
    torchrun(config, tmp_path / "home", f"output={double}")
    single = one_process(config, tmp_path / "one", monkeypatch, batch_size=4)
    compare_runs(single, double, steps=3)
    two_records, one_records = train_records(double), train_records(single)
    for a, b in zip(one_records, two_records, strict=True):
        for name in ("rewards/chosen", "rewards/margins", "logps/chosen"):
            assert a[name] == pytest.approx(b[name], abs=TOLERANCE), (name, a["step"])
    reference = json.loads((double / "manifest.json").read_text())["reference"]
    assert reference["mode"] == "precomputed"
    assert reference["splits"]["train"]["cache"] == "miss"  # computed by the two processes
    assert reference["splits"]["train"]["computed"] == 10
    caches = list((tmp_path / "home" / "refcache").glob("*.pt"))
    assert len(caches) == 2  # train and held-out, written once by the main process


def test_two_processes_resume_from_a_checkpoint_to_the_uninterrupted_result(
    tmp_path: Path, base_dir: Path
) -> None:
    # Dropout on: every process's own RNG state must come back from the checkpoint.
    config = write_config(tmp_path, base_dir, "sft", batch_size=2, epochs=2)
    document = yaml.safe_load(config.read_text())
    document["lora"]["dropout"] = 0.1
    config.write_text(yaml.safe_dump(document))
    whole = tmp_path / "whole"
    torchrun(config, tmp_path / "home", f"output={whole}")
    # The state of a run killed after its step-4 checkpoint, before step 6's (the last step
    # of epoch 2, where the second process runs a stand-in).
    resumed = tmp_path / "resumed"
    shutil.copytree(whole, resumed)
    for folder in ("checkpoints/step-6", "final"):
        shutil.rmtree(resumed / folder)
    manifest = json.loads((resumed / "manifest.json").read_text())
    manifest["status"] = "running"
    (resumed / "manifest.json").write_text(json.dumps(manifest))
    (resumed / "config.yaml").write_text(
        (resumed / "config.yaml").read_text().replace(str(whole), str(resumed))
    )
    done = torchrun(config, tmp_path / "home", f"output={resumed}", "--resume")
    assert "from checkpoints/step-4" in done.stdout
    first, second = adapter(whole), adapter(resumed)
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name
    timing = {"tokens_per_s"}
    strip = [{k: v for k, v in r.items() if k not in timing} for r in metrics_records(whole)]
    again = [{k: v for k, v in r.items() if k not in timing} for r in metrics_records(resumed)]
    assert again == strip
