"""Hostile input (issue 13): alias bombs, deep nesting, special files, huge files, bad eval.json.

Every case ends in a one-line error and exit 2: never a traceback, a hang or a memory blow-up.
Cases that hung before the fix run in a subprocess with a timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuneforge.cli import compare_command, report_command
from tuneforge.config import diagnostics, load_config
from tuneforge.config.diagnostics import yaml_load
from tuneforge.data.readers import read_rows
from tuneforge.errors import ConfigError

SRC = Path(__file__).parents[2] / "src"
MINIMAL = "method: sft\ndata:\n  train: train.jsonl\n"

ALIAS_BOMB = (
    MINIMAL
    + "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)},"
        f" *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)},"
        f" *{chr(97 + i)}]\n"
        for i in range(8)
    )
    + "lora:\n  target_modules: *i\n"
)


def _limit_memory() -> None:
    import resource

    limit = 1 << 30  # 1 GiB: an expansion or endless read fails here instead of the machine
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -m tuneforge ARGS`` in a subprocess; a hang fails the test, not the suite."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tuneforge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
        preexec_fn=_limit_memory if sys.platform == "linux" else None,
    )


def _one_clean_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


# ----------------------------------------------------------------------------------- YAML


def test_alias_bomb_in_a_validated_value_is_refused_fast(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB, encoding="utf-8")
    err = _one_clean_error(_cli("config", str(path), timeout=60))
    assert "expands to more than" in err and str(path) in err


def test_a_small_alias_is_still_fine(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(MINIMAL + "mods: &m [q_proj, v_proj]\n", encoding="utf-8")
    assert yaml_load(path.read_text())["mods"] == ["q_proj", "v_proj"]


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(Exception, match="contains it"):
        yaml_load("a: &a [*a]\n")


@pytest.mark.parametrize(
    "text", ["[" * 5000 + "]" * 5000, "a:\n" + "".join("  " * i + "b:\n" for i in range(1, 600))]
)
def test_deeply_nested_yaml_is_a_clean_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="nested more than 100 levels deep"):
        load_config(path)


def test_error_messages_truncate_before_formatting() -> None:
    huge = [["x" * 1000] * 1000] * 1000  # a billion characters if formatted whole
    text = diagnostics.show_value(huge)
    assert len(text) <= 60 and text.endswith("...")


def test_a_large_wrong_value_gives_a_short_message(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    items = ", ".join(["q_proj"] * 5000)
    path.write_text(MINIMAL + f"train:\n  lr: [{items}]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(str(info.value)) < 300


def test_deep_override_key_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    with pytest.raises(ConfigError, match="nested 5000 levels deep"):
        load_config(path, [".".join(["a"] * 5000) + "=1"])


def test_deep_override_value_is_a_clean_error(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    with pytest.raises(ConfigError, match="nested more than 100 levels"):
        load_config(path, ["lora.target_modules=" + "[" * 3000 + "]" * 3000])


# ---------------------------------------------------------------------------------- paths


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_config_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "cfg.yaml"
    os.mkfifo(fifo)
    err = _one_clean_error(_cli("config", str(fifo), timeout=30))
    assert f"{fifo}: is a FIFO (named pipe), not a regular file" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_data_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "train.jsonl"
    os.mkfifo(fifo)
    result = _cli("check", str(fifo), "--method", "sft", "--model", "none", timeout=30)
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    assert f"{fifo}: file: is a FIFO (named pipe), not a regular file" in result.stdout


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_dev_zero_as_data_and_config_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.symlink_to("/dev/zero")
    result = _cli("check", str(data), "--method", "sft", "--model", "none", timeout=30)
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    assert f"{data}: file: is a character device, not a regular file" in result.stdout
    err = _one_clean_error(_cli("config", "/dev/zero", timeout=30))
    assert "/dev/zero: is a character device, not a regular file" in err


def test_directory_as_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path)


def test_size_limits_name_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "cfg.yaml"
    big.write_text(MINIMAL + "# " + "x" * (2 * 1024 * 1024) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="larger than 1 MB; set TUNEFORGE_MAX_FILE_MB"):
        load_config(big)
    monkeypatch.setenv("TUNEFORGE_MAX_FILE_MB", "4")
    load_config(big)  # raised: read fine
    data = tmp_path / "train.jsonl"
    data.write_text('{"prompt": "' + "x" * (5 * 1024 * 1024) + '", "completion": "y"}\n')
    [problem] = read_rows(data).problems
    assert problem.message.startswith("the data file is larger than 4 MB; set TUNEFORGE_MAX")
    monkeypatch.setenv("TUNEFORGE_MAX_FILE_MB", "lots")
    with pytest.raises(ConfigError, match="TUNEFORGE_MAX_FILE_MB='lots' must be a positive"):
        load_config(big)


# ------------------------------------------------------------------------------- data rows


def test_duplicate_key_in_a_json_row_is_named(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a", "prompt": "c"}\n')
    rows = read_rows(path)
    assert [str(p) for p in rows.problems] == [
        f"{path}:2: key: duplicate key 'prompt'; each key may appear only once"
    ]
    assert len(rows.rows) == 1


def test_duplicate_key_in_a_json_document_names_the_rows_line(tmp_path: Path) -> None:
    path = tmp_path / "train.json"
    path.write_text('[\n{"prompt": "a", "completion": "b"},\n{"prompt": "a",\n "x": 1, "x": 2}\n]')
    rows = read_rows(path)
    assert [str(p) for p in rows.problems] == [
        f"{path}:3: key: duplicate key 'x'; each key may appear only once"
    ]


def test_lone_surrogate_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi \\ud800"}]}\n')
    [problem] = read_rows(path).problems
    assert str(problem).startswith(f"{path}:1: messages[0].content: the text holds a lone")


def test_deep_json_row_is_a_clean_problem(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text('{"prompt": ' + "[" * 500 + "]" * 500 + ', "completion": "b"}\n')
    [problem] = read_rows(path).problems
    assert str(problem).startswith(f"{path}:1: prompt: nested more than 64 levels deep")


# ------------------------------------------------------------------------------- eval.json

GOOD_EVAL = {
    "schema_version": 1,
    "variants": {"baseline": {"prompt_tokens_per_request": 10.0}},
    "tasks": {},
    "verdict": {"variant": None},
}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ('{"schema_version": 1, "tasks": {', "invalid JSON at line 1 column 33"),
        ("[1, 2]", "the top level must be a JSON object, got a list"),
        ('{"tasks": {}}', "missing key 'schema_version'"),
        ('{"schema_version": 7}', "schema_version 7 is not the one this tuneforge reads (1)"),
        ('{"schema_version": 1, "tasks": {}, "verdict": {}}', "missing key 'variants'"),
        (
            json.dumps({**GOOD_EVAL, "tasks": {"qa": {"title": "QA"}}}),
            "tasks.qa: missing key 'headline_metric'",
        ),
        (json.dumps({**GOOD_EVAL, "tasks": []}), "tasks: expected an object, got a list"),
    ],
)
def test_report_and_compare_explain_a_bad_eval_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "eval.json").write_text(content, encoding="utf-8")
    assert report_command(run) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run / 'eval.json'}: ") and message in err, err
    assert "tuneforge eval" in err
    assert compare_command([run, run]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1, err
