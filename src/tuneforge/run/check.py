"""``tuneforge check``: which record kind a method reads, the settings a config brings, the lint.

The linter itself (``data/lint``) knows record kinds, not methods or configs; this module turns
``--method`` into the method's record kind through the registry, merges a config file's data
settings under the explicit options, and hands the tokenizer loader to the token checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, Unpack

from tuneforge.data.lint.checker import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_MODEL,
    CheckReport,
    LintSettings,
    finish,
    run_check,
)
from tuneforge.data.problems import Problem
from tuneforge.errors import ConfigError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["CheckOptions", "check_file"]


class CheckOptions(TypedDict, total=False):
    """Optional keyword arguments of `check_file`.

    ``model`` defaults to the embedded model ("none" skips token statistics), ``max_length``
    to 1024; ``eval_path`` is a held-out file checked for overlap with the training file;
    ``kto_threshold`` the scored kind's threshold; ``config_path`` a config whose data
    settings (columns, chat template, system prompt, threshold, weights) apply.
    """

    model: str | None
    max_length: int | None
    eval_path: Path | None
    kto_threshold: float | None
    config_path: Path | None


def check_file(path: Path, *, method: str, **options: Unpack[CheckOptions]) -> CheckReport:
    """Lint ``path`` for ``method`` and return the report (printing is the caller's).

    Explicit options win over the config's; ``model``/``max_length`` left at None (or at their
    defaults, which the CLI cannot tell apart) take the config's values.
    """
    from tuneforge.methods import METHODS, unknown_method_message

    report = CheckReport(str(path), method)
    report.summary.update({"file": str(path), "method": method})
    spec = METHODS.get(method)
    if spec is None:
        report.problems.append(Problem(str(path), None, "method", unknown_method_message(method)))
        return finish(report)
    settings = _settings(options, method, report)
    if settings is None:
        return finish(report)
    return run_check(
        Path(path),
        method=method,
        kind=spec.record_kind,
        settings=settings,
        eval_path=options.get("eval_path"),
        report=report,
    )


def _settings(options: CheckOptions, method: str, report: CheckReport) -> LintSettings | None:
    """The explicit options over the config file's (if any); None when the config is bad."""
    model, max_length = options.get("model"), options.get("max_length")
    threshold = options.get("kto_threshold")
    if threshold is not None and not math.isfinite(threshold):
        # NaN compares false with every score: each row would silently become undesirable.
        message = f"--kto-threshold must be a finite number (got {threshold})"
        report.problems.append(Problem(report.file, None, "kto_threshold", message))
        return None
    settings = LintSettings(
        model=model or DEFAULT_MODEL,
        max_length=DEFAULT_MAX_LENGTH if max_length is None else max_length,
        score_threshold=threshold,
    )
    trust_remote_code = False
    config_path = options.get("config_path")
    if config_path is not None:
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
        if config.method != method:
            message = f"the config is for {config.method} but --method is {method}"
            report.problems.append(Problem(str(config_path), None, "method", message, "warning"))
        # The settings of the method being checked, which need not be the config's own.
        section = getattr(config, method, None)
        settings.columns = dict(config.columns) or None
        settings.chat_template = config.data.chat_template
        trust_remote_code = config.trust_remote_code
        settings.system_prompt = config.data.system_prompt
        if threshold is None:
            settings.score_threshold = getattr(section, "threshold", None)
        settings.score_weights = (
            float(getattr(section, "desirable_weight", 1.0)),
            float(getattr(section, "undesirable_weight", 1.0)),
        )
        if model in (None, DEFAULT_MODEL):
            settings.model = config.model.path
        if max_length in (None, DEFAULT_MAX_LENGTH):
            settings.max_length = config.data.max_length
        settings.eval_split = config.data.eval_split
    if settings.model != "none":
        loader = _tokenizer_loader(settings.model, trust_remote_code=trust_remote_code)
        settings.tokenizer = loader
    return settings


def _tokenizer_loader(
    model: str, *, trust_remote_code: bool
) -> Callable[[], PreTrainedTokenizerBase]:
    """A loader of ``model``'s tokenizer, called only when there are examples to measure.

    Its own code runs only when the ``--config`` given sets ``trust_remote_code``.
    """
    from tuneforge.models import load_tokenizer
    from tuneforge.safe_loading import LoadPolicy

    policy = LoadPolicy(trust_remote_code=trust_remote_code)
    return lambda: load_tokenizer(model, policy=policy)
