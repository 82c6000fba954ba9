"""DPO and ORPO through ``train()`` on a tiny model: metrics, reference modes, resume, watchdog."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import PreTrainedTokenizerBase

from helpers import DPO_METRICS, ORPO_METRICS, brand_voice_pairs, metrics_records
from tuneforge.config import TuneforgeConfig, parse_config
from tuneforge.engine.batches import items_read
from tuneforge.models import build_tiny_model
from tuneforge.run.stage import train

DPO_NAMES = set(DPO_METRICS)
ORPO_NAMES = set(ORPO_METRICS)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Reference caches go to a fresh TUNEFORGE_HOME."""
    home = tmp_path / "home"
    monkeypatch.setenv("TUNEFORGE_HOME", str(home))
    return home


def config(
    tmp_path: Path, method: str, name: str = "run", *, lora: Any = "default", **train: Any
) -> TuneforgeConfig:
    """16 brand-voice pairs (4 held out), LoRA with dropout, fp32, logging every step."""
    data = tmp_path / "pairs.jsonl"
    if not data.exists():  # several runs of one test share the data
        brand_voice_pairs(data, 16)
    settings = {"precision": "fp32", "logging_steps": 1, "batch_size": 2, "lr": 5e-3}
    settings.update({k: v for k, v in train.items() if k not in ("dpo", "orpo")})
    raw: dict[str, Any] = {
        "method": method,
        "output": str(tmp_path / name),
        "data": {"train": str(data), "eval_split": 0.25},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.1} if lora == "default" else lora,
        "train": settings,
    }
    for section in ("dpo", "orpo"):
        if section in train:
            raw[section] = train[section]
    return parse_config(raw)


def run(cfg: TuneforgeConfig, tok: PreTrainedTokenizerBase, **kw: Any) -> Any:
    """Train ``cfg`` on the tiny model (same initial weights every time)."""
    return train(cfg, model=build_tiny_model(tok, seed=0), tokenizer=tok, **kw)


def losses(run_dir: Path) -> list[float]:
    """The training loss of every logged step."""
    return [r["loss"] for r in metrics_records(run_dir) if "loss" in r]


def test_dpo_run_logs_the_reward_metrics(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase, _own_cache: Path
) -> None:
    outcome = run(config(tmp_path, "dpo", max_steps=4), embedded_tokenizer)
    rows = metrics_records(outcome.run_dir)
    train_rows = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4]
    logged = {"loss", "lr", "grad_norm", "tokens_per_s", "nll_chosen"}
    assert set(train_rows[0]) >= DPO_NAMES | logged
    eval_rows = [r for r in rows if "eval_loss" in r]
    assert eval_rows and set(eval_rows[-1]) >= {f"eval_{n}" for n in DPO_NAMES}
    # Policy == reference: DPO's ln 2 plus the default dpo.nll_weight 1 times each chosen
    # reply's summed NLL (dpo.nll_norm sum), -logps/chosen on average.
    first = train_rows[0]
    assert first["nll_chosen"] > 1.0  # a random tiny model finds the replies unlikely
    assert first["loss"] == pytest.approx(0.6931472 - first["logps/chosen"], rel=1e-5)
    assert train_rows[0]["rewards/margins"] == 0.0
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert manifest["reference"]["mode"] == "precomputed"
    assert manifest["reference"]["splits"]["train"]["cache"] == "miss"
    assert len(list((_own_cache / "refcache").glob("*.pt"))) == 2
    assert (outcome.run_dir / "final" / "adapter_config.json").is_file()


def test_orpo_run_logs_its_metrics(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase, _own_cache: Path
) -> None:
    outcome = run(config(tmp_path, "orpo", max_steps=3), embedded_tokenizer)
    train_rows = [r for r in metrics_records(outcome.run_dir) if "loss" in r]
    assert set(train_rows[0]) >= ORPO_NAMES
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert manifest["reference"] == {"mode": "none"}
    assert not (_own_cache / "refcache").exists()


@pytest.mark.parametrize("lora", ["default", None], ids=["lora", "full"])
def test_precomputed_and_on_the_fly_references_train_identically(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase, lora: Any
) -> None:
    # LoRA dropout 0.1 draws from the RNG in training: a reference pass that consumed random
    # numbers (or ran with dropout on) would change every later step.
    results = []
    for precompute in (True, False):
        cfg = config(
            tmp_path,
            "dpo",
            f"run-{precompute}",
            lora=lora,
            max_steps=3,
            dpo={"precompute_ref": precompute},
        )
        results.append(losses(run(cfg, embedded_tokenizer).run_dir))
    precomputed, on_the_fly = results
    assert len(precomputed) == 3
    for a, b in zip(precomputed, on_the_fly, strict=True):
        assert a == pytest.approx(b, abs=1e-5)
    assert abs(precomputed[-1] - precomputed[0]) > 1e-4


def test_resume_reads_the_cached_reference_and_reproduces_the_run(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    # Early stopping checks every step but cannot end 5 steps with patience 5.
    settings = {"max_steps": 5, "save_steps": 2, "early_stopping": {"patience": 5}}
    straight = run(config(tmp_path, "dpo", "straight", **settings), embedded_tokenizer)

    def interrupt(step: int, _: Any) -> None:
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    cfg = config(tmp_path, "dpo", "broken", **settings)
    first = run(cfg, embedded_tokenizer, on_step=interrupt)
    assert first.result.interrupted
    second = run(cfg, embedded_tokenizer, resume=True)
    assert second.result.state.global_step == 5
    manifest = json.loads((second.run_dir / "manifest.json").read_text())
    assert manifest["reference"]["splits"]["train"]["cache"] == "hit"
    assert losses(second.run_dir) == losses(straight.run_dir)


def test_watchdog_warns_when_the_loss_stays_at_ln2(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase, capsys: pytest.CaptureFixture[str]
) -> None:
    # Plain DPO (no NLL term): its loss sits at exactly ln 2 while nothing is learned.
    plain = {"nll_weight": 0.0}
    # Without early stopping, which would end a run that learns nothing after 4 steps.
    off = {"early_stopping": False}
    cfg = config(tmp_path, "dpo", lr=1e-12, max_steps=20, eval_steps=100, dpo=plain, **off)
    run(cfg, embedded_tokenizer)
    out = capsys.readouterr().out
    assert out.count("warning: the loss has stayed at 0.6931") == 1
    assert "learning rate" in out and "too low" in out
    quiet = config(tmp_path, "dpo", "healthy", max_steps=20, eval_steps=100, dpo=plain, **off)
    run(quiet, embedded_tokenizer)
    assert "warning: the loss has stayed" not in capsys.readouterr().out


def test_a_short_run_precomputes_only_the_pairs_it_reads_and_a_longer_one_fills_in(
    tmp_path: Path,
    embedded_tokenizer: PreTrainedTokenizerBase,
    _own_cache: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Micro-batches of 2 pairs: two steps read 4 of the (13) train pairs.
    short = run(config(tmp_path, "dpo", "short", max_steps=2), embedded_tokenizer)
    split = json.loads((short.run_dir / "manifest.json").read_text())["reference"]["splits"]
    count = split["train"]["items"]
    assert count > 8 and split["train"]["computed"] == 4
    assert f"one pass over 4 of {count} train items" in capsys.readouterr().out
    stored = torch.load(_own_cache / "refcache" / f"{split['train']['key']}.pt", weights_only=True)
    read = items_read(count, 2, 1, seed=42, epochs=3, max_steps=2)
    assert stored["computed"].nonzero().flatten().tolist() == read
    assert torch.isnan(stored["values"]["chosen"][~stored["computed"]]).all()
    # A whole-epoch run computes only the pairs the cache lacks, and trains exactly like an
    # on-the-fly run.
    epoch = (count + 1) // 2
    longer = run(config(tmp_path, "dpo", "longer", max_steps=epoch), embedded_tokenizer)
    assert f"one pass over {count - 4} of {count} train items" in capsys.readouterr().out
    manifest = json.loads((longer.run_dir / "manifest.json").read_text())
    assert manifest["reference"]["splits"]["train"]["computed"] == count - 4
    cache_file = _own_cache / "refcache" / f"{split['train']['key']}.pt"
    assert torch.load(cache_file, weights_only=True)["computed"].all()
    on_the_fly = run(
        config(tmp_path, "dpo", "fly", max_steps=epoch, dpo={"precompute_ref": False}),
        embedded_tokenizer,
    )
    assert losses(longer.run_dir) == pytest.approx(losses(on_the_fly.run_dir), abs=1e-5)
