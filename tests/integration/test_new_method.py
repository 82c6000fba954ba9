"""A new method is one module: a throwaway SimPO registered and trained from this file alone.

SimPO (Meng et al. 2024, Eq. 6) learns from the same pairs as DPO, without a reference:
``L = -log σ(β/|y_w| · log π(y_w|x) - β/|y_l| · log π(y_l|x) - γ)``. Everything it needs is
declared here: its config section, its record kind (pairs), its default learning rates, its
pure loss and its step. It is registered in a registry built by this test (no global state),
and `tuneforge train`'s library function trains it on the tiny model; nothing outside this
file knows its name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from pydantic import Field
from transformers import PreTrainedTokenizerBase

from helpers import brand_voice_pairs, metrics_records
from tuneforge.config import Section, config_model, load_config, parse_config
from tuneforge.config.schema import TuneforgeConfig
from tuneforge.data.load import load_examples
from tuneforge.data.tokenize import TokenizeSettings, tokenize_examples
from tuneforge.data.types import RecordKind
from tuneforge.errors import ConfigError
from tuneforge.methods import METHODS
from tuneforge.methods.base import Batch, DefaultLR, MethodSpec, StepOutput, section_of
from tuneforge.methods.pairs import collate_pairs, count_pairs, pair_logps, pair_tokens
from tuneforge.models import build_tiny_model
from tuneforge.run.stage import train


class SimPOSection(Section):
    """SimPO settings: the reward scale β and the target margin γ."""

    beta: float = Field(2.0, gt=0)
    gamma: float = Field(0.5, ge=0)


def simpo_loss(
    chosen_mean_logps: torch.Tensor, rejected_mean_logps: torch.Tensor, *, beta: float, gamma: float
) -> torch.Tensor:
    """Per-pair SimPO loss (Eq. 6) from length-normalised log-probs, each (B,) → (B,)."""
    return -F.logsigmoid(beta * (chosen_mean_logps - rejected_mean_logps) - gamma)


class SimPOMethod:
    """The SimPO plug-in for the one training loop."""

    name = "simpo"
    needs_reference = False

    def __init__(self, section: SimPOSection) -> None:
        self.section = section

    def collate(self, items: Sequence[Any], pad_token_id: int) -> Batch:
        return collate_pairs(items, pad_token_id)

    def count_units(self, batch: Batch) -> int:
        return count_pairs(batch)

    def step(self, model: Any, batch: Batch, reference: Any) -> StepOutput:
        logps = pair_logps(model, batch)
        losses = simpo_loss(
            logps.chosen_mean(),
            logps.rejected_mean(),
            beta=self.section.beta,
            gamma=self.section.gamma,
        )
        return StepOutput(loss_sum=losses.sum(), tokens=pair_tokens(batch))


def build(config: TuneforgeConfig) -> SimPOMethod:
    return SimPOMethod(section_of(config, SimPOSection))


SPEC = MethodSpec(
    name="simpo",
    section=SimPOSection,
    record_kind=RecordKind.PAIR,
    default_lr=DefaultLR(lora=3e-3, full=1e-6),
    build=build,
)
REGISTRY = {**METHODS, SPEC.name: SPEC}


def test_simpo_loss_by_hand() -> None:
    # β(−1 − (−2)) − γ = 2·1 − 0.5 = 1.5, and −log σ(1.5) = log(1 + e^−1.5) = 0.2014133.
    loss = simpo_loss(torch.tensor([-1.0]), torch.tensor([-2.0]), beta=2.0, gamma=0.5)
    assert loss.item() == pytest.approx(0.2014133, abs=1e-6)


def test_the_registry_builds_the_config_file_for_the_new_method(tmp_path: Path) -> None:
    model = config_model(REGISTRY)
    path = tmp_path / "simpo.yaml"
    path.write_text("method: simpo\ndata:\n  train: pairs.jsonl\nsimpo:\n  gamma: 0.25\n")
    cfg = load_config(path, model=model)
    assert cfg.method_config == SimPOSection(gamma=0.25)
    assert cfg.resolved_lr() == 3e-3
    path.write_text("method: simpo\ndata:\n  train: pairs.jsonl\nsimpo:\n  gama: 0.25\n")
    with pytest.raises(ConfigError, match=r"simpo\.gama: unknown key; did you mean 'gamma'\?"):
        load_config(path, model=model)
    with pytest.raises(ConfigError, match="method"):  # tuneforge's own model does not know it
        parse_config({"method": "simpo", "data": {"train": "x"}})


def test_train_runs_the_new_method_from_its_spec(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    data = tmp_path / "pairs.jsonl"
    brand_voice_pairs(data, 4)
    raw = {
        "method": "simpo",
        "output": str(tmp_path / "run"),
        "data": {"train": str(data), "eval_split": 0},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        # One batch holds every pair, so the first step's loss does not depend on the shuffle.
        "train": {"precision": "fp32", "logging_steps": 1, "batch_size": 4, "max_steps": 3},
    }
    cfg = parse_config(raw, model=config_model(REGISTRY))
    model = build_tiny_model(embedded_tokenizer, seed=0)
    # The first step runs the untrained policy (LoRA starts as the identity): its loss is the
    # mean SimPO loss of the base model over the four pairs.
    items = tokenize_examples(
        load_examples(data, RecordKind.PAIR), embedded_tokenizer, TokenizeSettings()
    ).items
    with torch.no_grad():
        logps = pair_logps(model, collate_pairs(items, embedded_tokenizer.pad_token_id))
    expected = simpo_loss(logps.chosen_mean(), logps.rejected_mean(), beta=2.0, gamma=0.5)

    outcome = train(cfg, model=model, tokenizer=embedded_tokenizer)

    losses = [r["loss"] for r in metrics_records(outcome.run_dir) if "loss" in r]
    assert len(losses) == 3
    assert losses[0] == pytest.approx(expected.mean().item(), abs=1e-5)
    assert losses[-1] < losses[0]  # lr 3e-3 on one repeated batch: the loss falls
    assert outcome.final_dir is not None and (outcome.final_dir / "adapter_config.json").is_file()
    resolved = (outcome.run_dir / "config.yaml").read_text()
    assert "method: simpo" in resolved and "simpo:\n  beta: 2.0\n  gamma: 0.5" in resolved
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert manifest["counts"]["train_examples"] == 4
