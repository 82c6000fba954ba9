"""The one place where text becomes token ids and loss masks.

Records are rendered by ``render.py`` (chat template or raw text) into segments; each segment
is tokenised on its own and the ids are concatenated, so the prompt ids are always an exact
prefix of the full sequence and the boundary between "not learned" and "learned" is exact.
Truncation keeps the start; an example whose prompt alone fills ``max_length`` is dropped
(and counted), because it has nothing left to learn from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tuneforge.data.render import (
    RenderSettings,
    Segment,
    render_conversation,
    render_prompt_reply,
)
from tuneforge.data.types import Example, Origin, PairExample, ScoredExample, SFTExample

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100


@dataclass(frozen=True)
class TokenizeSettings:
    """Rendering plus the length limit (in tokens) of one full sequence."""

    max_length: int = 1024
    chat_template: bool = True
    system_prompt: str | None = None

    @property
    def render(self) -> RenderSettings:
        """The rendering part of these settings."""
        return RenderSettings(chat_template=self.chat_template, system_prompt=self.system_prompt)


@dataclass(frozen=True)
class TokenizedSFT:
    """One SFT sequence: ``labels[i]`` is ``input_ids[i]`` where learned, else -100."""

    origin: Origin
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False


@dataclass(frozen=True)
class TokenizedPair:
    """A prompt with chosen and rejected completion ids (each without the prompt)."""

    origin: Origin
    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]
    truncated: bool = False


@dataclass(frozen=True)
class TokenizedScored:
    """A prompt with one completion and whether it is desirable (KTO).

    ``weight`` scales the example's loss (1.0 unless ``kto.score_weighting`` sets it from the
    score; see ``methods/kto/data.py``).
    """

    origin: Origin
    prompt_ids: list[int]
    completion_ids: list[int]
    desirable: bool
    truncated: bool = False
    weight: float = 1.0


Tokenized = TokenizedSFT | TokenizedPair | TokenizedScored


@dataclass
class TokenizedDataset:
    """Tokenised records plus what happened to the rest."""

    items: list[Tokenized] = field(default_factory=list)
    dropped: list[Origin] = field(default_factory=list)
    truncated: int = 0


def encode_segments(
    segments: Sequence[Segment], tokenizer: PreTrainedTokenizerBase
) -> tuple[list[int], list[bool]]:
    """Token ids of the concatenated segments and, per id, whether it is learned."""
    ids: list[int] = []
    learned: list[bool] = []
    for segment in segments:
        piece = tokenizer(segment.text, add_special_tokens=False)["input_ids"]
        ids.extend(piece)
        learned.extend([segment.learned] * len(piece))
    return ids, learned


def tokenize_example(
    example: Example, tokenizer: PreTrainedTokenizerBase, settings: TokenizeSettings
) -> Tokenized | None:
    """Tokenise one record; None when its prompt alone reaches ``max_length`` (dropped)."""
    if isinstance(example, SFTExample):
        return _tokenize_sft(example, tokenizer, settings)
    if isinstance(example, PairExample):
        prompt_ids, chosen_ids, chosen_cut = _prompt_and_reply(
            example.prompt, example.chosen, example.origin, tokenizer, settings
        )
        _, rejected_ids, rejected_cut = _prompt_and_reply(
            example.prompt, example.rejected, example.origin, tokenizer, settings
        )
        if not chosen_ids or not rejected_ids:
            return None
        return TokenizedPair(
            example.origin, prompt_ids, chosen_ids, rejected_ids, chosen_cut or rejected_cut
        )
    prompt_ids, completion_ids, cut = _prompt_and_reply(
        example.prompt, example.completion, example.origin, tokenizer, settings
    )
    if not completion_ids:
        return None
    if example.desirable is None:
        raise ValueError(f"{example.origin}: KTO record has no label; resolve scores first")
    return TokenizedScored(example.origin, prompt_ids, completion_ids, example.desirable, cut)


def tokenize_examples(
    examples: Sequence[Example], tokenizer: PreTrainedTokenizerBase, settings: TokenizeSettings
) -> TokenizedDataset:
    """Tokenise every record, counting the dropped and the truncated ones."""
    dataset = TokenizedDataset()
    for example in examples:
        item = tokenize_example(example, tokenizer, settings)
        if item is None:
            dataset.dropped.append(example.origin)
            continue
        dataset.items.append(item)
        dataset.truncated += int(item.truncated)
    return dataset


def example_token_lengths(
    example: Example,
    tokenizer: PreTrainedTokenizerBase,
    *,
    chat_template: bool = True,
    system_prompt: str | None = None,
) -> tuple[int, int]:
    """Untruncated (prompt tokens, tokens of the longest full sequence) of one record.

    For a conversation the "prompt" is everything before the first learned token.
    """
    render = RenderSettings(chat_template=chat_template, system_prompt=system_prompt)
    if isinstance(example, SFTExample) and example.messages is not None:
        ids, learned = encode_segments(
            render_conversation(example.messages, tokenizer, render, example.origin), tokenizer
        )
        return _first_learned(learned), len(ids)
    replies = (
        [example.chosen, example.rejected]
        if isinstance(example, PairExample)
        else [_reply_of(example)]
    )
    lengths = []
    prompt_length = 0
    for reply in replies:
        segments = render_prompt_reply(example.prompt, reply, tokenizer, render, example.origin)
        prompt_ids, _ = encode_segments(segments[:1], tokenizer)
        reply_ids, _ = encode_segments(segments[1:], tokenizer)
        prompt_length = len(prompt_ids)
        lengths.append(len(prompt_ids) + len(reply_ids))
    return prompt_length, max(lengths)


def _reply_of(example: SFTExample | ScoredExample) -> str | list:
    """The reply text of a prompt/completion record."""
    assert example.completion is not None
    return example.completion


def _first_learned(learned: list[bool]) -> int:
    """Index of the first learned token (the prompt length); len(learned) when there is none."""
    return next((index for index, flag in enumerate(learned) if flag), len(learned))


def _tokenize_sft(
    example: SFTExample, tokenizer: PreTrainedTokenizerBase, settings: TokenizeSettings
) -> TokenizedSFT | None:
    """Ids and labels of an SFT record, learned tokens only, truncated to ``max_length``."""
    if example.messages is not None:
        segments = render_conversation(example.messages, tokenizer, settings.render, example.origin)
    else:
        assert example.prompt is not None and example.completion is not None
        segments = list(
            render_prompt_reply(
                example.prompt, example.completion, tokenizer, settings.render, example.origin
            )
        )
    ids, learned = encode_segments(segments, tokenizer)
    if _first_learned(learned) >= settings.max_length:
        return None
    truncated = len(ids) > settings.max_length
    ids, learned = ids[: settings.max_length], learned[: settings.max_length]
    labels = [token if flag else IGNORE_INDEX for token, flag in zip(ids, learned, strict=True)]
    return TokenizedSFT(example.origin, ids, labels, truncated)


def _prompt_and_reply(
    prompt: str | list,
    reply: str | list,
    origin: Origin,
    tokenizer: PreTrainedTokenizerBase,
    settings: TokenizeSettings,
) -> tuple[list[int], list[int], bool]:
    """Prompt ids and reply ids, the reply cut so that both fit in ``max_length``.

    Returns an empty reply when the prompt alone reaches the limit (the record is dropped).
    """
    prompt_segment, reply_segment = render_prompt_reply(
        prompt, reply, tokenizer, settings.render, origin
    )
    prompt_ids, _ = encode_segments([prompt_segment], tokenizer)
    reply_ids, _ = encode_segments([reply_segment], tokenizer)
    room = settings.max_length - len(prompt_ids)
    if room <= 0:
        return prompt_ids, [], False
    return prompt_ids, reply_ids[:room], len(reply_ids) > room
