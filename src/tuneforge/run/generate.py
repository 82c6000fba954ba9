"""``tuneforge generate``: run a TARGET over a file of requests, one reply per row.

Input rows hold ``prompt`` (a string or a chat list) or ``messages`` (a chat whose last turn is
the user's: the reply comes next); every other field is carried through, and the output row is
the input row plus ``output``. Replies are greedy unless a temperature is given, and come from
the evaluation's batched decoder (left padding, explicit attention masks: batched output equals
one-at-a-time output).

The output file is resumable: its N complete lines are the first N input rows, done. A run
starts after them (a torn last line, cut by a kill, is dropped and redone), generates the rest
in batches in file order and appends each finished row as one complete line, flushed, so a
killed job continues where it stopped and no row is ever written twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneforge.data.fields import Collector, check_messages, check_text, parse_cell
from tuneforge.data.problems import Problem, json_type_name, sort_problems
from tuneforge.data.readers import RawRow, read_rows
from tuneforge.data.types import Origin, Text
from tuneforge.errors import DataError, TuneforgeError
from tuneforge.evaluate.inference.generate import Sampling, prompt_ids
from tuneforge.evaluate.inference.scoring import generate_and_score
from tuneforge.target import Target, load_target

OUTPUT_FIELD = "output"
DEFAULT_MAX_NEW_TOKENS = 256
DEFAULT_BATCH_SIZE = 8
#: Called after each batch with (rows done, rows in the input).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class GenerateOptions:
    """The knobs of ``tuneforge generate`` (temperature 0 is greedy decoding)."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    system_prompt: str | None = None
    """Replaces the target's own system prompt ("" for none); None keeps it."""
    batch_size: int = DEFAULT_BATCH_SIZE
    seed: int = 0

    def check(self) -> None:
        """Raise TuneforgeError for values that cannot work."""
        if self.temperature < 0:
            message = f"--temperature must be >= 0 (0 is greedy), got {self.temperature}"
            raise TuneforgeError(message)
        if not 0 < self.top_p <= 1:
            raise TuneforgeError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise TuneforgeError(f"--max-new-tokens must be >= 1, got {self.max_new_tokens}")
        if self.batch_size < 1:
            raise TuneforgeError(f"--batch-size must be >= 1, got {self.batch_size}")

    @property
    def sampling(self) -> Sampling | None:
        """How replies are sampled; None for greedy decoding."""
        if self.temperature == 0:
            return None
        return Sampling(self.temperature, self.top_p, self.seed)


@dataclass(frozen=True)
class Request:
    """One input row: what the model is asked, and the row to write back with its reply."""

    origin: Origin
    prompt: Text
    row: dict[str, Any]


@dataclass(frozen=True)
class GenerateResult:
    """What a run did: rows in the input, rows already done before it, rows it generated."""

    out: Path
    total: int
    skipped: int
    generated: int


def read_requests(path: Path) -> list[Request]:
    """Every row of ``path`` as a request; DataError listing every bad row as FILE:LINE: field."""
    raw = read_rows(path)
    problems = list(raw.problems)
    requests: list[Request] = []
    for row in raw.rows:
        request, found = _request(row, str(path), text_cells=raw.text_cells)
        problems.extend(found)
        if request is not None:
            requests.append(request)
    errors = sort_problems([p for p in problems if p.is_error])
    if errors:
        count = f"{len(errors)} problem" + ("s" if len(errors) != 1 else "")
        lines = "\n".join(p.format() for p in errors)
        raise DataError(f"{lines}\n{path}: {count}; nothing was generated")
    return requests


def _request(row: RawRow, name: str, *, text_cells: bool) -> tuple[Request | None, list[Problem]]:
    """One row as a request: ``prompt`` (string or chat) or ``messages`` ending with a user turn."""
    out = Collector(Origin(name, row.line))
    values = {k: parse_cell(v) for k, v in row.data.items()} if text_cells else row.data
    prompt: Text | None = None
    if "messages" in values and "prompt" in values:
        out.error("messages", "the row has both 'prompt' and 'messages'; keep one of them")
    elif "messages" in values:
        value = values["messages"]
        if not isinstance(value, list):
            out.error("messages", f"must be a list of chat messages, got {json_type_name(value)}")
        else:
            messages = check_messages(value, "messages", out)
            if messages is not None and messages[-1]["role"] == "assistant":
                out.error(
                    "messages",
                    "the conversation ends with an 'assistant' message; it must end with the "
                    "user's turn the reply answers",
                )
            elif messages is not None:
                prompt = messages
    elif "prompt" in values:
        prompt = check_text(values["prompt"], "prompt", out, reply=False)
    else:
        shown = ", ".join(f"'{k}'" for k in list(row.data)[:8]) or "no fields"
        out.error("prompt", f"missing 'prompt' (or 'messages' for a chat); the row has {shown}")
    if out.failed or prompt is None:
        return None, out.problems
    return Request(out.origin, prompt, dict(row.data)), out.problems


def done_rows(out: Path, requests: Sequence[Request]) -> int:
    """How many input rows ``out`` already holds; a torn last line is cut off the file.

    Each complete line must be the matching input row plus ``output``: anything else means
    ``out`` belongs to another input, and is refused rather than appended to.
    """
    if not out.exists():
        return 0
    if out.is_dir():
        raise TuneforgeError(f"{out}: is a folder; --out must be a .jsonl file")
    data = out.read_bytes()
    end = data.rfind(b"\n") + 1  # the end of the last complete line (0: none)
    if end < len(data):
        with open(out, "r+b") as stream:  # drop the torn line: it is generated again
            stream.truncate(end)
    lines = data[:end].split(b"\n")[:-1]
    if len(lines) > len(requests):
        raise TuneforgeError(
            f"{out}: holds {len(lines)} rows but the input has {len(requests)}; it is the output "
            "of another input file (pass a new --out, or delete it to start over)"
        )
    for number, (line, request) in enumerate(zip(lines, requests, strict=False), start=1):
        try:
            row = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError):
            row = None
        if not isinstance(row, dict) or OUTPUT_FIELD not in row:
            raise TuneforgeError(
                f"{out}:{number}: not a row written by `tuneforge generate`; pass a new --out, "
                "or delete the file to start over"
            )
        row.pop(OUTPUT_FIELD)
        if row != {k: v for k, v in request.row.items() if k != OUTPUT_FIELD}:
            raise TuneforgeError(
                f"{out}:{number}: does not match {request.origin} (the input changed, or --out "
                "belongs to another file); pass a new --out, or delete it to start over"
            )
    return len(lines)


def generate_file(
    target: str | Path | Target,
    data: Path,
    out: Path,
    options: GenerateOptions | None = None,
    *,
    progress: Progress | None = None,
) -> GenerateResult:
    """Reply to every row of ``data`` not yet in ``out`` and append the rows to ``out``."""
    options = options or GenerateOptions()
    options.check()
    requests = read_requests(Path(data))
    out = Path(out)
    skipped = done_rows(out, requests)
    total = len(requests)
    if progress is not None:
        progress(skipped, total)
    if skipped == total:
        return GenerateResult(out, total, skipped, 0)
    if isinstance(target, Target):
        loaded = target.with_system_prompt(options.system_prompt)
    else:
        loaded = load_target(target, system_prompt=options.system_prompt)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = skipped
    with open(out, "ab") as stream:
        for first in range(skipped, total, options.batch_size):
            chunk = requests[first : first + options.batch_size]
            replies = generate_replies(loaded, [r.prompt for r in chunk], options, first=first)
            for request, reply in zip(chunk, replies, strict=True):
                row = {k: v for k, v in request.row.items() if k != OUTPUT_FIELD}
                row[OUTPUT_FIELD] = reply
                # One write per row: the line lands whole, or is cut and redone on resume.
                stream.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
                stream.flush()
            os.fsync(stream.fileno())
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return GenerateResult(out, total, skipped, total - skipped)


def generate_replies(
    target: Target, prompts: Sequence[Text], options: GenerateOptions, *, first: int = 0
) -> list[str]:
    """``target``'s replies to ``prompts`` (rows ``first``... of an input), in batches.

    Prompts are rendered as training renders them (``target.render``); replies are greedy
    unless ``options`` asks for sampling, where row ``first + i`` draws from its own stream.
    """
    rendered = [prompt_ids(prompt, target.tokenizer, target.render) for prompt in prompts]
    answers, _ = generate_and_score(
        target.model,
        target.tokenizer,
        rendered,
        None,
        max_new_tokens=options.max_new_tokens,
        batch_size=options.batch_size,
        sampling=options.sampling,
        keys=range(first, first + len(prompts)),
    )
    assert answers is not None
    return answers
