"""Helpers for `tuneforge.config`: YAML reading rules and readable validation errors.

Two jobs live here so that `config.py` stays about the config itself:

* a YAML loader with YAML 1.2 scalars (``1e-4`` is a float; ``yes``/``no``/``on``/``off`` and
  dates stay strings) that rejects duplicate keys, plus a matching dumper;
* turning a pydantic ``ValidationError`` into one ``FILE: yaml.path: message`` line per problem,
  with "did you mean" suggestions for misspelt keys and values.
"""

from __future__ import annotations

import difflib
import re
import reprlib
import types
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from tuneforge.errors import ConfigError

Loc = tuple[Any, ...]

# --------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------

_BOOL_TAG = "tag:yaml.org,2002:bool"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_DROPPED_TAGS = {_BOOL_TAG, _FLOAT_TAG, "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"}
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)


#: The most values a YAML document may expand to (aliases counted at every use) and the
#: deepest nesting it may have: a config is a few dozen keys, so these only stop hostile input
#: (an "alias bomb" of nested aliases expands to billions of values from a few lines).
MAX_YAML_NODES = 100_000
MAX_NESTING = 100


class YamlLimitError(yaml.constructor.ConstructorError):
    """A YAML document nested too deeply or expanding to too many values (hostile input)."""


class YamlLoader(yaml.SafeLoader):
    """A safe loader with YAML 1.2 booleans and floats that refuses duplicate keys.

    Nesting is bounded while composing (so deep input never reaches Python's recursion limit)
    and the document's expanded size, aliases included, is bounded before anything is built.
    """

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Compose one node, refusing nesting deeper than `MAX_NESTING`."""
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise YamlLimitError(
                    None,
                    None,
                    f"nested more than {MAX_NESTING} levels deep",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, raising a marked error when a key appears twice."""
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # unhashable key: let the base class report it
                continue
            if first != key_node.start_mark.line + 1:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first set on line {first})",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
YamlLoader.add_implicit_resolver(_BOOL_TAG, _BOOL_RE, list("tTfF"))
YamlLoader.add_implicit_resolver(_FLOAT_TAG, _FLOAT_RE, list("-+0123456789."))


class YamlDumper(yaml.SafeDumper):
    """A safe dumper that quotes any string `YamlLoader` would read as a number."""


YamlDumper.add_implicit_resolver(_FLOAT_TAG, _FLOAT_RE, list("-+0123456789."))


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph that expands past `MAX_YAML_NODES` values or `MAX_NESTING` levels.

    Aliases share nodes, so sizes and depths are memoised per node and the walk is iterative:
    an alias bomb is measured in time linear in its text, never expanded.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    active: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        if done:
            active.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > MAX_YAML_NODES:
                raise YamlLimitError(
                    None,
                    None,
                    f"the document expands to more than {MAX_YAML_NODES:,} values "
                    "(aliases are counted at every use)",
                    node.start_mark,
                )
            if depth[key] > MAX_NESTING:
                raise YamlLimitError(
                    None,
                    None,
                    f"nested more than {MAX_NESTING} levels deep (aliases included)",
                    node.start_mark,
                )
            continue
        if key in size:
            continue
        if key in active:
            raise YamlLimitError(
                None, None, "an alias refers to a value that contains it", node.start_mark
            )
        active.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def yaml_load(text: str) -> Any:
    """Parse YAML text with `YamlLoader` (raises ``yaml.YAMLError``).

    Nesting and the expanded size (aliases counted at every use) are bounded, so hostile text
    ends in a ``yaml.YAMLError`` rather than a hang, a memory blow-up or a RecursionError.
    """
    loader = YamlLoader(text)  # YamlLoader derives from SafeLoader
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def yaml_dump(data: Any) -> str:
    """Dump plain data as block-style YAML that `yaml_load` reads back identically."""
    return yaml.dump(
        data, Dumper=YamlDumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )


def yaml_error_message(source: str, exc: yaml.YAMLError) -> str:
    """Describe a YAML syntax error as ``FILE:LINE:COLUMN: invalid YAML: problem``."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return f"{source}: invalid YAML: {problem}"
    return f"{source}:{mark.line + 1}:{mark.column + 1}: invalid YAML: {problem}"


# --------------------------------------------------------------------------------------------
# Walking the schema
# --------------------------------------------------------------------------------------------


def _unwrap_optional(tp: Any) -> Any:
    """``X | None`` → ``X``; any other annotation unchanged."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def annotation_at(root: type[BaseModel], loc: Sequence[Any]) -> Any | None:
    """The type annotation of the value at ``loc`` below ``root``, or None if there is none."""
    tp: Any = root
    for key in loc:
        tp = _unwrap_optional(tp)
        origin = get_origin(tp)
        if _is_model(tp):
            field = tp.model_fields.get(key) if isinstance(key, str) else None
            if field is None:
                return None
            tp = field.annotation
        elif origin is dict:
            tp = get_args(tp)[1]
        elif origin is list and isinstance(key, int):
            tp = get_args(tp)[0]
        else:
            return None
    return tp


def accepts_free_string(tp: Any) -> bool:
    """Whether an annotation is a plain (optional) string, not a Literal or a container."""
    return _unwrap_optional(tp) is str


def field_paths(root: type[BaseModel], prefix: Loc = ()) -> list[Loc]:
    """Every field path below ``root`` (sections and their keys), depth first."""
    paths: list[Loc] = []
    for name, field in root.model_fields.items():
        paths.append((*prefix, name))
        inner = _unwrap_optional(field.annotation)
        if _is_model(inner):
            paths.extend(field_paths(inner, (*prefix, name)))
    return paths


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------

# Names users bring from transformers/TRL/other tools → where the setting lives here.
KEY_ALIASES: dict[str, str] = {
    "learning_rate": "train.lr",
    "num_train_epochs": "train.epochs",
    "per_device_train_batch_size": "train.batch_size",
    "gradient_accumulation_steps": "train.grad_accum",
    "lr_scheduler_type": "train.scheduler",
    "warmup": "train.warmup_ratio",
    "bf16": "train.precision",
    "fp16": "train.precision",
    "output_dir": "output",
    "model_name_or_path": "model",
    "base_model": "model",
    "max_seq_length": "data.max_length",
    "dataset": "data.train",
    "train_file": "data.train",
    "eval_file": "data.eval",
    "lora_r": "lora.r",
    "lora_alpha": "lora.alpha",
    "lora_dropout": "lora.dropout",
    "peft": "lora",
}


def format_loc(loc: Sequence[Any]) -> str:
    """``("train", "report_to", 0)`` → ``train.report_to[0]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 6, 4, 60, 60


def show_value(value: Any) -> str:
    """A short repr of ``value``: bounded while it is built, so a huge value costs nothing."""
    text = _REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _quote_list(names: Sequence[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _unknown_key(root: type[BaseModel], loc: Loc, data: Mapping[str, Any]) -> str:
    """Message for a key that no model declares, with the nearest valid key(s)."""
    key, parent = loc[-1], loc[:-1]
    section = _unwrap_optional(annotation_at(root, parent))
    valid = list(section.model_fields) if _is_model(section) else []
    if isinstance(key, str):
        # A known name from another tool, then the same key in another section (top-level
        # ``lr`` is ``train.lr``), then the nearest key in this section.
        if key in KEY_ALIASES:
            return f"unknown key; did you mean '{KEY_ALIASES[key]}'?"
        elsewhere = [p for p in field_paths(root) if p[-1] == key and p[:-1] != parent]
        preferred = [p for p in elsewhere if p[0] == data.get("method")] or elsewhere
        if preferred:
            return f"unknown key; did you mean {_quote_list([format_loc(p) for p in preferred])}?"
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        if close:
            return f"unknown key; did you mean '{close[0]}'?"
    where = f"in '{format_loc(parent)}'" if parent else "at the top level"
    return f"unknown key; valid keys {where}: {', '.join(valid)}"


def _literal_choice(root: type[BaseModel], loc: Loc, value: Any) -> str | None:
    """``must be one of a, b (got 'x'); did you mean 'a'?`` when ``loc`` holds a Literal."""
    tp = _unwrap_optional(annotation_at(root, loc))
    if get_origin(tp) is not Literal:
        return None
    choices = [str(c) for c in get_args(tp)]
    message = f"must be one of {', '.join(choices)} (got {show_value(value)})"
    if isinstance(value, str):
        close = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.6)
        if close:
            message += f"; did you mean '{close[0]}'?"
    return message


_BOUNDS = {"greater_than": ">", "greater_than_equal": "≥", "less_than": "<", "less_than_equal": "≤"}


def _message(root: type[BaseModel], error: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    """One readable message for one pydantic error dict."""
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return _unknown_key(root, loc, data)
    if kind == "literal_error":
        choice = _literal_choice(root, loc, value)
        if choice:
            return choice
    if kind in _BOUNDS:
        bound = next(iter(ctx.values()), "?")
        return f"must be {_BOUNDS[kind]} {bound} (got {show_value(value)})"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping of keys (got {show_value(value)})"
    if kind == "list_type":
        return f"must be a list (got {show_value(value)})"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "int_from_float":
        return f"must be a whole number (got {show_value(value)})"
    msg = str(error["msg"])
    if kind in ("value_error", "assertion_error"):
        return msg.split(", ", 1)[1] if ", " in msg else msg
    msg = msg.replace("Input should be", "must be")
    return f"{msg} (got {show_value(value)})"


def _override_for(loc: Loc, override_paths: Mapping[Loc, str]) -> str | None:
    """The override that set (part of) ``loc``, if any; the longest match wins."""
    best: tuple[int, str] | None = None
    for path, text in override_paths.items():
        n = min(len(path), len(loc))
        if path[:n] == loc[:n] and (best is None or len(path) > best[0]):
            best = (len(path), text)
    return best[1] if best else None


def validation_error(
    exc: ValidationError,
    *,
    root: type[BaseModel],
    source: str,
    data: Mapping[str, Any],
    override_paths: Mapping[Loc, str] | None = None,
) -> ConfigError:
    """Convert a ValidationError into a ConfigError with one ``FILE: path: message`` per line."""
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        line = f"{source}: {format_loc(loc)}: " if loc else f"{source}: "
        line += _message(root, error, data)
        override = _override_for(loc, override_paths or {})
        if override is not None:
            line += f" (from override '{override}')"
        if line not in lines:
            lines.append(line)
    return ConfigError("\n".join(lines))
