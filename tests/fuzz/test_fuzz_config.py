"""Random YAML, random config structures and random overrides through the config loader.

`load_config` raises ConfigError (a TuneforgeError) or returns a config; ``tuneforge config``
prints it (exit 0) or ``error:`` lines (exit 2). Nothing else may come out: no traceback, no
other exception. No model is loaded: the config command only reads and validates.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from fuzz.support import assert_reported, examples
from tuneforge.cli import config_command
from tuneforge.config import default_config_model, load_config
from tuneforge.errors import ConfigError

VALID = {"method": "sft", "data": {"train": "train.jsonl"}}


def leaf_keys(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every dotted key of the config schema (sections and their fields)."""
    keys: list[tuple[str, ...]] = []
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        keys.append(path)
        annotation = info.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                keys.extend(leaf_keys(candidate, path))
    return keys


KEYS = leaf_keys(default_config_model())
DOTTED = sorted(".".join(k) for k in KEYS)

yaml_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**66), max_value=2**66)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["sft", "dpo", "orpo", "kto", "embedded", "all-linear", "bf16", "auto"])
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6) | st.sampled_from(DOTTED), inner, max_size=3)
    ),
    max_leaves=6,
)
override_values = (
    st.text(max_size=16)
    | st.sampled_from(
        [
            "null",
            "~",
            ".nan",
            ".inf",
            "-.inf",
            "1e309",
            "[1, 2",
            "{a: 1}",
            "&a [*a]",
            "!!python/object:os.system",
            "true",
            "yes",
            "0x10",
            "1_000",
            "'quoted'",
            "- x",
        ]
    )
    | yaml_scalars.map(lambda v: yaml.safe_dump(v, default_flow_style=True).strip())
)


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="tuneforge-fuzz-") as name:
        yield Path(name)


def run_config(path: Path, overrides: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """The library raises only ConfigError; the command exits 0 or 2 with ``error:`` lines."""
    with contextlib.suppress(ConfigError):
        load_config(path, overrides)
    code = config_command(path, overrides)
    out, err = capsys.readouterr()
    assert_reported(code, out, err)


@examples(700)
@given(text=st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_random_text_as_a_config_file(
    folder: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    path = folder / "config.yaml"
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    run_config(path, [], capsys)


def set_at(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Put ``value`` at ``path``, replacing whatever is in the way by a mapping."""
    node = document
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = value


@examples(900)
@given(
    changes=st.lists(st.tuples(st.sampled_from(KEYS), yaml_values), max_size=4),
    extra=st.dictionaries(st.text(max_size=8), yaml_values, max_size=2),
)
def test_random_values_at_every_config_key(
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    changes: list[tuple[tuple[str, ...], Any]],
    extra: dict[str, Any],
) -> None:
    document: dict[str, Any] = {"method": "sft", "data": {"train": "train.jsonl"}}
    for path, value in changes:
        set_at(document, path, value)
    document.update(extra)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    run_config(path, [], capsys)


@examples(900)
@given(
    overrides=st.lists(
        st.tuples(st.sampled_from(DOTTED) | st.text(max_size=12), override_values).map("=".join)
        | st.text(max_size=20),
        max_size=4,
    ),
    method=st.sampled_from(["sft", "dpo", "orpo", "kto"]),
)
def test_random_command_line_overrides(
    folder: Path, capsys: pytest.CaptureFixture[str], overrides: list[str], method: str
) -> None:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({**VALID, "method": method}))
    run_config(path, overrides, capsys)
