"""The ``model:`` key (a bare name or a mapping), ``lora.quantize`` and ``train.compile``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tuneforge.config import ModelConfig, dump_config, load_config, parse_config
from tuneforge.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text("method: sft\ndata:\n  train: train.jsonl\n" + text, encoding="utf-8")
    return path


def errors(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, text))
    return str(raised.value)


def test_bare_name_is_the_path_with_auto_settings(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "model: some/model\n"))
    assert cfg.model == ModelConfig(path="some/model", dtype="auto", attn_implementation="auto")


def test_default_model_is_embedded_with_auto_settings(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""))
    assert cfg.model == ModelConfig(path="embedded")
    assert (cfg.model.dtype, cfg.model.attn_implementation) == ("auto", "auto")
    assert cfg.lora is not None and cfg.lora.quantize is None
    assert cfg.train.compile is False


def test_mapping_form(tmp_path: Path) -> None:
    text = "model:\n  path: some/model\n  dtype: bf16\n  attn_implementation: flash_attention_2\n"
    cfg = load_config(write(tmp_path, text))
    assert cfg.model == ModelConfig(
        path="some/model", dtype="bf16", attn_implementation="flash_attention_2"
    )


def test_all_auto_dumps_as_the_bare_name(tmp_path: Path) -> None:
    # config.yaml, resume checks and pipeline hashes of older configs stay byte-identical.
    cfg = load_config(write(tmp_path, "model:\n  path: some/model\n"))
    assert cfg.model_dump()["model"] == "some/model"
    assert yaml.safe_load(dump_config(cfg))["model"] == "some/model"


def test_settings_dump_as_a_mapping_and_read_back(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "model: {path: some/model, dtype: fp32}\n"))
    dumped = yaml.safe_load(dump_config(cfg))["model"]
    assert dumped == {"path": "some/model", "dtype": "fp32", "attn_implementation": "auto"}
    assert parse_config(yaml.safe_load(dump_config(cfg))).model == cfg.model


def test_with_path_keeps_the_settings() -> None:
    model = ModelConfig(path="a", dtype="bf16", attn_implementation="eager")
    assert model.with_path("b") == ModelConfig(path="b", dtype="bf16", attn_implementation="eager")


def test_unknown_model_key_is_refused(tmp_path: Path) -> None:
    message = errors(tmp_path, "model:\n  path: x\n  revision: main\n")
    assert "model.revision" in message


def test_bad_dtype_names_the_key_and_choices(tmp_path: Path) -> None:
    message = errors(tmp_path, "model:\n  dtype: float8\n")
    assert message.endswith("model.dtype: must be one of auto, bf16, fp16, fp32 (got 'float8')")


def test_bad_attention_names_the_key(tmp_path: Path) -> None:
    assert "model.attn_implementation" in errors(tmp_path, "model:\n  attn_implementation: xla\n")


def test_quantize_values(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "lora:\n  quantize: 4bit\n"))
    assert cfg.lora is not None and cfg.lora.quantize == "4bit"
    assert "lora.quantize" in errors(tmp_path, "lora:\n  quantize: 2bit\n")


def test_compile_is_a_strict_boolean(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "train:\n  compile: true\n")).train.compile is True
    assert "train.compile" in errors(tmp_path, "train:\n  compile: 'yes'\n")


def test_override_extends_a_bare_model_name(tmp_path: Path) -> None:
    path = write(tmp_path, "model: some/model\n")
    cfg = load_config(path, ["model.dtype=bf16"])
    assert cfg.model == ModelConfig(path="some/model", dtype="bf16")
    assert load_config(path, ["model=other"]).model == ModelConfig(path="other")


def test_pipeline_model_mapping_reaches_every_stage(tmp_path: Path) -> None:
    from tuneforge.config.pipeline import load_pipeline

    stages = [
        {"name": "sft", "method": "sft", "data": {"train": "train.jsonl"}},
        {"name": "dpo", "method": "dpo", "data": {"train": "pairs.jsonl"}},
    ]
    path = tmp_path / "flow.yaml"
    top = {"model": {"path": "some/model", "dtype": "bf16"}, "stages": stages}
    path.write_text(yaml.safe_dump(top), encoding="utf-8")
    pipe = load_pipeline(path)
    expected = ModelConfig(path="some/model", dtype="bf16")
    assert pipe.config.model == expected
    assert [stage.config.model for stage in pipe.stages] == [expected, expected]
    # A bare name stays a bare name in every stage's dumped config (hashes unchanged).
    path.write_text(yaml.safe_dump({"model": "some/model", "stages": stages}), encoding="utf-8")
    assert {s.config.model_dump()["model"] for s in load_pipeline(path).stages} == {"some/model"}
