"""The turn structure of a chat template, read from what the template renders.

Export needs three things the Jinja chat template only implies: which tokens end a turn (the
stop ids of ``generation_config.json`` and Ollama's ``PARAMETER stop``), the text around each
role's message (Ollama's TEMPLATE) and the default system prompt some templates insert. They
are measured by rendering probe conversations through the tokenizer's own template, so the
result is whatever the template really does, not a guess from its name. Templates whose
turns are not ``header(role) + content + footer`` (with a generation prompt equal to the
assistant header) raise a clear error.

A run trained with ``data.chat_template: false`` (or a tokenizer without a template) used the
raw-text format of `tuneforge.data.render`; `RAW_TEXT_TEMPLATE` renders exactly that text,
so the exported tokenizer serves the model the way it was trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tuneforge.data.template_roles import (
    end_of_turn_token,
    fold_system,
    special_token_texts,
    system_role_supported,
)
from tuneforge.errors import TuneforgeError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

#: A Jinja chat template that renders the raw-text training format of `tuneforge.data.render`:
#: ``system\n\n``, each request followed by ``\n``, each reply by EOS and ``\n``.
RAW_TEXT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + '\\n' }}"
    "{% else %}{{ message['content'] + '\\n' }}{% endif %}"
    "{% endfor %}"
)

ROLES = ("system", "user", "assistant")
# Probe contents: plain words no template rewrites (no surrounding whitespace to trim).
_PROBES = {
    "system": "Qx7SystemProbe",
    "user": "Qx7UserProbe",
    "assistant": "Qx7AssistantProbe",
    "user2": "Qx7SecondUserProbe",
    "assistant2": "Qx7SecondAssistantProbe",
}


class TemplateError(TuneforgeError):
    """A chat template whose turn structure export cannot express."""


@dataclass(frozen=True)
class TurnFormat:
    """A chat template as ``bos + [header(role) + content + footer]... + header(assistant)``.

    A template without a system role (Gemma) has no system header: the system prompt is
    folded into the first user turn, as training renders it (`template_roles.fold_system`).
    """

    headers: dict[str, str]
    """Text before a message's content, per role (system, user, assistant; system is '' when
    the template has no system role)."""
    footer: str
    """Text after every message's content (ends the turn), e.g. ``<|im_end|>\\n``."""
    bos_text: str
    """What the template writes first (the BOS token's text), '' when nothing."""
    default_system: str | None
    """The system prompt the template inserts when a conversation has none."""
    system_role: bool = True
    """False when the template raises on or drops a system message (it is folded instead)."""

    @property
    def generation_prompt(self) -> str:
        """What ``add_generation_prompt=True`` appends: the assistant header."""
        return self.headers["assistant"]

    def render(self, messages: list[dict[str, str]], *, add_generation_prompt: bool) -> str:
        """The text of ``messages`` in this format (without ``bos_text``)."""
        if self.default_system is not None and (not messages or messages[0]["role"] != "system"):
            messages = [{"role": "system", "content": self.default_system}, *messages]
        if not self.system_role:
            messages = fold_system(messages)
        text = "".join(self.headers[m["role"]] + m["content"] + self.footer for m in messages)
        return text + (self.generation_prompt if add_generation_prompt else "")


def _render(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], gen: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)


def _split(text: str, contents: list[str]) -> list[str]:
    """The text around each of ``contents`` in order: len(contents) + 1 pieces."""
    pieces, position = [], 0
    for content in contents:
        found = text.find(content, position)
        if found < 0:
            raise TemplateError(f"the chat template drops or rewrites message text ({content!r})")
        pieces.append(text[position:found])
        position = found + len(content)
    pieces.append(text[position:])
    return pieces


def turn_format(tokenizer: PreTrainedTokenizerBase) -> TurnFormat:
    """Measure the turn structure of ``tokenizer``'s chat template (see the module docstring).

    A template that starts with the BOS token's text is read both ways, BOS as a separate
    first token (Llama-3's ``<|begin_of_text|>``) and BOS as part of the first header
    (SmolLM's BOS is ``<|im_start|>``, ChatML's own turn opener); the reading whose system and
    user headers look most alike wins.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise TemplateError("the tokenizer has no chat template")
    bos = tokenizer.bos_token or ""
    readings: list[TurnFormat] = []
    error: TemplateError | None = None
    for bos_text in dict.fromkeys(["", bos]):
        try:
            readings.append(_turn_format(tokenizer, bos_text))
        except TemplateError as exc:
            error = error or exc
    if not readings:
        assert error is not None
        raise error
    return max(readings, key=_header_likeness)


def _header_likeness(found: TurnFormat) -> int:
    """Length of the common start of the system and user headers."""
    system, user = found.headers["system"], found.headers["user"]
    length = 0
    while length < min(len(system), len(user)) and system[length] == user[length]:
        length += 1
    return length


def _turn_format(tokenizer: PreTrainedTokenizerBase, bos_text: str) -> TurnFormat:
    """The turn structure, reading ``bos_text`` (possibly '') as the template's first text."""
    p = _PROBES
    system_role = system_role_supported(tokenizer)
    conversation = [
        {"role": "system", "content": p["system"]},
        {"role": "user", "content": p["user"]},
        {"role": "assistant", "content": p["assistant"]},
        {"role": "user", "content": p["user2"]},
        {"role": "assistant", "content": p["assistant2"]},
    ][0 if system_role else 1 :]
    full = _render(tokenizer, conversation, False)
    if not full.startswith(bos_text):
        raise TemplateError("cannot translate the chat template: it does not start with BOS")
    # Without a system turn the first piece is the user header (no footer before it).
    pieces = _split(full[len(bos_text) :], [m["content"] for m in conversation])
    pieces = pieces if system_role else ["", *pieces]
    footer = pieces[5]
    problem = "its turns are not header + message + one common end-of-turn text"
    if not footer or not all(piece.startswith(footer) for piece in pieces[2:5]):
        raise TemplateError(f"cannot translate the chat template: {problem}")
    first_user = pieces[1][len(footer) :] if system_role else pieces[1]
    if system_role and not pieces[1].startswith(footer):
        raise TemplateError(f"cannot translate the chat template: {problem}")
    headers = {
        "system": pieces[0],
        "user": first_user,
        "assistant": pieces[2][len(footer) :],
    }
    later = (pieces[3][len(footer) :], pieces[4][len(footer) :])
    if later != (headers["user"], headers["assistant"]):
        raise TemplateError(f"cannot translate the chat template: {problem}")
    prompt = conversation[:2]
    with_generation = _render(tokenizer, prompt, True)
    without = _render(tokenizer, prompt, False)
    if with_generation[len(without) :] != headers["assistant"] or not with_generation.startswith(
        without
    ):
        raise TemplateError(
            "cannot translate the chat template: its generation prompt is not the assistant's "
            "turn header"
        )
    default_system = _default_system(tokenizer, headers, footer, bos_text) if system_role else None
    found = TurnFormat(headers, footer, bos_text, default_system, system_role)
    # The measured format must reproduce the template for a conversation it was not built from.
    check = [{"role": "user", "content": p["user"]}, {"role": "assistant", "content": p["user2"]}]
    check.append({"role": "user", "content": p["assistant2"]})
    expected = bos_text + found.render(check, add_generation_prompt=True)
    if _render(tokenizer, check, True) != expected:
        raise TemplateError(f"cannot translate the chat template: {problem}")
    return found


def _default_system(
    tokenizer: PreTrainedTokenizerBase, headers: dict[str, str], footer: str, bos_text: str
) -> str | None:
    """The system prompt the template inserts into a conversation without one (or None)."""
    user_turn = headers["user"] + _PROBES["user"] + footer
    text = _render(tokenizer, [{"role": "user", "content": _PROBES["user"]}], False)
    text = text[len(bos_text) :] if bos_text and text.startswith(bos_text) else text
    if text == user_turn:
        return None
    start, end = headers["system"], footer + user_turn
    if text.startswith(start) and text.endswith(end) and len(text) >= len(start) + len(end):
        return text[len(start) : len(text) - len(end)]
    raise TemplateError(
        "cannot translate the chat template: it adds text other than a system turn to a "
        "conversation without one"
    )


def stop_tokens(tokenizer: PreTrainedTokenizerBase, *, chat: bool) -> list[str]:
    """Every token text that ends a reply: the end-of-turn special tokens of the template's
    footer (ChatML ``<|im_end|>``, Llama-3 ``<|eot_id|>``) and the EOS token.

    A template whose turns have no common footer (Mistral's ``[INST]``, early Phi-3's) gives
    the special token it writes right after a reply (`template_roles.end_of_turn_token`), so
    the Hugging Face export of every family knows where replies end.
    ``chat`` is False for a run trained on raw text: EOS alone ends its replies.
    """
    found: list[str] = []
    if chat:
        try:
            footer = turn_format(tokenizer).footer
        except TemplateError:
            turn_end = end_of_turn_token(tokenizer)
            found = [turn_end] if turn_end is not None else []
        else:
            special = special_token_texts(tokenizer)
            ids = tokenizer(footer, add_special_tokens=False)["input_ids"]
            found = [t for t in tokenizer.convert_ids_to_tokens(ids) if t in special]
    eos = tokenizer.eos_token
    if eos and eos not in found:
        found.append(eos)
    return found
