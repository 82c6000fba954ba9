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
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from tuneforge.config_base import Section as _Section
from tuneforge.config_errors import (
    Loc,
    validation_error,
    yaml_dump,
    yaml_error_message,
    yaml_load,
)
from tuneforge.config_eval import CheckRule, EvalConfig, EvalTask, EvalVariant
from tuneforge.config_overrides import apply_with_paths, resolve_paths
from tuneforge.errors import ConfigError

#: Re-exported: the eval section lives in ``config_eval`` but belongs to this config's API.
__all__ = [
    "DEFAULT_LR",
    "CheckRule",
    "DataConfig",
    "DPOSection",
    "EvalConfig",
    "EvalTask",
    "EvalVariant",
    "KTOSection",
    "LoraConfig",
    "ORPOSection",
    "SFTSection",
    "TrainConfig",
    "TuneforgeConfig",
    "apply_overrides",
    "config_command",
    "dump_config",
    "load_config",
    "parse_config",
    "read_yaml",
]

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

# Sections that an empty YAML value (``train:`` with everything commented out) means "defaults".
_SECTIONS = ("data", "sft", "dpo", "orpo", "kto", "train", "eval")


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


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``a.b.c=value`` override set (dicts created as needed).

    Values are YAML (``1e-4`` → float, ``true``, ``null``, ``[q_proj, v_proj]``); free-text
    fields keep the text as typed. Raises ConfigError for an override without ``=``.
    """
    return apply_with_paths(data, overrides, TuneforgeConfig)[0]


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
        resolve_paths(data, base_dir)
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
    raw = resolve_paths(copy.deepcopy(raw), path.parent.resolve())
    raw, override_paths = apply_with_paths(raw, overrides, TuneforgeConfig)
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
