"""FLOPs of a benchmark step, counted from the batches and from what each side's code runs.

Pure Python (no torch), used by the parent: the parent wrote both sides' batches, so it knows
every sequence's length and how many of its positions are learned.

Only the weight matmuls are counted (2 FLOPs per weight per token and pass); attention scores,
norms and the softmax are left out (for the embedded model and these sequence lengths the
attention products add under 7 %). A forward with gradients is followed by a backward through
the activations: another 2 FLOPs per weight and token. The LoRA base weights are frozen, so
their weight gradients are never computed, and the adapter's own FLOPs (r=16 against widths of
576-1536) are under 3 % and left out, as in DESIGN §6's 4·N per trained token.

Two counts per step:

* *required*: the body at every real token, the output head only at the positions whose
  next token is learned (what a forward needs to give the loss), and the no-gradient forwards
  the run itself asks for (an on-the-fly reference, KTO's mismatched pairs). Both sides do
  the same required work on the same batches, so MFU computed from it compares like for like.
* *executed*: what the side's code actually multiplies. tuneforge packs preference sequences
  without padding and runs the head on learned positions alone (``methods/logps.py``); TRL
  1.16 pads every row to the longest of the batch, and its chunked head
  (``trl/trainer/utils.py``: ``add_fused_lm_head``) scores only the learned positions where
  Triton runs (CUDA, XPU) but every position of the padded grid elsewhere (the CPU); ORPO
  (``trl/experimental/orpo``) builds the full logits at every padded position on any device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelShape:
    """The weight counts that set a token's FLOPs.

    ``body_params``: weights a token goes through before the head (the input embedding is a
    lookup, not a product, so it is left out); ``head_params``: vocabulary × hidden width.
    """

    body_params: int
    head_params: int

    @classmethod
    def from_config(cls, config: dict[str, object], n_params: int) -> ModelShape:
        """From a model's ``config.json`` values and its parameter count (tied head or not)."""
        vocab = int(config["vocab_size"])  # type: ignore[call-overload]
        hidden = int(config["hidden_size"])  # type: ignore[call-overload]
        head = vocab * hidden
        tied = bool(config.get("tie_word_embeddings", False))
        body = n_params - head if tied else n_params - 2 * head
        return cls(body_params=body, head_params=head)


@dataclass(frozen=True)
class Seq:
    """One sequence of a pass: its real tokens and how many of its positions are learned."""

    tokens: int
    learned: int


@dataclass(frozen=True)
class Pass:
    """One forward over some sequences (a batch's rows), with or without a backward."""

    seqs: tuple[Seq, ...]
    grad: bool


@dataclass(frozen=True)
class Layout:
    """How a side runs a pass: padded rows or not, and where the head runs.

    ``head``: ``"learned"`` (only learned positions), ``"padded"`` (every position of the
    padded grid but the last of each row: TRL's chunked head off Triton), or ``"full"``
    (every padded position: full logits).
    """

    padded: bool
    head: str


#: The work a step needs: no padding, the head at learned positions (also tuneforge's layout
#: for packed preference batches).
REQUIRED = Layout(padded=False, head="learned")


def trl_layout(head: str) -> Layout:
    """TRL 1.16's layout: rows padded to the longest of the batch, the head where it runs."""
    return Layout(padded=True, head=head)


def pass_flops(step_pass: Pass, shape: ModelShape, layout: Layout) -> float:
    """FLOPs of one pass under ``layout`` (forward, plus the activation backward with grad)."""
    seqs = step_pass.seqs
    if not seqs:
        return 0.0
    width = max(s.tokens for s in seqs)
    body_tokens = width * len(seqs) if layout.padded else sum(s.tokens for s in seqs)
    if layout.head == "learned":
        head_positions = sum(s.learned for s in seqs)
    elif layout.head == "padded":
        head_positions = (width - 1) * len(seqs)
    elif layout.head == "full":
        head_positions = width * len(seqs)
    else:
        raise ValueError(f"unknown head layout {layout.head!r}")
    forward = 2.0 * (shape.body_params * body_tokens + shape.head_params * head_positions)
    return forward * (2.0 if step_pass.grad else 1.0)


def step_flops(passes: Sequence[Pass], shape: ModelShape, layout: Layout) -> float:
    """FLOPs of one optimizer step: the sum over its passes."""
    return sum(pass_flops(p, shape, layout) for p in passes)


def window_flops(
    steps: Sequence[Sequence[Pass]], first: int, last: int, shape: ModelShape, layout: Layout
) -> float:
    """FLOPs of steps ``first``..``last`` (1-based, inclusive): the timed window."""
    return sum(step_flops(steps[k - 1], shape, layout) for k in range(first, last + 1))


def utilisation(flops: float, seconds: float, peak: float) -> float:
    """``flops`` done in ``seconds`` as a fraction of ``peak`` FLOP/s (NaN without time)."""
    if seconds <= 0 or peak <= 0:
        return float("nan")
    return flops / seconds / peak


def pair_passes(
    pairs: Sequence[tuple[int, int, int]],
    *,
    reference_each_step: bool,
    prompt_learned: bool = False,
) -> list[Pass]:
    """A DPO/ORPO step over ``(prompt, chosen, rejected)`` token counts: chosen and rejected
    sequences in one trained pass, plus a no-gradient reference pass when it runs each step.
    ``prompt_learned``: the head also runs over the prompt (ORPO's NLL as TRL computes it:
    every position but the first token's)."""
    seqs = tuple(
        Seq(prompt + reply, prompt + reply - 1 if prompt_learned else reply)
        for prompt, chosen, rejected in pairs
        for reply in (chosen, rejected)
    )
    passes = [Pass(seqs, grad=True)]
    if reference_each_step:
        passes.append(Pass(seqs, grad=False))
    return passes


def kto_passes(
    rows: Sequence[tuple[int, int]],
    *,
    matched_reference_each_step: bool,
    kl_reference_each_step: bool,
) -> list[Pass]:
    """A KTO step over ``(prompt, completion)`` token counts.

    The trained pass on the matched rows; a no-gradient policy pass on the mismatched (KL)
    pairs, prompt ``i`` with the completion of row ``i - 1`` of the batch (TRL's rotation;
    tuneforge's has the same lengths in total); reference passes on either as asked.
    """
    matched = tuple(Seq(p + c, c) for p, c in rows)
    rotated = [rows[-1][1], *(c for _, c in rows[:-1])] if rows else []
    kl = tuple(Seq(p + c, c) for (p, _), c in zip(rows, rotated, strict=True))
    passes = [Pass(matched, grad=True), Pass(kl, grad=False)]
    if kl_reference_each_step:
        passes.append(Pass(kl, grad=False))
    if matched_reference_each_step:
        passes.append(Pass(matched, grad=False))
    return passes


def sft_passes(rows: Sequence[tuple[int, int]]) -> list[Pass]:
    """An SFT step over ``(tokens, learned)`` counts: one trained pass."""
    return [Pass(tuple(Seq(t, n) for t, n in rows), grad=True)]
