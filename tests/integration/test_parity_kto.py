"""KTO parity with TRL's KTOTrainer (boolean labels) on a tiny random model and 8 examples.

The policy and the reference differ (the reference is the policy with its weights nudged), so
the rewards and the KL reference point are not trivially zero. Both sides see the same two
micro-batches of 4 (TRL samples sequentially and rotates the KL completions within each batch,
as tuneforge does); the loss, ``kl`` and the reward and log-prob metrics of each must agree
within 1e-4.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from helpers import TRL_QUIET_CPU
from tuneforge.data.tokenize import TokenizeSettings, tokenize_examples
from tuneforge.data.types import Origin, ScoredExample
from tuneforge.engine.reference import OnTheFlyReference
from tuneforge.methods.kto import KTOMethod, KTOSection
from tuneforge.models import build_tiny_model

trl = pytest.importorskip("trl")

ROWS = [
    ("How do I reset my password?", "Open Settings > Account and choose Reset password.", True),
    ("Can I export to PDF?", "No idea, sorry.", False),
    ("Where is dark mode?", "Settings > Appearance > Theme lets you pick Dark.", True),
    ("How long does shipping take?", "Orders ship within 2 working days.", True),
    ("Is there an API?", "Read the docs before asking.", False),
    ("Can I add a teammate?", "Go to Members and click Invite.", True),
    ("Why was I charged twice?", "That never happens.", False),
    ("How do I cancel?", "Billing > Plan > Cancel subscription, effective at period end.", True),
]
BATCH = 4
BETA = 0.1
TOLERANCE = 1e-4
METRICS = ("kl", "rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected")


def nudged(model: PreTrainedModel, seed: int, scale: float) -> PreTrainedModel:
    """A copy of ``model`` with every weight moved by seeded noise (the reference)."""
    other = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in other.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * scale)
    return other


def ours(
    policy: PreTrainedModel, reference: PreTrainedModel, tokenizer: PreTrainedTokenizerBase
) -> tuple[list[dict[str, float]], list[list[int]]]:
    """tuneforge's loss and metrics for each micro-batch, and the token ids it used."""
    examples = [
        ScoredExample(Origin("p.jsonl", i + 1), prompt=p, completion=c, score=d, desirable=d)
        for i, (p, c, d) in enumerate(ROWS)
    ]
    items = tokenize_examples(examples, tokenizer, TokenizeSettings(max_length=512)).items
    kto = KTOMethod(KTOSection(beta=BETA, nll_weight=0.0), max_length=512, uses_lora=False)
    ref = OnTheFlyReference(kto, reference)
    results = []
    for start in range(0, len(items), BATCH):
        batch = kto.collate(items[start : start + BATCH], tokenizer.pad_token_id)
        output = kto.step(policy, batch, ref)
        units = kto.count_units(batch)
        metrics = {k: float(v) / units for k, v in output.metric_sums.items()}
        metrics["loss"] = float(output.loss_sum.detach()) / units
        results.append(kto.finish_metrics(metrics))
    ids = [list(item.prompt_ids) + list(item.completion_ids) for item in items]  # type: ignore[union-attr]
    return results, ids


def theirs(
    policy: PreTrainedModel,
    reference: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    output_dir: Path,
) -> tuple[list[dict[str, float]], list[list[int]]]:
    """TRL's loss and logged metrics for each micro-batch, and its token ids."""
    from datasets import Dataset
    from trl import KTOConfig, KTOTrainer

    dataset = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": p}],
                "completion": [{"role": "assistant", "content": c}],
                "label": d,
            }
            for p, c, d in ROWS
        ]
    )
    args = KTOConfig(
        output_dir=str(output_dir),
        per_device_train_batch_size=BATCH,
        beta=BETA,
        max_length=512,
        precompute_ref_log_probs=False,
        **TRL_QUIET_CPU,
    )
    trainer = KTOTrainer(
        model=policy,
        ref_model=reference,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.model.train()
    results = []
    for batch in trainer.get_train_dataloader():
        trainer._metrics["train"].clear()
        with torch.no_grad():
            loss = trainer.compute_loss(trainer.model, batch)
        logged: dict[str, Any] = {k: v[-1] for k, v in trainer._metrics["train"].items() if v}
        logged["loss"] = float(loss)
        results.append(logged)
    rows = trainer.train_dataset
    ids = [
        list(p) + list(c) for p, c in zip(rows["prompt_ids"], rows["completion_ids"], strict=True)
    ]
    return results, ids


def test_step_one_matches_trl(embedded_tokenizer: PreTrainedTokenizerBase, tmp_path: Path) -> None:
    policy = build_tiny_model(embedded_tokenizer, seed=0)
    reference = nudged(policy, seed=1, scale=0.02)
    mine, my_ids = ours(policy, reference, embedded_tokenizer)
    # TRL patches the models it gets (a fused LM head): give it copies.
    trl_results, trl_ids = theirs(
        copy.deepcopy(policy), copy.deepcopy(reference), embedded_tokenizer, tmp_path
    )
    assert my_ids == trl_ids  # identical inputs, checked rather than assumed
    assert len(mine) == len(trl_results) == 2
    for a, b in zip(mine, trl_results, strict=True):
        assert a["kl"] > 0  # a real reference point, not the trivial 0
        assert abs(a["rewards/margins"]) > 1e-3
        assert a["loss"] == pytest.approx(b["loss"], abs=TOLERANCE)
        for name in (*METRICS, "rewards/margins"):
            assert a[name] == pytest.approx(b[name], abs=TOLERANCE), name
