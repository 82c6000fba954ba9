"""Reading a config: YAML with tuneforge's rules, dotted overrides, validation, printing.

Unknown keys are errors, reported with their YAML path and the nearest valid key::

    cfg.yaml: train.lrr: unknown key; did you mean 'lr'?

Relative ``data.train``, ``data.eval``, ``eval.json_schema`` and
``eval.baseline_system_prompt_file`` paths in a file are resolved against the file's folder;
paths given as command-line overrides against the working directory. Every function takes the
config model to validate against (``model``); the default is tuneforge's own
(`default_config_model`), a test may pass one built from another registry.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tuneforge.config.diagnostics import (
    Loc,
    validation_error,
    yaml_dump,
    yaml_error_message,
    yaml_load,
)
from tuneforge.config.overrides import apply_with_paths, resolve_paths
from tuneforge.config.schema import TuneforgeConfig, default_config_model
from tuneforge.errors import ConfigError
from tuneforge.io import InputFileError, read_input_file

ConfigModel = type[TuneforgeConfig]

#: A config file larger than this (in MB) is refused unless TUNEFORGE_MAX_FILE_MB raises it.
CONFIG_MAX_MB = 1


def apply_overrides(
    data: Mapping[str, Any], overrides: Sequence[str], *, model: ConfigModel | None = None
) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``a.b.c=value`` override set (dicts created as needed).

    Values are YAML (``1e-4`` → float, ``true``, ``null``, ``[q_proj, v_proj]``); free-text
    fields keep the text as typed. Raises ConfigError for an override without ``=``.
    """
    return apply_with_paths(data, overrides, model or default_config_model())[0]


def _parse(
    data: Any,
    *,
    source: str,
    base_dir: Path | None,
    override_paths: Mapping[Loc, str],
    model: ConfigModel,
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
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(
            exc, root=model, source=source, data=data, override_paths=override_paths
        ) from None


def parse_config(
    data: Mapping[str, Any],
    *,
    source: str = "<config>",
    base_dir: Path | None = None,
    model: ConfigModel | None = None,
) -> TuneforgeConfig:
    """Validate an already-parsed config mapping.

    ``source`` prefixes error lines; relative paths are resolved against ``base_dir`` when given
    (and left as they are otherwise). Raises ConfigError listing every problem.
    """
    model = model or default_config_model()
    return _parse(data, source=source, base_dir=base_dir, override_paths={}, model=model)


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file with tuneforge's rules, raising ConfigError with FILE:LINE:COLUMN."""
    path = Path(path)
    try:
        text = read_input_file(path, what="config file", default_mb=CONFIG_MAX_MB).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except InputFileError as exc:
        if path.is_dir():
            raise ConfigError(f"config path is a folder, not a file: {path}") from None
        raise ConfigError(f"{path}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        return yaml_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_error_message(str(path), exc)) from None


def load_config(
    path: str | Path, overrides: Sequence[str] = (), *, model: ConfigModel | None = None
) -> TuneforgeConfig:
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
    model = model or default_config_model()
    raw, override_paths = apply_with_paths(raw, overrides, model)
    cfg = _parse(
        raw, source=str(path), base_dir=Path.cwd(), override_paths=override_paths, model=model
    )
    if cfg.output is None:
        cfg.output = f"runs/{cfg.method}-{path.stem}"
    return cfg


def dump_config(cfg: TuneforgeConfig) -> str:
    """The fully resolved config as YAML (every default, ``train.lr`` and ``output`` filled in).

    Loading the text back gives ``cfg.resolved()``.
    """
    header = "# tuneforge config, fully resolved (defaults filled in)\n"
    return header + yaml_dump(cfg.resolved().model_dump(mode="json"))
