"""Tests for tuneforge.config: defaults, error messages, overrides, paths, printing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuneforge.cli import config_command
from tuneforge.config import (
    TuneforgeConfig,
    apply_overrides,
    dump_config,
    load_config,
    parse_config,
)
from tuneforge.errors import ConfigError
from tuneforge.methods import METHODS


def write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    """Write a YAML config into tmp_path and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(tmp_path: Path, text: str, overrides: tuple[str, ...] = ()) -> list[str]:
    """The error lines that loading ``text`` (as cfg.yaml) produces."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    prefix = f"{path}: "
    return [line.removeprefix(prefix) for line in str(info.value).splitlines()]


MINIMAL = "method: sft\ndata:\n  train: train.jsonl\n"


# ------------------------------------------------------------------------------------- defaults


def test_minimal_config_has_product_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.method == "sft"
    assert cfg.model.path == "embedded"
    assert cfg.data.train == str(tmp_path / "train.jsonl")
    assert cfg.data.eval is None
    assert cfg.data.eval_split == 0.1
    assert cfg.data.max_length == 1024
    assert cfg.data.chat_template is True
    assert cfg.columns == {}
    assert cfg.lora is not None and cfg.uses_lora
    assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == (16, 32, 0.05)
    assert cfg.lora.target_modules == "all-linear"
    assert cfg.train.lr is None
    assert cfg.train.batch_size == 4 and cfg.train.grad_accum == 1
    assert cfg.train.scheduler == "cosine" and cfg.train.precision == "auto"
    assert cfg.train.report_to == []
    assert cfg.dpo.beta == 0.1 and cfg.dpo.loss_type == "sigmoid"
    assert cfg.kto.loss_type == "kto" and cfg.kto.threshold is None
    assert cfg.sft.completion_only is True and cfg.sft.packing is False
    assert cfg.eval.max_new_tokens == 256
    assert cfg.method_config is cfg.sft
    assert cfg.output == "runs/sft-cfg"
    assert cfg.run_dir() == Path("runs/sft-cfg")


@pytest.mark.parametrize(
    ("method", "lora_lr", "full_lr"),
    [("sft", 2e-4, 2e-5), ("orpo", 1e-4, 8e-6), ("dpo", 5e-5, 5e-7), ("kto", 5e-5, 5e-7)],
)
def test_learning_rate_defaults_per_method(method: str, lora_lr: float, full_lr: float) -> None:
    lora = parse_config({"method": method, "data": {"train": "t.jsonl"}})
    full = parse_config({"method": method, "data": {"train": "t.jsonl"}, "lora": None})
    assert lora.resolved_lr() == lora_lr == METHODS[method].default_lr.lora
    assert full.lora is None and not full.uses_lora
    assert full.resolved_lr() == full_lr == METHODS[method].default_lr.full
    given = parse_config({"method": method, "data": {"train": "t"}, "train": {"lr": 0.003}})
    assert given.resolved_lr() == 0.003


def test_empty_sections_mean_defaults_but_empty_lora_means_full(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL + "train:\neval:\nlora:\n"))
    assert cfg.train.batch_size == 4 and cfg.eval.max_new_tokens == 256
    assert cfg.lora is None


def test_parse_config_without_base_dir_keeps_relative_paths() -> None:
    cfg = parse_config({"method": "kto", "data": {"train": "a/b.jsonl"}})
    assert cfg.data.train == "a/b.jsonl"
    assert cfg.run_dir() == Path("runs/kto-run")
    assert cfg.method_config is cfg.kto


def test_yaml_12_scalars(tmp_path: Path) -> None:
    text = MINIMAL + "train:\n  lr: 1e-4\neval:\n  labels: [yes, no, on]\n"
    cfg = load_config(write(tmp_path, text))
    assert cfg.train.lr == pytest.approx(1e-4)
    assert cfg.eval.labels == ["yes", "no", "on"]


# --------------------------------------------------------------------------------------- errors


def test_top_level_typos_suggest_nearest_key(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, "metod: sft\nloar: null\ndata:\n  train: t.jsonl\n")
    assert lines == [
        "method: required",
        "metod: unknown key; did you mean 'method'?",
        "loar: unknown key; did you mean 'lora'?",
    ]


def test_nested_typo_suggests_key_of_that_section(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, MINIMAL + "train:\n  lrr: 1e-4\n")
    assert lines == ["train.lrr: unknown key; did you mean 'lr'?"]


def test_key_in_wrong_section_suggests_full_path(tmp_path: Path) -> None:
    text = "method: dpo\ndata:\n  train: t.jsonl\nlr: 1e-4\nbeta: 0.2\nlearning_rate: 1\n"
    assert errors_of(tmp_path, text) == [
        "lr: unknown key; did you mean 'train.lr'?",
        "beta: unknown key; did you mean 'dpo.beta'?",
        "learning_rate: unknown key; did you mean 'train.lr'?",
    ]


def test_unknown_key_without_near_match_lists_valid_keys(tmp_path: Path) -> None:
    (line,) = errors_of(tmp_path, MINIMAL + "sft:\n  zzzz: 1\n")
    assert line == "sft.zzzz: unknown key; valid keys in 'sft': packing, completion_only"


def test_bad_method_value_suggests_nearest(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, "method: sfft\ndata:\n  train: t.jsonl\n")
    assert lines == ["method: must be one of sft, dpo, orpo, kto (got 'sfft'); did you mean 'sft'?"]


def test_missing_train_file_is_reported_by_path(tmp_path: Path) -> None:
    assert errors_of(tmp_path, "method: sft\n") == ["data.train: required"]
    assert errors_of(tmp_path, "method: sft\ndata:\n  eval: e.jsonl\n") == ["data.train: required"]


def test_several_errors_reported_at_once(tmp_path: Path) -> None:
    text = """\
method: orpo
data:
  train: t.jsonl
  eval_split: 0.9
  max_lenght: 10
train:
  batch_size: 0
  epochs: abc
  report_to: [wandb, tensorbord]
lora:
  r: 2.5
  target_modules: qv
"""
    assert errors_of(tmp_path, text) == [
        "data.eval_split: must be ≤ 0.5 (got 0.9)",
        "data.max_lenght: unknown key; did you mean 'max_length'?",
        "lora.r: must be a valid integer (got 2.5)",
        "lora.target_modules: must be 'all-linear' or a list of module names (got 'qv')",
        "train.epochs: must be a valid number (got 'abc')",
        "train.batch_size: must be ≥ 1 (got 0)",
        "train.report_to[1]: must be one of tensorboard, wandb, mlflow (got 'tensorbord'); "
        "did you mean 'tensorboard'?",
    ]


def test_numbers_must_be_finite_sane_and_not_booleans(tmp_path: Path) -> None:
    text = """\
method: kto
data:
  train: train.jsonl
train:
  lr: .inf
  epochs: 1e9
  max_steps: 10000000000
  batch_size: true
  grad_accum: 2000000
  warmup_ratio: .nan
  max_grad_norm: .inf
  seed: 1e29
  logging_steps: false
kto:
  beta: -.inf
  threshold: .nan
"""
    assert errors_of(tmp_path, text) == [
        "train.lr: must be a finite number (got inf)",
        "train.epochs: must be ≤ 1000, a sane bound (use max_steps for longer runs) "
        "(got 1000000000.0)",
        "train.max_steps: must be ≤ 1000000000 (got 10000000000)",
        "train.batch_size: must be a valid integer (got True)",
        "train.grad_accum: must be ≤ 1000000 (got 2000000)",
        "train.warmup_ratio: must be a finite number (got nan)",
        "train.max_grad_norm: must be a finite number (got inf)",
        "train.seed: must be a valid integer (got 1e+29)",
        "train.logging_steps: must be a valid integer (got False)",
        "kto.beta: must be a finite number (got -inf)",
        "kto.threshold: must be a finite number (got nan)",
    ]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.seed=-1", "train.seed: must be ≥ 0 (got -1)"),
        ("train.seed=4294967296", "train.seed: must be ≤ 4294967295 (got 4294967296)"),
        ("dpo.beta=.nan", "dpo.beta: must be a finite number (got nan)"),
        ("orpo.beta=true", "orpo.beta: must be a valid number (got True)"),
        ("dpo.label_smoothing=.inf", "dpo.label_smoothing: must be a finite number (got inf)"),
        ("train.eval_steps=1e10", "train.eval_steps: must be a valid integer (got 10000000000.0)"),
        (
            "train.save_steps=10000000000",
            "train.save_steps: must be ≤ 1000000000 (got 10000000000)",
        ),
    ],
)
def test_insane_override_values_are_refused(tmp_path: Path, override: str, message: str) -> None:
    [line] = errors_of(tmp_path, MINIMAL, (override,))
    assert line == f"{message} (from override '{override}')"


def test_an_int_is_still_a_float_and_sane_values_pass(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, MINIMAL),
        ("train.lr=1", "train.epochs=1000", "train.seed=4294967295", "dpo.beta=1"),
    )
    assert config.train.lr == 1.0 and isinstance(config.train.lr, float)
    assert config.train.epochs == 1000 and config.train.seed == 2**32 - 1


def test_eval_numbers_must_be_finite_sane_and_not_booleans(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + """\
eval:
  baseline_few_shot: 2.0
  retrieval_k: 0
  max_new_tokens: 1e9
  price_per_million_tokens: .inf
  bootstrap_samples: true
  confidence: .nan
  seed: 1e29
  max_examples: -3
  batch_size: 5000
  checks:
    - {name: short, max_words: false}
"""
    )
    assert errors_of(tmp_path, text) == [
        "eval.baseline_few_shot: must be a valid integer (got 2.0)",
        "eval.retrieval_k: must be ≥ 1 (got 0)",
        "eval.max_new_tokens: must be a valid integer (got 1000000000.0)",
        "eval.checks[0].max_words: must be a valid integer (got False)",
        "eval.price_per_million_tokens: must be a finite number (got inf)",
        "eval.bootstrap_samples: must be a valid integer (got True)",
        "eval.confidence: must be a finite number (got nan)",
        "eval.seed: must be a valid integer (got 1e+29)",
        "eval.max_examples: must be ≥ 1 (got -3)",
        "eval.batch_size: must be ≤ 4096 (got 5000)",
    ]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("eval.retrieval_k=65", "eval.retrieval_k: must be ≤ 64 (got 65)"),
        ("eval.retrieval_k=true", "eval.retrieval_k: must be a valid integer (got True)"),
        ("eval.max_new_tokens=32769", "eval.max_new_tokens: must be ≤ 32768 (got 32769)"),
        (
            "eval.bootstrap_samples=1000001",
            "eval.bootstrap_samples: must be ≤ 1000000 (got 1000001)",
        ),
        ("eval.seed=-1", "eval.seed: must be ≥ 0 (got -1)"),
        (
            "eval.price_per_million_tokens=-0.5",
            "eval.price_per_million_tokens: must be ≥ 0.0 (got -0.5)",
        ),
    ],
)
def test_insane_eval_overrides_are_refused(tmp_path: Path, override: str, message: str) -> None:
    [line] = errors_of(tmp_path, MINIMAL, (override,))
    assert line == f"{message} (from override '{override}')"


def test_eval_defaults_and_bounds_that_pass(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, MINIMAL)).eval.retrieval_k == 4
    config = load_config(
        write(tmp_path, MINIMAL),
        (
            "eval.retrieval_k=64",
            "eval.max_new_tokens=32768",
            "eval.bootstrap_samples=1000000",
            "eval.seed=4294967295",
            "eval.price_per_million_tokens=3",
            "eval.variants=[tuned,baseline+retrieval]",
        ),
    )
    assert config.eval.retrieval_k == 64 and config.eval.seed == 2**32 - 1
    assert config.eval.price_per_million_tokens == 3.0
    assert isinstance(config.eval.price_per_million_tokens, float)
    assert config.eval.variants == ["baseline", "tuned", "baseline+retrieval"]


def test_errors_use_the_file_name_as_prefix(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "train:\n  lrr: 1\n")
    with pytest.raises(ConfigError, match=r"^.*cfg\.yaml: train\.lrr: unknown key"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"^mine\.yaml: method: required$"):
        parse_config({"data": {"train": "t"}}, source="mine.yaml")


def test_columns_targets_are_validated(tmp_path: Path) -> None:
    ok = parse_config({"method": "sft", "data": {"train": "t"}, "columns": {"q": "prompt"}})
    assert ok.columns == {"q": "prompt"}
    text = MINIMAL + "columns:\n  foo: promt\n  bar: answer\n"
    assert errors_of(tmp_path, text) == [
        "columns.foo: must be one of prompt, completion, chosen, rejected, score, messages "
        "(got 'promt'); did you mean 'prompt'?",
        "columns.bar: must be one of prompt, completion, chosen, rejected, score, messages "
        "(got 'answer')",
    ]
    dup = MINIMAL + "columns:\n  question: prompt\n  input: prompt\n"
    assert errors_of(tmp_path, dup) == ["columns: 'question' and 'input' both map to 'prompt'"]


def test_section_of_wrong_type(tmp_path: Path) -> None:
    assert errors_of(tmp_path, MINIMAL + "train: 5\n") == [
        "train: must be a mapping of keys (got 5)"
    ]


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"^config file not found: .*nope\.yaml$"):
        load_config(missing)


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "method: sft\ndata:\n  train: [a, b\n  eval: x\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}:4:")
    assert "invalid YAML" in message


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "train:\n  lr: 1\ntrain:\n  epochs: 1\n")
    with pytest.raises(ConfigError, match=r"cfg\.yaml:6:1: invalid YAML: duplicate key 'train'"):
        load_config(path)


@pytest.mark.parametrize("text", ["- method: sft\n", "just text\n"])
def test_top_level_must_be_mapping(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, text))


def test_empty_file_reports_required_keys(tmp_path: Path) -> None:
    assert errors_of(tmp_path, "") == ["method: required", "data.train: required"]


# ------------------------------------------------------------------------------------ overrides


def test_apply_overrides_parses_values_and_creates_dicts() -> None:
    base = {"method": "sft", "data": {"train": "t"}}
    out = apply_overrides(
        base,
        [
            "train.lr=1e-4",
            "train.gradient_checkpointing=true",
            "lora=null",
            "lora.r=8",
            "lora.target_modules=[q_proj, v_proj]",
            "eval.max_new_tokens=64",
            "data.system_prompt=Answer: yes",
        ],
    )
    assert out["train"] == {"lr": pytest.approx(1e-4), "gradient_checkpointing": True}
    assert isinstance(out["train"]["lr"], float)
    assert out["lora"] == {"r": 8, "target_modules": ["q_proj", "v_proj"]}
    assert out["eval"] == {"max_new_tokens": 64}
    assert out["data"]["system_prompt"] == "Answer: yes"
    assert base == {"method": "sft", "data": {"train": "t"}}  # input untouched


def test_null_override_means_full_fine_tuning(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), ["lora=null", "method=dpo"])
    assert cfg.lora is None
    assert cfg.resolved_lr() == 5e-7
    assert cfg.output == "runs/dpo-cfg"


@pytest.mark.parametrize("bad", ["train.lr", "train..lr=1", "=3"])
def test_malformed_override_is_named(bad: str) -> None:
    with pytest.raises(ConfigError, match="override '" + bad.replace(".", r"\.")):
        apply_overrides({}, [bad])


def test_override_through_a_scalar_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"override 'train\.lr\.x=1': 'train\.lr' is not a"):
        apply_overrides({"train": {"lr": 0.1}}, ["train.lr.x=1"])


def test_invalid_override_value_is_attributed(tmp_path: Path) -> None:
    lines = errors_of(tmp_path, MINIMAL, ("train.lrr=1e-4", "train.batch_size=0"))
    assert lines == [
        "train.batch_size: must be ≥ 1 (got 0) (from override 'train.batch_size=0')",
        "train.lrr: unknown key; did you mean 'lr'? (from override 'train.lrr=1e-4')",
    ]


# ---------------------------------------------------------------------------------------- paths


def test_relative_paths_resolve_against_config_folder(tmp_path: Path) -> None:
    sub = tmp_path / "configs"
    sub.mkdir()
    text = (
        "method: sft\ndata:\n  train: ../data/train.jsonl\n  eval: held.jsonl\n"
        "eval:\n  json_schema: schema.json\n"
    )
    cfg = load_config(write(sub, text))
    assert cfg.data.train == str((tmp_path / "data" / "train.jsonl").resolve())
    assert cfg.data.eval == str((sub / "held.jsonl").resolve())
    assert cfg.eval.json_schema == str((sub / "schema.json").resolve())


def test_absolute_paths_and_dataset_ids_are_kept(tmp_path: Path) -> None:
    absolute = str(tmp_path / "x.jsonl")
    cfg = load_config(write(tmp_path, f"method: sft\ndata:\n  train: {absolute}\n  eval: org/ds\n"))
    assert cfg.data.train == absolute
    assert cfg.data.eval == "org/ds"


def test_override_paths_resolve_against_working_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = tmp_path / "configs"
    sub.mkdir()
    path = write(sub, MINIMAL)
    monkeypatch.chdir(tmp_path)
    cfg = load_config(path, ["data.eval=mine.jsonl"])
    assert cfg.data.eval == str((tmp_path / "mine.jsonl").resolve())
    assert cfg.data.train == str((sub / "train.jsonl").resolve())


# ------------------------------------------------------------------------------------ printing


@pytest.mark.parametrize("extra", ["lora: null\n", "train:\n  lr: 3.0e-5\n", ""])
def test_dump_load_round_trip(tmp_path: Path, extra: str) -> None:
    cfg = load_config(write(tmp_path, MINIMAL + extra))
    text = dump_config(cfg)
    again = load_config(write(tmp_path, text, name="resolved.yaml"))
    assert again == cfg.resolved()
    assert again.lora == cfg.lora
    assert again.resolved_lr() == cfg.resolved_lr()
    assert again.output == cfg.output
    assert dump_config(again) == text


def test_dump_keeps_numeric_looking_strings(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "method": "sft",
            "data": {"train": "t", "system_prompt": "1e-4"},
            "eval": {"labels": ["1"]},
        }
    )
    again = load_config(write(tmp_path, dump_config(cfg)))
    assert again.data.system_prompt == "1e-4"
    assert again.eval.labels == ["1"]


def test_dump_shows_everything_resolved() -> None:
    cfg = parse_config({"method": "orpo", "data": {"train": "t"}, "lora": None})
    text = dump_config(cfg)
    assert "lora: null\n" in text
    assert "  lr: 8.0e-06\n" in text
    assert "output: runs/orpo-run\n" in text
    assert "  precompute_ref: true\n" in text


def test_config_command_prints_resolved_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, MINIMAL)
    assert config_command(path, ["train.epochs=1"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("# tuneforge config")
    assert "  epochs: 1.0\n" in out and "  lr: 0.0002\n" in out


def test_config_command_errors_exit_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "metod: sft\n")
    assert config_command(path, []) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"error: {path}: method: required",
        f"error: {path}: data.train: required",
        f"error: {path}: metod: unknown key; did you mean 'method'?",
    ]
    assert "Traceback" not in err
    assert config_command(tmp_path / "missing.yaml", []) == 2
    assert capsys.readouterr().err.startswith("error: config file not found: ")
    assert config_command(path, ["no-equals-sign"]) == 2
    assert "error: override 'no-equals-sign'" in capsys.readouterr().err


def test_model_is_strict_about_extra_keys_in_python_too() -> None:
    with pytest.raises(Exception, match="extra"):
        TuneforgeConfig.model_validate({"method": "sft", "data": {"train": "t"}, "x": 1})
