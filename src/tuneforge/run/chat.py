"""``tuneforge chat``: talk to a TARGET, reply streamed token by token.

Each message is rendered with the whole conversation through the target's chat template (the
run's system prompt and template setting for a run) and answered greedily by the evaluation's
decoder, so a chat reply equals what ``tuneforge generate`` writes for the same conversation.
The oldest turns are dropped when the conversation would no longer fit the model's context
(the system prompt is always kept). ``compare`` also answers every message with the base model
(a LoRA run's model with its adapter switched off), which keeps a conversation of its own.

Lines starting with ``/`` are commands: ``/reset``, ``/system TEXT`` (``/system`` alone clears
it), ``/exit``, ``/help``. Input is any iterable of lines: the terminal or a pipe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

import torch

from tuneforge.data.render import RenderSettings
from tuneforge.data.types import Message
from tuneforge.errors import TuneforgeError
from tuneforge.evaluate.inference.generate import (
    greedy_decode,
    prefilled_batches,
    prompt_ids,
    stop_token_ids,
)
from tuneforge.target import Target

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_MAX_NEW_TOKENS = 256
COMPARE_CHOICES = ("base",)
HELP = "commands: /reset (forget the conversation), /system TEXT (set the system prompt), /exit"


@dataclass
class Conversation:
    """One model's side of the chat: its turns, and what its last prompt looked like."""

    label: str
    messages: list[Message] = field(default_factory=list)
    last_prompt_tokens: int = 0
    dropped_turns: int = 0
    """User turns (with their replies) dropped so far to fit the context."""


class TextStream:
    """Turns reply tokens into text as they come, writing only what is new.

    The reply is decoded whole each time (a token can be half a character or merge with the
    next), and text ending in an incomplete character waits for the next token.
    """

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, stops: Iterable[int], write: Callable[[str], None]
    ) -> None:
        self.tokenizer, self.stops, self.write = tokenizer, set(stops), write
        self.ids: list[int] = []
        self.shown = ""

    def __call__(self, token: int) -> None:
        if token in self.stops:
            return
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True).lstrip()
        if text.endswith("\ufffd") or not text.startswith(self.shown):
            return
        self.write(text[len(self.shown) :])
        self.shown = text


class ChatSession:
    """A conversation with a target (and, with ``compare``, with its base model beside it)."""

    def __init__(
        self,
        target: Target,
        *,
        compare: bool = False,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        out: TextIO,
        info: TextIO,
    ) -> None:
        if max_new_tokens < 1:
            raise TuneforgeError(f"--max-new-tokens must be >= 1, got {max_new_tokens}")
        if compare and not target.has_base:
            raise TuneforgeError(
                f"{target.name}: --compare base needs a run directory (a LoRA adapter or a full "
                "fine-tune with its base model); this target is a plain model"
            )
        self.target = target
        self.system_prompt = target.system_prompt
        self.out, self.info = out, info
        # The reply needs room too: never more than half the context.
        self.max_new_tokens = min(max_new_tokens, max(1, target.context_length // 2))
        self.sides = [Conversation("tuned" if compare else "model")]
        if compare:
            self.sides.append(Conversation("base"))

    @property
    def conversation(self) -> Conversation:
        """The target's side of the chat."""
        return self.sides[0]

    def run(self, lines: Iterable[str]) -> None:
        """Answer every line until ``/exit`` or the end of the input."""
        for line in lines:
            if not self.handle(line.rstrip("\r\n")):
                return

    def handle(self, line: str) -> bool:
        """Act on one input line; False when the chat should end."""
        text = line.strip()
        if not text:
            return True
        if text.startswith("/"):
            command, _, argument = text.partition(" ")
            if command in ("/exit", "/quit"):
                return False
            if command == "/reset":
                for side in self.sides:
                    side.messages.clear()
                self._note("(conversation reset)")
            elif command == "/system":
                self.system_prompt = argument.strip() or None
                shown = f"set: {self.system_prompt}" if self.system_prompt else "cleared"
                self._note(f"(system prompt {shown})")
            else:
                self._note(f"unknown command {command}; {HELP}")
            return True
        self.send(line)
        return True

    def send(self, text: str) -> dict[str, str]:
        """Answer ``text`` on every side; returns each side's reply by its label."""
        replies: dict[str, str] = {}
        for side in self.sides:
            if side.label == "base":
                with self.target.use_base() as model:
                    reply = self._answer(side, model, text)
            else:
                reply = self._answer(side, self.target.model, text)
            if reply is not None:
                replies[side.label] = reply
        return replies

    def _render(self) -> RenderSettings:
        return RenderSettings(self.target.render.chat_template, self.system_prompt)

    def _fit(self, side: Conversation, text: str) -> list[int] | None:
        """The prompt ids of ``side``'s conversation plus ``text``, oldest turns dropped to fit."""
        budget = self.target.context_length - self.max_new_tokens
        user: Message = {"role": "user", "content": text}
        while True:
            ids = prompt_ids([*side.messages, user], self.target.tokenizer, self._render())
            if len(ids) <= budget or not side.messages:
                break
            # Drop the oldest user turn and everything up to the next one.
            rest = side.messages[1:]
            while rest and rest[0]["role"] != "user":
                rest = rest[1:]
            side.messages = rest
            side.dropped_turns += 1
            self._note(f"({side.label}: dropped the oldest turn to stay within the context)")
        if len(ids) > budget:
            self._note(
                f"message too long: {len(ids)} prompt tokens, the context holds {budget} "
                f"before a reply of {self.max_new_tokens}; not sent"
            )
            return None
        return ids

    @torch.no_grad()
    def _answer(self, side: Conversation, model: PreTrainedModel, text: str) -> str | None:
        """Stream ``side``'s reply to ``text`` and add both turns to its conversation."""
        ids = self._fit(side, text)
        if ids is None:
            return None
        side.last_prompt_tokens = len(ids)
        tokenizer = self.target.tokenizer
        stops = stop_token_ids(model, tokenizer)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        if len(self.sides) > 1:
            self._write(f"[{side.label}] ")
        stream = TextStream(tokenizer, stops, self._write)

        def pick(logits: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
            tokens = logits.argmax(dim=-1)
            stream(int(tokens[0]))
            return tokens

        was_training = model.training
        model.eval()
        try:
            batch = next(prefilled_batches(model, [ids], pad_id=pad, batch_size=1))
            (tokens,) = greedy_decode(
                model, batch, max_new_tokens=self.max_new_tokens, stop_ids=stops, pick=pick
            )
        finally:
            model.train(was_training)
        self._write("\n")
        reply = tokenizer.decode(tokens, skip_special_tokens=True).strip()
        side.messages.append({"role": "user", "content": text})
        side.messages.append({"role": "assistant", "content": reply})
        return reply

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def _note(self, text: str) -> None:
        self.info.write(text + "\n")
        self.info.flush()


def chat(
    target: Target,
    lines: Iterable[str],
    *,
    compare: str | None = None,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    out: TextIO,
    info: TextIO,
) -> ChatSession:
    """Chat with ``target`` over ``lines``; returns the session (its conversations) at the end."""
    if compare is not None and compare not in COMPARE_CHOICES:
        raise TuneforgeError(f"--compare takes {', '.join(COMPARE_CHOICES)}, got '{compare}'")
    session = ChatSession(
        target, compare=compare is not None, max_new_tokens=max_new_tokens, out=out, info=info
    )
    system = session.system_prompt
    shown = f"system prompt: {system!r}" if system else "no system prompt"
    info.write(
        f"Chatting with {target.name} ({shown}; context {target.context_length} tokens). {HELP}\n"
    )
    info.flush()
    session.run(lines)
    return session
