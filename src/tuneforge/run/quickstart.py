"""``tuneforge quickstart``: the main job, end to end, on the embedded model.

Trains SmolLM2-135M-Instruct with LoRA on examples/support-triage, then measures, on the
held-out set, the base model with the team's long system prompt against the tuned model with
a one-line prompt: accuracy and prompt tokens per request. It ends with the evaluation's
verdict (from paired bootstrap intervals) and the path of the HTML report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import tuneforge
from tuneforge.config import load_config
from tuneforge.errors import TuneforgeError
from tuneforge.evaluate.runner import evaluate_run
from tuneforge.evaluate.summary import print_verdict
from tuneforge.run.stage import train

EXAMPLE = Path("examples") / "support-triage"


@dataclass
class VariantScore:
    """One model + prompt on the held-out set."""

    name: str
    accuracy: float
    prompt_tokens: float
    outputs: list[str]


@dataclass
class QuickstartResult:
    """What the quickstart measured and where it wrote the run."""

    run_dir: Path
    baseline: VariantScore
    tuned: VariantScore
    train_seconds: float
    evaluation: dict[str, Any] = field(default_factory=dict)
    """The eval.json document."""
    report: Path | None = None
    early_stopping: dict[str, Any] | None = None
    """What early stopping did (manifest.json's record); None when it did not run."""


def find_example_dir(explicit: Path | None = None) -> Path:
    """examples/support-triage in the working directory or next to the installed sources."""
    candidates = [explicit] if explicit else [Path.cwd() / EXAMPLE]
    if not explicit:
        candidates.append(Path(tuneforge.__file__).resolve().parents[2] / EXAMPLE)
    for candidate in candidates:
        if candidate is not None and (candidate / "sft.yaml").is_file():
            return candidate
    raise TuneforgeError(
        "cannot find examples/support-triage (with sft.yaml); run the quickstart from the "
        "tuneforge repository or pass --data DIR"
    )


def fresh_run_dir(base: Path) -> Path:
    """``base``, or ``base-2``, ``base-3``... : the first that does not exist yet."""
    candidate, number = base, 2
    while candidate.exists():
        candidate, number = base.with_name(f"{base.name}-{number}"), number + 1
    return candidate


def variant_score(doc: dict[str, Any], variant: str, name: str) -> VariantScore:
    """Accuracy (free generation, exact label) and prompt tokens of one variant from eval.json."""
    accuracy = doc["tasks"]["classification"]["variants"][variant]["metrics"]["accuracy"]
    tokens = doc["variants"][variant]["prompt_tokens_per_request"]
    outputs = [example["outputs"].get(variant, "") for example in doc["examples"]]
    return VariantScore(name, accuracy, tokens, outputs)


class QuickstartInterrupted(Exception):
    """Training was stopped by a signal (checkpointed): the quickstart evaluates nothing.

    Args:
        run_dir: the run, resumable with ``tuneforge train RUN_DIR/config.yaml``.
        signum: the signal that stopped it (None: Ctrl-C seen as KeyboardInterrupt).
    """

    def __init__(self, run_dir: Path, signum: int | None) -> None:
        super().__init__(f"training in {run_dir} was interrupted")
        self.run_dir = run_dir
        self.signum = signum


def quickstart(
    data_dir: Path | None = None,
    output: Path | None = None,
    overrides: list[str] | None = None,
    *,
    allow_pickle: bool = False,
) -> QuickstartResult:
    """Train on support-triage, then evaluate the tuned model against the prompt-only baseline.

    The evaluation (`tuneforge.evaluate`) writes eval.json and report.html into the run.
    ``allow_pickle`` lets a ``model=`` override load pickle weights (`tuneforge.safe_loading`).
    """

    folder = find_example_dir(data_dir)
    run_dir = fresh_run_dir(output or Path("runs") / "quickstart")
    cfg = load_config(folder / "sft.yaml", [*(overrides or []), f"output={run_dir}"])
    if cfg.eval.baseline_system_prompt is None and not cfg.eval.baseline_system_prompt_file:
        # The example's long prompt is the baseline even when its config does not name it.
        cfg.eval.baseline_system_prompt_file = str((folder / "system_prompt.txt").resolve())
    started = time.monotonic()
    outcome = train(cfg, allow_pickle=allow_pickle)
    train_seconds = time.monotonic() - started
    if outcome.result.interrupted:  # Ctrl-C or SIGTERM: no verdict on a half-trained model
        raise QuickstartInterrupted(outcome.run_dir, outcome.result.stop_signal)
    console = Console(stderr=True)
    # The same evaluation as `tuneforge eval RUN_DIR`: the run's own models, eval.json, report.
    evaluation = evaluate_run(
        cfg,
        outcome.run_dir,
        progress=lambda message: console.print(message, highlight=False),
        allow_pickle=allow_pickle,
    )
    doc = evaluation.document
    return QuickstartResult(
        outcome.run_dir,
        variant_score(doc, "baseline", "base + long prompt"),
        variant_score(doc, "tuned", "tuned + one-line prompt"),
        train_seconds,
        doc,
        evaluation.report_path,
        outcome.result.early_stopping,
    )


def export_dir(run_dir: Path) -> Path:
    """Where the printed export command writes: ``exports/<run name>`` beside ``runs/``."""
    return run_dir.parent.parent / "exports" / run_dir.name


def early_stopping_line(summary: dict[str, Any] | None) -> str | None:
    """One sentence on where early stopping ended training and which weights it kept."""
    if not summary or summary.get("best_step") is None:
        return None
    kept = f"the model of step {summary['best_step']} (lowest held-out loss) is the tuned one"
    if summary.get("stopped_step") is None:
        return f"Early stopping did not stop the run; {kept}."
    return f"Early stopping ended training at step {summary['stopped_step']}; {kept}."


def print_result(result: QuickstartResult, console: Console) -> None:
    """The before/after table and where the run is."""
    table = Table(title="support-triage, held-out set")
    table.add_column("model")
    table.add_column("accuracy", justify="right")
    table.add_column("prompt tokens / request", justify="right")
    for variant in (result.baseline, result.tuned):
        table.add_row(variant.name, f"{variant.accuracy:.1%}", f"{variant.prompt_tokens:.0f}")
    console.print(table)
    saved = 1 - result.tuned.prompt_tokens / max(result.baseline.prompt_tokens, 1)
    gain = result.tuned.accuracy - result.baseline.accuracy
    console.print(
        f"Tuned model: {gain:+.1%} accuracy with {saved:.0%} fewer prompt tokens per request "
        f"(training took {result.train_seconds / 60:.1f} min)."
    )
    stopped = early_stopping_line(result.early_stopping)
    if stopped:
        console.print(stopped)
    print_verdict(result.evaluation, console)
    console.print(f"Run directory: {result.run_dir}")
    if result.report is not None:
        console.print(f"Report: {result.report}", highlight=False)
    console.print(
        f"Use it: tuneforge export {result.run_dir} --out {export_dir(result.run_dir)} "
        "--gguf q8_0 --ollama",
        highlight=False,
        soft_wrap=True,  # one line, so the command can be copied as it is
    )
