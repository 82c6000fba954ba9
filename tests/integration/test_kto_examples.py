"""The feedback KTO examples on the real embedded model (minutes each: `make test-examples`).

On the held-out replies, the tuned model must give desirable replies a higher mean implicit
reward ``β·(log π_tuned(y|x) - log π_base(y|x))`` than undesirable ones (what KTO's loss asks;
the base model's implicit reward is 0 for every reply by definition), and must find the
desirable replies themselves more likely per token than the base model did (what the default
NLL term on them, ``kto.nll_weight: 1``, asks, and what greedy decoding reads).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from helpers import first_lines, kind
from tuneforge.config import load_config, parse_config
from tuneforge.data.load import load_examples
from tuneforge.data.tokenize import TokenizeSettings, tokenize_examples
from tuneforge.methods.kto.data import collate_scored
from tuneforge.methods.logps import model_token_logps
from tuneforge.models import adapter_disabled, load_adapter, load_model, load_tokenizer
from tuneforge.run.stage import train

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "feedback"


def held_out_rewards(
    final_dir: Path, eval_file: Path, beta: float, threshold: float | None
) -> dict[str, float]:
    """Per-class mean implicit reward, and per-token log-prob gaps of the base and tuned model."""
    tokenizer = load_tokenizer("embedded")
    examples = load_examples(str(eval_file), kind("kto"), score_threshold=threshold)
    items = tokenize_examples(examples, tokenizer, TokenizeSettings()).items
    model = load_adapter(load_model("embedded"), final_dir).eval()
    rows: list[tuple[bool, float, float, int]] = []
    with torch.no_grad():
        for start in range(0, len(items), 8):
            batch = collate_scored(
                items[start : start + 8], tokenizer.pad_token_id, max_length=1024, with_kl=False
            )
            inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
            tuned, mask = model_token_logps(model, inputs, batch["labels"])
            with adapter_disabled(model) as base_model:
                base, _ = model_token_logps(base_model, inputs, batch["labels"])
            for row, flag in enumerate(batch["desirable"].tolist()):
                rows.append(
                    (flag, float(tuned[row].sum()), float(base[row].sum()), int(mask[row].sum()))
                )

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    out: dict[str, float] = {}
    for name, flag in (("desirable", True), ("undesirable", False)):
        group = [r for r in rows if r[0] is flag]
        out[f"{name}_reward"] = mean([beta * (t - b) for _, t, b, _ in group])
        out[f"{name}_base_logp"] = mean([b / n for _, _, b, n in group])
        out[f"{name}_tuned_logp"] = mean([t / n for _, t, _, n in group])
    out["base_gap"] = out["desirable_base_logp"] - out["undesirable_base_logp"]
    out["tuned_gap"] = out["desirable_tuned_logp"] - out["undesirable_tuned_logp"]
    return out


def check(
    scores: dict[str, float],
    *,
    reward_gap: float,
    desirable_gain: float,
    gap_widening: float | None = None,
) -> None:
    """Desirable replies out-reward undesirable ones by ``reward_gap``, their mean per-token
    log-prob rose by ``desirable_gain`` nats over the base model's, and (when given) the
    per-token log-prob gap of desirable over undesirable replies widened by ``gap_widening``."""
    assert scores["desirable_reward"] > scores["undesirable_reward"] + reward_gap
    gain = scores["desirable_tuned_logp"] - scores["desirable_base_logp"]
    assert gain > desirable_gain
    if gap_widening is not None:
        assert scores["tuned_gap"] > scores["base_gap"] + gap_widening


#: Bars of the full runs (``make test-examples``): about half of what the default settings
#: measured (2026-11-28; thumbs / ratings / defaults-only ratings: reward gap +1.77 / +1.77 /
#: +1.59, desirable per-token log-prob +0.88 / +0.78 / +0.72 nats, per-token gap widened
#: +0.27 / +0.27 / +0.23).
FULL_BARS = {"reward_gap": 0.8, "desirable_gain": 0.35, "gap_widening": 0.1}


#: The slice `make test` trains on: the first 64 train rows, one epoch of 16 steps of 4, no
#: evaluation pass during training, then the first 40 held-out rows scored.
SLICE_TRAIN, SLICE_EVAL, SLICE_STEPS = 64, 40, 16


def train_slice(config: str, train_file: str, eval_file: str, folder: Path) -> dict[str, float]:
    """The shipped config as it is (its defaults included) on a slice of its data."""
    train_rows = first_lines(EXAMPLES / train_file, SLICE_TRAIN, folder / train_file)
    eval_slice = first_lines(EXAMPLES / eval_file, SLICE_EVAL, folder / eval_file)
    overrides = [
        f"output={folder / 'run'}",
        f"data.train={train_rows}",
        "data.eval=null",
        "data.eval_split=0",
        f"train.max_steps={SLICE_STEPS}",
    ]
    cfg = load_config(EXAMPLES / config, overrides)
    outcome = train(cfg)
    assert outcome.final_dir is not None
    assert outcome.result.state.global_step == SLICE_STEPS
    scores = held_out_rewards(outcome.final_dir, eval_slice, cfg.kto.beta, cfg.kto.threshold)
    print(f"{config} slice: {json.dumps(scores)}")
    return scores


@pytest.mark.slow
@pytest.mark.parametrize(
    ("config", "train_file", "eval_file"),
    [
        ("kto-thumbs.yaml", "thumbs.jsonl", "thumbs_eval.jsonl"),
        ("kto-ratings.yaml", "ratings.jsonl", "ratings_eval.jsonl"),
    ],
)
def test_feedback_example_on_a_slice_learns_the_scores(
    config: str, train_file: str, eval_file: str, tmp_path: Path
) -> None:
    """The shipped config (its defaults included) on a slice of its data (make test).

    Liked answers out-reward disliked ones on held-out rows, and the liked answers became more
    likely (before training the reward difference is exactly 0). A slice of 16 of the full
    run's ~219 steps asks a lower bar: about half of what these 16 steps measured with the
    default ``kto.nll_weight: 1`` (thumbs: reward gap +0.094, liked per-token log-prob +0.042
    nats; ratings: +0.097, +0.068). The per-token gap of liked over disliked answers is not
    asked here: in 16 steps the NLL term lifts the disliked answers almost as much (+0.011,
    +0.005); the full runs (`FULL_BARS`) ask it.
    """
    scores = train_slice(config, train_file, eval_file, tmp_path)
    check(scores, reward_gap=0.045, desirable_gain=0.02)


@pytest.mark.slow
@pytest.mark.example
@pytest.mark.parametrize(
    ("config", "eval_file"),
    [("kto-thumbs.yaml", "thumbs_eval.jsonl"), ("kto-ratings.yaml", "ratings_eval.jsonl")],
)
def test_feedback_example_improves_held_out_rewards(
    config: str, eval_file: str, tmp_path: Path
) -> None:
    cfg = load_config(EXAMPLES / config, [f"output={tmp_path / 'run'}"])
    started = time.monotonic()
    outcome = train(cfg)
    assert outcome.final_dir is not None
    scores = held_out_rewards(
        outcome.final_dir, EXAMPLES / eval_file, cfg.kto.beta, cfg.kto.threshold
    )
    print(f"{config}: {json.dumps(scores)}; train() wall {time.monotonic() - started:.0f} s")
    check(scores, **FULL_BARS)


@pytest.mark.slow
@pytest.mark.example
def test_defaults_only_config_on_ratings_improves(tmp_path: Path) -> None:
    """``method: kto`` and ``data.train:`` alone (1-5 ratings, automatic held-out split)."""
    cfg = parse_config(
        {
            "method": "kto",
            "data": {"train": str(EXAMPLES / "ratings.jsonl")},
            "output": str(tmp_path / "run"),
        }
    )
    outcome = train(cfg)
    assert outcome.final_dir is not None
    scores = held_out_rewards(
        outcome.final_dir, EXAMPLES / "ratings_eval.jsonl", cfg.kto.beta, None
    )
    print(f"defaults: {json.dumps(scores)}")
    check(scores, **FULL_BARS)
