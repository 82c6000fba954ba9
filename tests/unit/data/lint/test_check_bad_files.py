"""Every malformed file in tests/data/bad gives exit 2, the exact problem line, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tuneforge.cli import check_command

BAD = Path(__file__).parents[3] / "data" / "bad"
SRC = Path(__file__).parents[4] / "src"
MANIFEST: dict[str, dict[str, Any]] = json.loads((BAD / "expected.json").read_text("utf-8"))


def _prefix(path: Path, expected: dict[str, Any]) -> str:
    where = str(path) if expected["line"] is None else f"{path}:{expected['line']}"
    return f"{where}: {expected['field']}: "


def _assert_reported(output: str, path: Path, expected: dict[str, Any]) -> None:
    prefix = _prefix(path, expected)
    matching = [line for line in output.splitlines() if line.startswith(prefix)]
    assert any(expected["message_substring"] in line for line in matching), (
        f"expected a line starting {prefix!r} containing {expected['message_substring']!r}; "
        f"got:\n{output}"
    )


def test_the_manifest_covers_at_least_30_committed_files() -> None:
    committed = {p.name for p in BAD.iterdir() if p.name != "expected.json"}
    assert len(committed) >= 30
    assert committed == set(MANIFEST)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_bad_file(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    expected = MANIFEST[name]
    path = BAD / name
    code = check_command(path, method=expected["method"], model="none")
    out, err = capsys.readouterr()
    assert code == 2, out
    _assert_reported(out, path, expected)
    for more in expected.get("also", []):
        _assert_reported(out, path, more)
    assert "Traceback" not in out + err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent.jsonl"
    assert check_command(path, method="sft", model="none") == 2
    assert f"{path}: file: no such file" in capsys.readouterr().out.splitlines()


def test_unknown_method_lists_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    path = BAD / "empty.jsonl"
    assert check_command(path, method="ppo", model="none") == 2
    assert (
        f"{path}: method: unknown method 'ppo'; choose one of sft, dpo, orpo, kto"
        in capsys.readouterr().out
    )


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.pop("TUNEFORGE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "tuneforge.cli", "check", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("name", ["invalid_utf8.jsonl", "kto_nan.jsonl", "csv_wrong_columns.csv"])
def test_the_real_cli_prints_lines_not_tracebacks(name: str) -> None:
    expected = MANIFEST[name]
    path = BAD / name
    result = _cli(str(path), "--method", expected["method"], "--model", "none")
    assert result.returncode == 2, result.stdout + result.stderr
    _assert_reported(result.stdout, path, expected)
    assert "Traceback" not in result.stdout + result.stderr


def test_the_real_cli_on_a_missing_file_with_json() -> None:
    result = _cli("no/such/file.jsonl", "--method", "sft", "--model", "none", "--json")
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["problems"][0]["message"] == "no such file"
    assert "Traceback" not in result.stderr
