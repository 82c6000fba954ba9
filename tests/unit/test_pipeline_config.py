"""The pipeline file: stages validated as stage configs, shared keys merged, errors with paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tuneforge.config.pipeline import load_pipeline
from tuneforge.errors import ConfigError

SFT = {"name": "sft", "method": "sft", "data": {"train": "train.jsonl"}}
DPO = {"name": "dpo", "method": "dpo", "data": {"train": "pairs.jsonl"}, "train": {"epochs": 1}}


def _write(tmp_path: Path, stages: list[Any], **top: Any) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump({**top, "stages": stages}), encoding="utf-8")
    return path


def _error(path: Path, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path, overrides or [])
    return str(caught.value).splitlines()


def test_stages_get_the_shared_keys_and_stage_defaults(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [SFT, {**DPO, "eval": {"tuned_system_prompt": "Be brief."}}],
        model="some/model",
        data={"eval": "held.jsonl"},
        eval={"baseline_system_prompt_file": "guide.txt", "max_examples": 20},
    )
    pipe = load_pipeline(path)
    assert pipe.output == Path("runs/pipeline-flow")
    sft, dpo = (stage.config for stage in pipe.stages)
    assert [s.name for s in pipe.stages] == ["sft", "dpo"]
    assert sft.model.path == dpo.model.path == "some/model"
    assert sft.output == "runs/pipeline-flow/stages/sft"
    # Paths resolve against the file's folder; the held-out file is every stage's data.eval.
    assert sft.data.train == str(tmp_path / "train.jsonl")
    assert sft.data.eval == dpo.data.eval == str(tmp_path / "held.jsonl")
    assert sft.eval.baseline_system_prompt_file == str(tmp_path / "guide.txt")
    # A stage's own eval keys go over the shared ones.
    assert dpo.eval.tuned_system_prompt == "Be brief." and dpo.eval.max_examples == 20
    assert sft.eval.tuned_system_prompt is None
    # Defaults filled as for `tuneforge train`: epochs from the stage, the rest defaults.
    assert dpo.train.epochs == 1 and dpo.train.batch_size == 4 and sft.lora is not None


def test_overrides_reach_the_top_level_and_named_stages(tmp_path: Path) -> None:
    path = _write(tmp_path, [SFT, DPO])
    pipe = load_pipeline(path, ["stages.dpo.train.lr=1e-5", "eval.max_examples=7", "output=x"])
    assert pipe.stage("dpo").config.train.lr == 1e-5
    assert pipe.stage("sft").config.train.lr is None
    assert all(s.config.eval.max_examples == 7 for s in pipe.stages)
    assert pipe.stage("sft").config.output == "x/stages/sft"
    assert _error(path, ["stages.ppo.train.lr=1"]) == [
        "override 'stages.ppo.train.lr=1': expected stages.NAME.KEY=VALUE with NAME one of "
        "the stages (sft, dpo)"
    ]


def test_pairs_from_names_an_earlier_stage(tmp_path: Path) -> None:
    pairs = {"name": "dpo", "method": "dpo", "data": {"pairs_from": "sft"}}
    pipe = load_pipeline(_write(tmp_path, [SFT, pairs], output="out"))
    dpo = pipe.stage("dpo")
    assert dpo.pairs_from == "sft"
    assert dpo.config.data.train == "out/pairs/dpo.jsonl"
    later = {"name": "first", "method": "dpo", "data": {"pairs_from": "sft"}}
    assert _error(_write(tmp_path, [later, SFT])) == [
        f"{tmp_path / 'flow.yaml'}: stages[0].data.pairs_from: 'sft' is not an earlier stage "
        "(earlier stages: none)"
    ]
    both = {**pairs, "data": {"pairs_from": "sft", "train": "x.jsonl"}}
    assert _error(_write(tmp_path, [SFT, both]))[0].endswith(
        "stages[1].data: set train or pairs_from, not both (pairs_from writes the training pairs)"
    )


def test_errors_name_the_stage_and_key_path(tmp_path: Path) -> None:
    source = tmp_path / "flow.yaml"
    stages = [
        SFT,
        {**DPO, "train": {"lrr": 1}},
        {**DPO, "name": "Big Stage"},
        {**SFT, "output": "elsewhere"},
        {**DPO, "name": "dpo", "data": {"train": "p.jsonl", "eval": "e.jsonl"}},
        {"name": "kto", "method": "kto"},
    ]
    assert _error(_write(tmp_path, stages)) == [
        f"{source}: stages[1].train.lrr: unknown key; did you mean 'lr'?",
        f"{source}: stages[2].name: 'Big Stage' is not allowed; a stage needs a name of "
        "lowercase letters, digits, '-' and '_' (it names the stage's folder and its column "
        "in the report)",
        f"{source}: stages[3].name: 'sft' is already the name of an earlier stage",
        f"{source}: stages[4].name: 'dpo' is already the name of an earlier stage",
        f"{source}: stages[5].data.train: required",
    ]
    assert _error(_write(tmp_path, [{**SFT, "output": "elsewhere"}])) == [
        f"{source}: stages[0].output: not a stage key: set by the pipeline (stages/sft in its "
        "output folder)"
    ]
    assert _error(_write(tmp_path, [{**SFT, "data": {"train": "t", "eval": "e"}}])) == [
        f"{source}: stages[0].data.eval: every stage is measured on the pipeline's held-out "
        "set; set data.eval at the top level"
    ]
    assert _error(_write(tmp_path, [SFT], evall={})) == [
        f"{source}: evall: unknown key; did you mean 'eval'?"
    ]
    assert _error(_write(tmp_path, [])) == [
        f"{source}: stages: list at least one stage (each with name, method and data)"
    ]


def test_run_command_reports_config_errors_with_exit_2(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tuneforge.cli import app

    path = _write(tmp_path, [SFT, {**DPO, "train": {"lrr": 1}}])
    result = CliRunner().invoke(app, ["run", str(path), "--force"])
    assert result.exit_code == 2
    assert f"error: {path}: stages[1].train.lrr: unknown key; did you mean 'lr'?" in result.output
