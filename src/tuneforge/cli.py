"""The `tuneforge` command line: every command parses, calls one library function, prints.

Each ``*_command`` function is the body of one command, callable from tests: it returns the
exit code. `reported` is the one error wrapper: a TuneforgeError (bad config, bad data, a
refused run directory) becomes ``error: ...`` lines on stderr and exit code 2, never a
traceback. The typer app below only declares the arguments.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Unpack

import typer

from tuneforge.errors import TuneforgeError
from tuneforge.run.check import CheckOptions

if TYPE_CHECKING:
    from tuneforge.run.generate import GenerateOptions

#: Set to re-raise unexpected exceptions in `check` (a bug) with their traceback.
DEBUG_ENV = "TUNEFORGE_DEBUG"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def reported(body: Callable[[], int]) -> int:
    """Run a command body; a TuneforgeError becomes ``error:`` lines and exit code 2."""
    try:
        return body()
    except TuneforgeError as error:
        for line in str(error).splitlines() or [""]:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_USAGE


def check_command(
    path: Path, *, method: str, as_json: bool = False, **options: Unpack[CheckOptions]
) -> int:
    """``tuneforge check``: lint ``path`` for ``method``, print the result, return 0 or 2.

    No input produces a traceback: an unexpected exception becomes one error line (set
    TUNEFORGE_DEBUG=1 to re-raise it).
    """
    from tuneforge.data.lint.checker import CheckReport, finish
    from tuneforge.data.lint.render import render_json, render_text
    from tuneforge.data.problems import Problem
    from tuneforge.run.check import check_file

    name = str(path)
    try:
        report = check_file(Path(path), method=method, **options)
    except Exception as exc:  # the last line of defence: users get a line, never a traceback
        if os.environ.get(DEBUG_ENV):
            raise
        report = CheckReport(name, method)
        report.summary.update({"file": name, "method": method})
        message = (
            f"unexpected {type(exc).__name__}: {exc} — this is a tuneforge bug, please "
            f"report it ({DEBUG_ENV}=1 shows the traceback)"
        )
        report.problems.append(Problem(name, None, "internal", message))
        finish(report)
    if as_json:
        print(render_json(report))
    else:
        render_text(report)
    return report.exit_code


def config_command(path: Path, overrides: Sequence[str]) -> int:
    """``tuneforge config``: print the resolved config; exit 2 with ``error:`` lines if invalid."""
    from tuneforge.config import dump_config, load_config

    def body() -> int:
        sys.stdout.write(dump_config(load_config(path, overrides)))
        return 0

    return reported(body)


def train_command(path: Path, overrides: Sequence[str], *, resume: bool) -> int:
    """``tuneforge train``: 0 on success, 130 when interrupted, 2 on a user error."""
    from tuneforge.config import load_config
    from tuneforge.run.stage import train

    def body() -> int:
        outcome = train(load_config(path, overrides), resume=resume)
        if outcome.result.interrupted:
            return EXIT_INTERRUPTED
        print(f"Run directory: {outcome.run_dir}\nModel: {outcome.final_dir}")
        return 0

    return reported(body)


def eval_command(target: Path, overrides: Sequence[str]) -> int:
    """``tuneforge eval``: evaluate, write eval.json and report.html, print the verdict."""
    from rich.console import Console

    from tuneforge.evaluate.runner import evaluate_run, resolve_target
    from tuneforge.evaluate.summary import print_verdict, summary_table

    def body() -> int:
        err = Console(stderr=True)
        cfg, run_dir = resolve_target(target, overrides)
        outcome = evaluate_run(cfg, run_dir, progress=lambda m: err.print(m, highlight=False))
        console = Console()
        console.print(summary_table(outcome.document))
        print_verdict(outcome.document, console)
        console.print(
            f"Results: {outcome.eval_path}\nReport: {outcome.report_path}", highlight=False
        )
        return 0

    return reported(body)


def report_command(run_dir: Path) -> int:
    """``tuneforge report``: rebuild report.html from the run's files alone."""
    from tuneforge.evaluate.report import build_report

    def body() -> int:
        print(f"Report: {build_report(run_dir)}")
        return 0

    return reported(body)


def compare_command(paths: Sequence[Path], console: Any | None = None) -> int:
    """``tuneforge compare``: several evaluated runs side by side."""
    from rich.console import Console

    from tuneforge.evaluate.report.compare import comparison_table, load_runs

    def body() -> int:
        (console or Console()).print(comparison_table(load_runs(paths)))
        return 0

    return reported(body)


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


def quickstart_command(data_dir: Path | None, output: Path | None, overrides: list[str]) -> int:
    """``tuneforge quickstart``: train, evaluate, print the before/after table."""
    from rich.console import Console

    from tuneforge.run.quickstart import print_result, quickstart

    def body() -> int:
        print_result(quickstart(data_dir, output, overrides), Console())
        return 0

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


app = typer.Typer(
    name="tuneforge",
    help="Fine-tune open LLMs with SFT, DPO, ORPO and KTO, and prove it helped.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def check(
    data: Annotated[
        Path, typer.Argument(help="The data file to lint (.jsonl, .json, .csv, .parquet).")
    ],
    method: Annotated[str, typer.Option("--method", "-m", help="sft, dpo, orpo or kto.")],
    model: Annotated[
        str | None,
        typer.Option(
            help="Tokenizer for length checks: embedded (default), a hub id, a folder, or none."
        ),
    ] = None,
    max_length: Annotated[
        int | None, typer.Option(help="Max tokens per example (default 1024, or the config's).")
    ] = None,
    eval_file: Annotated[
        Path | None, typer.Option("--eval", help="Eval file: also report train/eval overlap.")
    ] = None,
    kto_threshold: Annotated[
        float | None, typer.Option(help="KTO: scores above this are desirable.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="A config whose data settings (columns, template) apply.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Lint a data file: every problem as FILE:LINE: field: message. Exit 2 on any error."""
    raise typer.Exit(
        check_command(
            data,
            method=method,
            model=model,
            max_length=max_length,
            eval_path=eval_file,
            kto_threshold=kto_threshold,
            config_path=config,
            as_json=as_json,
        )
    )


@app.command("config")
def show_config(
    path: Annotated[Path, typer.Argument(help="The YAML config.")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="Dotted overrides, e.g. train.lr=1e-4.")
    ] = None,
) -> None:
    """Print the fully resolved config (defaults filled in) as YAML."""
    raise typer.Exit(config_command(path, overrides or []))


@app.command("train")
def train_stage(
    path: Annotated[Path, typer.Argument(help="The YAML config of the stage.")],
    overrides: Annotated[
        list[str] | None, typer.Argument(help="Dotted overrides, e.g. train.lr=1e-4.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run from its latest checkpoint.")
    ] = False,
) -> None:
    """Train one stage (SFT, DPO, ORPO or KTO) and write its run directory."""
    raise typer.Exit(train_command(path, overrides or [], resume=resume))


@app.command("eval")
def evaluate_run(
    target: Annotated[
        Path, typer.Argument(help="A run directory (written by train) or a YAML config.")
    ],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Dotted overrides, e.g. eval.baseline_few_shot=3 eval.max_examples=50."
        ),
    ] = None,
) -> None:
    """Measure baseline vs tuned on the held-out set; write eval.json and report.html."""
    raise typer.Exit(eval_command(target, overrides or []))


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory holding eval.json.")],
) -> None:
    """Rebuild report.html from the run's files alone (eval.json, metrics.jsonl, config.yaml)."""
    raise typer.Exit(report_command(run_dir))


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (each with eval.json).")],
) -> None:
    """Put several evaluated runs side by side: headline metrics, intervals, verdicts, tokens."""
    raise typer.Exit(compare_command(runs))


@app.command()
def quickstart(
    overrides: Annotated[
        list[str] | None, typer.Argument(help="Dotted overrides, e.g. train.epochs=1.")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Folder of the example (default examples/support-triage)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Run directory (default runs/quickstart, never reused).")
    ] = None,
) -> None:
    """The main job: tune the embedded model on support-triage and compare with the baseline."""
    raise typer.Exit(quickstart_command(data, output, overrides or []))


TargetArgument = Annotated[
    str,
    typer.Argument(
        help="A run directory, a model folder (e.g. an export), or 'embedded'.",
        show_default=False,
    ),
]
SystemPromptOption = Annotated[
    str | None,
    typer.Option(help="System prompt instead of the target's own ('' for none)."),
]


@app.command()
def generate(
    target: TargetArgument,
    data: Annotated[
        Path, typer.Option("--data", help="Input rows: 'prompt' or 'messages' (.jsonl).")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Output .jsonl: each row + 'output'; resumed if present.")
    ],
    temperature: Annotated[
        float, typer.Option(min=0.0, help="0 (default) is greedy; above 0 samples.")
    ] = 0.0,
    top_p: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Nucleus sampling mass (with a temperature).")
    ] = 1.0,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Longest reply, in tokens.")] = 256,
    system_prompt: SystemPromptOption = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Rows decoded together.")] = 8,
    seed: Annotated[int, typer.Option(help="Seed of the sampling (per row).")] = 0,
) -> None:
    """Reply to every row of a file with TARGET; resumable (rows already in --out are kept)."""
    from tuneforge.run.generate import GenerateOptions

    options = GenerateOptions(
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        system_prompt=system_prompt,
        batch_size=batch_size,
        seed=seed,
    )
    raise typer.Exit(generate_command(target, data, out, options=options))


@app.command("chat")
def chat_session(
    target: TargetArgument,
    compare: Annotated[
        str | None,
        typer.Option(help="'base': also answer every message with the run's base model."),
    ] = None,
    system_prompt: SystemPromptOption = None,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Longest reply, in tokens.")] = 256,
) -> None:
    """Talk to TARGET (streamed); /reset, /system TEXT, /exit. Reads a pipe too."""
    raise typer.Exit(
        chat_command(
            target, compare=compare, system_prompt=system_prompt, max_new_tokens=max_new_tokens
        )
    )


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory with a trained final/.")],
    out: Annotated[Path, typer.Option("--out", help="The folder to write (new or empty).")],
    gguf: Annotated[
        str | None,
        typer.Option(help="Also write model.gguf: f32, f16, bf16, q8_0, q5_1, q5_0, q4_1, q4_0."),
    ] = None,
    ollama: Annotated[
        bool, typer.Option("--ollama", help="Also write an Ollama Modelfile (needs --gguf).")
    ] = False,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="Skip the parity check against the run's model.")
    ] = False,
    samples: Annotated[
        int | None, typer.Option(help="Held-out prompts compared in the check (default 8).")
    ] = None,
) -> None:
    """Export the tuned model: a merged Hugging Face folder, optionally GGUF and Ollama."""
    raise typer.Exit(
        export_command(
            run_dir, out, gguf=gguf, ollama=ollama, verify=not no_verify, samples=samples
        )
    )


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
