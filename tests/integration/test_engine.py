"""The training loop on a tiny random model: equivalences, resume, NaN stop, run directory."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
from accelerate import Accelerator
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from helpers import SUPPORT_REQUESTS
from tuneforge.config import TuneforgeConfig, parse_config
from tuneforge.data.tokenize import TokenizeSettings, tokenize_examples
from tuneforge.data.types import Origin, SFTExample
from tuneforge.engine.checkpoint import list_checkpoints
from tuneforge.engine.loop import TrainingDiverged, accumulate_window
from tuneforge.errors import TuneforgeError
from tuneforge.methods.base import Batch, StepOutput
from tuneforge.methods.sft import SFTMethod, SFTSection
from tuneforge.models import attach_lora, build_tiny_model
from tuneforge.run.stage import train

REQUESTS = SUPPORT_REQUESTS


def write_data(folder: Path) -> Path:
    """A small SFT file in the user's format."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "train.jsonl"
    rows = [{"prompt": p, "completion": c} for p, c in REQUESTS]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def make_config(tmp_path: Path, **train: Any) -> TuneforgeConfig:
    """A config on the tiny model: fp32, LoRA r=4, logging every step."""
    train_settings = {"precision": "fp32", "logging_steps": 1, "batch_size": 2, "lr": 1e-3}
    train_settings.update(train)
    return parse_config(
        {
            "method": "sft",
            "output": str(tmp_path / "run"),
            "data": {"train": str(write_data(tmp_path)), "eval_split": 0.25},
            "lora": {"r": 4, "alpha": 8, "dropout": 0.1},
            "train": train_settings,
        }
    )


def sft_items(tokenizer: PreTrainedTokenizerBase) -> list[Any]:
    examples = [
        SFTExample(Origin("t.jsonl", i + 1), prompt=p, completion=c)
        for i, (p, c) in enumerate(REQUESTS[:4])
    ]
    return tokenize_examples(examples, tokenizer, TokenizeSettings()).items


def lora_grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_batch_of_four_equals_four_micro_batches(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    items = sft_items(embedded_tokenizer)
    method = SFTMethod(SFTSection())
    accelerator = Accelerator(cpu=True)
    results = []
    for layout in ([items], [[item] for item in items]):
        model = lora_model(embedded_tokenizer)
        batches = [method.collate(group, embedded_tokenizer.pad_token_id) for group in layout]
        window = accumulate_window(model, method, batches, accelerator)
        results.append((window, lora_grads(model)))
    (big, big_grads), (small, small_grads) = results
    assert (
        big.units == small.units == sum(method.count_units(b) for b in [method.collate(items, 2)])
    )
    assert big.loss == pytest.approx(small.loss, abs=1e-5)
    assert big_grads.keys() == small_grads.keys() and big_grads
    for name, grad in big_grads.items():
        torch.testing.assert_close(grad, small_grads[name], atol=1e-5, rtol=0)


def make_lora() -> Any:
    from tuneforge.config import LoraConfig

    return LoraConfig(r=4, alpha=8, dropout=0.0)


def lora_model(tokenizer: PreTrainedTokenizerBase) -> torch.nn.Module:
    """The tiny model with a LoRA adapter whose initialisation is the same every call."""
    torch.manual_seed(0)
    return attach_lora(build_tiny_model(tokenizer, seed=0), make_lora())


def test_all_masked_micro_batch_contributes_zero(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    items = sft_items(embedded_tokenizer)
    method = SFTMethod(SFTSection())
    pad = embedded_tokenizer.pad_token_id
    masked = method.collate([items[0]], pad)
    masked["labels"] = torch.full_like(masked["labels"], -100)
    accelerator = Accelerator(cpu=True)
    outcomes = []
    for batches in ([method.collate(items[1:], pad)], [masked, method.collate(items[1:], pad)]):
        model = lora_model(embedded_tokenizer)
        outcomes.append((accumulate_window(model, method, batches, accelerator), lora_grads(model)))
    (plain, plain_grads), (with_masked, masked_grads) = outcomes
    assert with_masked.loss == pytest.approx(plain.loss, abs=1e-6)
    for name, grad in plain_grads.items():
        assert torch.isfinite(masked_grads[name]).all()
        torch.testing.assert_close(grad, masked_grads[name], atol=1e-6, rtol=0)
    only_masked = accumulate_window(
        lora_model(embedded_tokenizer),
        method,
        [masked],
        accelerator,
    )
    assert only_masked.loss == 0.0 and only_masked.units == 0


def test_run_directory_and_final_model_load_with_peft(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    cfg = make_config(tmp_path, max_steps=3)
    tiny = build_tiny_model(embedded_tokenizer, seed=0)
    outcome = train(cfg, model=tiny, tokenizer=embedded_tokenizer)
    run = tmp_path / "run"
    assert outcome.run_dir == run and outcome.final_dir == run / "final"
    assert {p.name for p in run.iterdir()} >= {
        "config.yaml",
        "manifest.json",
        "metrics.jsonl",
        "eval.jsonl",
        "checkpoints",
        "final",
    }
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train_records = [r for r in records if "loss" in r]
    assert [r["step"] for r in train_records] == [1, 2, 3]
    assert set(train_records[0]) >= {"step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s"}
    assert any("eval_loss" in r for r in records)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["global_step"] == 3
    assert manifest["seed"] == 42 and len(manifest["data"]["train"]["sha256"]) == 64
    held_out = (run / "eval.jsonl").read_text().splitlines()
    assert 0 < len(held_out) < len(REQUESTS)
    assert manifest["counts"]["train_examples"] + len(held_out) == len(REQUESTS)
    reloaded = PeftModel.from_pretrained(
        build_tiny_model(embedded_tokenizer, seed=0), run / "final"
    )
    trained = outcome.final_dir and AutoTokenizer.from_pretrained(run / "final")
    assert (
        trained is not None and trained("Hi")["input_ids"] == embedded_tokenizer("Hi")["input_ids"]
    )
    ids = torch.tensor([[1, 4093, 198, 26843, 2]])
    tiny.eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, tiny(ids).logits)
    with pytest.raises(TuneforgeError, match="already holds a run"):
        train(cfg, model=build_tiny_model(embedded_tokenizer, seed=0), tokenizer=embedded_tokenizer)


def test_full_fine_tuning_saves_a_plain_model(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    cfg = make_config(tmp_path, max_steps=2).model_copy(update={"lora": None})
    tiny = build_tiny_model(embedded_tokenizer, seed=0)
    before = tiny.model.layers[0].mlp.up_proj.weight.detach().clone()
    outcome = train(cfg, model=tiny, tokenizer=embedded_tokenizer)
    reloaded = AutoModelForCausalLM.from_pretrained(outcome.final_dir)
    after = reloaded.model.layers[0].mlp.up_proj.weight
    assert not torch.equal(before, after)
    torch.testing.assert_close(after, tiny.model.layers[0].mlp.up_proj.weight)
    assert (outcome.final_dir / "generation_config.json").is_file()


def losses_of(run: Path) -> list[float]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines if "loss" in json.loads(line)]


def test_resume_reproduces_an_uninterrupted_run(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    # 9 train examples / batch 2 = 5 micro-batches: 3 steps per epoch; 7 steps cross epochs.
    # Early stopping checks every step but cannot stop within 7 checks with patience 7: the
    # whole schedule runs with its state carried through the resume.
    settings = {"max_steps": 7, "save_steps": 2, "grad_accum": 2, "early_stopping": {"patience": 7}}
    straight = make_config(tmp_path / "a", **settings)
    train(
        straight, model=build_tiny_model(embedded_tokenizer, seed=0), tokenizer=embedded_tokenizer
    )

    def interrupt(step: int, _: Any) -> None:
        if step == 4:  # a real Ctrl-C, delivered to this process
            os.kill(os.getpid(), signal.SIGINT)

    broken = make_config(tmp_path / "b", **settings)
    first = train(
        broken,
        model=build_tiny_model(embedded_tokenizer, seed=0),
        tokenizer=embedded_tokenizer,
        on_step=interrupt,
    )
    assert first.result.interrupted and first.final_dir is None
    assert [p.name for p in list_checkpoints(tmp_path / "b" / "run")] == ["step-2", "step-4"]
    second = train(
        broken,
        resume=True,
        model=build_tiny_model(embedded_tokenizer, seed=0),
        tokenizer=embedded_tokenizer,
    )
    assert second.result.state.global_step == 7
    expected = losses_of(tmp_path / "a" / "run")
    assert len(expected) == 7
    assert losses_of(tmp_path / "b" / "run") == expected


class NaNAfter:
    """Wraps a method so that its loss turns NaN from a given call on."""

    def __init__(self, method: SFTMethod, calls: int) -> None:
        self.method, self.calls, self.name, self.needs_reference = method, calls, "sft", False
        self.collate, self.count_units = method.collate, method.count_units

    def step(self, model: Any, batch: Batch, reference: Any) -> StepOutput:
        self.calls -= 1
        output = self.method.step(model, batch, reference)
        if self.calls < 0:
            output.loss_sum = output.loss_sum * float("nan")
        return output


def test_nan_loss_stops_the_run_and_keeps_the_last_checkpoint(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = make_config(tmp_path, max_steps=6, save_steps=2)
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"eval_split": 0.0})})
    import tuneforge.run.stage as train_module

    monkeypatch.setattr(train_module, "build_method", lambda c: NaNAfter(SFTMethod(c.sft), calls=3))
    with pytest.raises(TrainingDiverged, match=r"became nan at step 4; .*checkpoints/step-2"):
        train(cfg, model=build_tiny_model(embedded_tokenizer, seed=0), tokenizer=embedded_tokenizer)
    run = tmp_path / "run"
    assert [p.name for p in list_checkpoints(run)] == ["step-2"]
    assert not (run / "final").exists()
    assert len(losses_of(run)) == 3
