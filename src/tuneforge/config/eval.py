"""The ``eval:`` section: before/after evaluation settings and the named answer checks."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from tuneforge.config.section import MAX_SEED, Float, Int
from tuneforge.config.section import Section as _Section

#: Bounds no real evaluation reaches: larger values are typos, refused at load time.
MAX_NEW_TOKENS = 32_768
MAX_BOOTSTRAP = 1_000_000
MAX_RETRIEVAL_K = 64
MAX_FEW_SHOT = 1024
MAX_CHECK_LENGTH = 10**6
MAX_EXAMPLES = 10**9
#: Prompts per generation batch; more would not fit any accelerator's memory.
MAX_EVAL_BATCH = 4096
#: Dollars per million input tokens; no model API costs more than this.
MAX_PRICE = 10_000


class CheckRule(_Section):
    """A named rule every generated answer should pass: the product team's failure modes.

    A rule passes when all of its conditions hold; a rule needs at least one condition.
    Regexes use Python syntax and are searched anywhere in the answer (``(?i)`` ignores case).
    """

    name: str = Field(min_length=1, description="Shown in the report, e.g. 'no_sign_off'.")
    must_match: str | None = Field(None, description="Regex the answer must contain.")
    must_not_match: str | None = Field(None, description="Regex the answer must not contain.")
    max_words: Int | None = Field(
        None, ge=1, le=MAX_CHECK_LENGTH, description="At most this many words."
    )
    max_chars: Int | None = Field(
        None, ge=1, le=MAX_CHECK_LENGTH, description="At most this many characters."
    )

    @field_validator("must_match", "must_not_match")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        """Reject a broken regex when the config is loaded, not after minutes of generation."""
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _has_condition(self) -> CheckRule:
        """A rule without a condition would always pass and hide nothing."""
        conditions = (self.must_match, self.must_not_match, self.max_words, self.max_chars)
        if all(value is None for value in conditions):
            raise ValueError(
                f"check '{self.name}' needs at least one of must_match, must_not_match, "
                "max_words, max_chars"
            )
        return self


EvalVariant = Literal["baseline", "tuned", "tuned+prompt", "baseline+retrieval"]
EvalTask = Literal["classification", "structure", "checks", "preference", "similarity"]


class EvalConfig(_Section):
    """Before/after evaluation settings (``tuneforge eval``).

    ``baseline`` is the base model with the full prompt (``baseline_system_prompt`` plus
    ``baseline_few_shot`` train examples); ``tuned`` is the run's model with its own short prompt
    (``tuned_system_prompt``, else ``data.system_prompt``); ``tuned+prompt`` is the tuned model
    with the baseline's full prompt; ``baseline+retrieval`` is the baseline with, per request,
    the ``retrieval_k`` most similar train examples instead of the fixed few-shot ones.
    """

    baseline_system_prompt: str | None = Field(
        None, description="The prompt-only baseline's system prompt; default data.system_prompt."
    )
    baseline_system_prompt_file: str | None = Field(
        None, description="Read the baseline system prompt from this file instead."
    )
    baseline_few_shot: Int = Field(
        0, ge=0, le=MAX_FEW_SHOT, description="Train examples shown to the baseline."
    )
    retrieval_k: Int = Field(
        4,
        ge=1,
        le=MAX_RETRIEVAL_K,
        description="Most similar train examples shown per request by baseline+retrieval.",
    )
    tuned_system_prompt: str | None = Field(
        None, description="System prompt of the tuned model; default data.system_prompt."
    )
    variants: list[EvalVariant] = Field(
        default_factory=lambda: ["baseline", "tuned"],
        description="What to evaluate on the same held-out set; baseline is always included.",
    )
    tasks: list[EvalTask] | None = Field(
        None, description="Tasks to compute; None: every task the data and settings allow."
    )
    max_new_tokens: Int = Field(
        256,
        ge=1,
        le=MAX_NEW_TOKENS,
        description="Cap on generated tokens; the task's own need is used when lower.",
    )
    labels: list[str] | None = Field(
        None, description="Classification labels; default: inferred from few distinct answers."
    )
    json_schema: str | None = Field(None, description="JSON Schema file the output must match.")
    format: Literal["json"] | None = Field(
        None, description="'json': score parse rate and field match (implied by json_schema)."
    )
    checks: list[CheckRule] = Field(
        default_factory=list, description="Named rules every generated answer should pass."
    )
    price_per_million_tokens: Float = Field(
        0.15, ge=0, le=MAX_PRICE, description="Input price (dollars), for costs."
    )
    bootstrap_samples: Int = Field(
        1000, ge=100, le=MAX_BOOTSTRAP, description="Paired bootstrap resamples."
    )
    confidence: Float = Field(0.95, gt=0.5, lt=1, description="Confidence of the intervals.")
    seed: Int = Field(
        0, ge=0, le=MAX_SEED, description="Seed of the bootstrap and of the few-shot choice."
    )
    max_examples: Int | None = Field(
        None,
        ge=1,
        le=MAX_EXAMPLES,
        description="Evaluate a seeded sample of at most this many held-out rows.",
    )
    batch_size: Int = Field(
        16, ge=1, le=MAX_EVAL_BATCH, description="Prompts per generation batch."
    )

    @field_validator("variants")
    @classmethod
    def _baseline_first(cls, value: list[str]) -> list[str]:
        """Every comparison is against the baseline, so it is always evaluated, and first."""
        unique = list(dict.fromkeys(value))
        return ["baseline", *(v for v in unique if v != "baseline")]

    @field_validator("checks")
    @classmethod
    def _unique_check_names(cls, value: list[CheckRule]) -> list[CheckRule]:
        """Check names key the results, so two checks cannot share one."""
        names = [rule.name for rule in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"check names must be unique (repeated: {', '.join(duplicates)})")
        return value

    @model_validator(mode="after")
    def _one_baseline_prompt(self) -> EvalConfig:
        """The baseline prompt comes from the config or from a file, not both."""
        if self.baseline_system_prompt is not None and self.baseline_system_prompt_file:
            raise ValueError("set baseline_system_prompt or baseline_system_prompt_file, not both")
        return self
