"""Render typed records into text segments, each marked as learned or not.

This is where the chat template is applied. A record becomes a list of ``Segment`` whose
concatenated text is exactly what the tokenizer's own ``apply_chat_template`` renders for the
whole conversation; ``tokenize.py`` turns segments into ids and loss masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from jinja2 import TemplateError

from tuneforge.data.template_roles import fold_system, system_role_supported
from tuneforge.data.types import Message, Origin, Text
from tuneforge.errors import DataError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


@dataclass(frozen=True)
class RenderSettings:
    """How records become text: through the chat template (when the tokenizer has one)."""

    chat_template: bool = True
    system_prompt: str | None = None


@dataclass(frozen=True)
class Segment:
    """A piece of rendered text; ``learned`` pieces are the ones the loss is computed on."""

    text: str
    learned: bool


def uses_chat_template(tokenizer: PreTrainedTokenizerBase, settings: RenderSettings) -> bool:
    """True when records are rendered through the tokenizer's chat template."""
    return settings.chat_template and bool(getattr(tokenizer, "chat_template", None))


def as_prompt_messages(prompt: Text, system_prompt: str | None) -> list[Message]:
    """A prompt as chat messages: a string becomes one user turn; a system turn is prepended
    from ``system_prompt`` unless the messages already start with one."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if system_prompt is not None and (not messages or messages[0]["role"] != "system"):
        messages = [{"role": "system", "content": system_prompt}, *messages]
    return messages


def template_messages(messages: list[Message], tokenizer: PreTrainedTokenizerBase) -> list[Message]:
    """``messages`` as the tokenizer's template can render them: a leading system message is
    folded into the first user turn when the template has no system role
    (`template_roles.system_role_supported`: Gemma and Mistral raise on one, early Phi-3
    templates drop it)."""
    if messages and messages[0]["role"] == "system" and not system_role_supported(tokenizer):
        return fold_system(messages)
    return messages


def as_reply_messages(reply: Text) -> list[Message]:
    """A reply as chat messages: a string becomes one assistant turn."""
    return [{"role": "assistant", "content": reply}] if isinstance(reply, str) else list(reply)


def render_prompt(
    prompt: Text, tokenizer: PreTrainedTokenizerBase, settings: RenderSettings
) -> str:
    """The prompt as the model sees it before replying (generation prompt included)."""
    if not uses_chat_template(tokenizer, settings):
        return _raw_prompt(prompt, settings.system_prompt)
    messages = template_messages(as_prompt_messages(prompt, settings.system_prompt), tokenizer)
    return _apply(tokenizer, messages, generation_prompt=True)


def render_prompt_reply(
    prompt: Text,
    reply: Text,
    tokenizer: PreTrainedTokenizerBase,
    settings: RenderSettings,
    origin: Origin,
) -> tuple[Segment, Segment]:
    """Render a prompt (not learned) and its reply (learned).

    With a chat template the prompt is rendered with the generation prompt and the reply is
    the rest of the full render; a template whose full render does not start with the prompt
    render cannot be split and raises ``DataError`` naming the example.
    """
    if not uses_chat_template(tokenizer, settings):
        prompt_text = _raw_prompt(prompt, settings.system_prompt)
        return Segment(prompt_text, False), Segment(_raw_reply(reply, tokenizer), True)
    prompt_messages = template_messages(
        as_prompt_messages(prompt, settings.system_prompt), tokenizer
    )
    prompt_text = _apply(tokenizer, prompt_messages, generation_prompt=True, origin=origin)
    full_text = _apply(
        tokenizer,
        prompt_messages + as_reply_messages(reply),
        generation_prompt=False,
        origin=origin,
    )
    if not full_text.startswith(prompt_text):
        raise DataError(
            f"{origin}: prompt: the chat template renders prompt + reply differently from the "
            "prompt alone, so the reply cannot be separated for the loss mask; set "
            "data.chat_template: false or use a model whose template is prefix-stable"
        )
    return Segment(prompt_text, False), Segment(full_text[len(prompt_text) :], True)


def render_conversation(
    messages: list[Message],
    tokenizer: PreTrainedTokenizerBase,
    settings: RenderSettings,
    origin: Origin,
) -> list[Segment]:
    """Render a multi-turn conversation; every assistant turn is learned and nothing else.

    The text of assistant turn ``i`` is what the render of ``messages[: i + 1]`` adds to the
    render of ``messages[:i]`` with the generation prompt: the reply and its end-of-turn token.
    """
    if not uses_chat_template(tokenizer, settings):
        return _raw_conversation(messages, tokenizer, settings.system_prompt)
    messages = template_messages(as_prompt_messages(messages, settings.system_prompt), tokenizer)
    full_text = _apply(tokenizer, messages, generation_prompt=False, origin=origin)
    segments: list[Segment] = []
    position = 0
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        with_prompt = _apply(tokenizer, messages[:index], generation_prompt=True, origin=origin)
        with_reply = _apply(
            tokenizer, messages[: index + 1], generation_prompt=False, origin=origin
        )
        reply_start, reply_end = len(with_prompt), len(with_reply)
        is_prefix = full_text.startswith(with_prompt) and full_text.startswith(with_reply)
        if not is_prefix or not position <= reply_start <= reply_end:
            raise DataError(
                f"{origin}: messages: the chat template does not render turn {index + 1} as a "
                "prefix of the whole conversation, so its reply cannot be masked; set "
                "data.chat_template: false or use a model whose template is prefix-stable"
            )
        segments.append(Segment(full_text[position:reply_start], False))
        segments.append(Segment(full_text[reply_start:reply_end], True))
        position = reply_end
    segments.append(Segment(full_text[position:], False))
    return [segment for segment in segments if segment.text]


def _apply(
    tokenizer: PreTrainedTokenizerBase,
    messages: list[Message],
    generation_prompt: bool,
    origin: Origin | None = None,
) -> str:
    """The tokenizer's chat template, as text; a template that raises (``raise_exception``,
    e.g. roles that do not alternate) is a ``DataError`` naming the example."""
    if not messages:
        return ""
    try:
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )
    except TemplateError as exc:
        where = f"{origin}: messages" if origin is not None else "prompt"
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(
            f"{where}: the model's chat template refused the conversation: {reason}"
        ) from exc


def _raw_text(text: Text) -> str:
    """Message contents joined by blank lines: the raw-text form of a chat list."""
    return text if isinstance(text, str) else "\n\n".join(m["content"] for m in text)


def _raw_prompt(prompt: Text, system_prompt: str | None) -> str:
    """Raw-text prompt: the system prompt (if any) and the prompt, separated by a blank line,
    ending with a newline so the reply starts on its own line."""
    body = _raw_text(prompt)
    parts = [system_prompt, body] if system_prompt else [body]
    return "\n\n".join(parts) + "\n"


def _raw_reply(reply: Text, tokenizer: PreTrainedTokenizerBase) -> str:
    """Raw-text reply with EOS appended, so the model learns where to stop."""
    return _raw_text(reply) + (tokenizer.eos_token or "")


def _raw_conversation(
    messages: list[Message], tokenizer: PreTrainedTokenizerBase, system_prompt: str | None
) -> list[Segment]:
    """Raw-text conversation: each turn on its own paragraph, assistant turns (with EOS) learned."""
    segments: list[Segment] = []
    if system_prompt and (not messages or messages[0]["role"] != "system"):
        segments.append(Segment(system_prompt + "\n\n", False))
    for message in messages:
        if message["role"] == "assistant":
            segments.append(Segment(message["content"] + (tokenizer.eos_token or ""), True))
            segments.append(Segment("\n", False))
        else:
            segments.append(Segment(message["content"] + "\n", False))
    return [segment for segment in segments if segment.text]
