"""``tuneforge check``: lint a data file for a method without training or writing anything.

Errors (exit 2) make the file unusable: unreadable rows, missing or malformed fields. Warnings
(exit 0) point at what quietly hurts training; ``check_rules`` holds those checks and
``check_report`` prints the result as text or one JSON document.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, Unpack

from tuneforge.data import check_rules as rules
from tuneforge.data.check_report import render_json, render_text
from tuneforge.data.formats import resolve_kto_labels, unknown_method_message
from tuneforge.data.load import collect_examples
from tuneforge.data.problems import Problem, sort_problems
from tuneforge.data.types import METHODS, Example, PairExample, ScoredExample
from tuneforge.errors import ConfigError, DataError, ModelLoadError

__all__ = ["CheckOptions", "CheckReport", "Problem", "check_command", "run_check"]

DEFAULT_MODEL = "embedded"
DEFAULT_MAX_LENGTH = 1024
DEBUG_ENV = "TUNEFORGE_DEBUG"


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
class _Settings:
    """Check settings after merging the config file under the explicit arguments."""

    model: str
    max_length: int
    columns: dict[str, str] | None = None
    chat_template: bool = True
    system_prompt: str | None = None
    kto_threshold: float | None = None
    kto_weights: tuple[float, float] = (1.0, 1.0)
    config_method: str | None = None


class CheckOptions(TypedDict, total=False):
    """Optional keyword arguments shared by ``check_command`` and ``run_check``.

    ``model`` defaults to the embedded model ("none" skips token statistics), ``max_length``
    to 1024; ``eval_path`` is a held-out file checked for overlap with the training file.
    """

    model: str | None
    max_length: int | None
    eval_path: Path | None
    kto_threshold: float | None
    config_path: Path | None


def check_command(
    path: Path, *, method: str, as_json: bool = False, **options: Unpack[CheckOptions]
) -> int:
    """Lint ``path`` for ``method``, print the result, and return the exit code (0 or 2).

    With ``config_path``, its columns, chat template, system prompt and KTO threshold apply;
    explicit arguments win. ``model``/``max_length`` left at None (or at their defaults, which
    the CLI cannot tell apart yet) take the config's values. No input produces a traceback:
    an unexpected exception becomes one error line (set TUNEFORGE_DEBUG=1 to re-raise it).
    """
    name = str(path)
    try:
        report = run_check(Path(path), method=method, **options)
    except Exception as exc:  # the last line of defence: users get a line, never a traceback
        if os.environ.get(DEBUG_ENV):
            raise
        report = CheckReport(name, method)
        report.problems.append(
            Problem(
                name,
                None,
                "internal",
                f"unexpected {type(exc).__name__}: {exc} — this is a tuneforge bug, please "
                f"report it ({DEBUG_ENV}=1 shows the traceback)",
            )
        )
        report.summary = {"file": name, "method": method, "errors": 1, "warnings": 0}
    if as_json:
        print(render_json(report))
    else:
        render_text(report)
    return report.exit_code


def _settings(
    model: str | None,
    max_length: int | None,
    kto_threshold: float | None,
    config_path: Path | None,
    report: CheckReport,
) -> _Settings | None:
    """Merge a config file (if any) under the explicit arguments; None if the config is bad."""
    settings = _Settings(
        model=model or DEFAULT_MODEL,
        max_length=DEFAULT_MAX_LENGTH if max_length is None else max_length,
        kto_threshold=kto_threshold,
    )
    if config_path is None:
        return settings
    from tuneforge.config import load_config

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        # One problem per line; drop a leading "CONFIG: " the message may already carry.
        where = str(config_path)
        for line in str(exc).splitlines() or [""]:
            text = line.strip().removeprefix(f"{where}: ").removeprefix(f"{where}:")
            if text:
                report.problems.append(Problem(where, None, "config", text))
        return None
    # getattr with defaults: the config is discriminated on method, so e.g. `kto` may be absent.
    data = getattr(config, "data", None)
    settings.columns = dict(getattr(config, "columns", None) or {}) or None
    settings.chat_template = bool(getattr(data, "chat_template", True))
    settings.system_prompt = getattr(data, "system_prompt", None)
    settings.config_method = getattr(config, "method", None)
    kto = getattr(config, "kto", None)
    if kto_threshold is None:
        settings.kto_threshold = getattr(kto, "threshold", None)
    settings.kto_weights = (
        float(getattr(kto, "desirable_weight", 1.0)),
        float(getattr(kto, "undesirable_weight", 1.0)),
    )
    if model in (None, DEFAULT_MODEL) and getattr(config, "model", None):
        settings.model = str(config.model)
    if max_length in (None, DEFAULT_MAX_LENGTH) and getattr(data, "max_length", None):
        settings.max_length = int(data.max_length)
    return settings


def run_check(
    path: Path,
    *,
    method: str,
    model: str | None = DEFAULT_MODEL,
    max_length: int | None = DEFAULT_MAX_LENGTH,
    eval_path: Path | None = None,
    kto_threshold: float | None = None,
    config_path: Path | None = None,
) -> CheckReport:
    """Run every check and return the report; prints nothing (``check_command`` does)."""
    name = str(path)
    report = CheckReport(name, method)
    summary: dict[str, Any] = {"file": name, "method": method}
    report.summary = summary
    if method not in METHODS:
        report.problems.append(Problem(name, None, "method", unknown_method_message(method)))
        return _finish(report)
    settings = _settings(model, max_length, kto_threshold, config_path, report)
    if settings is None:
        return _finish(report)
    if settings.config_method not in (None, method):
        message = f"the config is for {settings.config_method} but --method is {method}"
        report.problems.append(Problem(str(config_path), None, "method", message, "warning"))
    if settings.max_length < 1:
        report.problems.append(
            Problem(name, None, "max_length", f"must be at least 1, got {settings.max_length}")
        )
        return _finish(report)

    collected = collect_examples(path, method, columns=settings.columns, name=name)
    problems = report.problems
    problems.extend(collected.problems)
    problems.extend(rules.duplicate_rows(collected.raw_rows, name))
    examples: list[Example] = list(collected.examples)
    summary["rows"] = collected.records

    if method == "kto":
        examples = _label_kto(examples, settings, name, report)
    if method in ("dpo", "orpo"):
        pairs = [ex for ex in examples if isinstance(ex, PairExample)]
        problems.extend(rules.length_bias(pairs, name))
    summary["usable"] = len(examples)
    problems.extend(rules.small_dataset(len(examples), name))
    if method == "sft":
        summary["labels"] = rules.sft_labels(examples)

    if eval_path is not None:
        _check_eval(examples, Path(eval_path), method, settings, report)
    if settings.model != "none" and examples:
        _measure_tokens(examples, settings, report)
    return _finish(report)


def _label_kto(
    examples: list[Example], settings: _Settings, name: str, report: CheckReport
) -> list[Example]:
    """Apply the threshold rule; report the rule, neutrals and the class balance."""
    scored = [ex for ex in examples if isinstance(ex, ScoredExample)]
    labelling = resolve_kto_labels(scored, settings.kto_threshold)
    report.summary["kto"] = {
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
                labelling.desirable, labelling.undesirable, name, settings.kto_weights
            )
        )
    return list(labelling.examples)


def _check_eval(
    examples: list[Example], eval_path: Path, method: str, settings: _Settings, report: CheckReport
) -> None:
    """Check the eval file too (it is used the same way) and report prompts shared with it."""
    collected = collect_examples(eval_path, method, columns=settings.columns)
    report.problems.extend(collected.problems)
    count, problems = rules.overlap(examples, collected.examples, report.file, collected.name)
    report.problems.extend(problems)
    report.summary["eval"] = {
        "file": collected.name,
        "rows": collected.records,
        "usable": len(collected.examples),
        "overlap": count,
    }


def _measure_tokens(examples: list[Example], settings: _Settings, report: CheckReport) -> None:
    """Token lengths of every usable example, with truncation/drop warnings and a histogram."""
    from tuneforge.data.tokenize import example_token_lengths

    name = report.file
    try:
        from tuneforge.models import load_tokenizer

        # Anything a loader prints must not corrupt `--json` output on stdout.
        with contextlib.redirect_stdout(sys.stderr):
            tokenizer = load_tokenizer(settings.model)
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


def _finish(report: CheckReport) -> CheckReport:
    report.problems = sort_problems(report.problems)
    report.summary["errors"] = report.errors
    report.summary["warnings"] = report.warnings
    return report
