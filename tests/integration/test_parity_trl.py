"""Parity with TRL 1.16: DPOTrainer and trl.experimental.orpo's ORPOTrainer on a tiny model.

Both sides get the same token ids. tuneforge renders every record through the chat template
(prompt as a user turn, reply as the assistant turn); TRL renders plain-string records as raw
text with EOS appended (DPO), or adds BOS/EOS around raw text (ORPO). That difference is by
design (DESIGN §1), so TRL's tokenisation is bypassed here: its dataset preparation is replaced
by tuneforge's ids, in tuneforge's batch order, read sequentially. Everything else is matched:
fp32, no dropout (LoRA dropout 0; TRL also disables model dropout), no gradient checkpointing,
AdamW (``adamw_torch``) at a constant learning rate, clipping at 1.0, the LoRA adapter seeded
identically, one micro-batch of 4 pairs per step, and the reference precompute setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from accelerate import Accelerator
from transformers import PreTrainedTokenizerBase

from helpers import DPO_METRICS, ORPO_METRICS, TRL_QUIET_CPU, brand_voice_pairs, metrics_records
from tuneforge.config import TuneforgeConfig, parse_config
from tuneforge.data.tokenize import TokenizedPair
from tuneforge.engine.batches import epoch_batches
from tuneforge.engine.reference import OnTheFlyReference
from tuneforge.methods.dpo import DPOMethod, DPOSection
from tuneforge.models import build_tiny_model
from tuneforge.run.stage import load_train_eval, tokenize_split, train

trl = pytest.importorskip("trl")

STEPS, BATCH, LR, SEED = 3, 4, 2e-3, 42
#: Metrics that are step functions of the pair margins (the share of pairs with margin > 0):
#: float rounding that differs by CPU (AVX2 vs AVX-512 kernels) flips them at a tie, so they
#: are compared only away from ties. Every other metric is continuous: compared within a
#: tolerance.
STEP_FUNCTIONS = frozenset({"rewards/accuracies"})
#: A mean margin this close to zero is (near) a tie: at step 1 the policy *is* the reference.
TIE = 1e-4


def config(tmp_path: Path, method: str, **section: Any) -> TuneforgeConfig:
    """8 brand-voice pairs, tiny-model friendly settings matched to the TRL side."""
    data = brand_voice_pairs(tmp_path / "pairs.jsonl", 8)
    return parse_config(
        {
            "method": method,
            "output": str(tmp_path / f"run-{method}"),
            "data": {"train": str(data), "eval_split": 0},
            "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
            method: section,
            "train": {
                "lr": LR,
                "max_steps": STEPS,
                "batch_size": BATCH,
                "scheduler": "constant",
                "warmup_ratio": 0.0,
                "max_grad_norm": 1.0,
                "precision": "fp32",
                "seed": SEED,
                "logging_steps": 1,
            },
        }
    )


def items_in_batch_order(cfg: TuneforgeConfig, tok: PreTrainedTokenizerBase) -> list[Any]:
    """tuneforge's tokenised pairs in the order its loop reads them (epoch after epoch)."""
    examples, _ = load_train_eval(cfg)
    items = tokenize_split(examples, tok, cfg, "train").items
    order: list[int] = []
    epoch = 0
    while len(order) < STEPS * BATCH:
        batches = epoch_batches(len(items), BATCH, seed=SEED, epoch=epoch)
        order.extend(i for batch in batches for i in batch)
        epoch += 1
    return [items[i] for i in order[: STEPS * BATCH]]


def ours(cfg: TuneforgeConfig, tok: PreTrainedTokenizerBase) -> list[dict[str, Any]]:
    """tuneforge's per-step training records (loss and metrics) on the tiny model."""
    outcome = train(cfg, model=build_tiny_model(tok, seed=0), tokenizer=tok)
    return [r for r in metrics_records(outcome.run_dir) if "loss" in r]


def trl_args(tmp_path: Path, config_class: Any, **extra: Any) -> Any:
    """``config_class`` matched to `config`: constant lr, AdamW, data read in order."""
    return config_class(
        output_dir=str(tmp_path / "trl"),
        per_device_train_batch_size=BATCH,
        max_steps=STEPS,
        learning_rate=LR,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        optim="adamw_torch",
        seed=SEED,
        gradient_checkpointing=False,
        max_length=None,
        train_sampling_strategy="sequential",
        logging_steps=1,
        save_strategy="no",
        dataloader_num_workers=0,
        **TRL_QUIET_CPU,
        **extra,
    )


def trl_lora() -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
    )


def step_records(trainer: Any, losses: list[float]) -> list[dict[str, Any]]:
    """TRL's per-step logs, with the exact per-step loss captured from training_step."""
    logs = [entry for entry in trainer.state.log_history if "rewards/chosen" in entry]
    return [{**entry, "loss": loss} for entry, loss in zip(logs, losses, strict=True)]


def compared(mine: dict[str, Any], theirs: dict[str, Any], names: Any) -> list[str]:
    """The metrics of one step to compare: step functions only when no side is near a tie."""
    tie = min(abs(mine["rewards/margins"]), abs(theirs["rewards/margins"])) < TIE
    return [name for name in ("loss", *names) if not (tie and name in STEP_FUNCTIONS)]


def assert_parity(mine: list[dict[str, Any]], theirs: list[dict[str, Any]], names: Any) -> None:
    assert len(mine) == len(theirs) == STEPS
    pairs = list(zip(mine, theirs, strict=True))
    worst = max(abs(m[k] - t[k]) for m, t in pairs for k in compared(m, t, names))
    step1 = max(abs(mine[0][k] - theirs[0][k]) for k in compared(mine[0], theirs[0], names))
    print(f"parity: step-1 max |diff| {step1:.2e}; steps 1-{STEPS} max |diff| {worst:.2e}")
    print("  losses ours", [m["loss"] for m in mine], "trl", [t["loss"] for t in theirs])
    for step, (ours_, trls) in enumerate(pairs):
        tolerance = 1e-4 if step == 0 else 1e-3
        for name in compared(ours_, trls, names):
            assert ours_[name] == pytest.approx(trls[name], abs=tolerance), (step, name)


@pytest.mark.parametrize("precompute", [True, False])
def test_dpo_matches_trl_dpo_trainer(
    tmp_path: Path,
    embedded_tokenizer: PreTrainedTokenizerBase,
    monkeypatch: pytest.MonkeyPatch,
    precompute: bool,
) -> None:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / "home"))
    cfg = config(tmp_path, "dpo", beta=0.1, precompute_ref=precompute, nll_weight=0.0)
    mine = ours(cfg, embedded_tokenizer)
    rows = [
        {"prompt_ids": i.prompt_ids, "chosen_ids": i.chosen_ids, "rejected_ids": i.rejected_ids}
        for i in items_in_batch_order(cfg, embedded_tokenizer)
    ]
    losses: list[float] = []

    class SameIds(DPOTrainer):
        def _prepare_dataset(self, dataset: Any, *args: Any, **kwargs: Any) -> Any:
            return dataset  # already tokenised by tuneforge

        def training_step(self, *args: Any, **kwargs: Any) -> Any:
            loss = super().training_step(*args, **kwargs)
            losses.append(float(loss))
            return loss

    trainer = SameIds(
        model=build_tiny_model(embedded_tokenizer, seed=0),
        args=trl_args(tmp_path, DPOConfig, beta=0.1, precompute_ref_log_probs=precompute),
        train_dataset=Dataset.from_list(rows),
        processing_class=embedded_tokenizer,
        peft_config=trl_lora(),
    )
    trainer.train()
    assert_parity(mine, step_records(trainer, losses), DPO_METRICS)
    assert abs(mine[-1]["loss"] - mine[0]["loss"]) > 1e-3  # it did learn something
    # At step 1 the reference is exactly the policy (precomputed in the training layout, or
    # on the fly in the same step): every reward is 0, not float rounding, on any CPU.
    assert mine[0]["rewards/chosen"] == mine[0]["rewards/rejected"] == 0.0
    assert mine[0]["rewards/accuracies"] == 0.0


@pytest.mark.parametrize(
    ("loss_type", "smoothing", "nll_weight"),
    [
        ("sigmoid", 0.0, 0.0),
        ("ipo", 0.0, 0.0),
        ("hinge", 0.0, 0.0),
        ("robust", 0.1, 0.0),
        ("sigmoid", 0.0, 0.5),
        ("ipo", 0.0, 2.0),
    ],
)
def test_dpo_loss_types_match_trl_against_a_different_reference(
    tmp_path: Path,
    embedded_tokenizer: PreTrainedTokenizerBase,
    loss_type: str,
    smoothing: float,
    nll_weight: float,
) -> None:
    """A reference unlike the policy gives non-trivial step-1 losses and rewards.

    ``dpo.nll_weight`` α (RPO) is TRL 1.16's ``loss_type=[loss_type, "sft"]`` with
    ``loss_weights=[1, α]`` (TRL dropped ``rpo_alpha`` for this combination).
    """
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    cfg = config(tmp_path, "dpo", nll_weight=0.0)
    items: list[TokenizedPair] = items_in_batch_order(cfg, embedded_tokenizer)[:BATCH]
    beta = 0.5
    # TRL's sft term is the token mean over the batch's chosen replies.
    section = DPOSection(
        beta=beta,
        loss_type=loss_type,
        label_smoothing=smoothing,
        nll_weight=nll_weight,
        nll_norm="token_mean",
    )
    method = DPOMethod(section)
    policy = build_tiny_model(embedded_tokenizer, seed=0).train()
    reference = OnTheFlyReference(method, build_tiny_model(embedded_tokenizer, seed=1))
    batch = method.collate(items, embedded_tokenizer.pad_token_id)
    with Accelerator(cpu=True).autocast():
        output = method.step(policy, batch, reference)
    mine = {"loss": float(output.loss_sum.detach()) / BATCH}
    mine.update({k: float(v) / BATCH for k, v in output.metric_sums.items()})

    losses = {"loss_type": [loss_type]}
    if nll_weight:
        losses = {"loss_type": [loss_type, "sft"], "loss_weights": [1.0, nll_weight]}
    args = trl_args(tmp_path, DPOConfig, beta=beta, label_smoothing=smoothing, **losses)

    class SameIds(DPOTrainer):
        def _prepare_dataset(self, dataset: Any, *a: Any, **k: Any) -> Any:
            return dataset

    rows = [
        {"prompt_ids": i.prompt_ids, "chosen_ids": i.chosen_ids, "rejected_ids": i.rejected_ids}
        for i in items
    ]
    trainer = SameIds(
        model=build_tiny_model(embedded_tokenizer, seed=0),
        ref_model=build_tiny_model(embedded_tokenizer, seed=1),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=embedded_tokenizer,
    )
    trainer.model.train()
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, trainer.data_collator(rows))
    theirs = {"loss": float(loss), **{k: v[-1] for k, v in trainer._metrics["train"].items()}}
    assert abs(mine["rewards/margins"]) > 0.1  # the reference really differs
    worst = max(abs(mine[k] - theirs[k]) for k in ("loss", *DPO_METRICS))
    print(f"parity {loss_type}: loss {mine['loss']:.6f} vs {theirs['loss']:.6f}, max {worst:.2e}")
    for name in ("loss", *DPO_METRICS):
        assert mine[name] == pytest.approx(theirs[name], abs=1e-4), name


def test_orpo_matches_trl_orpo_trainer(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    """TRL's ORPO NLL covers the prompt tokens too: compared with ``nll_on_prompt: true``."""
    from datasets import Dataset
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    cfg = config(tmp_path, "orpo", beta=0.1, nll_on_prompt=True)
    mine = ours(cfg, embedded_tokenizer)
    items = items_in_batch_order(cfg, embedded_tokenizer)
    by_key = {f"pair-{n}": item for n, item in enumerate(items)}
    losses: list[float] = []

    class SameIds(ORPOTrainer):
        def tokenize_row(self, feature: dict[str, Any], model: Any = None) -> dict[str, Any]:
            item = by_key[feature["prompt"]]
            row: dict[str, Any] = {
                "prompt_input_ids": item.prompt_ids,
                "prompt_attention_mask": [1] * len(item.prompt_ids),
            }
            for side, reply in (("chosen", item.chosen_ids), ("rejected", item.rejected_ids)):
                ids = item.prompt_ids + reply
                row[f"{side}_input_ids"] = ids
                row[f"{side}_attention_mask"] = [1] * len(ids)
                row[f"{side}_labels"] = [-100] * len(item.prompt_ids) + reply
            return row

        def training_step(self, *args: Any, **kwargs: Any) -> Any:
            loss = super().training_step(*args, **kwargs)
            losses.append(float(loss))
            return loss

    rows = [{"prompt": key, "chosen": "c", "rejected": "r"} for key in by_key]
    args = trl_args(tmp_path, ORPOConfig, beta=0.1)
    trainer = SameIds(
        model=build_tiny_model(embedded_tokenizer, seed=0),
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=embedded_tokenizer,
        peft_config=trl_lora(),
    )
    trainer.train()
    assert_parity(mine, step_records(trainer, losses), ORPO_METRICS)
