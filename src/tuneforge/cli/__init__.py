"""The `tuneforge` command line (also ``python -m tuneforge``).

The typer app below only declares each command's arguments and hands them to the command's
body: ``cli/commands.py`` (check, config, train, run, eval, report, compare, quickstart) and
``cli/use.py`` (export, generate, pairs, chat). Every body parses, calls one library function,
prints, and returns the exit code; `reported` is the one error wrapper (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuneforge.cli.commands import (
    check_command,
    compare_command,
    config_command,
    eval_command,
    quickstart_command,
    report_command,
    reported,
    run_command,
    train_command,
)
from tuneforge.cli.use import chat_command, export_command, generate_command, pairs_command

__all__ = [
    "app",
    "chat_command",
    "check_command",
    "compare_command",
    "config_command",
    "eval_command",
    "export_command",
    "generate_command",
    "main",
    "pairs_command",
    "quickstart_command",
    "report_command",
    "reported",
    "run_command",
    "train_command",
]


AllowPickleOption = Annotated[
    bool,
    typer.Option(
        "--allow-pickle",
        help="Load pickle weights (.bin) when a model has no safetensors; "
        "loading pickle weights can run code from the file.",
    ),
]

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
    force_config: Annotated[
        bool,
        typer.Option(
            "--force-config",
            help="Continue an unfinished run even though its training config differs.",
        ),
    ] = False,
    allow_pickle: AllowPickleOption = False,
) -> None:
    """Train one stage (SFT, DPO, ORPO or KTO) and write its run directory.

    Running it again on a run that did not finish continues that run from its last checkpoint.
    """
    raise typer.Exit(
        train_command(
            path,
            overrides or [],
            resume=resume,
            force_config=force_config,
            allow_pickle=allow_pickle,
        )
    )


@app.command("run")
def run_pipeline(
    path: Annotated[Path, typer.Argument(help="The YAML pipeline file (stages: ...).")],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="Dotted overrides: eval.max_examples=50, stages.dpo.train.lr=1e-5."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Rerun every stage, even those that are unchanged.")
    ] = False,
) -> None:
    """Run a pipeline: each stage from the previous stage's model, one report across the steps."""
    raise typer.Exit(run_command(path, overrides or [], force=force))


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
    allow_pickle: AllowPickleOption = False,
) -> None:
    """Measure baseline vs tuned on the held-out set; write eval.json and report.html."""
    raise typer.Exit(eval_command(target, overrides or [], allow_pickle=allow_pickle))


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
    allow_pickle: AllowPickleOption = False,
) -> None:
    """The main job: tune the embedded model on support-triage and compare with the baseline."""
    raise typer.Exit(quickstart_command(data, output, overrides or [], allow_pickle=allow_pickle))


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
    allow_pickle: AllowPickleOption = False,
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
        allow_pickle=allow_pickle,
    )
    raise typer.Exit(generate_command(target, data, out, options=options))


@app.command()
def pairs(
    target: TargetArgument,
    data: Annotated[Path, typer.Option("--data", help="SFT rows: the references (.jsonl ...).")],
    out: Annotated[Path, typer.Option("--out", help="Output .jsonl of prompt/chosen/rejected.")],
    config: Annotated[
        Path | None,
        typer.Option(help="A config whose eval.checks, columns and prompt settings apply."),
    ] = None,
    min_chrf: Annotated[
        float | None, typer.Option(help="Replies below this chrF (0-100) are mistakes (40).")
    ] = None,
    max_new_tokens: Annotated[
        int | None, typer.Option(min=1, help="Longest reply, in tokens (256).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Rows decoded together (8).")
    ] = None,
    system_prompt: SystemPromptOption = None,
    allow_pickle: AllowPickleOption = False,
) -> None:
    """Preference pairs from TARGET's own mistakes: chosen = reference, rejected = its reply."""
    raise typer.Exit(
        pairs_command(
            target,
            data,
            out,
            config=config,
            min_chrf=min_chrf,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            system_prompt=system_prompt,
            allow_pickle=allow_pickle,
        )
    )


@app.command("chat")
def chat_session(
    target: TargetArgument,
    compare: Annotated[
        str | None,
        typer.Option(help="'base': also answer every message with the run's base model."),
    ] = None,
    system_prompt: SystemPromptOption = None,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Longest reply, in tokens.")] = 256,
    allow_pickle: AllowPickleOption = False,
) -> None:
    """Talk to TARGET (streamed); /reset, /system TEXT, /exit. Reads a pipe too."""
    raise typer.Exit(
        chat_command(
            target,
            compare=compare,
            system_prompt=system_prompt,
            max_new_tokens=max_new_tokens,
            allow_pickle=allow_pickle,
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
    allow_pickle: AllowPickleOption = False,
) -> None:
    """Export the tuned model: a merged Hugging Face folder, optionally GGUF and Ollama."""
    raise typer.Exit(
        export_command(
            run_dir,
            out,
            gguf=gguf,
            ollama=ollama,
            verify=not no_verify,
            samples=samples,
            allow_pickle=allow_pickle,
        )
    )


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
