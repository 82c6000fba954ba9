"""`tuneforge check` output (text, --json), token statistics and config handling.

The tokenizer and config loaders are replaced with stand-ins through ``sys.modules`` so these
tests neither load a model nor depend on how those modules are built.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest

import tuneforge.config
import tuneforge.models
from helpers import write_jsonl
from tuneforge.cli import check_command
from tuneforge.data.lint import checker as check_module
from tuneforge.data.types import Example
from tuneforge.errors import ConfigError, DataError, ModelLoadError

GOOD = Path(__file__).parents[3] / "data" / "good"


class _Calls:
    """Records what the stand-ins were called with."""

    def __init__(self) -> None:
        self.models: list[str] = []
        self.kwargs: list[dict[str, Any]] = []


@pytest.fixture()
def tokens(monkeypatch: pytest.MonkeyPatch) -> _Calls:
    """Stand-ins: the prompt has 10 tokens per word; the full sequence adds 1 per reply char."""
    calls = _Calls()

    def load_tokenizer(name: str, **_: Any) -> object:  # policy: see test_safe_weights
        calls.models.append(name)
        if name == "missing-model":
            raise ModelLoadError("missing-model: no such model; use embedded or a hub id")
        return object()

    def example_token_lengths(
        example: Example, tokenizer: object, **kwargs: Any
    ) -> tuple[int, int]:
        calls.kwargs.append(kwargs)
        prompt = str(example.prompt)
        if prompt == "bad template":
            raise DataError(f"{example.origin}: prompt: the chat template renders differently")
        reply = str(getattr(example, "completion", ""))
        prompt_tokens = 10 * len(prompt.split())
        return prompt_tokens, prompt_tokens + len(reply)

    monkeypatch.setattr(tuneforge.models, "load_tokenizer", load_tokenizer)
    monkeypatch.setattr(check_module, "example_token_lengths", example_token_lengths)
    return calls


def _rows() -> list[dict[str, Any]]:
    rows = [{"prompt": f"short question {i}", "completion": "x" * 20} for i in range(58)]
    rows.append({"prompt": " ".join(["word"] * 12), "completion": "dropped"})  # 120 prompt tokens
    rows.append({"prompt": "long reply", "completion": "y" * 150})  # 20 + 150 tokens
    return rows


def test_json_document_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tokens: _Calls
) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", _rows())
    code = check_command(path, method="sft", model="tiny", max_length=100, as_json=True)
    out = capsys.readouterr().out
    document = json.loads(out)  # one JSON document and nothing else on stdout
    assert code == 0
    assert set(document) == {
        "file",
        "method",
        "ok",
        "exit_code",
        "problems",
        "summary",
        "histogram",
    }
    assert (document["ok"], document["exit_code"], document["method"]) == (True, 0, "sft")
    assert document["problems"] == [
        {
            "file": str(path),
            "line": 59,
            "field": "tokens",
            "message": "the prompt alone is 120 tokens (max_length 100); the example would be "
            "dropped",
            "severity": "warning",
        },
        {
            "file": str(path),
            "line": 60,
            "field": "tokens",
            "message": "170 tokens, over max_length 100; the reply would be truncated by 70 tokens",
            "severity": "warning",
        },
    ]
    summary = document["summary"]
    assert (summary["rows"], summary["usable"], summary["errors"], summary["warnings"]) == (
        60,
        60,
        0,
        2,
    )
    assert summary["tokens"] == {
        "model": "tiny",
        "max_length": 100,
        "total": 58 * 50 + 127 + 170,
        "mean": round((58 * 50 + 127 + 170) / 60, 1),
        "max": 170,
        "truncated": 1,
        "dropped": 1,
    }
    assert [b["count"] for b in document["histogram"]] == [0, 0, 58, 0, 2]
    assert tokens.models == ["tiny"]
    assert tokens.kwargs[0] == {"chat_template": True, "system_prompt": None}


def test_text_output_has_lines_histogram_table_and_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tokens: _Calls
) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", _rows())
    assert check_command(path, method="sft", model="tiny", max_length=100) == 0
    out = capsys.readouterr().out
    assert f"{path}:59: tokens: warning: the prompt alone is 120 tokens" in out
    assert "full-sequence token lengths:" in out
    assert "26–50 tokens       58  " + "█" * 30 in out
    assert "tokens total / mean / max" in out
    assert "1 truncated, 1 dropped" in out
    assert out.rstrip().endswith("usable for sft (2 warnings)")


def test_tokenizer_error_for_one_example_is_an_error_on_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tokens: _Calls
) -> None:
    rows = [{"prompt": "fine", "completion": "ok"}, {"prompt": "bad template", "completion": "ok"}]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    assert check_command(path, method="sft", model="tiny") == 2
    assert (
        f"{path}:2: prompt: the chat template renders differently"
        in capsys.readouterr().out.splitlines()
    )


def test_model_load_error_is_a_clean_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tokens: _Calls
) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "a", "completion": "b"}])
    assert check_command(path, method="sft", model="missing-model") == 2
    out = capsys.readouterr().out
    assert f"{path}: model: missing-model: no such model; use embedded or a hub id" in out


def test_model_none_skips_the_tokenizer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tokens: _Calls
) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "a", "completion": "b"}])
    check_command(path, method="sft", model="none", as_json=True)
    document = json.loads(capsys.readouterr().out)
    assert tokens.models == []
    assert document["histogram"] is None and "tokens" not in document["summary"]


def _fake_config(monkeypatch: pytest.MonkeyPatch, config: Any) -> None:
    def load_config(path: Path) -> Any:
        if isinstance(config, Exception):
            raise config
        return config

    monkeypatch.setattr(tuneforge.config, "load_config", load_config)


def test_config_supplies_columns_template_threshold_model_and_length(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tokens: _Calls,
) -> None:
    ns = types.SimpleNamespace
    config = ns(
        method="kto",
        model=ns(path="cfg-model"),
        trust_remote_code=False,
        columns={"q": "prompt", "a": "completion", "rating": "score"},
        data=ns(chat_template=False, system_prompt="Be brief.", max_length=30, eval_split=0.0),
        kto=ns(threshold=3.0, desirable_weight=1.0, undesirable_weight=1.0),
    )
    _fake_config(monkeypatch, config)
    rows = [{"q": f"q{i}", "a": "reply", "rating": 1 + i % 5} for i in range(60)]
    path = write_jsonl(tmp_path / "k.jsonl", rows)
    code = check_command(path, method="kto", config_path=tmp_path / "c.yaml", as_json=True)
    document = json.loads(capsys.readouterr().out)
    assert code == 0, document["problems"]
    assert document["summary"]["kto"]["threshold"] == 3.0
    assert document["summary"]["kto"]["neutral"] == 12
    assert tokens.models == ["cfg-model"]
    assert tokens.kwargs[0] == {"chat_template": False, "system_prompt": "Be brief."}
    assert document["summary"]["tokens"]["max_length"] == 30
    # data.eval_split 0: nothing would be held out, and the advice says so.
    assert document["summary"]["advice"]["held_out_rows"] == 0
    assert document["summary"]["advice"]["held_out"].startswith("No row would be held out")
    # Explicit arguments win over the config.
    check_command(
        path,
        method="kto",
        model="cli-model",
        max_length=64,
        kto_threshold=2.0,
        config_path=tmp_path / "c.yaml",
        as_json=True,
    )
    document = json.loads(capsys.readouterr().out)
    assert tokens.models[-1] == "cli-model"
    assert document["summary"]["kto"]["threshold"] == 2.0
    assert document["summary"]["tokens"]["max_length"] == 64
    # A config written for another method is pointed out.
    config.method = "dpo"
    check_command(path, method="kto", model="none", config_path=tmp_path / "c.yaml")
    assert (
        f"{tmp_path / 'c.yaml'}: method: warning: the config is for dpo but --method is kto"
        in capsys.readouterr().out
    )


def test_config_error_is_a_clean_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_config(monkeypatch, ConfigError("data.max_length: must be greater than 0"))
    config_path = tmp_path / "c.yaml"
    assert check_command(GOOD / "sft.jsonl", method="sft", config_path=config_path) == 2
    out = capsys.readouterr().out
    assert f"{config_path}: config: data.max_length: must be greater than 0" in out


def test_an_internal_error_becomes_one_line_without_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TUNEFORGE_DEBUG")

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(check_module, "collect_examples", explode)
    assert check_command(GOOD / "sft.jsonl", method="sft", model="none") == 2
    captured = capsys.readouterr()
    assert f"{GOOD / 'sft.jsonl'}: internal: unexpected RuntimeError: boom" in captured.out
    assert "Traceback" not in captured.out + captured.err


def test_debug_env_reraises_internal_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_module, "collect_examples", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        check_command(GOOD / "sft.jsonl", method="sft", model="none")


def test_max_length_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_command(GOOD / "sft.jsonl", method="sft", model="none", max_length=0) == 2
    assert "max_length: must be at least 1, got 0" in capsys.readouterr().out


@pytest.mark.parametrize("threshold", ["nan", "inf", "-inf"])
def test_a_non_finite_kto_threshold_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], threshold: str
) -> None:
    from typer.testing import CliRunner

    from tuneforge.cli import app

    path = write_jsonl(tmp_path / "scored.jsonl", [{"prompt": "p", "completion": "c", "score": 1}])
    args = ["check", str(path), "--method", "kto", "--model", "none"]
    result = CliRunner().invoke(app, [*args, "--kto-threshold", threshold])
    assert result.exit_code == 2, result.output
    assert f"--kto-threshold must be a finite number (got {float(threshold)})" in result.output
    assert "undesirable" not in result.output
