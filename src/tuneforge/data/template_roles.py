"""What a chat template does with roles and turn ends, measured by rendering probes.

Families differ: Gemma's and Mistral's templates raise on a system message, early Phi-3
templates drop it without a word, Llama-3 ends a turn with ``<|eot_id|>`` while its EOS is
``<|end_of_text|>``. Rendering is the only reliable way to know, so these functions render
small probe conversations through the tokenizer's own template:

* `system_role_supported`: does a system message come out as text?
* `fold_system`: a system message merged into the first user turn, for templates without a
  system role (Gemma 3's own template does the same: system text, a blank line, the request).
* `end_of_turn_token`: the special token the template writes right after a reply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jinja2 import TemplateError

from tuneforge.data.types import Message

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# Probe contents: plain words no template rewrites or trims.
_SYSTEM_PROBE = "Qx7SystemRoleProbe"
_USER_PROBE = "Qx7UserRoleProbe"
_REPLY_PROBE = "Qx7ReplyRoleProbe"

#: Between the folded system prompt and the first request.
FOLD_SEPARATOR = "\n\n"


def system_role_supported(tokenizer: PreTrainedTokenizerBase) -> bool:
    """True when the chat template renders a system message's text.

    False when it raises on one (Gemma: "System role not supported"; Mistral: "roles must
    alternate") or leaves its text out (early Phi-3 templates).
    """
    probe = [
        {"role": "system", "content": _SYSTEM_PROBE},
        {"role": "user", "content": _USER_PROBE},
    ]
    text = _render_probe(tokenizer, probe)
    return text is not None and _SYSTEM_PROBE in text


def fold_system(messages: list[Message]) -> list[Message]:
    """``messages`` with a leading system message merged into the first user turn.

    The user turn becomes ``system + FOLD_SEPARATOR + request``; with no user turn the system
    text becomes one. Messages without a leading system message are returned unchanged.
    """
    if not messages or messages[0]["role"] != "system":
        return messages
    system, rest = messages[0]["content"], messages[1:]
    if rest and rest[0]["role"] == "user":
        merged = {**rest[0], "content": system + FOLD_SEPARATOR + rest[0]["content"]}
        return [merged, *rest[1:]]
    return [{"role": "user", "content": system}, *rest]


def end_of_turn_token(tokenizer: PreTrainedTokenizerBase) -> str | None:
    """The special token the template writes first after an assistant reply, if any.

    ChatML's ``<|im_end|>``, Llama-3's ``<|eot_id|>``, Gemma's ``<end_of_turn>``, Phi-3's
    ``<|end|>``, Mistral's ``</s>``. None for a template without a chat template or whose turns
    end in plain text.
    """
    if not getattr(tokenizer, "chat_template", None):
        return None
    probe = [
        {"role": "user", "content": _USER_PROBE},
        {"role": "assistant", "content": _REPLY_PROBE},
    ]
    text = _render_probe(tokenizer, probe)
    if text is None:
        return None
    start = text.find(_REPLY_PROBE)
    if start < 0:
        return None
    tail = text[start + len(_REPLY_PROBE) :]
    found = [(tail.find(token), -len(token), token) for token in special_token_texts(tokenizer)]
    found = [entry for entry in found if entry[0] >= 0]
    return min(found)[2] if found else None


def special_token_texts(tokenizer: PreTrainedTokenizerBase) -> set[str]:
    """The text of every special token (named ones and added ones marked special)."""
    texts = set(tokenizer.all_special_tokens)
    for token in getattr(tokenizer, "added_tokens_decoder", {}).values():
        if getattr(token, "special", False):
            texts.add(token.content)
    return {text for text in texts if text}


def _render_probe(tokenizer: PreTrainedTokenizerBase, probe: list[dict[str, str]]) -> str | None:
    """The template's text for ``probe`` (no generation prompt), or None when it refuses it."""
    try:
        return tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=False)
    except TemplateError:
        return None
