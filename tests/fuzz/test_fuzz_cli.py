"""Random command lines for ``check``, ``config``, ``report`` and ``compare`` (the typer app).

Whatever the arguments, the process ends with exit 0, or 2 for a usage or input error (typer's
own usage errors exit 2 too), never with an exception escaping ``tuneforge``. ``check`` always
gets ``--model none`` last, so no tokenizer is loaded.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from typer.main import get_command

from fuzz.support import examples
from tuneforge.cli import app

RUNNER = CliRunner()
#: The click command typer builds from the app, built once (typer rebuilds it per invoke).
COMMAND = get_command(app)

OPTIONS = {
    "check": [
        "--method",
        "-m",
        "--model",
        "--max-length",
        "--eval",
        "--kto-threshold",
        "--config",
        "--json",
    ],
    "config": [],
    "report": [],
    "compare": [],
}
VALUES = [
    "sft",
    "dpo",
    "orpo",
    "kto",
    "none",
    "0",
    "-1",
    "1",
    "99999999999999999999999",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "",
    "--",
    "-",
    "train.lr=1e-4",
    "train.lr=nan",
    "lora=null",
    "method=kto",
    "data.train=",
    "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q=1",
]


@pytest.fixture(scope="module")
def files() -> Iterator[dict[str, str]]:
    """A data file, a config, a run directory with an eval.json, and things that are not."""
    with tempfile.TemporaryDirectory(prefix="tuneforge-fuzz-") as name:
        root = Path(name)
        (root / "train.jsonl").write_text('{"prompt": "a", "completion": "b"}\n')
        (root / "config.yaml").write_text("method: sft\ndata:\n  train: train.jsonl\n")
        run = root / "run"
        run.mkdir()
        (run / "eval.json").write_text(json.dumps({"schema_version": 1}))
        (root / "empty").mkdir()
        yield {
            "data": str(root / "train.jsonl"),
            "config": str(root / "config.yaml"),
            "run": str(run),
            "dir": str(root / "empty"),
            "missing": str(root / "missing.jsonl"),
            "devnull": "/dev/null",
        }


@examples(500)
@given(
    command=st.sampled_from(sorted(OPTIONS)),
    tokens=st.lists(
        st.sampled_from(["option", "value", "path", "text"]).flatmap(
            lambda what: {
                "option": st.sampled_from([o for opts in OPTIONS.values() for o in opts]),
                "value": st.sampled_from(VALUES),
                "path": st.sampled_from(["data", "config", "run", "dir", "missing", "devnull"]),
                "text": st.text(max_size=12),
            }[what].map(lambda token, what=what: (what, token))
        ),
        max_size=6,
    ),
)
def test_random_command_lines(
    files: dict[str, str], command: str, tokens: list[tuple[str, str]]
) -> None:
    argv = [command] + [files[token] if what == "path" else token for what, token in tokens]
    if command == "check":
        argv += ["--model", "none"]
    result = RUNNER.invoke(COMMAND, argv)
    assert result.exit_code in (0, 2), (argv, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        argv,
        repr(result.exception),
    )
    assert "Traceback" not in result.output
