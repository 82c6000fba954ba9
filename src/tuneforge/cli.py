"""The `tuneforge` command line: a thin typer app; every command calls a library function."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
    from tuneforge.data.check import check_command

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
    from tuneforge.config import config_command

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
    from tuneforge.train import train_command

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
    from tuneforge.evaluate.commands import eval_command

    raise typer.Exit(eval_command(target, overrides or []))


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory holding eval.json.")],
) -> None:
    """Rebuild report.html from the run's files alone (eval.json, metrics.jsonl, config.yaml)."""
    from tuneforge.evaluate.commands import report_command

    raise typer.Exit(report_command(run_dir))


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (each with eval.json).")],
) -> None:
    """Put several evaluated runs side by side: headline metrics, intervals, verdicts, tokens."""
    from tuneforge.evaluate.report.compare import compare_command

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
    from tuneforge.quickstart import quickstart_command

    raise typer.Exit(quickstart_command(data, output, overrides or []))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
