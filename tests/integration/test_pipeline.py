"""`tuneforge run`: stages chained through merged models, skip by hash, resume, one evaluation.

Tiny random models saved to a folder stand in for the base model, so every run takes seconds.
"""

from __future__ import annotations

import hashlib
import json
import signal
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from transformers import PreTrainedTokenizerBase
from typer.testing import CliRunner

import tuneforge.run.model_setup as stage_module
import tuneforge.run.pipeline as pipeline_module
from helpers import brand_voice_pairs, talkative_tiny_model, write_jsonl
from tuneforge.cli import app
from tuneforge.config.pipeline import load_pipeline
from tuneforge.data.load import load_examples
from tuneforge.data.types import RecordKind
from tuneforge.evaluate.report.compare import comparison_rows, load_runs
from tuneforge.evaluate.wording import format_value
from tuneforge.models import load_model, merged_model
from tuneforge.run.pipeline import run_pipeline
from tuneforge.run.pipeline_data import prompt_key

STAGE_TRAIN = {"batch_size": 2, "lr": 0.01, "logging_steps": 1, "warmup_ratio": 0.0}
LORA = {"r": 4, "alpha": 8, "dropout": 0.0}


def _pipeline_file(tmp_path: Path, base: Path, *, dpo_data: dict[str, Any]) -> Path:
    document = {
        "model": str(base),
        "output": str(tmp_path / "out"),
        "eval": {
            "baseline_system_prompt": "Reply as Fernway: warm, brief, one next step. " * 4,
            "bootstrap_samples": 100,
            "max_new_tokens": 4,
            "retrieval_k": 2,
            "checks": [{"name": "short", "max_words": 3}],
        },
        "stages": [
            {
                "name": "sft",
                "method": "sft",
                "data": {"train": "train.jsonl", "eval_split": 0.25, "max_length": 96},
                "lora": LORA,
                "train": {**STAGE_TRAIN, "max_steps": 2},
            },
            {
                "name": "dpo",
                "method": "dpo",
                "data": {**dpo_data, "max_length": 96},
                "lora": LORA,
                "train": {**STAGE_TRAIN, "max_steps": 3},
            },
        ],
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


class Spy:
    """Counts the stages `train` runs (and how), around the real function."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.loaded: dict[str, dict[str, torch.Tensor]] = {}

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_train, real_load = pipeline_module.train, stage_module.load_model

        def train(cfg: Any, **kwargs: Any) -> Any:
            self.calls.append((Path(cfg.output).name, kwargs.get("resume", False)))
            return real_train(cfg, **kwargs)

        def load(name: str, **kwargs: Any) -> Any:
            model = real_load(name, **kwargs)
            self.loaded[name] = {k: v.clone() for k, v in model.state_dict().items()}
            return model

        monkeypatch.setattr(pipeline_module, "train", train)
        monkeypatch.setattr(stage_module, "load_model", load)


def _run(path: Path, overrides: list[str] | None = None, **kwargs: Any) -> tuple[Any, str]:
    lines: list[str] = []
    outcome = run_pipeline(load_pipeline(path, overrides or []), log=lines.append, **kwargs)
    return outcome, "\n".join(lines)


def _mtime(path: Path) -> int:
    return path.stat().st_mtime_ns


def test_pipeline_chains_skips_reruns_and_evaluates_every_step(
    tmp_path: Path, base_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    brand_voice_pairs(tmp_path / "train.jsonl", 24)
    path = _pipeline_file(tmp_path, base_dir, dpo_data={"train": "train.jsonl"})
    out = tmp_path / "out"
    spy = Spy()
    spy.install(monkeypatch)

    outcome, log = _run(path)
    assert spy.calls == [("sft", False), ("dpo", False)]
    # Stage 2 starts from stage 1's merged weights, tensor for tensor.
    merged_dir = out / "stages" / "sft" / "merged"
    dpo_config = yaml.safe_load((out / "stages" / "dpo" / "config.yaml").read_text())
    assert dpo_config["model"] == str(merged_dir)
    expected = merged_model(out / "stages" / "sft" / "final", str(base_dir)).state_dict()
    started = spy.loaded[str(merged_dir)]
    assert started.keys() == expected.keys()
    assert all(torch.equal(started[k], expected[k]) for k in expected)
    base = load_model(str(base_dir)).state_dict()
    assert any(not torch.equal(base[k], expected[k]) for k in expected), "SFT changed nothing"

    # One frozen held-out set, as raw pair rows, whose prompts no stage trains on.
    held_out = load_examples(out / "eval.jsonl", RecordKind.PAIR)
    assert held_out
    held_prompts = {prompt_key(e) for e in held_out}
    for name in ("sft", "dpo"):
        rows = load_examples(out / "data" / f"{name}.jsonl", RecordKind.PAIR)
        assert len(rows) == 24 - len(held_out)
        assert not held_prompts & {prompt_key(e) for e in rows}

    state = json.loads((out / "pipeline.json").read_text())
    assert state["status"] == "finished"
    assert [s["status"] for s in state["stages"]] == ["finished", "finished"]
    sft_train = (out / "data" / "sft.jsonl").read_bytes()
    assert state["stages"][0]["input_hashes"]["train"] == hashlib.sha256(sft_train).hexdigest()
    assert state["stages"][1]["trained_from"] == f"stage:{state['stages'][0]['config_hash']}"

    # One eval.json, a variant per step, and a report with one column per step.
    doc = json.loads((out / "eval.json").read_text())
    steps = ["baseline", "baseline+retrieval", "sft", "dpo"]
    assert list(doc["variants"]) == steps
    assert [s["name"] for s in doc["steps"]] == steps
    assert doc["variants"]["dpo"]["previous"] == "sft"
    assert doc["variants"]["sft"]["train_seconds"] == state["stages"][0]["train_seconds"]
    assert doc["verdict"]["variant"] == "dpo"
    assert set(doc["tasks"]) == {"checks", "preference", "similarity"}
    previous = doc["tasks"]["checks"]["previous"]
    assert {n: p["against"] for n, p in previous.items()} == dict(
        zip(steps[1:], steps[:-1], strict=True)
    )
    html = (out / "report.html").read_text()
    header = "<th>step →</th>" + "".join(f"<th>{n}</th>" for n in steps)
    assert '<section id="steps">' in html and header in html

    # Unchanged: every stage skipped, nothing trained, nothing re-evaluated.
    final_mtime = _mtime(out / "stages" / "dpo" / "final")
    cache = {p.name: _mtime(p) for p in (out / "eval-cache").iterdir()}
    spy.calls.clear()
    _, log = _run(path)
    assert spy.calls == []
    assert "sft: skipped" in log and "dpo: skipped" in log
    assert _mtime(out / "stages" / "dpo" / "final") == final_mtime
    assert {p.name: _mtime(p) for p in (out / "eval-cache").iterdir()} == cache
    state = json.loads((out / "pipeline.json").read_text())
    assert [s["status"] for s in state["stages"]] == ["skipped", "skipped"]
    assert set(state["evaluation"]["variants"].values()) == {"cached"}

    # Stage 2 changed: only it reruns, and only its step is evaluated again.
    _, log = _run(path, ["stages.dpo.train.lr=0.02"])
    assert spy.calls == [("dpo", False)]
    assert "sft: skipped" in log
    assert json.loads((out / "pipeline.json").read_text())["evaluation"]["variants"] == {
        "baseline": "cached",
        "baseline+retrieval": "cached",
        "sft": "cached",
        "dpo": "evaluated",
    }

    # --force reruns everything.
    spy.calls.clear()
    _run(path, ["stages.dpo.train.lr=0.02"], force=True)
    assert spy.calls == [("sft", False), ("dpo", False)]

    # report and compare read the pipeline folder.
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["compare", str(out)])
    assert result.exit_code == 0, result.output
    # compare reads the last step as the tuned model.
    doc = json.loads((out / "eval.json").read_text())
    rows = comparison_rows(load_runs([out]))
    checks = doc["tasks"]["checks"]
    dpo_value = checks["variants"]["dpo"]["metrics"][checks["headline_metric"]]
    assert [r[4] for r in rows if r[1] == "checks"] == [format_value(dpo_value, "rate")]


def test_an_interrupted_stage_resumes_from_its_checkpoint(
    tmp_path: Path, base_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    brand_voice_pairs(tmp_path / "train.jsonl", 16)
    path = _pipeline_file(tmp_path, base_dir, dpo_data={"train": "train.jsonl"})
    out = tmp_path / "out"
    spy = Spy()
    spy.install(monkeypatch)

    def stop_dpo(stage: str, step: int, window: Any) -> None:
        if stage == "dpo" and step == 2:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C: the loop saves step 2 and stops

    outcome, log = _run(path, on_step=stop_dpo)
    assert outcome.interrupted and outcome.document is None
    state = json.loads((out / "pipeline.json").read_text())
    assert state["status"] == "interrupted"
    assert [s["status"] for s in state["stages"]] == ["finished", "interrupted"]
    assert (out / "stages" / "dpo" / "checkpoints" / "step-2").is_dir()
    assert not (out / "eval.json").exists()

    spy.calls.clear()
    outcome, log = _run(path)
    assert spy.calls == [("dpo", True)]
    assert "sft: skipped" in log and "dpo: resuming" in log
    manifest = json.loads((out / "stages" / "dpo" / "manifest.json").read_text())
    assert manifest["status"] == "finished" and manifest["global_step"] == 3
    steps = [json.loads(line)["step"] for line in (out / "stages/dpo/metrics.jsonl").open()]
    assert sorted({s for s in steps}) == [1, 2, 3]
    assert list(outcome.document["variants"]) == ["baseline", "baseline+retrieval", "sft", "dpo"]


def test_pairs_from_builds_pairs_from_the_earlier_stage_on_its_training_prompts(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    # Replies of visible text (a random model's are blank lines, which make no pairs).
    base_dir = tmp_path / "talkative"
    talkative_tiny_model(embedded_tokenizer).save_pretrained(base_dir)
    embedded_tokenizer.save_pretrained(base_dir)
    rows = [
        {"prompt": f"Order {n}: {n} boxes of tea for Ana", "completion": f'{{"quantity": {n}}}'}
        for n in range(1, 17)
    ]
    write_jsonl(tmp_path / "train.jsonl", rows)
    path = _pipeline_file(tmp_path, base_dir, dpo_data={"pairs_from": "sft"})
    out = tmp_path / "out"
    outcome, log = _run(path, ["eval.variants=[baseline]"])
    pairs = load_examples(out / "pairs" / "dpo.jsonl", RecordKind.PAIR)
    sft_prompts = {e.prompt for e in load_examples(out / "data" / "sft.jsonl", RecordKind.SFT)}
    held_out = {e.prompt for e in load_examples(out / "eval.jsonl", RecordKind.SFT)}
    assert pairs and {p.prompt for p in pairs} <= sft_prompts
    assert not held_out & {p.prompt for p in pairs}
    # The random model's replies are its own greedy text, never the reference.
    assert all(p.rejected != p.chosen for p in pairs)
    # SFT rows are read as SFT for the evaluation (no pair rows to score).
    assert list(outcome.document["variants"]) == ["baseline", "sft", "dpo"]
    assert "preference" not in outcome.document["tasks"]
    # A change to the DPO stage alone reruns DPO on the same pairs (made from the same SFT
    # model with the same options), without generating them again.
    stamp = out / "pairs" / "dpo.source.json"
    assert json.loads(stamp.read_text())["source"].startswith("pairs:")
    made = _mtime(out / "pairs" / "dpo.jsonl")
    _, log = _run(path, ["eval.variants=[baseline]", "stages.dpo.train.lr=0.02"])
    assert "dpo: pairs from sft unchanged, reused" in log
    assert _mtime(out / "pairs" / "dpo.jsonl") == made
    # A pairs file edited since is made again.
    with (out / "pairs" / "dpo.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"prompt": "x", "chosen": "a", "rejected": "b"}\n')
    _, log = _run(path, ["eval.variants=[baseline]", "stages.dpo.train.lr=0.03"])
    assert "dpo: pairs from the mistakes of sft" in log
    assert [p.prompt for p in load_examples(out / "pairs" / "dpo.jsonl", RecordKind.PAIR)] == [
        p.prompt for p in pairs
    ]
