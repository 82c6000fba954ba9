"""`tuneforge eval / report / compare` end to end on tiny random models saved as a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from transformers import PreTrainedTokenizerBase
from typer.testing import CliRunner

from tuneforge.cli import app
from tuneforge.config import LoraConfig
from tuneforge.models import attach_lora, build_tiny_model

ROWS = [
    ("Where is my parcel?", "shipping"),
    ("I was charged twice this month.", "billing"),
    ("The app crashes when I open settings.", "technical"),
    ("Please close my account.", "cancellation"),
    ("When will my order ship?", "shipping"),
    ("My refund has not arrived yet.", "billing"),
    ("Export to PDF gives a blank page.", "technical"),
    ("Stop my subscription at the end of the month.", "cancellation"),
]


def _jsonl(path: Path, rows: list[tuple[str, str]]) -> str:
    path.write_text(
        "".join(json.dumps({"prompt": p, "completion": c}) + "\n" for p, c in rows),
        encoding="utf-8",
    )
    return str(path)


def _run_dir(tmp_path: Path, base: Path, name: str, **eval_section: Any) -> Path:
    run = tmp_path / name
    run.mkdir()
    config = {
        "method": "sft",
        "model": str(base),
        "output": str(run),
        "data": {
            "train": _jsonl(tmp_path / "train.jsonl", ROWS * 3),
            "eval": _jsonl(tmp_path / "eval.jsonl", ROWS[:6]),
            "system_prompt": "Route it.",
        },
        "eval": {
            "baseline_system_prompt": "You route support messages to one team. " * 5,
            "bootstrap_samples": 200,
            "checks": [{"name": "one_word", "max_words": 1}],
            **eval_section,
        },
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (run / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "epoch": s / 4, "loss": 3 / s}) + "\n" for s in (1, 2, 3)),
        encoding="utf-8",
    )
    return run


def test_eval_report_compare_on_a_full_model_run(
    tmp_path: Path, base_dir: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    run = _run_dir(tmp_path, base_dir, "full", baseline_few_shot=2)
    build_tiny_model(embedded_tokenizer, seed=1).save_pretrained(run / "final")
    variants = "eval.variants=[baseline,tuned,tuned+prompt]"
    result = CliRunner().invoke(app, ["eval", str(run), variants])
    assert result.exit_code == 0, result.output
    assert "Report:" in result.output and "Verdict" in result.output
    doc = json.loads((run / "eval.json").read_text(encoding="utf-8"))
    assert list(doc["variants"]) == ["baseline", "tuned", "tuned+prompt"]
    assert doc["variants"]["baseline"]["few_shot"] == 2
    base_tokens = doc["variants"]["baseline"]["prompt_tokens_per_request"]
    assert doc["variants"]["tuned"]["prompt_tokens_per_request"] < base_tokens
    assert list(doc["tasks"]) == ["classification", "checks"]
    classification = doc["tasks"]["classification"]
    assert set(classification["comparisons"]) == {"tuned", "tuned+prompt"}
    diff = classification["comparisons"]["tuned"]["accuracy"]
    assert diff["ci_low"] <= diff["difference"] <= diff["ci_high"]
    assert doc["verdict"]["variant"] == "tuned" and len(doc["verdict"]["sentences"]) == 2
    assert len(doc["examples"]) == 6 and set(doc["examples"][0]["outputs"]) == set(doc["variants"])
    assert (run / "report.html").is_file()

    (run / "report.html").unlink()
    assert CliRunner().invoke(app, ["report", str(run)]).exit_code == 0
    assert (run / "report.html").is_file()
    compared = CliRunner().invoke(app, ["compare", str(run), str(run)], env={"COLUMNS": "200"})
    assert compared.exit_code == 0 and "classification" in compared.output


def test_eval_of_a_lora_run_uses_the_disabled_adapter_as_baseline(
    tmp_path: Path, base_dir: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    run = _run_dir(tmp_path, base_dir, "lora", max_examples=3)
    model = attach_lora(build_tiny_model(embedded_tokenizer, seed=0), LoraConfig(r=2, alpha=4))
    model.save_pretrained(run / "final")
    result = CliRunner().invoke(app, ["eval", str(run), "eval.variants=[baseline,tuned+prompt]"])
    assert result.exit_code == 0, result.output
    doc = json.loads((run / "eval.json").read_text(encoding="utf-8"))
    # A fresh LoRA adapter is the identity, so with the same prompt the tuned model answers
    # exactly like the base model (the adapter disabled) and every interval is [0, 0].
    assert doc["held_out"]["examples"] == 3 and doc["held_out"]["available"] == 6
    for example in doc["examples"]:
        assert example["outputs"]["tuned+prompt"] == example["outputs"]["baseline"]
    diff = doc["tasks"]["classification"]["comparisons"]["tuned+prompt"]["choice_accuracy"]
    assert (diff["ci_low"], diff["ci_high"], diff["verdict"]) == (0, 0, "no clear difference")


def test_eval_without_a_tuned_model_measures_the_baseline_only(
    tmp_path: Path, base_dir: Path
) -> None:
    run = _run_dir(tmp_path, base_dir, "untrained", max_examples=2)
    result = CliRunner().invoke(app, ["eval", str(run / "config.yaml"), "eval.checks=[]"])
    assert result.exit_code == 0, result.output
    doc = json.loads((run / "eval.json").read_text(encoding="utf-8"))
    assert list(doc["variants"]) == ["baseline"] and doc["verdict"]["variant"] is None
    assert "Baseline only" in result.output


def test_eval_errors_are_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(tmp_path)])
    assert result.exit_code == 2 and "not a run directory" in result.output
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "no eval.json" in result.output


def test_preference_pairs_with_implicit_rewards(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    from tuneforge.config import parse_config
    from tuneforge.evaluate.eval_models import EvalModels
    from tuneforge.evaluate.runner import evaluate

    pairs = [
        {"prompt": p, "chosen": f"Sure, {c} can help.", "rejected": "No."} for p, c in ROWS[:4]
    ]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in pairs), encoding="utf-8")
    cfg = parse_config(
        {
            "method": "dpo",
            "data": {"train": str(path), "eval": str(path), "system_prompt": "Be kind."},
            "eval": {"bootstrap_samples": 100, "tasks": ["preference"]},
        }
    )
    base = build_tiny_model(embedded_tokenizer, seed=0)
    # The "tuned" model is the base model itself: every implicit reward is exactly zero.
    doc = evaluate(cfg, None, models=EvalModels(embedded_tokenizer, base=base, tuned=base))
    preference = doc["tasks"]["preference"]
    tuned = preference["variants"]["tuned"]["metrics"]
    assert tuned["reward_margin"] == 0.0 and tuned["reward_accuracy"] == 0.0
    assert tuned["accuracy"] == preference["variants"]["baseline"]["metrics"]["accuracy"]
    assert "reward_accuracy" not in preference["comparisons"]["tuned"]
    assert doc["examples"][0]["rejected"] == "No." and doc["examples"][0]["outputs"] == {}


def test_scored_feedback_gets_ranking_auc_and_implicit_rewards(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    """A KTO config: the preference task ranks desirable above undesirable replies (AUC)."""
    from tuneforge.config import parse_config
    from tuneforge.evaluate.eval_models import EvalModels
    from tuneforge.evaluate.runner import evaluate

    rows = [
        {"prompt": p, "completion": f"{c} will reply today.", "score": score}
        for (p, c), score in zip(ROWS, [5, 1, 4, 2, 5, 1, 3, 4], strict=True)
    ]
    path = tmp_path / "ratings.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cfg = parse_config(
        {
            "method": "kto",
            "data": {"train": str(path), "eval": str(path)},
            "kto": {"threshold": 3},
            "eval": {"bootstrap_samples": 100, "tasks": ["preference"]},
        }
    )
    base = build_tiny_model(embedded_tokenizer, seed=0)
    doc = evaluate(cfg, None, models=EvalModels(embedded_tokenizer, base=base, tuned=base))
    preference = doc["tasks"]["preference"]
    assert preference["info"]["data"] == "scored"
    assert len(doc["examples"]) == 7  # the neutral 3 is left out, as in training
    tuned = preference["variants"]["tuned"]["metrics"]
    # Every implicit reward is zero (tuned is the base model): all ties, AUC exactly 1/2.
    assert tuned["reward_accuracy"] == 0.5 and tuned["reward_margin"] == 0.0
    assert tuned["accuracy"] == preference["variants"]["baseline"]["metrics"]["accuracy"]
    assert 0.0 <= tuned["accuracy"] <= 1.0


def test_eval_of_the_retrieval_baseline(tmp_path: Path, base_dir: Path) -> None:
    run = _run_dir(tmp_path, base_dir, "retrieval", retrieval_k=2, baseline_few_shot=1)
    variants = "eval.variants=[baseline,baseline+retrieval]"
    result = CliRunner().invoke(app, ["eval", str(run / "config.yaml"), variants])
    assert result.exit_code == 0, result.output
    doc = json.loads((run / "eval.json").read_text(encoding="utf-8"))
    assert list(doc["variants"]) == ["baseline", "baseline+retrieval"]
    entry = doc["variants"]["baseline+retrieval"]
    assert entry["model"] == "base" and entry["few_shot"] == 2
    assert entry["description"] == "base model + system prompt (35 words) + 2 retrieved examples"
    # Train is ROWS three times and the held-out set ROWS[:6]: the 18 train copies of held-out
    # requests are never retrieved, which leaves ROWS[6:8] (lines 7, 8, 15, 16, 23, 24).
    retrieval = entry["retrieval"]
    assert (retrieval["k"], retrieval["indexed_examples"]) == (2, 6)
    assert retrieval["excluded_duplicates"] == 18 and retrieval["dropped_shots"] == 0
    train = str(tmp_path / "train.jsonl")
    allowed = {f"{train}:{line}" for line in (7, 8, 15, 16, 23, 24)}
    assert len(retrieval["sources"]) == 6
    assert all(len(s) == 2 and set(s) <= allowed for s in retrieval["sources"])
    # "Export to PDF gives a blank page." and "Stop my subscription ..." are not held out; the
    # held-out "Please close my account." shares only "my" with the subscription request.
    assert retrieval["sources"][3][-1] == f"{train}:8"
    # Two retrieved shots cost more prompt tokens than one fixed shot.
    base = doc["variants"]["baseline"]["prompt_tokens_per_request"]
    assert entry["prompt_tokens_per_request"] > base
    assert set(doc["examples"][0]["outputs"]) == {"baseline", "baseline+retrieval"}
    assert doc["verdict"]["variant"] is None
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "base model + system prompt (35 words) + 2 retrieved examples" in html
    assert "18 train examples not retrieved: their request is a held-out request" in html


def test_a_tuned_model_is_also_measured_against_the_retrieval_baseline(
    tmp_path: Path, base_dir: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    run = _run_dir(tmp_path, base_dir, "against-retrieval", retrieval_k=2)
    build_tiny_model(embedded_tokenizer, seed=1).save_pretrained(run / "final")
    variants = "eval.variants=[baseline,baseline+retrieval,tuned]"
    result = CliRunner().invoke(app, ["eval", str(run), variants])
    assert result.exit_code == 0, result.output
    doc = json.loads((run / "eval.json").read_text(encoding="utf-8"))
    classification = doc["tasks"]["classification"]
    step = classification["previous"]["tuned"]
    assert step["against"] == "baseline+retrieval"
    accuracy = step["metrics"]["accuracy"]
    tuned = classification["variants"]["tuned"]["metrics"]["accuracy"]
    retrieval = classification["variants"]["baseline+retrieval"]["metrics"]["accuracy"]
    # In the step comparison, "baseline" holds the earlier step's value: the retrieval baseline.
    assert (accuracy["value"], accuracy["baseline"]) == (tuned, retrieval)
    assert accuracy["difference"] == pytest.approx(tuned - retrieval)
    first, second = classification["summary"].split(". Classification: ")
    assert first.startswith("Classification: tuned is ") and "the baseline" in first
    assert second.startswith("tuned is ") and " baseline+retrieval on accuracy" in second
    assert classification["summary"] in doc["verdict"]["sentences"]
    assert "baseline+retrieval" not in classification["previous"]
