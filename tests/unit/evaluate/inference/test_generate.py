"""Batched inference with a shared prefix cache gives exactly what one-at-a-time decoding gives."""

from __future__ import annotations

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from tuneforge.evaluate.inference.generate import common_prefix_length, left_pad
from tuneforge.evaluate.inference.scoring import generate_and_score, score_continuations
from tuneforge.methods.logps import sequence_logps

# Three prompts sharing a 4-token start, of different lengths (so batches need padding).
PROMPTS = [[11, 12, 13, 14, 15, 16, 17], [11, 12, 13, 14, 21], [11, 12, 13, 14, 30, 31, 32, 33, 34]]


def _greedy_one(model: PreTrainedModel, prompt: list[int], steps: int, stop: int) -> list[int]:
    """Reference decoder: full forward pass per step, no cache, no padding."""
    ids = list(prompt)
    out: list[int] = []
    for _ in range(steps):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
        token = int(logits.argmax())
        if token == stop:
            break
        out.append(token)
        ids.append(token)
    return out


def test_common_prefix_keeps_a_suffix() -> None:
    assert common_prefix_length(PROMPTS) == 4
    assert common_prefix_length([[1, 2, 3], [1, 2, 3]], keep=1) == 2
    assert common_prefix_length([[1, 2], [3, 4]]) == 0
    assert common_prefix_length([]) == 0


def test_left_pad() -> None:
    ids, mask = left_pad([[1, 2], [3]], pad_id=0)
    assert ids.tolist() == [[1, 2], [0, 3]] and mask.tolist() == [[1, 1], [0, 1]]


def _expected_answers(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, steps: int
) -> list[str]:
    """What the reference decoder answers for each of PROMPTS, decoded as evaluation does."""
    stop = tokenizer.eos_token_id
    return [
        tokenizer.decode(_greedy_one(model, p, steps, stop), skip_special_tokens=True).strip()
        for p in PROMPTS
    ]


def test_generation_matches_unbatched_greedy_decoding(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    from tuneforge.models import build_tiny_model

    # A seed whose random model does not stop at once, so several tokens are compared.
    model = build_tiny_model(embedded_tokenizer, seed=1)
    model.generation_config.eos_token_id = None
    # The function the evaluation runner calls, generating only (no continuations to score).
    got, scores = generate_and_score(
        model, embedded_tokenizer, PROMPTS, None, max_new_tokens=6, batch_size=2
    )
    assert scores is None
    assert got == _expected_answers(model, embedded_tokenizer, 6)
    assert any(got)


def test_scores_match_a_plain_forward_pass(tiny_model: PreTrainedModel) -> None:
    continuations = [[[40, 41], [42]], [[43, 44, 45]], [[46], [47, 48], [49]]]
    scores = score_continuations(
        tiny_model, PROMPTS, continuations, pad_id=0, batch_size=2, token_budget=4
    )
    for prompt, options, got in zip(PROMPTS, continuations, scores, strict=True):
        for option, score in zip(options, got, strict=True):
            ids = torch.tensor([prompt + option])
            labels = torch.tensor([[-100] * len(prompt) + option])
            with torch.no_grad():
                logp, count = sequence_logps(tiny_model(input_ids=ids).logits, labels)
            assert abs(score.logp - float(logp)) < 1e-4
            assert score.tokens == int(count) == len(option)


def test_scoring_then_decoding_from_one_prefill_matches_each_alone(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    from tuneforge.models import build_tiny_model

    model = build_tiny_model(embedded_tokenizer, seed=1)
    model.generation_config.eos_token_id = None
    continuations = [[[40, 41], [42], [43, 44, 45]]] * len(PROMPTS)
    answers, scores = generate_and_score(
        model, embedded_tokenizer, PROMPTS, continuations, max_new_tokens=5, batch_size=3
    )
    alone = score_continuations(model, PROMPTS, continuations, pad_id=0, batch_size=1)
    assert answers == _expected_answers(model, embedded_tokenizer, 5)
    assert scores is not None
    for got, expected in zip(scores, alone, strict=True):
        assert [s.tokens for s in got] == [2, 1, 3]
        assert all(abs(a.logp - b.logp) < 1e-4 for a, b in zip(got, expected, strict=True))


def test_packed_continuations_see_the_prompt_and_themselves_only() -> None:
    from tuneforge.evaluate.inference.scoring import pack_rows

    context = torch.tensor([[0, 1, 1]])  # one left pad, two real cached tokens
    packed = pack_rows([[[5, 6], [7]]], context, pad_id=0, dtype=torch.float32)
    assert packed.ids.tolist() == [[5, 6, 7]]
    assert packed.positions.tolist() == [[2, 3, 2]]  # each continuation restarts after the prompt
    assert packed.starts == [[0, 2]]
    allowed = (packed.mask[0, 0] == 0).int().tolist()
    assert allowed == [
        [0, 1, 1, 1, 0, 0],  # 5: prompt + itself
        [0, 1, 1, 1, 1, 0],  # 6: prompt + 5 + itself
        [0, 1, 1, 0, 0, 1],  # 7: prompt + itself, not the other continuation
    ]
