"""The bodies of the commands that use a tuned model: ``export``, ``generate``, ``pairs``, ``chat``.

Same contract as ``cli/commands.py``: parse, call one library function, print, return the exit
code, with TuneforgeErrors reported by `reported`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tuneforge.cli.commands import reported
from tuneforge.errors import TuneforgeError

if TYPE_CHECKING:
    from tuneforge.run.generate import GenerateOptions


def export_command(
    run_dir: Path,
    out: Path,
    *,
    gguf: str | None = None,
    ollama: bool = False,
    verify: bool = True,
    samples: int | None = None,
) -> int:
    """``tuneforge export``: write the exports, verify them, print the verdict.

    Exit 0 when every verified format matches the run's model within its tolerance, 1 when
    one does not (the files stay written, export.json says how they differ), 2 on a user error.
    """
    from tuneforge.export import EXPORT_FILE, export_run

    def body() -> int:
        options = {"samples": samples} if samples is not None else {}
        result = export_run(
            run_dir,
            out,
            gguf=gguf,
            ollama=ollama,
            verify=verify,
            progress=lambda message: print(message, file=sys.stderr, flush=True),
            **options,
        )
        print(result.verdict)
        print(f"Exported to {result.out} (details: {result.out / EXPORT_FILE})")
        return 0 if result.passed else 1

    return reported(body)


def generate_command(
    target: str, data: Path, out: Path, *, options: GenerateOptions | None = None
) -> int:
    """``tuneforge generate``: reply to every row of ``data`` not yet in ``out``."""
    from rich.console import Console
    from rich.progress import MofNCompleteColumn, Progress, TimeRemainingColumn

    from tuneforge.run.generate import generate_file

    def body() -> int:
        err = Console(stderr=True)
        columns = (*Progress.get_default_columns()[:2], MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err, transient=False) as bar:
            task = bar.add_task("generating", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = generate_file(target, data, out, options, progress=progress)
        skipped = f" ({result.skipped} already there)" if result.skipped else ""
        print(f"Wrote {result.generated} rows to {result.out}{skipped}")
        return 0

    return reported(body)


def pairs_command(
    target: str,
    data: Path,
    out: Path,
    *,
    config: Path | None = None,
    min_chrf: float | None = None,
    max_new_tokens: int | None = None,
    batch_size: int | None = None,
    system_prompt: str | None = None,
) -> int:
    """``tuneforge pairs``: pairs from TARGET's mistakes on ``data``; print what was kept.

    Exit 0 when pairs were written, 1 when every row was dropped (the files are written and
    the summary says why), 2 on a user error.
    """
    from rich.console import Console
    from rich.progress import MofNCompleteColumn, Progress, TimeRemainingColumn

    from tuneforge.run.pairs import pairs_options, write_mistake_pairs

    def body() -> int:
        options = pairs_options(
            target,
            config,
            min_chrf=min_chrf,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            system_prompt=system_prompt,
        )
        err = Console(stderr=True)
        columns = (*Progress.get_default_columns()[:2], MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err, transient=False) as bar:
            task = bar.add_task("replying", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            summary = write_mistake_pairs(target, data, out, options=options, progress=progress)
        for line in summary.lines():
            print(line)
        if summary.kept == 0:
            print("No row was a mistake: there are no pairs to train on.", file=sys.stderr)
            return 1
        return 0

    return reported(body)


def chat_command(
    target: str,
    *,
    compare: str | None = None,
    system_prompt: str | None = None,
    max_new_tokens: int = 256,
    lines: Iterable[str] | None = None,
) -> int:
    """``tuneforge chat``: a conversation over the terminal or a pipe (``lines``: for tests)."""
    from tuneforge.run.chat import chat
    from tuneforge.target import load_target

    def body() -> int:
        if compare is not None and compare != "base":
            raise TuneforgeError(f"--compare takes 'base', got '{compare}'")
        loaded = load_target(target, system_prompt=system_prompt, with_base=compare is not None)
        try:
            chat(
                loaded,
                _input_lines() if lines is None else lines,
                compare=compare,
                max_new_tokens=max_new_tokens,
                out=sys.stdout,
                info=sys.stderr,
            )
        except KeyboardInterrupt:
            print(file=sys.stderr)
        return 0

    return reported(body)


def _input_lines() -> Iterator[str]:
    """Lines typed at a terminal (with a prompt and line editing), or read from a pipe."""
    if not sys.stdin.isatty():
        yield from sys.stdin
        return
    while True:
        try:
            yield input("you> ")
        except EOFError:
            print(file=sys.stderr)
            return
