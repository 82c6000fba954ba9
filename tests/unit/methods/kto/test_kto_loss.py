"""kto_loss and the KL reference point: hand-computed values, gradients, float64 gradcheck."""

from __future__ import annotations

import math

import pytest
import torch

from tuneforge.methods.kto import kl_reference_point, kto_loss


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_kto_loss_hand_computed() -> None:
    policy = torch.tensor([-1.0, -2.0, -3.0])
    ref = torch.tensor([-1.5, -1.0, -3.25])
    desirable = torch.tensor([True, False, True])
    losses, rewards = kto_loss(
        policy,
        ref,
        desirable,
        torch.tensor(0.2),
        beta=0.1,
        desirable_weight=2.0,
        undesirable_weight=1.5,
    )
    # r = policy - ref = [0.5, -1.0, 0.25]
    expected = [
        2.0 * (1 - sigmoid(0.1 * (0.5 - 0.2))),
        1.5 * (1 - sigmoid(0.1 * (0.2 - (-1.0)))),
        2.0 * (1 - sigmoid(0.1 * (0.25 - 0.2))),
    ]
    assert losses.tolist() == pytest.approx(expected, abs=1e-7)
    assert rewards.tolist() == pytest.approx([0.05, -0.1, 0.025], abs=1e-7)
    assert not rewards.requires_grad


def test_policy_equal_to_reference_gives_half_weights() -> None:
    logps = torch.tensor([-4.0, -7.0])
    losses, rewards = kto_loss(
        logps, logps, torch.tensor([True, False]), 0.0, desirable_weight=1.0, undesirable_weight=3
    )
    assert losses.tolist() == pytest.approx([0.5, 1.5])
    assert rewards.tolist() == [0.0, 0.0]


def test_apo_zero_unpaired_hand_computed_and_ignores_kl() -> None:
    policy = torch.tensor([-1.0, -2.0])
    ref = torch.tensor([-3.0, -1.0])
    desirable = torch.tensor([True, False])
    losses, _ = kto_loss(policy, ref, desirable, 123.0, beta=0.5, loss_type="apo_zero_unpaired")
    assert losses.tolist() == pytest.approx([1 - sigmoid(0.5 * 2.0), sigmoid(0.5 * -1.0)])


def test_gradient_matches_the_derivative_of_the_sigmoid() -> None:
    policy = torch.tensor([-1.0, -2.0], requires_grad=True)
    ref = torch.tensor([-1.5, -1.0])
    kl = torch.tensor(0.3, requires_grad=True)
    losses, _ = kto_loss(policy, ref, torch.tensor([True, False]), kl, beta=0.2)
    losses.sum().backward()
    s_d = sigmoid(0.2 * (0.5 - 0.3))
    s_u = sigmoid(0.2 * (0.3 + 1.0))
    # d/dr (1 - σ(β(r - z))) = -β σ(1-σ);  d/dr (1 - σ(β(z - r))) = +β σ(1-σ)
    assert policy.grad is not None
    assert policy.grad.tolist() == pytest.approx([-0.2 * s_d * (1 - s_d), 0.2 * s_u * (1 - s_u)])
    assert kl.grad is None  # z is a detached reference point


@pytest.mark.parametrize("loss_type", ["kto", "apo_zero_unpaired"])
def test_gradcheck_float64(loss_type: str) -> None:
    generator = torch.Generator().manual_seed(0)
    policy = torch.randn(6, generator=generator, dtype=torch.float64, requires_grad=True)
    ref = torch.randn(6, generator=generator, dtype=torch.float64)
    desirable = torch.tensor([True, False, True, True, False, False])
    kl = torch.tensor(0.4, dtype=torch.float64)

    def fn(p: torch.Tensor) -> torch.Tensor:
        return kto_loss(
            p,
            ref,
            desirable,
            kl,
            beta=0.7,
            desirable_weight=1.3,
            undesirable_weight=0.8,
            loss_type=loss_type,  # type: ignore[arg-type]
        )[0]

    assert torch.autograd.gradcheck(fn, (policy,))
    assert torch.autograd.gradgradcheck(fn, (policy,))


def test_losses_keep_dtype_and_batch_order() -> None:
    policy = torch.tensor([-1.0, -1.0, -1.0], dtype=torch.float64)
    ref = torch.tensor([-1.0, -1.0, -1.0], dtype=torch.float64)
    losses, _ = kto_loss(
        policy, ref, torch.tensor([False, True, False]), 0.0, undesirable_weight=2.0
    )
    assert losses.dtype == torch.float64
    assert losses.tolist() == [1.0, 0.5, 1.0]


def test_shape_mismatch_and_unknown_loss_type_are_refused() -> None:
    with pytest.raises(ValueError, match="same"):
        kto_loss(torch.zeros(2), torch.zeros(3), torch.ones(2, dtype=torch.bool), 0.0)
    with pytest.raises(ValueError, match="loss_type"):
        kto_loss(
            torch.zeros(1),
            torch.zeros(1),
            torch.ones(1, dtype=torch.bool),
            0.0,
            loss_type="sigmoid",
        )  # type: ignore[arg-type]


def test_kl_reference_point_mean_clamp_and_detach() -> None:
    policy = torch.tensor([-1.0, -2.0, -4.0], requires_grad=True)
    ref = torch.tensor([-1.5, -2.5, -4.2])
    z, pairs = kl_reference_point(policy, ref)
    assert pairs == 3
    assert float(z) == pytest.approx((0.5 + 0.5 + 0.2) / 3)
    assert not z.requires_grad
    negative, _ = kl_reference_point(torch.tensor([-3.0, -3.0]), torch.tensor([-1.0, -2.0]))
    assert float(negative) == 0.0  # clamped: a KL is never negative


def test_kl_reference_point_fallback_without_pairs() -> None:
    z, pairs = kl_reference_point(torch.zeros(0), torch.zeros(0), fallback=0.7)
    assert pairs == 0 and float(z) == pytest.approx(0.7)
    z, _ = kl_reference_point(torch.zeros(0), torch.zeros(0), fallback=-1.0)
    assert float(z) == 0.0


def test_kl_reference_point_averages_over_processes() -> None:
    # Another process holds 1 pair with log-ratio 3.0: the mean is over all 3 pairs.
    def all_reduce_sum(totals: torch.Tensor) -> torch.Tensor:
        return totals + torch.tensor([3.0, 1.0])

    z, pairs = kl_reference_point(
        torch.tensor([1.0, 2.0]), torch.tensor([0.0, 0.0]), all_reduce_sum=all_reduce_sum
    )
    assert pairs == 3 and float(z) == pytest.approx(2.0)
