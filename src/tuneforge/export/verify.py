"""Export parity: the exported files answer like the run's own model.

A sample of the run's held-out prompts is rendered and tokenised as evaluation renders them,
then answered greedily by the run's own model (the base model with its LoRA adapter, unmerged,
or the full fine-tune) and by each export reloaded from disk the way users load it: the
Hugging Face folder with plain transformers (no peft), ``model.gguf`` through transformers'
``gguf_file=`` loader, each with the tokenizer stored in that export. Per format it reports
how many prompts were compared, how many tokenise identically, how many greedy replies are
identical, and the largest absolute difference of next-token log-probabilities along the
reference reply: at the prompt's end and after each reply token, the log-probability of the
token the run's model puts first (teacher-forced, so one flipped near-tie does not hide the
rest; the far tail of the vocabulary, which greedy decoding never reaches, does not count).

Tolerances (`TOLERANCES`, nats of log-probability): the HF folder and GGUF ``f32`` hold the
same fp32 numbers (the merge changes only the order of additions), so their greedy replies
must all be identical and log-probs agree to fp32 rounding. ``f16``, ``bf16`` and the 8/5/4-bit
types round the weights, so their log-probs may move by the stated amount and a near-tie may
flip a greedy token; they pass on the log-prob bound and the tokenizer alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch

from tuneforge.data.render import RenderSettings
from tuneforge.data.types import Text
from tuneforge.evaluate.inference.generate import greedy_decode, prefilled_batches, prompt_ids

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

#: Largest allowed |Δ log p| (nats) per export format: ``hf`` is the merged folder, the others
#: GGUF types (a check named ``gguf-f16`` uses ``f16``).
TOLERANCES: dict[str, float] = {
    "hf": 1e-3,
    "f32": 1e-3,
    "f16": 0.1,
    "bf16": 0.5,
    "q8_0": 0.5,
    "q5_0": 1.5,
    "q5_1": 1.5,
    "q4_0": 2.5,
    "q4_1": 2.5,
}
#: Formats that keep every weight exactly: every greedy reply must be identical too.
EXACT_FORMATS = frozenset({"hf", "f32"})
DEFAULT_SAMPLES = 8
DEFAULT_MAX_NEW_TOKENS = 48


@dataclass
class FormatCheck:
    """The parity of one export format with the run's own model."""

    format: str
    prompts: int
    identical_tokens: int
    """Prompts the export's own tokenizer and chat template encode exactly as the run's do."""
    identical_outputs: int
    """Prompts whose greedy reply is token for token the run model's."""
    max_logprob_diff: float
    tolerance: float
    exact_required: bool
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        """The JSON form written into export.json."""
        return asdict(self)


@dataclass
class ReferenceAnswers:
    """The run's own model on the sample: prompt ids, greedy replies, their log-probs."""

    prompts: list[list[int]]
    replies: list[list[int]]
    targets: list[torch.Tensor]
    """Per prompt, (len(reply) + 1,) the model's most likely next token after the prompt and
    after each reply token: the reply itself, then the stop token (or the next token)."""
    logprobs: list[torch.Tensor]
    """Per prompt, the log-probabilities of ``targets`` at those positions."""


def encode_prompts(
    prompts: Sequence[Text], tokenizer: PreTrainedTokenizerBase, settings: RenderSettings
) -> list[list[int]]:
    """Token ids of each prompt, rendered exactly as evaluation and training render it."""
    return [prompt_ids(prompt, tokenizer, settings) for prompt in prompts]


@torch.no_grad()
def greedy_replies(
    model: PreTrainedModel,
    prompts: list[list[int]],
    *,
    stop_ids: Sequence[int],
    pad_id: int,
    max_new_tokens: int,
) -> list[list[int]]:
    """Greedy replies (stop token excluded), through evaluation's own batched decoding."""
    replies: list[list[int]] = [[] for _ in prompts]
    for batch in prefilled_batches(model, prompts, pad_id=pad_id, batch_size=len(prompts)):
        decoded = greedy_decode(model, batch, max_new_tokens=max_new_tokens, stop_ids=stop_ids)
        for row, reply in zip(batch.rows, decoded, strict=True):
            replies[row] = reply
    return replies


@torch.no_grad()
def reply_logprobs(model: PreTrainedModel, prompt: list[int], reply: list[int]) -> torch.Tensor:
    """(len(reply) + 1, V) float64 log-probs of the next token after the prompt and each reply
    token, one unpadded sequence at a time (no padding can differ between models)."""
    ids = torch.tensor([prompt + reply], dtype=torch.long)
    logits = model(input_ids=ids, use_cache=False).logits[0, len(prompt) - 1 :]
    return torch.log_softmax(logits.double(), dim=-1)


def reference_answers(
    model: PreTrainedModel,
    prompts: list[list[int]],
    *,
    stop_ids: Sequence[int],
    pad_id: int,
    max_new_tokens: int,
) -> ReferenceAnswers:
    """The run's own model's greedy replies and log-probs on the sample."""
    model.eval()
    replies = greedy_replies(
        model, prompts, stop_ids=stop_ids, pad_id=pad_id, max_new_tokens=max_new_tokens
    )
    targets, logprobs = [], []
    for prompt, reply in zip(prompts, replies, strict=True):
        distribution = reply_logprobs(model, prompt, reply)
        chosen = distribution.argmax(dim=-1)
        targets.append(chosen)
        logprobs.append(distribution.gather(-1, chosen[:, None]).squeeze(-1))
    return ReferenceAnswers(prompts, replies, targets, logprobs)


def compare_export(
    name: str,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    reference: ReferenceAnswers,
    *,
    prompts: Sequence[Text],
    settings: RenderSettings,
    stop_ids: Sequence[int],
    max_new_tokens: int,
) -> FormatCheck:
    """Run the sample through one reloaded export and compare it with ``reference``."""
    model.eval()
    encoded = encode_prompts(prompts, tokenizer, settings)
    same_tokens = sum(a == b for a, b in zip(encoded, reference.prompts, strict=True))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    replies = greedy_replies(
        model, encoded, stop_ids=stop_ids, pad_id=pad_id, max_new_tokens=max_new_tokens
    )
    same_outputs = sum(a == b for a, b in zip(replies, reference.replies, strict=True))
    largest = 0.0
    for prompt, reply, chosen, expected in zip(
        reference.prompts, reference.replies, reference.targets, reference.logprobs, strict=True
    ):
        got = reply_logprobs(model, prompt, reply).gather(-1, chosen[:, None]).squeeze(-1)
        largest = max(largest, float((got - expected).abs().max()))
    kind = name.removeprefix("gguf-")
    tolerance = TOLERANCES[kind]
    exact = kind in EXACT_FORMATS
    count = len(reference.prompts)
    passed = same_tokens == count and largest <= tolerance
    if exact:
        passed = passed and same_outputs == count
    return FormatCheck(
        format=name,
        prompts=count,
        identical_tokens=same_tokens,
        identical_outputs=same_outputs,
        max_logprob_diff=largest,
        tolerance=tolerance,
        exact_required=exact,
        passed=passed,
    )


def verdict(checks: Sequence[FormatCheck]) -> str:
    """One line for the terminal: every format's result."""
    parts = [
        f"{c.format} {c.identical_outputs}/{c.prompts} identical, "
        f"max |Δlogp| {c.max_logprob_diff:.2g} (≤ {c.tolerance:g}) "
        f"{'ok' if c.passed else 'FAILED'}"
        for c in checks
    ]
    head = "export verified" if all(c.passed for c in checks) else "export verification FAILED"
    return f"{head}: " + "; ".join(parts)
