"""The variants compared on the held-out set, and the exact token ids each one is given.

``baseline``: the base model with the full prompt (``eval.baseline_system_prompt`` plus
``eval.baseline_few_shot`` train examples as earlier chat turns). ``tuned``: the run's model
with its own short prompt. ``tuned+prompt``: the tuned model with the baseline's full prompt.
``baseline+retrieval``: the base model with the full prompt and, per request, the
``eval.retrieval_k`` most similar train examples (`tuneforge.evaluate.retrieval`).
Prompts go through the same rendering and tokenisation as training (`tuneforge.data`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tuneforge.config import TuneforgeConfig
from tuneforge.data.render import RenderSettings
from tuneforge.data.tokenize import TokenizedSFT, TokenizeSettings, tokenize_example
from tuneforge.data.types import Message, Origin, SFTExample, Text
from tuneforge.errors import ConfigError
from tuneforge.evaluate.inference.generate import prompt_ids
from tuneforge.evaluate.retrieval import RETRIEVAL_VARIANT, ExampleIndex, RetrievedShots
from tuneforge.target import tuned_system_prompt

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

ModelRole = Literal["base", "tuned"]
# Long enough for any prompt: evaluation never truncates what a variant is shown.
_NO_LIMIT = 10**9


@dataclass(frozen=True)
class VariantSpec:
    """One model + prompt combination."""

    name: str
    model: ModelRole
    system_prompt: str | None
    shots: list[tuple[Text, str]] = field(default_factory=list)
    chat_template: bool = True
    retrieval: RetrievedShots | None = None
    """Shots chosen per request (``baseline+retrieval``); ``shots`` is then unused."""

    @property
    def render(self) -> RenderSettings:
        """How this variant's prompts are rendered."""
        return RenderSettings(chat_template=self.chat_template, system_prompt=self.system_prompt)

    def describe(self) -> str:
        """A short human description, e.g. 'base model + system prompt (412 words) + 3-shot'."""
        model = "base model" if self.model == "base" else "tuned model"
        prompt = "no system prompt"
        if self.system_prompt:
            words = len(self.system_prompt.split())
            prompt = f"system prompt ({words} word{'s' if words != 1 else ''})"
        if self.retrieval is not None:
            k = self.retrieval.k
            shots = f" + {k} retrieved example{'s' if k != 1 else ''}"
        else:
            shots = f" + {len(self.shots)}-shot" if self.shots else ""
        return f"{model} + {prompt}{shots}"

    @property
    def few_shot(self) -> int:
        """Examples shown per request: the fixed shots, or the retrieval's ``k`` (at most)."""
        return self.retrieval.k if self.retrieval is not None else len(self.shots)

    def shots_for(self, prompt: Text) -> list[tuple[Text, str]]:
        """The examples shown before ``prompt``: the fixed shots or the retrieved ones."""
        return self.retrieval(prompt) if self.retrieval is not None else self.shots


def baseline_system_prompt(cfg: TuneforgeConfig) -> str | None:
    """``eval.baseline_system_prompt``, the file it names, or else ``data.system_prompt``."""
    if cfg.eval.baseline_system_prompt is not None:
        return cfg.eval.baseline_system_prompt
    if cfg.eval.baseline_system_prompt_file:
        path = Path(cfg.eval.baseline_system_prompt_file)
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            message = f"eval.baseline_system_prompt_file: cannot read {path}: {exc}"
            raise ConfigError(message) from None
    return cfg.data.system_prompt


def variant_specs(
    cfg: TuneforgeConfig,
    shots: list[tuple[Text, str]],
    names: list[str],
    retrieval: RetrievedShots | None = None,
) -> list[VariantSpec]:
    """The specs of the named variants (``baseline``, ``tuned``, ``tuned+prompt``,
    ``baseline+retrieval``); the last needs ``retrieval`` (`retrieval_shots`)."""
    full_prompt = baseline_system_prompt(cfg)
    template = cfg.data.chat_template
    specs = {
        "baseline": VariantSpec("baseline", "base", full_prompt, shots, template),
        "tuned": VariantSpec("tuned", "tuned", tuned_system_prompt(cfg), [], template),
        "tuned+prompt": VariantSpec("tuned+prompt", "tuned", full_prompt, shots, template),
    }
    if RETRIEVAL_VARIANT in names:
        if retrieval is None:
            raise ValueError(f"the {RETRIEVAL_VARIANT} variant needs its retrieved shots")
        specs[RETRIEVAL_VARIANT] = VariantSpec(
            RETRIEVAL_VARIANT, "base", full_prompt, [], template, retrieval
        )
    return [specs[name] for name in names]


def retrieval_shots(
    cfg: TuneforgeConfig,
    index: ExampleIndex,
    tokenizer: PreTrainedTokenizerBase,
    limit: int | None,
) -> RetrievedShots:
    """The ``eval.retrieval_k`` nearest train examples per request, rendered like the baseline.

    With a ``limit`` (prompt tokens the model can take, less the room its answer needs), the
    least similar shots are dropped until the baseline-rendered prompt fits.
    """
    if limit is None:
        return RetrievedShots(index, cfg.eval.retrieval_k)
    room = limit
    render = RenderSettings(
        chat_template=cfg.data.chat_template, system_prompt=baseline_system_prompt(cfg)
    )

    def fits(prompt: Text, shots: list[tuple[Text, str]]) -> bool:
        return len(prompt_ids(with_shots(prompt, shots), tokenizer, render)) <= room

    return RetrievedShots(index, cfg.eval.retrieval_k, fits)


def with_shots(prompt: Text, shots: list[tuple[Text, str]]) -> Text:
    """The prompt preceded by few-shot (request, answer) turns; unchanged without shots.

    A prompt that opens with its own system turn keeps it first.
    """
    if not shots:
        return prompt
    turns: list[Message] = []
    for request, answer in shots:
        turns.extend(_as_user_turns(request))
        turns.append({"role": "assistant", "content": answer})
    messages = _as_user_turns(prompt)
    if messages and messages[0]["role"] == "system":
        return [messages[0], *turns, *messages[1:]]
    return [*turns, *messages]


def _as_user_turns(text: Text) -> list[Message]:
    """A request as chat messages (a string is one user turn)."""
    return [{"role": "user", "content": text}] if isinstance(text, str) else list(text)


def encode_prompt(prompt: Text, spec: VariantSpec, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Token ids of one held-out prompt as this variant sees it (generation prompt included)."""
    return prompt_ids(with_shots(prompt, spec.shots_for(prompt)), tokenizer, spec.render)


def encode_reply(
    prompt: Text, reply: str, spec: VariantSpec, tokenizer: PreTrainedTokenizerBase
) -> list[int]:
    """Token ids of ``reply`` as training would learn it after this prompt (end of turn included).

    Built with `tokenize_example`, so the scored tokens are exactly the trained ones.
    """
    settings = TokenizeSettings(
        max_length=_NO_LIMIT, chat_template=spec.chat_template, system_prompt=spec.system_prompt
    )
    example = SFTExample(Origin("<eval>", 0), with_shots(prompt, spec.shots_for(prompt)), reply)
    tokenized = tokenize_example(example, tokenizer, settings)
    assert isinstance(tokenized, TokenizedSFT)
    return [
        token
        for token, label in zip(tokenized.input_ids, tokenized.labels, strict=True)
        if label >= 0
    ]
