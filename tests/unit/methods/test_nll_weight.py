"""The NLL term on the preferred replies: ``dpo.nll_weight`` (RPO) and ``kto.nll_weight``.

Hand-computed values on tiny tensors, ``nll_weight: 0`` giving the previous loss bit for bit,
and gradients that reach the chosen (desirable) reply tokens only.
"""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError
from transformers import PreTrainedModel

from tuneforge.config import parse_config
from tuneforge.data.collate import model_inputs
from tuneforge.data.tokenize import IGNORE_INDEX, TokenizedPair, TokenizedScored
from tuneforge.data.types import Origin
from tuneforge.methods.base import Batch
from tuneforge.methods.dpo import (
    DPOMethod,
    DPOSection,
    chosen_nll_term,
    dpo_loss,
    with_nll_term,
)
from tuneforge.methods.kto import KTOMethod, KTOSection, desirable_nll, kto_loss
from tuneforge.methods.kto.loss import nll_term
from tuneforge.methods.logps import mean_token_nll, sequence_logps, token_logps
from tuneforge.methods.pairs import PairLogps

M = IGNORE_INDEX
LN2, LN3 = math.log(2.0), math.log(3.0)


# --------------------------------------------------------------------------------------------
# The shared token-mean NLL
# --------------------------------------------------------------------------------------------


def test_mean_token_nll_is_the_token_mean_over_the_selected_rows() -> None:
    sums = torch.tensor([-6.0, -1.0, -9.0])
    counts = torch.tensor([3, 1, 2])
    # All rows: 16 nats over 6 tokens; rows 0 and 2: 15 nats over 5 tokens.
    assert float(mean_token_nll(sums, counts)) == pytest.approx(16 / 6)
    rows = torch.tensor([True, False, True])
    assert float(mean_token_nll(sums, counts, rows)) == pytest.approx(3.0)


def test_mean_token_nll_of_no_row_is_zero_with_a_grad_path() -> None:
    sums = torch.tensor([-6.0, -1.0], requires_grad=True)
    nll = mean_token_nll(sums, torch.tensor([3, 1]), torch.tensor([False, False]))
    assert float(nll.detach()) == 0.0
    nll.backward()
    assert sums.grad is not None and sums.grad.tolist() == [0.0, 0.0]


def test_pair_chosen_nll_with_and_without_the_prompt() -> None:
    logps = PairLogps(
        chosen=torch.tensor([-2.0, -4.0]),
        rejected=torch.tensor([-1.0, -1.0]),
        chosen_tokens=torch.tensor([2, 2]),
        rejected_tokens=torch.tensor([1, 1]),
        chosen_prompt=torch.tensor([-3.0, -1.0]),
        chosen_prompt_tokens=torch.tensor([1, 3]),
    )
    assert float(logps.chosen_nll()) == pytest.approx(6 / 4)  # rejected replies never count
    assert float(logps.chosen_nll(with_prompt=True)) == pytest.approx(10 / 8)


# --------------------------------------------------------------------------------------------
# DPO + α·NLL (RPO)
# --------------------------------------------------------------------------------------------

# Two pairs, β = 0.5: pair 0 moved +0.5 / -0.5 (gap 0.5), pair 1 not at all (gap 0).
POLICY_C, POLICY_R = torch.tensor([-1.0, -6.0]), torch.tensor([-2.0, -3.0])
REF_C, REF_R = torch.tensor([-1.5, -6.0]), torch.tensor([-1.5, -3.0])
CHOSEN_TOKENS = torch.tensor([1, 3])


def test_rpo_loss_is_dpo_plus_alpha_times_the_chosen_token_mean_nll() -> None:
    losses, _, _ = dpo_loss(POLICY_C, POLICY_R, REF_C, REF_R, beta=0.5)
    nll = mean_token_nll(POLICY_C, CHOSEN_TOKENS)  # (1 + 6) / (1 + 3) = 1.75
    rpo = with_nll_term(losses, nll, 2.0)
    # -log σ(0.5) + 2·1.75 and -log σ(0) + 2·1.75, by hand.
    expected = [math.log1p(math.exp(-0.5)) + 3.5, LN2 + 3.5]
    assert rpo.tolist() == pytest.approx(expected, abs=1e-6)
    assert rpo.tolist() == pytest.approx([3.974076984, 4.193147181], abs=1e-6)


def test_rpo_loss_with_each_pair_carrying_its_own_summed_chosen_nll() -> None:
    """``dpo.nll_norm: sum`` (the default): pair i carries α·(-log π(y_w|x)) of its own reply."""
    losses, _, _ = dpo_loss(POLICY_C, POLICY_R, REF_C, REF_R, beta=0.5)
    pair = PairLogps(POLICY_C, POLICY_R, CHOSEN_TOKENS, CHOSEN_TOKENS, POLICY_C * 0, CHOSEN_TOKENS)
    term = chosen_nll_term(pair, "sum")
    assert term.tolist() == [1.0, 6.0]  # the chosen replies' NLL, whatever their lengths
    rpo = with_nll_term(losses, term, 2.0)
    expected = [math.log1p(math.exp(-0.5)) + 2.0, LN2 + 12.0]
    assert rpo.tolist() == pytest.approx(expected, abs=1e-6)
    assert float(chosen_nll_term(pair, "token_mean")) == pytest.approx(1.75)
    with pytest.raises(ValueError, match="dpo.nll_norm 'mean'"):
        chosen_nll_term(pair, "mean")


def test_summed_nll_pulls_every_chosen_token_with_weight_alpha() -> None:
    """Why ``sum`` is the default: its per-token pull does not shrink with the reply's length.

    d(α·NLL)/d log p(token) is -α for every chosen token with ``sum``; with the token mean it
    is -α/(tokens in the batch's chosen replies), here -α/4.
    """
    chosen = POLICY_C.clone().requires_grad_(True)
    pair = PairLogps(chosen, POLICY_R, CHOSEN_TOKENS, CHOSEN_TOKENS, POLICY_C * 0, CHOSEN_TOKENS)
    chosen_nll_term(pair, "sum").sum().backward()
    assert chosen.grad is not None and chosen.grad.tolist() == [-1.0, -1.0]
    chosen.grad = None
    (2 * chosen_nll_term(pair, "token_mean")).backward()  # entered once per pair
    assert chosen.grad.tolist() == pytest.approx([-0.5, -0.5])  # 2 pairs x 1/4


def test_nll_weight_zero_returns_the_dpo_losses_themselves() -> None:
    losses, _, _ = dpo_loss(POLICY_C, POLICY_R, REF_C, REF_R, beta=0.5)
    assert with_nll_term(losses, torch.tensor(123.0), 0.0) is losses


def test_the_nll_term_reaches_the_chosen_reply_tokens_only() -> None:
    """Through the shared shift-and-mask: rows 0-1 chosen, rows 2-3 rejected (2 pairs)."""
    torch.manual_seed(0)
    logits = torch.randn(4, 4, 5, requires_grad=True)
    # Prompt tokens are IGNORE_INDEX; every row has a two- or three-token reply.
    labels = torch.tensor([[M, M, 3, 1], [M, 2, 4, 0], [M, M, 1, 1], [M, 0, 3, 2]])
    logps, mask = token_logps(logits, labels)
    sums, counts = logps.sum(-1), mask.sum(-1)
    pair = PairLogps(sums[:2], sums[2:], counts[:2], counts[2:], sums[:2] * 0, counts[:2] * 0)
    pair.chosen_nll().backward()
    assert logits.grad is not None
    touched = logits.grad.abs().sum(-1) > 0  # (4, 4): positions whose logits get a gradient
    # Position t predicts label t + 1: the chosen replies' tokens, nothing else.
    assert touched.tolist() == [
        [False, True, True, False],
        [True, True, True, False],
        [False, False, False, False],
        [False, False, False, False],
    ]
    # And the value: the mean over the 5 chosen tokens of -log p.
    expected = -(logps[:2][mask[:2]]).sum() / 5
    torch.testing.assert_close(pair.chosen_nll(), expected)


def test_section_bounds_and_registration() -> None:
    assert DPOSection(nll_weight=1.5).nll_weight == 1.5
    with pytest.raises(ValidationError, match="nll_weight"):
        DPOSection(nll_weight=-0.1)
    with pytest.raises(ValidationError, match="nll_weight"):
        KTOSection(nll_weight=101)
    cfg = parse_config({"method": "dpo", "data": {"train": "x.jsonl"}, "dpo": {"nll_weight": 2}})
    assert cfg.dpo.nll_weight == 2.0


ORIGIN = Origin("pairs.jsonl", 1)
PAIRS = [
    TokenizedPair(ORIGIN, [1, 520, 33, 90], [701, 702, 2], [801, 2]),
    TokenizedPair(ORIGIN, [1, 610], [44, 45, 46, 47, 2], [46, 2]),
    TokenizedPair(ORIGIN, [1, 77, 78, 79, 80, 81], [12, 2], [13, 14, 15, 2]),
]
REF_CHOSEN, REF_REJECTED = torch.tensor([-30.0, -41.0, -9.5]), torch.tensor([-12.0, -20.0, -33.0])


def fixed_pair_reference(_batch: Batch) -> dict[str, torch.Tensor]:
    return {"chosen": REF_CHOSEN, "rejected": REF_REJECTED}


def test_dpo_step_adds_alpha_times_nll_per_pair_and_logs_it(tiny_model: PreTrainedModel) -> None:
    reference = fixed_pair_reference
    plain = DPOMethod(DPOSection(beta=0.2, nll_weight=0.0))
    rpo = DPOMethod(DPOSection(beta=0.2, nll_weight=0.7, nll_norm="token_mean"))
    summed = DPOMethod(DPOSection(beta=0.2, nll_weight=0.7))
    assert summed.section.nll_norm == "sum"
    batch = plain.collate(PAIRS, pad_token_id=2)
    out_plain = plain.step(tiny_model, batch, reference)
    out_rpo = rpo.step(tiny_model, batch, reference)
    out_summed = summed.step(tiny_model, batch, reference)
    # Independent path: full logits, plain sequence log-probs.
    sums, counts = sequence_logps(tiny_model(**model_inputs(batch)).logits, batch["labels"])
    losses, _, _ = dpo_loss(sums[:3], sums[3:], REF_CHOSEN, REF_REJECTED, beta=0.2)
    nll = -sums[:3].sum() / counts[:3].sum()  # chosen replies: 3 + 5 + 2 tokens
    torch.testing.assert_close(out_plain.loss_sum, losses.sum(), atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(out_rpo.loss_sum, losses.sum() + 3 * 0.7 * nll, atol=1e-4, rtol=1e-5)
    expected = losses.sum() - 0.7 * sums[:3].sum()  # each pair: α·(-log π(y_w|x))
    torch.testing.assert_close(out_summed.loss_sum, expected, atol=1e-4, rtol=1e-5)
    for out in (out_plain, out_rpo, out_summed):
        torch.testing.assert_close(out.metric_sums["nll_chosen"], 3 * nll, atol=1e-4, rtol=1e-5)
    # The preference metrics do not depend on α.
    for name in ("rewards/margins", "rewards/accuracies", "logps/chosen"):
        assert torch.equal(out_plain.metric_sums[name], out_rpo.metric_sums[name])


# --------------------------------------------------------------------------------------------
# KTO + α·NLL(desirable)
# --------------------------------------------------------------------------------------------


def test_desirable_nll_by_hand_and_its_gradient() -> None:
    logps = torch.tensor([-4.0, -1.0, -2.0, -8.0], requires_grad=True)
    counts = torch.tensor([2, 1, 2, 4])
    desirable = torch.tensor([True, False, True, False])
    nll = desirable_nll(logps, counts, desirable)
    assert float(nll.detach()) == pytest.approx(6 / 4)
    nll.backward()
    assert logps.grad is not None
    assert logps.grad.tolist() == pytest.approx([-0.25, 0.0, -0.25, 0.0])  # desirable only


def test_kto_summed_nll_term_by_hand() -> None:
    logps = torch.tensor([-4.0, -1.0, -2.0, -8.0], requires_grad=True)
    counts = torch.tensor([2, 1, 2, 4])
    desirable = torch.tensor([True, False, True, False])
    term = nll_term(logps, counts, desirable, "sum")
    assert term.tolist() == [4.0, 0.0, 2.0, 0.0]
    term.sum().backward()
    assert logps.grad is not None and logps.grad.tolist() == [-1.0, 0.0, -1.0, 0.0]
    assert float(nll_term(logps, counts, desirable, "token_mean").detach()) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="kto.nll_norm 'x'"):
        nll_term(logps, counts, desirable, "x")


SCORED = [
    TokenizedScored(Origin("f.jsonl", 1), [101, 102, 103], [104, 105, 106, 107], True),
    TokenizedScored(Origin("f.jsonl", 2), [201, 202], [203, 204], False),
    TokenizedScored(Origin("f.jsonl", 3), [301, 302, 303, 304], [305, 306, 307], True),
    TokenizedScored(Origin("f.jsonl", 4), [401, 402], [403, 404, 405, 406, 407], False),
]


def row_logps(model: torch.nn.Module, batch: Batch, prefix: str = "") -> torch.Tensor:
    """(B,) summed completion log-probs from full logits (an independent path)."""
    logits = model(
        input_ids=batch[f"{prefix}input_ids"], attention_mask=batch[f"{prefix}attention_mask"]
    ).logits
    return sequence_logps(logits, batch[f"{prefix}labels"])[0]


def test_kto_step_adds_alpha_times_the_desirable_nll(tiny_model: PreTrainedModel) -> None:
    section = KTOSection(beta=0.3, precompute_ref=False, nll_weight=0.0)
    plain = KTOMethod(section, max_length=64, uses_lora=False)
    settings = KTOSection(beta=0.3, precompute_ref=False, nll_weight=0.5, nll_norm="token_mean")
    with_nll = KTOMethod(settings, max_length=64, uses_lora=False)
    summed = KTOSection(beta=0.3, precompute_ref=False, nll_weight=0.5)
    assert summed.nll_norm == "sum"
    with_summed = KTOMethod(summed, max_length=64, uses_lora=False)
    batch = plain.collate(SCORED, 2)
    with torch.no_grad():
        pol, pol_kl = row_logps(tiny_model, batch), row_logps(tiny_model, batch, "kl_")
    ref = pol.detach() - torch.tensor([2.0, -1.0, 0.5, 3.0])
    ref_kl = pol_kl - 0.25  # z = 0.25

    def reference(_batch: Batch) -> dict[str, torch.Tensor]:
        return {"logps": ref, "kl_logps": ref_kl}

    out_plain = plain.step(tiny_model, batch, reference)
    out_nll = with_nll.step(tiny_model, batch, reference)
    out_summed = with_summed.step(tiny_model, batch, reference)
    losses, _ = kto_loss(pol, ref, batch["desirable"], torch.tensor(0.25), beta=0.3)
    torch.testing.assert_close(out_plain.loss_sum.detach(), losses.sum(), atol=1e-5, rtol=1e-5)
    # Desirable rows: items 1 and 3, completions of 4 and 3 tokens.
    desirable = batch["desirable"]
    assert desirable.tolist() == [True, False, True, False]
    nll = -pol[desirable].sum() / 7
    expected = losses.sum() + 4 * 0.5 * nll
    torch.testing.assert_close(out_nll.loss_sum.detach(), expected, atol=1e-5, rtol=1e-5)
    # kto.nll_norm sum: each desirable example carries α times its own reply's NLL.
    expected = losses.sum() - 0.5 * pol[desirable].sum()
    torch.testing.assert_close(out_summed.loss_sum.detach(), expected, atol=1e-5, rtol=1e-5)
    # Summed per desirable reply; finish_metrics divides by their count.
    torch.testing.assert_close(out_nll.metric_sums["nll_chosen"], 2 * nll, atol=1e-5, rtol=1e-5)
    finished = plain.finish_metrics({"nll_chosen": 2.0 / 4, "count/chosen": 2.0 / 4})
    assert finished["nll_chosen"] == pytest.approx(1.0)


def test_kto_nll_weight_zero_leaves_the_nll_out_of_the_loss(
    tiny_model: PreTrainedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not even ``0·NLL`` is added: a NaN NLL would otherwise poison the loss."""
    import tuneforge.methods.kto as kto_module

    monkeypatch.setattr(kto_module, "desirable_nll", lambda *_args: torch.tensor(float("nan")))
    section = KTOSection(
        beta=0.3, precompute_ref=False, loss_type="apo_zero_unpaired", nll_weight=0.0
    )
    kto = KTOMethod(section, max_length=64, uses_lora=False)
    batch = kto.collate(SCORED, 2)
    with torch.no_grad():
        ref = row_logps(tiny_model, batch) + 1.0
    output = kto.step(tiny_model, batch, lambda _batch: {"logps": ref})
    pol = row_logps(tiny_model, batch)
    losses, _ = kto_loss(pol, ref, batch["desirable"], 0.0, beta=0.3, loss_type=section.loss_type)
    torch.testing.assert_close(output.loss_sum, losses.sum(), atol=1e-5, rtol=1e-5)


def test_kto_nll_gradient_leaves_undesirable_replies_alone(tiny_model: PreTrainedModel) -> None:
    """The NLL term backpropagated to the logits: desirable completion positions only."""
    kto = KTOMethod(KTOSection(nll_weight=1.0), max_length=64, uses_lora=True)
    batch = kto.collate(SCORED, 2)
    logits = tiny_model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).logits.detach()
    logits.requires_grad_(True)
    logps, mask = token_logps(logits, batch["labels"])
    desirable_nll(logps.sum(-1), mask.sum(-1), batch["desirable"]).backward()
    assert logits.grad is not None
    touched = logits.grad.abs().sum(-1).gt(0)[:, :-1]  # (B, T-1), aligned with mask
    assert torch.equal(touched, mask & batch["desirable"][:, None])
    assert int(touched.sum()) == 7
