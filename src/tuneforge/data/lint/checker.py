"""Lint a data file read as a record kind: every problem, the summary and the length histogram.

Errors (exit 2) make the file unusable: unreadable rows, missing or malformed fields. Warnings
(exit 0) point at what quietly hurts training; ``rules`` holds those checks and ``render``
prints the result as text or one JSON document. Which kind a method reads, and the settings a
config file brings, are decided above this layer (``run/check.py``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneforge.data.advice import advise
from tuneforge.data.formats import resolve_kto_labels
from tuneforge.data.lint import rules
from tuneforge.data.load import collect_examples
from tuneforge.data.problems import Problem, sort_problems
from tuneforge.data.split import split_examples
from tuneforge.data.tokenize import example_token_lengths
from tuneforge.data.types import Example, PairExample, RecordKind, ScoredExample
from tuneforge.errors import DataError, ModelLoadError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["CheckReport", "LintSettings", "Problem", "finish", "run_check"]

DEFAULT_MODEL = "embedded"
DEFAULT_MAX_LENGTH = 1024
#: The summary key of the scored kind's labelling. Named after the method that introduced it
#: (KTO): `check --json` consumers read it, so it stays.
SCORES_KEY = "kto"


@dataclass
class CheckReport:
    """What ``check`` found: every problem, the summary statistics and the length histogram."""

    file: str
    method: str
    problems: list[Problem] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    histogram: list[dict[str, Any]] | None = None

    @property
    def errors(self) -> int:
        """Number of errors."""
        return sum(1 for p in self.problems if p.is_error)

    @property
    def warnings(self) -> int:
        """Number of warnings."""
        return len(self.problems) - self.errors

    @property
    def exit_code(self) -> int:
        """0 when the file is usable (warnings allowed), 2 on any error."""
        return 2 if self.errors else 0


@dataclass
class LintSettings:
    """How the records are read and measured: the config's settings, or the CLI's defaults.

    ``tokenizer`` loads the tokenizer for the token-length checks (None skips them; it may
    raise ModelLoadError, reported as a problem); ``model`` names it in the summary.
    ``score_threshold``/``score_weights``: the scored kind's threshold and class weights.
    """

    max_length: int = DEFAULT_MAX_LENGTH
    model: str = DEFAULT_MODEL
    tokenizer: Callable[[], PreTrainedTokenizerBase] | None = None
    columns: dict[str, str] | None = None
    chat_template: bool = True
    system_prompt: str | None = None
    score_threshold: float | None = None
    score_weights: tuple[float, float] = (1.0, 1.0)
    eval_split: float = 0.1
    """The automatic held-out fraction (``data.eval_split``) when no eval file is given."""


def run_check(
    path: Path,
    *,
    method: str,
    kind: RecordKind,
    settings: LintSettings,
    eval_path: Path | None = None,
    report: CheckReport | None = None,
) -> CheckReport:
    """Run every check of ``path`` read as ``kind`` and return the report; prints nothing.

    ``method`` names the method in the report; ``report`` may carry problems found before
    (e.g. in the config file), which are kept.
    """
    name = str(path)
    report = report or CheckReport(name, method)
    summary = report.summary
    summary.update({"file": name, "method": method})
    if settings.max_length < 1:
        report.problems.append(
            Problem(name, None, "max_length", f"must be at least 1, got {settings.max_length}")
        )
        return finish(report)

    collected = collect_examples(path, kind, columns=settings.columns, name=name)
    problems = report.problems
    problems.extend(collected.problems)
    problems.extend(rules.duplicate_rows(collected.raw_rows, name))
    examples: list[Example] = list(collected.examples)
    summary["rows"] = collected.records

    if kind is RecordKind.SCORED:
        examples = _label_scores(examples, settings, name, report)
    if kind is RecordKind.PAIR:
        pairs = [ex for ex in examples if isinstance(ex, PairExample)]
        problems.extend(rules.length_bias(pairs, name))
    summary["usable"] = len(examples)
    problems.extend(rules.small_dataset(len(examples), name))
    if kind is RecordKind.SFT:
        summary["labels"] = rules.sft_labels(examples)

    if eval_path is not None:
        _check_eval(examples, Path(eval_path), kind, settings, report)
    if settings.tokenizer is not None and examples:
        _measure_tokens(examples, settings, report)
    if examples:
        held_out = _held_out_rows(examples, settings, report)
        advice = advise(kind, held_out, data=name, paired=collected.unpaired)
        summary["advice"] = advice.to_dict()
    return finish(report)


def _held_out_rows(examples: list[Example], settings: LintSettings, report: CheckReport) -> int:
    """Rows the evaluation would hold out: the eval file's, else this file's automatic split."""
    evaluation = report.summary.get("eval")
    if evaluation is not None:
        return int(evaluation["usable"])
    return len(split_examples(examples, settings.eval_split)[1])


def _label_scores(
    examples: list[Example], settings: LintSettings, name: str, report: CheckReport
) -> list[Example]:
    """Apply the threshold rule; report the rule, neutrals and the class balance."""
    scored = [ex for ex in examples if isinstance(ex, ScoredExample)]
    labelling = resolve_kto_labels(scored, settings.score_threshold)
    report.summary[SCORES_KEY] = {
        "desirable": labelling.desirable,
        "undesirable": labelling.undesirable,
        "neutral": labelling.neutral,
        "threshold": labelling.threshold,
        "rule": labelling.rule,
    }
    problems = report.problems
    problems.extend(Problem(name, None, "score", w, "warning") for w in labelling.warnings)
    if scored and not labelling.examples:
        problems.append(
            Problem(
                name,
                None,
                "score",
                f"every example is neutral ({labelling.rule}); set kto.threshold so that "
                "some scores fall on each side",
            )
        )
    else:
        lines = [origin.line for origin in labelling.neutral_origins]
        problems.extend(rules.neutral_warning(lines, labelling.threshold, name))
        problems.extend(
            rules.kto_balance(
                labelling.desirable, labelling.undesirable, name, settings.score_weights
            )
        )
    return list(labelling.examples)


def _check_eval(
    examples: list[Example],
    eval_path: Path,
    kind: RecordKind,
    settings: LintSettings,
    report: CheckReport,
) -> None:
    """Check the eval file too (it is used the same way) and report prompts shared with it."""
    collected = collect_examples(eval_path, kind, columns=settings.columns)
    report.problems.extend(collected.problems)
    count, problems = rules.overlap(examples, collected.examples, report.file, collected.name)
    report.problems.extend(problems)
    report.summary["eval"] = {
        "file": collected.name,
        "rows": collected.records,
        "usable": len(collected.examples),
        "overlap": count,
    }


def _measure_tokens(examples: list[Example], settings: LintSettings, report: CheckReport) -> None:
    """Token lengths of every usable example, with truncation/drop warnings and a histogram."""
    name = report.file
    assert settings.tokenizer is not None
    try:
        # Anything a loader prints must not corrupt `--json` output on stdout.
        with contextlib.redirect_stdout(sys.stderr):
            tokenizer = settings.tokenizer()
    except ModelLoadError as exc:
        report.problems.append(Problem(name, None, "model", str(exc)))
        return
    limit = settings.max_length
    lengths: list[int] = []
    truncated = dropped = 0
    for example in examples:
        line = example.origin.line
        try:
            prompt_tokens, full_tokens = example_token_lengths(
                example,
                tokenizer,
                chat_template=settings.chat_template,
                system_prompt=settings.system_prompt,
            )
        except DataError as exc:
            report.problems.append(_problem_from_error(exc, name, line))
            continue
        lengths.append(full_tokens)
        if prompt_tokens >= limit:
            dropped += 1
            message = (
                f"the prompt alone is {prompt_tokens} tokens (max_length {limit}); the example "
                "would be dropped"
            )
            report.problems.append(Problem(name, line, "tokens", message, "warning"))
        elif full_tokens > limit:
            truncated += 1
            message = (
                f"{full_tokens} tokens, over max_length {limit}; the reply would be truncated "
                f"by {full_tokens - limit} tokens"
            )
            report.problems.append(Problem(name, line, "tokens", message, "warning"))
    if not lengths:
        return
    report.summary["tokens"] = {
        "model": settings.model,
        "max_length": limit,
        "total": sum(lengths),
        "mean": round(sum(lengths) / len(lengths), 1),
        "max": max(lengths),
        "truncated": truncated,
        "dropped": dropped,
    }
    report.histogram = rules.histogram(lengths, limit)


def _problem_from_error(exc: DataError, name: str, line: int) -> Problem:
    """A per-example ``DataError`` as a problem; its message may already start ``FILE:LINE:``."""
    message = str(exc)
    prefix = f"{name}:{line}: "
    field = "tokens"
    if message.startswith(prefix):
        head, _, rest = message[len(prefix) :].partition(": ")
        if rest and " " not in head:
            field, message = head, rest
        else:
            message = message[len(prefix) :]
    return Problem(name, line, field, message)


def finish(report: CheckReport) -> CheckReport:
    """Sort the problems and count errors and warnings into the summary."""
    report.problems = sort_problems(report.problems)
    report.summary["errors"] = report.errors
    report.summary["warnings"] = report.warnings
    return report
