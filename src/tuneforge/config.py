"""The run config: pydantic v2 models for the YAML file, loading, overrides, and printing.

A file with only ``method:`` and ``data.train:`` is a complete config; every other setting has
a default chosen to work well on a few hundred examples (see `DEFAULT_LR`). Unknown keys are
errors, reported with their YAML path and the nearest valid key::

    cfg.yaml: train.lrr: unknown key; did you mean 'lr'?

Relative ``data.train``, ``data.eval``, ``eval.json_schema`` and
``eval.baseline_system_prompt_file`` paths in a file are resolved
against the file's folder; paths given as command-line overrides against the working directory.
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tuneforge.config_errors import (
    Loc,
    accepts_free_string,
    annotation_at,
    validation_error,
    yaml_dump,
    yaml_error_message,
    yaml_load,
)
from tuneforge.errors import ConfigError

Method = Literal["sft", "dpo", "orpo", "kto"]
ColumnTarget = Literal["prompt", "completion", "chosen", "rejected", "score", "messages"]
Tracker = Literal["tensorboard", "wandb", "mlflow"]

#: Default learning rate when ``train.lr`` is not set, by adapter kind and method.
#: LoRA updates a small low-rank delta and needs roughly 10x the full fine-tuning rate.
#: Preference methods (DPO, KTO) start from an SFT-quality policy and move it gently; ORPO also
#: carries an NLL term and sits between SFT and DPO. Full fine-tuning values follow the
#: published recipes (Zephyr DPO 5e-7, ORPO paper 8e-6, common SFT 2e-5).
DEFAULT_LR: dict[str, dict[str, float]] = {
    "lora": {"sft": 2e-4, "orpo": 1e-4, "dpo": 5e-5, "kto": 5e-5},
    "full": {"sft": 2e-5, "orpo": 8e-6, "dpo": 5e-7, "kto": 5e-7},
}

#: Fields holding file paths: resolved against the config's folder when loaded from a file.
#: ``True`` means the value may also be a Hugging Face dataset id (left alone unless it looks
#: like a file: it exists, has a file suffix, or starts with ``.`` or ``~``).
PATH_FIELDS: dict[Loc, bool] = {
    ("data", "train"): True,
    ("data", "eval"): True,
    ("eval", "json_schema"): False,
    ("eval", "baseline_system_prompt_file"): False,
}

# Sections that an empty YAML value (``train:`` with everything commented out) means "defaults".
_SECTIONS = ("data", "sft", "dpo", "orpo", "kto", "train", "eval")


class _Section(BaseModel):
    """Base for every config model: unknown keys are errors; numbers are accepted for strings."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class DataConfig(_Section):
    """Where the examples are and how they are turned into tokens."""

    train: str = Field(min_length=1, description="Training data file (or dataset id).")
    eval: str | None = Field(None, description="Held-out file; default: split from train.")
    eval_split: float = Field(0.1, ge=0, le=0.5, description="Fraction held out; 0 disables.")
    max_length: int = Field(1024, gt=0, description="Max tokens per example.")
    chat_template: bool = Field(True, description="Render text through the chat template.")
    system_prompt: str | None = Field(None, description="System turn added to every prompt.")


class SFTSection(_Section):
    """Supervised fine-tuning settings."""

    packing: bool = False
    completion_only: bool = Field(True, description="Loss on the response tokens only.")


class DPOSection(_Section):
    """Direct Preference Optimisation settings (see ``methods/dpo.py``)."""

    beta: float = Field(0.1, gt=0, description="Strength of the pull toward the reference.")
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust"] = Field(
        "sigmoid", description="sigmoid (DPO), ipo, hinge (SLiC) or robust (noisy labels)."
    )
    label_smoothing: float = Field(
        0.0, ge=0, lt=0.5, description="Assumed share of flipped pairs (robust; cDPO for sigmoid)."
    )
    precompute_ref: bool = Field(
        True, description="Reference log-probs computed once before training and cached."
    )


class ORPOSection(_Section):
    """Odds-Ratio Preference Optimisation settings (see ``methods/orpo.py``)."""

    beta: float = Field(0.1, gt=0, description="Weight of the odds-ratio term against the NLL.")
    nll_on_prompt: bool = Field(
        False, description="NLL on the prompt tokens too, as TRL does; default: the reply only."
    )


class KTOSection(_Section):
    """Kahneman-Tversky Optimisation settings."""

    beta: float = Field(0.1, gt=0)
    desirable_weight: float = Field(1.0, gt=0)
    undesirable_weight: float = Field(1.0, gt=0)
    threshold: float | None = Field(None, description="Scores above this are desirable.")
    loss_type: Literal["kto", "apo_zero_unpaired"] = "kto"
    score_weighting: bool = Field(
        False, description="Weight each example by its score's distance from the threshold."
    )
    auto_weights: bool = Field(
        False, description="Set desirable/undesirable weights to balance the classes."
    )
    precompute_ref: bool = Field(
        True, description="Reference log-probs of the examples computed once upfront."
    )

    @property
    def needs_kl(self) -> bool:
        """True when the loss uses the KL reference point (estimated within a micro-batch)."""
        return self.loss_type == "kto"


class LoraConfig(_Section):
    """LoRA adapter settings; ``lora: null`` in YAML means full fine-tuning."""

    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"

    @field_validator("target_modules", mode="before")
    @classmethod
    def _check_targets(cls, value: Any) -> Any:
        """Accept ``all-linear`` or a non-empty list of module names, with a clear message."""
        if value == "all-linear":
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return value
        raise ValueError(f"must be 'all-linear' or a list of module names (got {value!r})")


class TrainConfig(_Section):
    """Optimisation loop settings."""

    lr: float | None = Field(None, gt=0, description="None: the per-method DEFAULT_LR.")
    epochs: float = Field(3, gt=0)
    max_steps: int | None = Field(None, ge=1, description="Overrides epochs when set.")
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    scheduler: Literal["linear", "cosine", "constant"] = "cosine"
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, ge=0, description="0 disables clipping.")
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    gradient_checkpointing: bool = False
    seed: int = 42
    logging_steps: int = Field(5, ge=1)
    eval_steps: int | None = Field(None, ge=1, description="None: evaluate at each epoch end.")
    save_steps: int | None = Field(None, ge=1, description="None: save at the end only.")
    save_total_limit: int | None = Field(2, ge=1, description="Checkpoints kept; None: all.")
    report_to: list[Tracker] = Field(default_factory=list)

    @field_validator("report_to", mode="before")
    @classmethod
    def _one_tracker(cls, value: Any) -> Any:
        """Allow a single tracker name, and ``none`` for no tracker."""
        if value is None or value == "none":
            return []
        return [value] if isinstance(value, str) else value


class CheckRule(_Section):
    """A named rule every generated answer should pass: the product team's failure modes.

    A rule passes when all of its conditions hold; a rule needs at least one condition.
    Regexes use Python syntax and are searched anywhere in the answer (``(?i)`` ignores case).
    """

    name: str = Field(min_length=1, description="Shown in the report, e.g. 'no_sign_off'.")
    must_match: str | None = Field(None, description="Regex the answer must contain.")
    must_not_match: str | None = Field(None, description="Regex the answer must not contain.")
    max_words: int | None = Field(None, ge=1, description="At most this many words.")
    max_chars: int | None = Field(None, ge=1, description="At most this many characters.")

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


EvalVariant = Literal["baseline", "tuned", "tuned+prompt"]
EvalTask = Literal["classification", "structure", "checks", "preference", "similarity"]


class EvalConfig(_Section):
    """Before/after evaluation settings (``tuneforge eval``).

    ``baseline`` is the base model with the full prompt (``baseline_system_prompt`` plus
    ``baseline_few_shot`` train examples); ``tuned`` is the run's model with its own short prompt
    (``tuned_system_prompt``, else ``data.system_prompt``); ``tuned+prompt`` is the tuned model
    with the baseline's full prompt.
    """

    baseline_system_prompt: str | None = Field(
        None, description="The prompt-only baseline's system prompt; default data.system_prompt."
    )
    baseline_system_prompt_file: str | None = Field(
        None, description="Read the baseline system prompt from this file instead."
    )
    baseline_few_shot: int = Field(0, ge=0, description="Train examples shown to the baseline.")
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
    max_new_tokens: int = Field(
        256, ge=1, description="Cap on generated tokens; the task's own need is used when lower."
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
    price_per_million_tokens: float = Field(0.15, ge=0, description="Input price, for costs.")
    bootstrap_samples: int = Field(1000, ge=100, description="Paired bootstrap resamples.")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Confidence of the intervals.")
    seed: int = Field(0, description="Seed of the bootstrap and of the few-shot choice.")
    max_examples: int | None = Field(
        None, ge=1, description="Evaluate a seeded sample of at most this many held-out rows."
    )
    batch_size: int = Field(16, ge=1, description="Prompts per generation batch.")

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


class TuneforgeConfig(_Section):
    """One training stage: the whole YAML file.

    ``method`` selects which of the ``sft``/``dpo``/``orpo``/``kto`` sections applies
    (`method_config`); the others keep their defaults and are ignored.
    """

    method: Method
    model: str = Field("embedded", description="Hub id, local folder, or 'embedded'.")
    output: str | None = Field(None, description="Run directory; default runs/<method>-<name>.")
    data: DataConfig
    columns: dict[str, ColumnTarget] = Field(
        default_factory=dict, description="Your field name → tuneforge field name."
    )
    lora: LoraConfig | None = Field(default_factory=LoraConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    sft: SFTSection = Field(default_factory=SFTSection)
    dpo: DPOSection = Field(default_factory=DPOSection)
    orpo: ORPOSection = Field(default_factory=ORPOSection)
    kto: KTOSection = Field(default_factory=KTOSection)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        """An absent ``data`` or an empty section means its defaults (``lora: null`` excepted)."""
        if isinstance(data, Mapping):
            data = dict(data)
            for name in _SECTIONS:
                if data.get(name, {}) is None or (name == "data" and name not in data):
                    data[name] = {}
        return data

    @field_validator("columns")
    @classmethod
    def _one_source_per_target(cls, value: dict[str, str]) -> dict[str, str]:
        """Two of the user's fields cannot both become the same tuneforge field."""
        seen: dict[str, str] = {}
        for source, target in value.items():
            if target in seen:
                raise ValueError(f"'{seen[target]}' and '{source}' both map to '{target}'")
            seen[target] = source
        return value

    @model_validator(mode="after")
    def _kto_micro_batch(self) -> TuneforgeConfig:
        """KTO's KL estimate pairs each prompt with another example's completion in the batch."""
        if self.method == "kto" and self.kto.needs_kl and self.train.batch_size < 2:
            raise ValueError(
                f"train.batch_size: must be at least 2 for method kto (got "
                f"{self.train.batch_size}): KTO estimates its KL reference point from mismatched "
                "pairs inside each micro-batch (each prompt with another example's completion), "
                "which needs two examples; raise train.batch_size (train.grad_accum does not "
                "help: it adds micro-batches, not examples per micro-batch), or set "
                "kto.loss_type: apo_zero_unpaired, which has no KL term"
            )
        return self

    @property
    def method_config(self) -> SFTSection | DPOSection | ORPOSection | KTOSection:
        """The settings section of the selected method."""
        section: SFTSection | DPOSection | ORPOSection | KTOSection = getattr(self, self.method)
        return section

    @property
    def uses_lora(self) -> bool:
        """True for a LoRA adapter, False for full fine-tuning (``lora: null``)."""
        return self.lora is not None

    def resolved_lr(self) -> float:
        """``train.lr`` if set, else `DEFAULT_LR` for this method and adapter kind."""
        if self.train.lr is not None:
            return self.train.lr
        return DEFAULT_LR["lora" if self.uses_lora else "full"][self.method]

    def run_dir(self) -> Path:
        """The run directory: ``output``, or ``runs/<method>-run`` when unset.

        `load_config` fills ``output`` with ``runs/<method>-<config file stem>``.
        """
        return Path(self.output) if self.output else Path("runs") / f"{self.method}-run"

    def resolved(self) -> TuneforgeConfig:
        """A copy with every implicit value made explicit (``train.lr``, ``output``)."""
        data = self.model_dump()
        data["train"]["lr"] = self.resolved_lr()
        data["output"] = self.run_dir().as_posix()
        return type(self).model_validate(data)


# --------------------------------------------------------------------------------------------
# Overrides, paths, parsing
# --------------------------------------------------------------------------------------------


def _parse_override(text: str) -> tuple[Loc, Any]:
    """``train.lr=1e-4`` → ``(("train", "lr"), 0.0001)``; the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override '{text}': expected key.path=value (e.g. train.lr=1e-4)")
    key, raw = text.split("=", 1)
    path = tuple(part.strip() for part in key.strip().split("."))
    if not all(path):
        raise ConfigError(f"override '{text}': the key must be a dotted path like train.lr")
    try:
        value = yaml_load(raw)
    except yaml.YAMLError:
        value = raw
    # A free-text field takes the text as typed ("Answer: yes" is not a mapping).
    free_text = accepts_free_string(annotation_at(TuneforgeConfig, path))
    if free_text and value is not None and not isinstance(value, str):
        value = raw
    return path, value


def _apply(
    data: Mapping[str, Any], overrides: Sequence[str]
) -> tuple[dict[str, Any], dict[Loc, str]]:
    """`apply_overrides`, also returning which path each override set (for error messages)."""
    result = copy.deepcopy(dict(data))
    paths: dict[Loc, str] = {}
    for text in overrides:
        path, value = _parse_override(text)
        node = result
        for depth, key in enumerate(path[:-1]):
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            elif not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise ConfigError(
                    f"override '{text}': '{where}' is not a mapping (it is {child!r})"
                )
            node = child
        node[path[-1]] = value
        paths[path] = text
    return result, paths


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``a.b.c=value`` override set (dicts created as needed).

    Values are YAML (``1e-4`` → float, ``true``, ``null``, ``[q_proj, v_proj]``); free-text
    fields keep the text as typed. Raises ConfigError for an override without ``=``.
    """
    return _apply(data, overrides)[0]


def _resolve_path(value: str, base_dir: Path, *, may_be_dataset_id: bool) -> str:
    """Make a relative file path absolute against ``base_dir``; leave ids and URLs alone."""
    if "://" in value or value.startswith("hf:"):
        return value
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    candidate = (base_dir / path).resolve()
    if may_be_dataset_id and not (
        candidate.exists() or path.suffix or value.startswith((".", "~"))
    ):
        return value  # e.g. "org/dataset" on the Hugging Face hub
    return str(candidate)


def _resolve_paths(data: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Resolve every relative string in `PATH_FIELDS` (in place; non-strings are left alone)."""
    for (section, key), may_be_id in PATH_FIELDS.items():
        block = data.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str) and block[key]:
            block[key] = _resolve_path(block[key], base_dir, may_be_dataset_id=may_be_id)
    return data


def _parse(
    data: Any, *, source: str, base_dir: Path | None, override_paths: Mapping[Loc, str]
) -> TuneforgeConfig:
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: the top level must be a mapping of keys such as 'method: sft' "
            f"(got {type(data).__name__})"
        )
    data = copy.deepcopy(dict(data))
    if base_dir is not None:
        _resolve_paths(data, base_dir)
    try:
        return TuneforgeConfig.model_validate(data)
    except ValidationError as exc:
        raise validation_error(
            exc, root=TuneforgeConfig, source=source, data=data, override_paths=override_paths
        ) from None


def parse_config(
    data: Mapping[str, Any], *, source: str = "<config>", base_dir: Path | None = None
) -> TuneforgeConfig:
    """Validate an already-parsed config mapping.

    ``source`` prefixes error lines; relative paths are resolved against ``base_dir`` when given
    (and left as they are otherwise). Raises ConfigError listing every problem.
    """
    return _parse(data, source=source, base_dir=base_dir, override_paths={})


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file with tuneforge's rules, raising ConfigError with FILE:LINE:COLUMN."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a folder, not a file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        return yaml_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error_message(str(path), exc)) from None


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> TuneforgeConfig:
    """Read, override and validate a config file.

    Relative paths in the file are resolved against its folder, relative paths in overrides
    against the working directory. ``output`` defaults to ``runs/<method>-<file stem>``.
    Raises ConfigError (missing file, YAML syntax with line and column, invalid values).
    """
    path = Path(path)
    raw = read_yaml(path)
    if raw is None:  # an empty file: report what is required
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys such as 'method: sft' "
            f"(got {type(raw).__name__})"
        )
    raw = _resolve_paths(copy.deepcopy(raw), path.parent.resolve())
    raw, override_paths = _apply(raw, overrides)
    cfg = _parse(raw, source=str(path), base_dir=Path.cwd(), override_paths=override_paths)
    if cfg.output is None:
        cfg.output = f"runs/{cfg.method}-{path.stem}"
    return cfg


def dump_config(cfg: TuneforgeConfig) -> str:
    """The fully resolved config as YAML (every default, ``train.lr`` and ``output`` filled in).

    Loading the text back gives ``cfg.resolved()``.
    """
    header = "# tuneforge config, fully resolved (defaults filled in)\n"
    return header + yaml_dump(cfg.resolved().model_dump(mode="json"))


def config_command(path: Path, overrides: list[str]) -> int:
    """``tuneforge config``: print the resolved config; exit 2 with ``error:`` lines if invalid."""
    try:
        cfg = load_config(path, overrides)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    sys.stdout.write(dump_config(cfg))
    return 0
