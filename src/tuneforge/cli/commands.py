"""The bodies of tuneforge's commands that train, evaluate and check.

Each ``*_command`` function is the body of one command, callable from tests: it parses what
the command line gave, calls one library function, prints, and returns the exit code.
`reported` is the one error wrapper: a TuneforgeError (bad config, bad data, a refused run
directory) becomes ``error: ...`` lines on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Unpack

from tuneforge.errors import TuneforgeError
from tuneforge.run.check import CheckOptions

#: Set to re-raise unexpected exceptions in `check` (a bug) with their traceback.
DEBUG_ENV = "TUNEFORGE_DEBUG"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: A command stopped by signal N exits with 128 + N (130 for SIGINT, 143 for SIGTERM).
EXIT_SIGNAL_BASE = 128


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


def train_command(
    path: Path,
    overrides: Sequence[str],
    *,
    resume: bool,
    force_config: bool = False,
    allow_pickle: bool = False,
) -> int:
    """``tuneforge train``: 0 on success, 2 on a user error, 128 + the signal when stopped.

    Stopped by SIGINT that is 130, by SIGTERM 143, as a shell reports a killed command.
    """
    from tuneforge.config import load_config
    from tuneforge.engine.stop import StoppedWithoutSaving
    from tuneforge.run.stage import train

    def body() -> int:
        cfg = load_config(path, overrides)
        try:
            outcome = train(
                cfg, resume=resume, force_config=force_config, allow_pickle=allow_pickle
            )
        except StoppedWithoutSaving as stop:
            print(
                f"Stopped at once by a second {stop}, without saving; run the same command "
                "again to continue from the last checkpoint.",
                file=sys.stderr,
            )
            return EXIT_SIGNAL_BASE + stop.signum
        except KeyboardInterrupt:  # Ctrl-C outside the training steps (setup, final save)
            print(
                "Interrupted outside the training steps; run the same command again to "
                "continue from the last checkpoint.",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        if outcome.result.interrupted:
            signum = outcome.result.stop_signal
            return EXIT_INTERRUPTED if signum is None else EXIT_SIGNAL_BASE + signum
        if outcome.main_process:  # one report per launch, not one per process
            print(f"Run directory: {outcome.run_dir}\nModel: {outcome.final_dir}")
        return 0

    return reported(body)


def eval_command(target: Path, overrides: Sequence[str], *, allow_pickle: bool = False) -> int:
    """``tuneforge eval``: evaluate, write eval.json and report.html, print the verdict."""
    from rich.console import Console

    from tuneforge.evaluate.runner import evaluate_run, resolve_target
    from tuneforge.evaluate.summary import print_verdict, summary_table

    def body() -> int:
        err = Console(stderr=True)
        cfg, run_dir = resolve_target(target, overrides)
        outcome = evaluate_run(
            cfg,
            run_dir,
            progress=lambda m: err.print(m, highlight=False),
            allow_pickle=allow_pickle,
        )
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


def quickstart_command(
    data_dir: Path | None,
    output: Path | None,
    overrides: list[str],
    *,
    allow_pickle: bool = False,
) -> int:
    """``tuneforge quickstart``: train, evaluate, print the before/after table."""
    from rich.console import Console

    from tuneforge.run.quickstart import QuickstartInterrupted, print_result, quickstart

    def body() -> int:
        try:
            result = quickstart(data_dir, output, overrides, allow_pickle=allow_pickle)
        except QuickstartInterrupted as stop:
            print(
                f"Training was interrupted and checkpointed; nothing was evaluated. Continue "
                f"with `tuneforge train {stop.run_dir}/config.yaml`, then `tuneforge eval "
                f"{stop.run_dir}`.",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED if stop.signum is None else EXIT_SIGNAL_BASE + stop.signum
        print_result(result, Console())
        return 0

    return reported(body)


def run_command(path: Path, overrides: Sequence[str], *, force: bool) -> int:
    """``tuneforge run``: every stage of a pipeline, then one evaluation; 130 when interrupted."""
    from rich.console import Console

    from tuneforge.config.pipeline import load_pipeline
    from tuneforge.evaluate.report.steps import steps_table
    from tuneforge.evaluate.summary import print_verdict
    from tuneforge.run.pipeline import STATE_FILE, run_pipeline

    def body() -> int:
        err = Console(stderr=True)
        outcome = run_pipeline(
            load_pipeline(path, overrides),
            force=force,
            log=lambda message: err.print(message, highlight=False, soft_wrap=True),
        )
        if outcome.interrupted or outcome.document is None:
            err.print(f"Interrupted; state in {outcome.output / STATE_FILE}", highlight=False)
            return EXIT_INTERRUPTED
        console = Console()
        console.print(steps_table(outcome.document))
        print_verdict(outcome.document, console)
        console.print(
            f"Pipeline: {outcome.output / STATE_FILE}\nResults: {outcome.eval_path}\n"
            f"Report: {outcome.report_path}",
            highlight=False,
        )
        return 0

    return reported(body)
