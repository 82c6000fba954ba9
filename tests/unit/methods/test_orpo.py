"""ORPO: the odds-ratio term by hand, at extreme inputs, gradcheck; NLL variants of the step."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

from helpers import ORPO_METRICS
from tuneforge.config import parse_config
from tuneforge.data.collate import model_inputs
from tuneforge.data.tokenize import IGNORE_INDEX, TokenizedPair
from tuneforge.data.types import Origin
from tuneforge.methods import build_method
from tuneforge.methods.logps import sequence_logps
from tuneforge.methods.orpo import ORPOMethod, ORPOSection, log1mexp, odds_ratio_loss


def test_hand_computed_odds_ratio() -> None:
    # P(y_w) = 1/2 → odds 1; P(y_l) = 1/5 → odds 1/4; log odds ratio = log 4.
    losses, log_odds = odds_ratio_loss(
        torch.tensor([math.log(0.5)]), torch.tensor([math.log(0.2)]), beta=0.25
    )
    assert log_odds.item() == pytest.approx(math.log(4.0), abs=1e-6)
    # -β log σ(log 4) = -β log(4/5) = β log(5/4)
    assert losses.item() == pytest.approx(0.25 * math.log(1.25), abs=1e-7)


def test_equal_replies_give_zero_log_odds() -> None:
    m = torch.tensor([-0.3, -4.0])
    losses, log_odds = odds_ratio_loss(m, m, beta=0.1)
    torch.testing.assert_close(log_odds, torch.zeros(2))
    torch.testing.assert_close(losses, torch.full((2,), 0.1 * math.log(2.0)))


def test_log1mexp_matches_the_naive_form_where_that_is_accurate() -> None:
    x = torch.tensor([-50.0, -5.0, -0.7, -0.69, -0.1, -1e-3], dtype=torch.float64)
    torch.testing.assert_close(log1mexp(x), torch.log(1 - torch.exp(x)))
    tiny = torch.tensor([-1e-12], dtype=torch.float64)  # the naive form loses every digit here
    assert log1mexp(tiny).item() == pytest.approx(math.log(1e-12), rel=1e-9)


def test_extreme_inputs_stay_finite() -> None:
    chosen = torch.tensor([-1e-12, 0.0, -3000.0, -1e-4], requires_grad=True)
    rejected = torch.tensor([-3000.0, -1e-12, 0.0, -1e-4], requires_grad=True)
    losses, log_odds = odds_ratio_loss(chosen, rejected, beta=0.1)
    losses.sum().backward()
    assert torch.isfinite(losses).all() and torch.isfinite(log_odds).all()
    assert chosen.grad is not None and torch.isfinite(chosen.grad).all()
    assert rejected.grad is not None and torch.isfinite(rejected.grad).all()
    assert log_odds[0].item() > 3000 and log_odds[2].item() < -3000
    assert losses[2].item() == pytest.approx(-0.1 * log_odds[2].item(), rel=1e-4)


def test_gradcheck_float64() -> None:
    # Values on both sides of the log1mexp branch point (-ln 2), and far from it.
    values = [-0.01, -0.5, -0.69, -0.7, -2.0, -9.0]
    chosen = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    rejected = torch.tensor(values[::-1], dtype=torch.float64, requires_grad=True)

    def loss(c: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        losses, log_odds = odds_ratio_loss(c, r, beta=0.3)
        assert losses.dtype == torch.float64
        return losses + log_odds

    assert torch.autograd.gradcheck(loss, (chosen, rejected), eps=1e-6, atol=1e-7)
    expected = -0.3 * F.logsigmoid(
        (chosen - rejected) - (torch.log(-torch.expm1(chosen)) - torch.log(-torch.expm1(rejected)))
    )
    torch.testing.assert_close(odds_ratio_loss(chosen, rejected, beta=0.3)[0], expected)


# --------------------------------------------------------------------------------------------
# The method on a tiny random model
# --------------------------------------------------------------------------------------------

ORIGIN = Origin("pairs.jsonl", 1)
PAIRS = [
    TokenizedPair(ORIGIN, [1, 520, 33, 90], [701, 702, 2], [801, 2]),
    TokenizedPair(ORIGIN, [1, 610], [44, 45, 46, 47, 2], [46, 2]),
    TokenizedPair(ORIGIN, [1, 77, 78, 79, 80, 81], [12, 2], [13, 14, 15, 2]),
]


@pytest.mark.parametrize("nll_on_prompt", [False, True])
def test_step_matches_an_independent_computation(
    tiny_model: PreTrainedModel, nll_on_prompt: bool
) -> None:
    beta = 0.2
    method = ORPOMethod(ORPOSection(beta=beta, nll_on_prompt=nll_on_prompt))
    batch = method.collate(PAIRS, pad_token_id=2)
    output = method.step(tiny_model, batch, None)
    logits = tiny_model(**model_inputs(batch)).logits
    sums, counts = sequence_logps(logits, batch["labels"])
    means = sums / counts
    if nll_on_prompt:
        # TRL: a causal-LM loss over every real token of the chosen rows.
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, IGNORE_INDEX)
        nll = F.cross_entropy(
            logits[:3, :-1].reshape(-1, logits.shape[-1]), labels[:3, 1:].reshape(-1)
        )
    else:
        nll = -sums[:3].sum() / counts[:3].sum()
    ratio_losses, log_odds = odds_ratio_loss(means[:3], means[3:], beta=beta)
    torch.testing.assert_close(output.loss_sum, 3 * nll + ratio_losses.sum(), atol=1e-4, rtol=1e-5)
    metrics = output.metric_sums
    torch.testing.assert_close(metrics["nll_loss"], 3 * nll, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(metrics["logps/chosen"], means[:3].sum(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(metrics["rewards/chosen"], beta * means[:3].sum(), atol=1e-5, rtol=0)
    torch.testing.assert_close(metrics["log_odds_chosen"], log_odds.sum(), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(
        metrics["log_odds_ratio"], F.logsigmoid(log_odds).sum(), atol=1e-4, rtol=1e-4
    )
    assert set(metrics) == set(ORPO_METRICS)


def test_nll_on_prompt_counts_more_tokens(tiny_model: PreTrainedModel) -> None:
    only_reply = ORPOMethod(ORPOSection(nll_on_prompt=False))
    with_prompt = ORPOMethod(ORPOSection(nll_on_prompt=True))
    batch = only_reply.collate(PAIRS, pad_token_id=2)
    a = only_reply.step(tiny_model, batch, None).metric_sums["nll_loss"]
    b = with_prompt.step(tiny_model, batch, None).metric_sums["nll_loss"]
    assert not torch.isclose(a, b)


def test_registered_without_reference() -> None:
    cfg = parse_config({"method": "orpo", "data": {"train": "x.jsonl"}, "orpo": {"beta": 0.3}})
    method = build_method(cfg)
    assert isinstance(method, ORPOMethod) and not method.needs_reference
    assert method.section.beta == 0.3 and method.stuck_loss is None
