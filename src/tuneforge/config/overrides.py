"""Dotted command-line overrides (``train.lr=1e-4``) and config-relative file paths."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from tuneforge.config.diagnostics import (
    MAX_NESTING,
    Loc,
    YamlLimitError,
    accepts_free_string,
    annotation_at,
    show_value,
    yaml_load,
)
from tuneforge.errors import ConfigError

#: Fields holding file paths: resolved against the config's folder when loaded from a file.
#: ``True`` means the value may also be a Hugging Face dataset id (left alone unless it looks
#: like a file: it exists, has a file suffix, or starts with ``.`` or ``~``).
PATH_FIELDS: dict[Loc, bool] = {
    ("data", "train"): True,
    ("data", "eval"): True,
    ("eval", "json_schema"): False,
    ("eval", "baseline_system_prompt_file"): False,
}

#: Top-level keys whose bare string is short for a mapping with the string under this key
#: (``model: NAME`` is ``model: {path: NAME}``), so ``model.dtype=bf16`` extends it.
SHORTHANDS: dict[str, str] = {"model": "path"}

#: The deepest dotted key an override may name (tuneforge's keys are at most a few levels).
MAX_OVERRIDE_DEPTH = min(16, MAX_NESTING)


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _parse_override(text: str, root: type[BaseModel]) -> tuple[Loc, Any]:
    """``train.lr=1e-4`` → ``(("train", "lr"), 0.0001)``; the value is read as YAML."""
    if "=" not in text:
        raise ConfigError(f"override '{text}': expected key.path=value (e.g. train.lr=1e-4)")
    key, raw = text.split("=", 1)
    path = tuple(part.strip() for part in key.strip().split("."))
    if len(path) > MAX_OVERRIDE_DEPTH:
        raise ConfigError(
            f"override '{_short(key)}': the key is nested {len(path)} levels deep; "
            f"at most {MAX_OVERRIDE_DEPTH} (keys are at most a few levels deep, like train.lr)"
        )
    if not all(path):
        raise ConfigError(f"override '{text}': the key must be a dotted path like train.lr")
    try:
        value = yaml_load(raw)
    except YamlLimitError as exc:
        problem = exc.problem
        raise ConfigError(f"override '{_short(key)}': the value is refused: {problem}") from None
    except yaml.YAMLError:
        value = raw
    # A free-text field takes the text as typed ("Answer: yes" is not a mapping).
    free_text = accepts_free_string(annotation_at(root, path))
    if free_text and value is not None and not isinstance(value, str):
        value = raw
    return path, value


def apply_with_paths(
    data: Mapping[str, Any], overrides: Sequence[str], root: type[BaseModel]
) -> tuple[dict[str, Any], dict[Loc, str]]:
    """`apply_overrides`, also returning which path each override set (for error messages)."""
    result = copy.deepcopy(dict(data))
    paths: dict[Loc, str] = {}
    for text in overrides:
        path, value = _parse_override(text, root)
        node = result
        for depth, key in enumerate(path[:-1]):
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            elif depth == 0 and isinstance(child, str) and key in SHORTHANDS:
                child = node[key] = {SHORTHANDS[key]: child}
            elif not isinstance(child, dict):
                where = ".".join(path[: depth + 1])
                raise ConfigError(
                    f"override '{text}': '{where}' is not a mapping (it is {show_value(child)})"
                )
            node = child
        node[path[-1]] = value
        paths[path] = text
    return result, paths


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


def resolve_paths(data: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Resolve every relative string in `PATH_FIELDS` (in place; non-strings are left alone)."""
    for (section, key), may_be_id in PATH_FIELDS.items():
        block = data.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str) and block[key]:
            block[key] = _resolve_path(block[key], base_dir, may_be_dataset_id=may_be_id)
    return data
