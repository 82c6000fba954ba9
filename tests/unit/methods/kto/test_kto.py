"""KTOMethod on a tiny random Llama: loss wiring, the reference point, weights, metrics."""

from __future__ import annotations

import json

import pytest
import torch
from accelerate import Accelerator
from transformers import PreTrainedModel

from tuneforge.config import LoraConfig, parse_config
from tuneforge.data.tokenize import TokenizedScored
from tuneforge.data.types import Origin
from tuneforge.engine.reference import (
    OnTheFlyReference,
    PrecomputedReference,
    compute_reference_values,
)
from tuneforge.methods import build_method
from tuneforge.methods.base import Batch
from tuneforge.methods.kto import KTOMethod, KTOSection, kl_reference_point, kto_loss
from tuneforge.methods.kto.data import collate_scored
from tuneforge.methods.logps import model_token_logps
from tuneforge.models import adapter_disabled, attach_lora

PAD = 2


def item(line: int, prompt: list[int], completion: list[int], desirable: bool, weight: float = 1.0):
    return TokenizedScored(Origin("f.jsonl", line), prompt, completion, desirable, weight=weight)


ITEMS = [
    item(1, [101, 102, 103], [104, 105, 106, 107], True),
    item(2, [201, 202], [203, 204], False),
    item(3, [301, 302, 303, 304], [305, 306, 307], True),
    item(4, [401, 402], [403, 404, 405, 406, 407], False),
]


def lora_policy(model: PreTrainedModel) -> torch.nn.Module:
    """The tiny model with a LoRA adapter whose B matrices are random (policy ≠ reference)."""
    torch.manual_seed(0)
    policy = attach_lora(model, LoraConfig(r=4, alpha=8, dropout=0.0))
    generator = torch.Generator().manual_seed(10)
    with torch.no_grad():
        for name, param in policy.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.1)
    return policy


def method(**settings: object) -> KTOMethod:
    """KTO alone unless ``nll_weight`` is given (the NLL term has tests of its own)."""
    section = KTOSection(**{"nll_weight": 0.0, **settings})  # type: ignore[arg-type]
    return KTOMethod(section, max_length=64, uses_lora=True)


def sequence_logps(model: torch.nn.Module, batch: Batch, prefix: str = "") -> torch.Tensor:
    inputs = {
        "input_ids": batch[f"{prefix}input_ids"],
        "attention_mask": batch[f"{prefix}attention_mask"],
    }
    return model_token_logps(model, inputs, batch[f"{prefix}labels"])[0].sum(-1)


def precomputed(kto: KTOMethod, policy: torch.nn.Module, items: list) -> PrecomputedReference:
    values = compute_reference_values(
        kto, policy, items, batch_size=3, pad_token_id=PAD, accelerator=Accelerator(cpu=True)
    )
    return PrecomputedReference(values)


def indexed(kto: KTOMethod, items: list, index: list[int]) -> Batch:
    batch = kto.collate([items[i] for i in index], PAD)
    batch["index"] = torch.tensor(index)
    return batch


def policy_and_reference_logps(
    policy: PreTrainedModel, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Policy, policy-KL, reference and reference-KL sequence log-probs of ``batch``, each (B,)."""
    with torch.no_grad():
        pol = sequence_logps(policy, batch)
        pol_kl = sequence_logps(policy, batch, "kl_")
        with adapter_disabled(policy) as ref_model:
            ref = sequence_logps(ref_model, batch)
            ref_kl = sequence_logps(ref_model, batch, "kl_")
    return pol, pol_kl, ref, ref_kl


def test_registered_and_built_from_config() -> None:
    cfg = parse_config({"method": "kto", "data": {"train": "x.jsonl", "max_length": 77}})
    kto = build_method(cfg)
    assert isinstance(kto, KTOMethod) and kto.max_length == 77 and kto.precompute_reference
    full = parse_config({"method": "kto", "data": {"train": "x.jsonl"}, "lora": None})
    assert not build_method(full).precompute_reference  # type: ignore[attr-defined]


def test_step_equals_kto_loss_on_hand_computed_logps(tiny_model: PreTrainedModel) -> None:
    policy = lora_policy(tiny_model)
    kto = method(beta=0.3, desirable_weight=1.5, undesirable_weight=0.7)
    reference = precomputed(kto, policy, ITEMS)
    batch = indexed(kto, ITEMS, [2, 0, 3, 1])
    output = kto.step(policy, batch, reference)

    pol, pol_kl, ref, ref_kl = policy_and_reference_logps(policy, batch)
    z = (pol_kl - ref_kl).mean().clamp(min=0)
    assert float(z) > 0  # the random adapter moved the policy
    losses, rewards = kto_loss(
        pol, ref, batch["desirable"], z, beta=0.3, desirable_weight=1.5, undesirable_weight=0.7
    )
    torch.testing.assert_close(output.loss_sum.detach(), losses.sum(), atol=1e-5, rtol=1e-5)
    assert output.loss_sum.requires_grad
    sums = output.metric_sums
    desirable = batch["desirable"]
    torch.testing.assert_close(sums["kl"], z * 4, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sums["rewards/chosen"], rewards[desirable].sum(), atol=1e-5, rtol=0)
    torch.testing.assert_close(sums["logps/rejected"], pol[~desirable].sum(), atol=1e-4, rtol=0)
    assert float(sums["count/chosen"]) == 2 and float(sums["count/rejected"]) == 2
    assert output.tokens == int(batch["attention_mask"].sum())


def test_precomputed_and_on_the_fly_references_agree(tiny_model: PreTrainedModel) -> None:
    policy = lora_policy(tiny_model)
    cached = method()
    live = method(precompute_ref=False)
    assert cached.precompute_reference and not live.precompute_reference
    batch = indexed(cached, ITEMS, [3, 1, 0])
    a = cached.step(policy, batch, precomputed(cached, policy, ITEMS))
    b = live.step(policy, batch, OnTheFlyReference(live, policy))
    torch.testing.assert_close(a.loss_sum, b.loss_sum, atol=1e-6, rtol=1e-6)
    for name in a.metric_sums:
        torch.testing.assert_close(a.metric_sums[name], b.metric_sums[name], atol=1e-5, rtol=0)


def test_reference_values_leave_out_mismatched_pairs_when_precomputing(
    tiny_model: PreTrainedModel,
) -> None:
    batch = collate_scored(ITEMS, PAD, max_length=64, with_kl=True)
    with torch.no_grad():
        assert set(method().reference_values(tiny_model, batch)) == {"logps"}
        live = method(precompute_ref=False).reference_values(tiny_model, batch)
    assert set(live) == {"logps", "kl_logps"}


def test_score_weights_scale_each_example_loss_exactly(tiny_model: PreTrainedModel) -> None:
    policy = lora_policy(tiny_model)
    kto = method()
    weights = [1.2, 0.5, 0.8, 1.5]
    weighted_items = [
        TokenizedScored(i.origin, i.prompt_ids, i.completion_ids, i.desirable, weight=w)
        for i, w in zip(ITEMS, weights, strict=True)
    ]
    reference = precomputed(kto, policy, ITEMS)
    order = [2, 0, 3, 1]
    plain = kto.step(policy, indexed(kto, ITEMS, order), reference)
    weighted = kto.step(policy, indexed(kto, weighted_items, order), reference)

    # The per-example losses, recomputed from the log-probs.
    batch = indexed(kto, ITEMS, order)
    pol, pol_kl, ref, ref_kl = policy_and_reference_logps(policy, batch)
    z, _ = kl_reference_point(pol_kl, ref_kl)
    assert float(z) > 0
    losses, _ = kto_loss(pol, ref, batch["desirable"], z)
    torch.testing.assert_close(plain.loss_sum.detach(), losses.sum(), atol=1e-5, rtol=0)
    expected = (losses * torch.tensor([weights[i] for i in order])).sum()
    torch.testing.assert_close(weighted.loss_sum.detach(), expected, atol=1e-5, rtol=0)
    # z is the same with and without weights: weighting changes the loss, not the estimate.
    torch.testing.assert_close(plain.metric_sums["kl"], weighted.metric_sums["kl"])


def test_a_lone_example_reuses_the_last_reference_point(tiny_model: PreTrainedModel) -> None:
    policy = lora_policy(tiny_model)
    kto = method()
    reference = precomputed(kto, policy, ITEMS)
    first = kto.step(policy, indexed(kto, ITEMS, [3, 1, 0]), reference)
    assert float(first.metric_sums["kl"]) > 0
    lone = kto.step(policy, indexed(kto, ITEMS, [2]), reference)
    torch.testing.assert_close(lone.metric_sums["kl"], first.metric_sums["kl"] / 3)
    # A fresh method has no previous estimate: z = 0 (the apo_zero reading of one example).
    fresh = method()
    assert float(fresh.step(policy, indexed(fresh, ITEMS, [3]), reference).metric_sums["kl"]) == 0


def test_apo_zero_unpaired_builds_no_mismatched_pairs(tiny_model: PreTrainedModel) -> None:
    kto = method(loss_type="apo_zero_unpaired")
    batch = indexed(kto, ITEMS, [0, 1])
    assert "kl_input_ids" not in batch
    output = kto.step(tiny_model, batch, precomputed(kto, tiny_model, ITEMS))
    assert float(output.metric_sums["kl"]) == 0.0


def test_policy_equal_to_reference_starts_at_half_the_weight(tiny_model: PreTrainedModel) -> None:
    torch.manual_seed(0)
    policy = attach_lora(tiny_model, LoraConfig(r=4, alpha=8, dropout=0.0))  # B = 0
    kto = method(nll_weight=0.0)
    output = kto.step(policy, indexed(kto, ITEMS, [0, 1, 2, 3]), precomputed(kto, policy, ITEMS))
    assert float(output.loss_sum.detach()) == pytest.approx(4 * 0.5, abs=1e-6)
    assert kto.stuck_loss == 0.5
    assert method(desirable_weight=2.0, nll_weight=0.0).stuck_loss is None
    with_nll = KTOMethod(KTOSection(nll_weight=1.0), max_length=64, uses_lora=True)
    assert with_nll.stuck_loss is None  # the NLL term has no fixed starting value


def test_finish_metrics_turns_sums_into_class_means() -> None:
    kto = method()
    # Engine view: sums divided by 5 window examples (3 desirable, 2 undesirable).
    metrics = {
        "kl": 0.25,
        "rewards/chosen": 0.6 / 5,
        "rewards/rejected": -0.4 / 5,
        "logps/chosen": -30.0 / 5,
        "logps/rejected": -50.0 / 5,
        "count/chosen": 3 / 5,
        "count/rejected": 2 / 5,
    }
    out = kto.finish_metrics(metrics)
    assert out == pytest.approx(
        {
            "kl": 0.25,
            "rewards/chosen": 0.2,
            "rewards/rejected": -0.2,
            "rewards/margins": 0.4,
            "logps/chosen": -10.0,
            "logps/rejected": -25.0,
        }
    )
    # A class absent from the window is left out, as TRL does; so is the margin.
    one_class = kto.finish_metrics(
        {
            "eval_rewards/chosen": 0.1,
            "eval_rewards/rejected": 0.0,
            "eval_count/chosen": 1.0,
            "eval_count/rejected": 0.0,
            "eval_loss": 0.5,
        }
    )
    assert one_class == pytest.approx({"eval_rewards/chosen": 0.1, "eval_loss": 0.5})


def test_packed_forward_equals_the_padded_one(tiny_model: PreTrainedModel) -> None:
    from tuneforge.methods.logps import batch_token_logps
    from tuneforge.models import packable

    def sequence_logp_sums(model: torch.nn.Module, *args: torch.Tensor, pack: bool):
        return batch_token_logps(model, *args, pack=pack)[0].sum(-1)

    policy = lora_policy(tiny_model)
    assert packable(policy)
    batch = collate_scored(ITEMS, PAD, max_length=64, with_kl=True)
    for prefix in ("", "kl_"):
        args = [batch[f"{prefix}{k}"] for k in ("input_ids", "attention_mask", "labels")]
        packed = sequence_logp_sums(policy, *args, pack=True)
        padded = sequence_logp_sums(policy, *args, pack=False)
        torch.testing.assert_close(packed, padded, atol=1e-5, rtol=1e-5)
    # Gradients agree too.
    args = [batch[k] for k in ("input_ids", "attention_mask", "labels")]
    grads = []
    for pack in (True, False):
        policy.zero_grad(set_to_none=True)
        sequence_logp_sums(policy, *args, pack=pack).sum().backward()
        grads.append([p.grad.clone() for p in policy.parameters() if p.grad is not None])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_kto_state_dict_carries_the_last_kl_of_each_mode() -> None:
    method = KTOMethod(KTOSection(), max_length=64, uses_lora=True)
    assert method.state_dict() == {}
    method._last_kl = {True: 0.25, False: 0.125}
    state = method.state_dict()
    assert state == {"last_kl_train": 0.25, "last_kl_eval": 0.125}
    fresh = KTOMethod(KTOSection(), max_length=64, uses_lora=True)
    fresh.load_state_dict(json.loads(json.dumps(state)))  # what a checkpoint stores
    assert fresh._last_kl == {True: 0.25, False: 0.125}
