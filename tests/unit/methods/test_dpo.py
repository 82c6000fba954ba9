"""DPO: the pure loss against hand-computed values, extreme inputs, gradcheck; the method step."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import PreTrainedModel

from tuneforge.config import parse_config
from tuneforge.data.collate import model_inputs
from tuneforge.data.tokenize import TokenizedPair
from tuneforge.data.types import Origin
from tuneforge.methods import build_method
from tuneforge.methods.base import Batch
from tuneforge.methods.dpo import LOSS_TYPES, DPOMethod, DPOSection, dpo_loss, initial_loss
from tuneforge.methods.logps import sequence_logps


def softplus(x: float) -> float:
    """-log σ(-x) = log(1 + e^x), by hand."""
    return math.log1p(math.exp(x))


# One pair: policy moved +0.5 on the chosen and -0.5 on the rejected reply (β = 0.5).
POLICY_C, POLICY_R = torch.tensor([-1.0]), torch.tensor([-2.0])
REF_C, REF_R = torch.tensor([-1.5]), torch.tensor([-1.5])
GAP = 0.5 * (0.5 - (-0.5))  # β·(h_w - h_l) = 0.5


def loss_of(loss_type: str, eps: float = 0.0, **lengths: torch.Tensor) -> float:
    losses, _, _ = dpo_loss(
        POLICY_C,
        POLICY_R,
        REF_C,
        REF_R,
        beta=0.5,
        loss_type=loss_type,
        label_smoothing=eps,
        **lengths,
    )
    return float(losses[0])


def test_sigmoid_is_dpo_eq7() -> None:
    # -log σ(0.5) = log(1 + e^-0.5)
    assert loss_of("sigmoid") == pytest.approx(softplus(-GAP), abs=1e-7)
    assert loss_of("sigmoid") == pytest.approx(0.4740769841801067, abs=1e-7)


def test_sigmoid_with_label_smoothing_is_conservative_dpo() -> None:
    expected = 0.9 * softplus(-GAP) + 0.1 * softplus(GAP)  # -(1-ε)logσ(g) - ε logσ(-g)
    assert loss_of("sigmoid", 0.1) == pytest.approx(expected, abs=1e-7)
    assert loss_of("sigmoid", 0.1) == pytest.approx(0.5240769841801067, abs=1e-7)


def test_robust_is_unbiased_under_flips() -> None:
    expected = (0.9 * softplus(-GAP) - 0.1 * softplus(GAP)) / 0.8
    assert loss_of("robust", 0.1) == pytest.approx(expected, abs=1e-7)
    assert loss_of("robust", 0.1) == pytest.approx(0.4115770, abs=1e-6)
    assert loss_of("robust") == pytest.approx(loss_of("sigmoid"), abs=1e-7)  # ε = 0: plain DPO


def test_hinge_is_slic() -> None:
    assert loss_of("hinge") == pytest.approx(1 - GAP)
    losses, _, _ = dpo_loss(
        torch.tensor([0.0]),
        torch.tensor([-30.0]),
        torch.zeros(1),
        torch.zeros(1),
        beta=0.5,
        loss_type="hinge",
    )
    assert float(losses[0]) == 0.0  # margin beyond 1: no loss


def test_ipo_uses_length_normalised_log_ratios() -> None:
    # h_w/|y_w| - h_l/|y_l| = 0.5/2 + 0.5/4 = 0.375; target 1/(2β) = 1 → (0.375 - 1)² = 0.390625
    value = loss_of("ipo", chosen_lengths=torch.tensor([2]), rejected_lengths=torch.tensor([4]))
    assert value == pytest.approx(0.390625, abs=1e-7)
    with pytest.raises(ValueError, match="chosen_lengths"):
        loss_of("ipo")


def test_rewards_are_beta_times_log_ratios_and_detached() -> None:
    policy_c = POLICY_C.clone().requires_grad_()
    _, chosen, rejected = dpo_loss(policy_c, POLICY_R, REF_C, REF_R, beta=0.5)
    torch.testing.assert_close(chosen, torch.tensor([0.25]))
    torch.testing.assert_close(rejected, torch.tensor([-0.25]))
    assert not chosen.requires_grad and not rejected.requires_grad


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unknown DPO loss_type"):
        dpo_loss(POLICY_C, POLICY_R, REF_C, REF_R, loss_type="dpo")
    with pytest.raises(ValueError, match="label_smoothing"):
        dpo_loss(POLICY_C, POLICY_R, REF_C, REF_R, label_smoothing=0.5)


def test_initial_loss_is_the_value_at_policy_equals_reference() -> None:
    zeros = torch.zeros(3)
    lengths = torch.tensor([3, 5, 7])
    for loss_type in LOSS_TYPES:
        losses, _, _ = dpo_loss(
            zeros,
            zeros,
            zeros,
            zeros,
            beta=0.2,
            loss_type=loss_type,
            label_smoothing=0.1,
            chosen_lengths=lengths,
            rejected_lengths=lengths,
        )
        torch.testing.assert_close(losses, torch.full((3,), initial_loss(loss_type, 0.2)))
    assert initial_loss("sigmoid", 0.1) == pytest.approx(math.log(2))


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_extreme_inputs_stay_finite_with_correct_gradients(loss_type: str) -> None:
    # Log-probs far outside any real range: the loss and its gradient must not overflow.
    policy_c = torch.tensor([410.0, 0.1], requires_grad=True)
    policy_r = torch.tensor([-610.0, -0.1], requires_grad=True)
    ref_c, ref_r = torch.tensor([-610.0, -0.1]), torch.tensor([410.0, 0.1])
    lengths = torch.tensor([1, 1])
    beta, eps = 0.1, 0.1 if loss_type == "robust" else 0.0
    losses, chosen, rejected = dpo_loss(
        policy_c,
        policy_r,
        ref_c,
        ref_r,
        beta=beta,
        loss_type=loss_type,
        label_smoothing=eps,
        chosen_lengths=lengths,
        rejected_lengths=lengths,
    )
    losses.sum().backward()
    assert torch.isfinite(losses).all() and torch.isfinite(chosen).all()
    assert policy_c.grad is not None and policy_r.grad is not None
    assert torch.isfinite(policy_c.grad).all() and torch.isfinite(policy_r.grad).all()
    gap = beta * ((policy_c - ref_c) - (policy_r - ref_r)).detach()  # [204.0, 0.04]
    if loss_type == "sigmoid":
        # d/dπ_w of -log σ(g) = -β σ(-g): 0 for a huge gap, -β/2 (almost) for a small one.
        expected = -beta * torch.sigmoid(-gap)
        torch.testing.assert_close(policy_c.grad, expected)
        torch.testing.assert_close(policy_r.grad, -expected)
        assert losses[0].item() == pytest.approx(0.0, abs=1e-30)
    # Swap chosen and rejected: a gap of -204 gives a loss of about 204 (sigmoid), not inf.
    flipped, _, _ = dpo_loss(
        policy_r.detach(),
        policy_c.detach(),
        ref_r,
        ref_c,
        beta=beta,
        loss_type=loss_type,
        label_smoothing=eps,
        chosen_lengths=lengths,
        rejected_lengths=lengths,
    )
    assert torch.isfinite(flipped).all()
    if loss_type == "sigmoid":
        assert flipped[0].item() == pytest.approx(204.0, rel=1e-6)


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_gradcheck_float64(loss_type: str) -> None:
    generator = torch.Generator().manual_seed(0)
    inputs = [
        (torch.randn(5, generator=generator, dtype=torch.float64) * 3 - 20).requires_grad_()
        for _ in range(4)
    ]
    lengths = torch.tensor([3, 8, 1, 12, 5])

    def losses(*logps: torch.Tensor) -> torch.Tensor:
        return dpo_loss(
            *logps,
            beta=0.3,
            loss_type=loss_type,
            label_smoothing=0.2 * (loss_type == "robust"),
            chosen_lengths=lengths,
            rejected_lengths=lengths.flip(0),
        )[0]

    assert torch.autograd.gradcheck(losses, tuple(inputs), eps=1e-6, atol=1e-6)


# --------------------------------------------------------------------------------------------
# The method on a tiny random model
# --------------------------------------------------------------------------------------------

ORIGIN = Origin("pairs.jsonl", 1)
PAIRS = [
    TokenizedPair(ORIGIN, [1, 520, 33, 90], [701, 702, 2], [801, 2]),
    TokenizedPair(ORIGIN, [1, 610], [44, 45, 46, 47, 2], [46, 2]),
    TokenizedPair(ORIGIN, [1, 77, 78, 79, 80, 81], [12, 2], [13, 14, 15, 2]),
]


class FixedReference:
    """Reference values given per item position (the batch's ``index``)."""

    def __init__(self, chosen: list[float], rejected: list[float]) -> None:
        self.chosen, self.rejected = torch.tensor(chosen), torch.tensor(rejected)

    def __call__(self, batch: Batch) -> dict[str, torch.Tensor]:
        index = batch["index"]
        return {"chosen": self.chosen[index], "rejected": self.rejected[index]}


def indexed(batch: Batch, positions: list[int]) -> Batch:
    batch["index"] = torch.tensor(positions)
    return batch


def test_step_matches_full_logits_and_sums_metrics(tiny_model: PreTrainedModel) -> None:
    method = DPOMethod(DPOSection(beta=0.2, nll_weight=0.0))
    batch = indexed(method.collate(PAIRS, pad_token_id=2), [0, 1, 2])
    reference = FixedReference([-30.0, -41.0, -9.5], [-12.0, -20.0, -33.0])
    output = method.step(tiny_model, batch, reference)
    # Independent path: full logits and the plain sequence log-prob.
    sums, counts = sequence_logps(tiny_model(**model_inputs(batch)).logits, batch["labels"])
    assert counts.tolist() == [3, 5, 2, 2, 2, 4]
    losses, chosen, rejected = dpo_loss(
        sums[:3], sums[3:], reference.chosen, reference.rejected, beta=0.2
    )
    torch.testing.assert_close(output.loss_sum, losses.sum(), atol=1e-4, rtol=1e-5)
    metrics = output.metric_sums
    torch.testing.assert_close(metrics["rewards/chosen"], chosen.sum(), atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(metrics["rewards/rejected"], rejected.sum(), atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(
        metrics["rewards/margins"], (chosen - rejected).sum(), atol=1e-4, rtol=1e-5
    )
    assert metrics["rewards/accuracies"].item() == float((chosen > rejected).sum())
    torch.testing.assert_close(metrics["logps/chosen"], sums[:3].sum(), atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(metrics["logps/rejected"], sums[3:].sum(), atol=1e-4, rtol=1e-5)
    assert method.count_units(batch) == 3
    assert output.tokens == sum(
        len(p.prompt_ids) * 2 + len(p.chosen_ids) + len(p.rejected_ids) for p in PAIRS
    )
    assert output.loss_sum.requires_grad


def test_step_needs_a_reference(tiny_model: PreTrainedModel) -> None:
    method = DPOMethod(DPOSection())
    with pytest.raises(ValueError, match="reference"):
        method.step(tiny_model, method.collate(PAIRS, 2), None)


def test_reference_values_are_the_sequence_logps(tiny_model: PreTrainedModel) -> None:
    method = DPOMethod(DPOSection())
    batch = method.collate(PAIRS, 2)
    with torch.no_grad():
        values = method.reference_values(tiny_model, batch)
        sums, _ = sequence_logps(tiny_model(**model_inputs(batch)).logits, batch["labels"])
    torch.testing.assert_close(values["chosen"], sums[:3], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(values["rejected"], sums[3:], atol=1e-4, rtol=1e-5)


def test_registered_with_section_settings() -> None:
    cfg = parse_config(
        {"method": "dpo", "data": {"train": "x.jsonl"}, "dpo": {"loss_type": "ipo", "beta": 0.5}}
    )
    method = build_method(cfg)
    assert isinstance(method, DPOMethod) and method.needs_reference
    assert method.precompute_reference is True
    assert method.stuck_loss is None  # the default NLL term has no fixed starting value
    cfg = parse_config(
        {
            "method": "dpo",
            "data": {"train": "x.jsonl"},
            "dpo": {"loss_type": "ipo", "beta": 0.5, "nll_weight": 0},
        }
    )
    assert build_method(cfg).stuck_loss == pytest.approx(1.0)  # (1 / (2·0.5))²
