"""``tuneforge run PIPELINE.yaml``: the pipeline file's schema and its loading.

A pipeline file holds the keys every stage shares (``model``, ``output``, ``data.eval`` and
``eval``) and ``stages:``, a list of stage configs. Each stage is validated with the same schema
as ``tuneforge train`` (`default_config_model`), defaults filled in the same way, after the
shared keys are merged in: ``model`` (the pipeline's; the runner replaces it with the previous
stage's merged model), ``output`` (``OUTPUT/stages/NAME``), ``data.eval`` (the pipeline's
held-out set) and ``eval`` (the pipeline's section, under the stage's own keys).

A stage adds ``name`` (unique, ``[a-z0-9_-]+``) and may take ``data: {pairs_from: NAME}`` to
train on pairs built from an earlier stage's mistakes. Errors name the key path inside the
file, e.g. ``pipeline.yaml: stages[1].train.lrr: unknown key; did you mean 'lr'?``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from tuneforge.config.diagnostics import validation_error
from tuneforge.config.eval import EvalConfig
from tuneforge.config.loading import parse_config, read_yaml
from tuneforge.config.overrides import apply_with_paths, resolve_paths
from tuneforge.config.schema import ModelConfig, TuneforgeConfig, default_config_model
from tuneforge.config.section import Section
from tuneforge.errors import ConfigError

STAGE_NAME = re.compile(r"[a-z0-9_-]+")
#: Where a stage's run directory lies inside the pipeline's output folder.
STAGES_DIR = "stages"
#: Stands in for a ``pairs_from`` stage's training file until the pairs are written.
PAIRS_PLACEHOLDER = "pairs.jsonl"
_MARK = "\x00stage"


class PipelineData(Section):
    """The pipeline's own ``data:`` keys: only the held-out set is shared."""

    eval: str | None = Field(
        None, description="Held-out file for every stage; default: split from the first stage."
    )


class PipelineConfig(Section):
    """The top level of a pipeline file (the stages are checked one by one, see `load_pipeline`)."""

    model: ModelConfig = Field(
        default_factory=ModelConfig,
        description="The base model the first stage trains (a name, or {path, dtype, "
        "attn_implementation}); every stage loads its model with these settings.",
    )
    output: str | None = Field(None, description="Output folder; default runs/pipeline-<stem>.")
    data: PipelineData = Field(default_factory=PipelineData)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    stages: list[Any] = Field(description="The stages, trained in order.")

    @field_validator("stages")
    @classmethod
    def _some_stage(cls, value: list[Any]) -> list[Any]:
        """A pipeline without stages would only measure the baseline: `tuneforge eval` does."""
        if not value:
            raise ValueError("list at least one stage (each with name, method and data)")
        return value


@dataclass(frozen=True)
class PipelineStage:
    """One stage: its name, its full stage config and where its training data comes from."""

    index: int
    name: str
    config: TuneforgeConfig
    """The stage config with the pipeline's keys merged in (``model`` is the pipeline's)."""
    pairs_from: str | None = None
    """An earlier stage whose model's mistakes become this stage's pairs (`tuneforge pairs`)."""


@dataclass(frozen=True)
class Pipeline:
    """A loaded pipeline file."""

    source: Path
    config: PipelineConfig
    stages: list[PipelineStage]

    @property
    def output(self) -> Path:
        """The output folder."""
        return Path(self.config.output or f"runs/pipeline-{self.source.stem}")

    def stage(self, name: str) -> PipelineStage:
        """The stage called ``name``."""
        return next(stage for stage in self.stages if stage.name == name)


def load_pipeline(path: str | Path, overrides: Sequence[str] = ()) -> Pipeline:
    """Read, override and validate a pipeline file; ConfigError lists what is wrong.

    Relative paths in the file are resolved against its folder (top level and stages), paths in
    overrides against the working directory. An override ``stages.NAME.KEY=VALUE`` sets a key of
    one stage (``stages.dpo.train.lr=1e-5``); any other override sets a top-level key.
    """
    path = Path(path)
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping with model, output, data, eval and "
            f"stages (got {type(raw).__name__ if raw is not None else 'an empty file'})"
        )
    raw = copy.deepcopy(raw)
    folder = path.parent.resolve()
    resolve_paths(raw, folder)
    stages_raw = raw.get("stages")
    if isinstance(stages_raw, list):
        for stage in stages_raw:
            if isinstance(stage, dict):
                resolve_paths(stage, folder)
    raw, override_paths = _apply_overrides(raw, overrides)
    resolve_paths(raw, Path.cwd())
    try:
        top = PipelineConfig.model_validate(raw)
    except ValidationError as exc:
        raise validation_error(
            exc, root=PipelineConfig, source=str(path), data=raw, override_paths=override_paths
        ) from None
    output = Path(top.output or f"runs/pipeline-{path.stem}")
    top.output = str(output)
    shared_eval = raw.get("eval") or {}
    stages = _stages(path, top, shared_eval, output)
    return Pipeline(path, top, stages)


def _apply_overrides(
    raw: dict[str, Any], overrides: Sequence[str]
) -> tuple[dict[str, Any], dict[Any, str]]:
    """Top-level overrides on the file, ``stages.NAME.KEY=VALUE`` on that stage's mapping."""
    top = [text for text in overrides if not text.strip().startswith("stages.")]
    raw, paths = apply_with_paths(raw, top, PipelineConfig)
    stages = raw.get("stages")
    for text in overrides:
        if not text.strip().startswith("stages."):
            continue
        key, _, value = text.strip()[len("stages.") :].partition("=")
        name, _, rest = key.partition(".")
        names = [s.get("name") for s in stages or [] if isinstance(s, dict)]
        if name not in names or not rest:
            raise ConfigError(
                f"override '{text}': expected stages.NAME.KEY=VALUE with NAME one of the "
                f"stages ({', '.join(map(str, names)) or 'none'})"
            )
        index = names.index(name)
        assert isinstance(stages, list)
        stages[index] = apply_with_paths(
            stages[index], [f"{rest}={value}"], default_config_model()
        )[0]
    return raw, paths


def _stages(
    path: Path, top: PipelineConfig, shared_eval: Mapping[str, Any], output: Path
) -> list[PipelineStage]:
    """Every stage checked and validated, in order; errors name ``stages[i].key``."""
    seen: list[str] = []
    stages: list[PipelineStage] = []
    problems: list[str] = []
    for index, raw in enumerate(top.stages):
        where = f"{path}: stages[{index}]"
        try:
            stage = _stage(index, raw, where, seen, top, shared_eval, output)
        except ConfigError as exc:
            problems.extend(str(exc).splitlines())
            if isinstance(raw, dict) and isinstance(raw.get("name"), str):
                seen.append(raw["name"])
            continue
        seen.append(stage.name)
        stages.append(stage)
    if problems:
        raise ConfigError("\n".join(problems))
    return stages


def _stage(
    index: int,
    raw: Any,
    where: str,
    seen: list[str],
    top: PipelineConfig,
    shared_eval: Mapping[str, Any],
    output: Path,
) -> PipelineStage:
    """One stage: its name and keys checked, the shared keys merged in, then validated."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a stage must be a mapping with name and method")
    data = dict(raw)
    name = data.pop("name", None)
    if not isinstance(name, str) or not STAGE_NAME.fullmatch(name):
        shown = "missing" if name is None else f"{name!r} is not allowed"
        raise ConfigError(
            f"{where}.name: {shown}; a stage needs a name of lowercase letters, digits, '-' "
            "and '_' (it names the stage's folder and its column in the report)"
        )
    if name in seen:
        raise ConfigError(f"{where}.name: '{name}' is already the name of an earlier stage")
    for key, why in (
        ("model", "set model at the top level; a later stage trains from the previous one"),
        ("output", f"set by the pipeline ({STAGES_DIR}/{name} in its output folder)"),
    ):
        if key in data:
            raise ConfigError(f"{where}.{key}: not a stage key: {why}")
    section = data.get("data")
    section = dict(section) if isinstance(section, dict) else section
    pairs_from = None
    if isinstance(section, dict):
        if "eval" in section:
            raise ConfigError(
                f"{where}.data.eval: every stage is measured on the pipeline's held-out set; "
                "set data.eval at the top level"
            )
        pairs_from = section.pop("pairs_from", None)
        if pairs_from is not None:
            if pairs_from not in seen:
                earlier = ", ".join(seen) or "none"
                raise ConfigError(
                    f"{where}.data.pairs_from: {pairs_from!r} is not an earlier stage "
                    f"(earlier stages: {earlier})"
                )
            if "train" in section:
                raise ConfigError(
                    f"{where}.data: set train or pairs_from, not both (pairs_from writes "
                    "the training pairs)"
                )
            section["train"] = str(output / "pairs" / f"{name}.jsonl")
        section["eval"] = top.data.eval
        data["data"] = section
    stage_eval = data.get("eval")
    if isinstance(stage_eval, dict) or stage_eval is None:
        data["eval"] = {**copy.deepcopy(dict(shared_eval)), **(stage_eval or {})}
    data["model"] = top.model.model_dump()  # the bare name while every setting is auto
    data["output"] = str(output / STAGES_DIR / name)
    try:
        config = parse_config(data, source=_MARK)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace(f"{_MARK}: ", f"{where}.")) from None
    return PipelineStage(index, name, config, pairs_from)
