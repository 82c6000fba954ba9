"""``tuneforge quickstart``: the main job, end to end, on the embedded model.

Trains SmolLM2-135M-Instruct with LoRA on examples/support-triage, then measures, on the
held-out set, the base model with the team's long system prompt against the tuned model with
a one-line prompt: accuracy and prompt tokens per request.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

import tuneforge
from tuneforge.config import TuneforgeConfig, load_config
from tuneforge.data.load import load_examples
from tuneforge.data.render import RenderSettings
from tuneforge.errors import TuneforgeError
from tuneforge.evaluate.generate import generate, prompt_ids
from tuneforge.evaluate.labels import accuracy, match_label
from tuneforge.train import train

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


def score_variant(
    name: str,
    model: object,
    tokenizer: object,
    cfg: TuneforgeConfig,
    system_prompt: str,
    labels: list[str],
) -> VariantScore:
    """Greedy answers on the held-out set, matched against the labels."""
    assert cfg.data.eval is not None
    examples = load_examples(cfg.data.eval, "sft", columns=cfg.columns)
    settings = RenderSettings(chat_template=cfg.data.chat_template, system_prompt=system_prompt)
    prompts = [prompt_ids(e.prompt, tokenizer, settings) for e in examples]  # type: ignore[arg-type]
    longest_label = max(len(tokenizer(label)["input_ids"]) for label in labels)  # type: ignore[operator]
    outputs = generate(model, tokenizer, prompts, max_new_tokens=longest_label + 4)  # type: ignore[arg-type]
    predictions = [match_label(output, labels) for output in outputs]
    gold = [str(e.completion) for e in examples]  # type: ignore[union-attr]
    return VariantScore(
        name, accuracy(predictions, gold), sum(map(len, prompts)) / len(prompts), outputs
    )


def quickstart(
    data_dir: Path | None = None, output: Path | None = None, overrides: list[str] | None = None
) -> QuickstartResult:
    """Train on support-triage and compare the tuned model with the prompt-only baseline."""
    from peft import PeftModel

    from tuneforge.models import load_model, load_tokenizer

    folder = find_example_dir(data_dir)
    run_dir = fresh_run_dir(output or Path("runs") / "quickstart")
    cfg = load_config(folder / "sft.yaml", [*(overrides or []), f"output={run_dir}"])
    labels = (folder / "labels.txt").read_text(encoding="utf-8").split()
    long_prompt = (folder / "system_prompt.txt").read_text(encoding="utf-8").strip()
    started = time.monotonic()
    outcome = train(cfg)
    train_seconds = time.monotonic() - started
    assert outcome.final_dir is not None
    tokenizer = load_tokenizer(cfg.model)
    model = PeftModel.from_pretrained(load_model(cfg.model), outcome.final_dir)
    with model.disable_adapter():
        baseline = score_variant("base + long prompt", model, tokenizer, cfg, long_prompt, labels)
    short_prompt = cfg.data.system_prompt or ""
    tuned = score_variant("tuned + one-line prompt", model, tokenizer, cfg, short_prompt, labels)
    return QuickstartResult(outcome.run_dir, baseline, tuned, train_seconds)


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
    console.print(f"Run directory: {result.run_dir}")


def quickstart_command(data_dir: Path | None, output: Path | None, overrides: list[str]) -> int:
    """CLI body of ``tuneforge quickstart``."""
    try:
        result = quickstart(data_dir, output, overrides)
    except TuneforgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_result(result, Console())
    return 0
