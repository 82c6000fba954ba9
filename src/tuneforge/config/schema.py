"""The run config's schema: the shared sections, and the whole file built from the method registry.

A file with only ``method:`` and ``data.train:`` is a complete config; every other setting has
a default chosen to work well on a few hundred examples. The per-method sections (``sft:``,
``dpo:``, ...) are not written here: each method module under ``methods/`` declares its own
section, record kind and default learning rates in its `MethodSpec`, and `config_model` builds
the file's model from a registry of those specs. `TuneforgeConfig` is the base every built
model derives from, and the type the rest of the code works with.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    create_model,
    field_validator,
    model_serializer,
    model_validator,
)

from tuneforge.config.eval import EvalConfig
from tuneforge.config.section import (
    MAX_BATCH,
    MAX_SEED,
    MAX_STEPS,
    Bool,
    Float,
    Int,
    sane_max,
)
from tuneforge.config.section import Section as _Section

if TYPE_CHECKING:
    from tuneforge.methods.base import MethodSpec

__all__ = [
    "DataConfig",
    "EarlyStoppingConfig",
    "LoraConfig",
    "ModelConfig",
    "TrainConfig",
    "TuneforgeConfig",
    "config_model",
    "default_config_model",
]

ModelDtype = Literal["auto", "bf16", "fp16", "fp32"]
AttnImplementation = Literal["auto", "sdpa", "eager", "flash_attention_2"]
Quantize = Literal["4bit", "8bit"]
ColumnTarget = Literal["prompt", "completion", "chosen", "rejected", "score", "messages"]
Tracker = Literal["tensorboard", "wandb", "mlflow"]

#: Shared sections that an empty YAML value (``train:`` with everything commented out) means
#: "defaults"; the method sections are added from the registry.
_SHARED_SECTIONS = ("data", "train", "eval")
#: Top-level keys a method name must not take.
#: Early-stopping checks over a run when ``train.early_stopping.every_steps`` is unset.
CHECKS_PER_RUN = 20
_RESERVED = frozenset({"method", "model", "output", "data", "columns", "lora", "train", "eval"})


class DataConfig(_Section):
    """Where the examples are and how they are turned into tokens."""

    train: str = Field(min_length=1, description="Training data file (or dataset id).")
    eval: str | None = Field(None, description="Held-out file; default: split from train.")
    eval_split: Float = Field(0.1, ge=0, le=0.5, description="Fraction held out; 0 disables.")
    max_length: Int = Field(1024, gt=0, description="Max tokens per example.")
    chat_template: bool = Field(True, description="Render text through the chat template.")
    system_prompt: str | None = Field(None, description="System turn added to every prompt.")


class ModelConfig(_Section):
    """The base model and how its weights are loaded.

    ``model: NAME`` (a string) is short for ``model: {path: NAME}``; a config whose settings
    are all ``auto`` is written back as that bare string, so config.yaml, resume checks and
    pipeline hashes of configs that never set them are unchanged.
    """

    path: str = Field("embedded", min_length=1, description="Hub id, local folder, or 'embedded'.")
    dtype: ModelDtype = Field(
        "auto",
        description="Weight dtype; auto: bf16 on a GPU that supports it, else fp32 (CPU).",
    )
    attn_implementation: AttnImplementation = Field(
        "auto",
        description="auto: flash_attention_2 on a CUDA GPU where flash-attn is installed and "
        "the weights are bf16/fp16, else sdpa.",
    )

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, data: Any) -> Any:
        """A bare string (the original ``model: NAME`` form) names the path."""
        if isinstance(data, str | int | float) and not isinstance(data, bool):
            return {"path": str(data)}
        return data

    @model_serializer(mode="wrap")
    def _as_name_when_default(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Dump as the bare path while every loading setting is ``auto``."""
        if self.dtype == "auto" and self.attn_implementation == "auto":
            return self.path
        return handler(self)

    def with_path(self, path: str) -> ModelConfig:
        """The same loading settings for another model (a pipeline's previous stage)."""
        return self.model_copy(update={"path": path})


class LoraConfig(_Section):
    """LoRA adapter settings; ``lora: null`` in YAML means full fine-tuning."""

    r: Int = Field(16, ge=1)
    alpha: Int = Field(32, ge=1)
    dropout: Float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    quantize: Quantize | None = Field(
        None,
        description="QLoRA: load the frozen base in 4-bit (NF4) or 8-bit (bitsandbytes, CUDA "
        "only); null: unquantised.",
    )

    @field_validator("target_modules", mode="before")
    @classmethod
    def _check_targets(cls, value: Any) -> Any:
        """Accept ``all-linear`` or a non-empty list of module names, with a clear message."""
        if value == "all-linear":
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
            return value
        raise ValueError(f"must be 'all-linear' or a list of module names (got {value!r})")


class EarlyStoppingConfig(_Section):
    """Stop when the held-out loss stops improving, and keep the best weights.

    Every ``every_steps`` optimizer steps the loss of a fixed subset of the held-out set
    (``max_items`` examples spread evenly over it) is measured; after ``patience`` checks in a
    row without an improvement of more than ``min_delta`` the run stops, and final/ holds the
    weights of the best check. Without held-out data it does nothing.
    """

    enabled: Bool = True
    patience: Int = Field(
        3, ge=1, le=MAX_STEPS, description="Checks in a row without improvement before stopping."
    )
    min_delta: Float = Field(
        0.01,
        ge=0,
        lt=1,
        description="Relative improvement that counts: the loss must fall below "
        "best × (1 − min_delta).",
    )
    every_steps: Int | None = Field(
        None,
        ge=1,
        le=MAX_STEPS,
        description=f"Check every N optimizer steps; None: {CHECKS_PER_RUN} checks over the run.",
    )
    max_items: Int | None = Field(
        32, ge=1, le=MAX_BATCH, description="Held-out examples each check scores; None: all."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """``early_stopping: false`` / ``true`` switch it off or on with the other defaults."""
        return {"enabled": data} if isinstance(data, bool) else data


class TrainConfig(_Section):
    """Optimisation loop settings."""

    lr: Float | None = Field(None, gt=0, description="None: the method's default (its MethodSpec).")
    epochs: Annotated[Float, sane_max(1000, " (use max_steps for longer runs)")] = Field(3, gt=0)
    max_steps: Int | None = Field(
        None, ge=1, le=MAX_STEPS, description="Overrides epochs when set."
    )
    batch_size: Int = Field(4, ge=1, le=MAX_BATCH)
    grad_accum: Int = Field(1, ge=1, le=MAX_BATCH)
    scheduler: Literal["linear", "cosine", "constant"] = "cosine"
    warmup_ratio: Float = Field(0.05, ge=0, lt=1)
    weight_decay: Float = Field(0.0, ge=0)
    max_grad_norm: Float = Field(1.0, ge=0, description="0 disables clipping.")
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    gradient_checkpointing: bool = False
    compile: Bool = Field(
        False,
        description="torch.compile the model (CUDA); off by default: variable batch shapes "
        "recompile, which costs more than it saves on short runs.",
    )
    seed: Int = Field(42, ge=0, le=MAX_SEED)
    logging_steps: Int = Field(5, ge=1, le=MAX_STEPS)
    eval_steps: Int | None = Field(
        None, ge=1, le=MAX_STEPS, description="None: evaluate at each epoch end."
    )
    save_steps: Int | None = Field(
        None, ge=1, le=MAX_STEPS, description="Also checkpoint every N steps; None: off."
    )
    save_minutes: Float | None = Field(
        10,
        ge=0,
        le=10_000,
        description="Checkpoint when this many minutes passed since the last; 0 or None: off.",
    )
    save_every_epoch: bool = Field(True, description="Checkpoint at the end of every epoch.")
    save_total_limit: Int | None = Field(2, ge=1, description="Checkpoints kept; None: all.")
    report_to: list[Tracker] = Field(default_factory=list)
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)

    @field_validator("early_stopping", mode="before")
    @classmethod
    def _early_stopping_defaults(cls, value: Any) -> Any:
        """An empty ``early_stopping:`` (YAML null) means its defaults."""
        return {} if value is None else value

    @field_validator("report_to", mode="before")
    @classmethod
    def _one_tracker(cls, value: Any) -> Any:
        """Allow a single tracker name, and ``none`` for no tracker."""
        if value is None or value == "none":
            return []
        return [value] if isinstance(value, str) else value


class TuneforgeConfig(_Section):
    """One training stage: the whole YAML file.

    The base of every model `config_model` builds: the built model adds one section per
    registered method (``sft:``, ``dpo:``...) and narrows ``method`` to the registered names.
    ``method`` selects which section applies (`method_config`); the others keep their
    defaults and are ignored.
    """

    #: The method specs this config model was built from (`config_model`).
    registry: ClassVar[Mapping[str, MethodSpec]] = MappingProxyType({})

    method: str = Field(description="The training method; see `tuneforge.methods`.")
    model: ModelConfig = Field(
        default_factory=ModelConfig,
        description="The base model: a hub id, local folder or 'embedded', or a mapping "
        "{path, dtype, attn_implementation}.",
    )
    trust_remote_code: Bool = Field(
        False,
        description="Run the Python code a model folder ships (config.json auto_map); "
        "off by default: only set it for a model whose code you have read.",
    )
    output: str | None = Field(None, description="Run directory; default runs/<method>-<name>.")
    data: DataConfig
    columns: dict[str, ColumnTarget] = Field(
        default_factory=dict, description="Your field name → tuneforge field name."
    )
    lora: LoraConfig | None = Field(default_factory=LoraConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        """An absent ``data`` or an empty section means its defaults (``lora: null`` excepted)."""
        if isinstance(data, Mapping):
            data = dict(data)
            for name in (*_SHARED_SECTIONS, *cls.registry):
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
    def _method_rules(self) -> TuneforgeConfig:
        """The selected method's checks across sections (`MethodSpec.check_config`)."""
        spec = self.registry.get(self.method)
        if spec is not None and spec.check_config is not None:
            spec.check_config(self)
        return self

    @property
    def method_spec(self) -> MethodSpec:
        """The spec of the selected method."""
        return self.registry[self.method]

    @property
    def method_config(self) -> _Section:
        """The settings section of the selected method."""
        section: _Section = getattr(self, self.method)
        return section

    @property
    def uses_lora(self) -> bool:
        """True for a LoRA adapter, False for full fine-tuning (``lora: null``)."""
        return self.lora is not None

    def resolved_lr(self) -> float:
        """``train.lr`` if set, else the method's default for this adapter kind."""
        if self.train.lr is not None:
            return self.train.lr
        return self.method_spec.default_lr.for_adapter(lora=self.uses_lora)

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


def config_model(registry: Mapping[str, MethodSpec]) -> type[TuneforgeConfig]:
    """The config file's model for ``registry``: one section per method, ``method`` narrowed.

    Raises ValueError for an empty registry or a method name that is a shared key.
    """
    if not registry:
        raise ValueError("a config model needs at least one method")
    clashes = sorted(set(registry) & _RESERVED)
    if clashes:
        raise ValueError(f"method names {clashes} clash with the config's own keys")
    names = tuple(registry)
    sections: dict[str, Any] = {
        name: (spec.section, Field(default_factory=spec.section)) for name, spec in registry.items()
    }
    model = create_model(
        "TuneforgeConfig",
        __base__=TuneforgeConfig,
        __module__=__name__,
        method=(Literal[names], Field(description="The training method.")),  # type: ignore[valid-type]
        **sections,
    )
    model.registry = MappingProxyType(dict(registry))
    return model


@cache
def default_config_model() -> type[TuneforgeConfig]:
    """The config model of tuneforge's own methods (`tuneforge.methods.METHODS`).

    Built on first use: the method modules declare their sections, so they load only when a
    config is parsed, not when this package is imported.
    """
    from tuneforge.methods import METHODS

    return config_model(METHODS)
