"""report.html and compare from a synthetic eval.json: sections, plots, escaping."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from rich.console import Console

from tuneforge.cli import compare_command
from tuneforge.config import CheckRule
from tuneforge.data.advice import held_out_advice, method_advice
from tuneforge.data.types import RecordKind
from tuneforge.evaluate.heldout import EvalItem
from tuneforge.evaluate.metrics.tasks import VariantOutputs, checks_task, classification_task
from tuneforge.evaluate.report import build_report, render_report
from tuneforge.evaluate.report.compare import comparison_rows
from tuneforge.evaluate.report.sections import advice_section
from tuneforge.evaluate.results import (
    compare,
    example_entries,
    new_document,
    overall_verdict,
    task_entry,
)


def synthetic_document() -> dict[str, Any]:
    """An eval.json as `evaluate` writes it, for a 6-example classification run."""
    items = [EvalItem(f"<message {i}>", ["a", "b"][i % 2]) for i in range(6)]
    runs = {
        "baseline": VariantOutputs("baseline", [300] * 6, answers=["a", "a", "a", "x", "a", "a"]),
        "tuned": VariantOutputs("tuned", [30] * 6, answers=["a", "b", "a", "b", "a", "b"]),
    }
    tasks = [
        classification_task(["a", "b"], items, runs),
        checks_task([CheckRule(name="short", max_words=1)], runs),
    ]
    entries = {
        t.name: task_entry(t, compare(t, "baseline", samples=200, seed=0, confidence=0.95), 0.95)
        for t in tasks
    }
    variants = {
        name: {
            "model": "base" if name == "baseline" else "tuned",
            "description": name,
            "system_prompt": None,
            "few_shot": 0,
            "prompt_tokens_per_request": float(run.prompt_tokens[0]),
            "cost_per_1000_requests": run.prompt_tokens[0] * 1000 * 0.15 / 1e6,
            "saving_per_1000_requests": (300 - run.prompt_tokens[0]) * 1000 * 0.15 / 1e6,
            "prompt_token_reduction": 1 - run.prompt_tokens[0] / 300,
            "seconds": 1.0,
        }
        for name, run in runs.items()
    }
    return new_document(
        run_dir="x",
        method="sft",
        model="embedded",
        held_out={"source": "e.jsonl", "examples": 6, "available": 6},
        settings={
            "bootstrap_samples": 200,
            "confidence": 0.95,
            "seed": 0,
            "max_new_tokens": 9,
            "price_per_million_tokens": 0.15,
        },
        variants=variants,
        tasks=entries,
        verdict=overall_verdict(entries, variants, 0.15),
        examples=example_entries(items, runs, tasks),
    )


def test_report_sections_and_inline_plots() -> None:
    doc = synthetic_document()
    records = [{"step": s, "loss": 2.0 / s, "rewards/margins": 0.1 * s} for s in range(1, 6)]
    records.append({"step": 5, "eval_loss": 0.5})
    html = render_report(doc, records, "method: sft\n", title="demo")
    assert "Did fine-tuning help?" in html
    assert doc["verdict"]["sentences"][0] in html
    assert html.count('<img class="plot"') == 3  # two task charts and the training curves
    assert "data:image/svg+xml;base64," in html and "http://" not in html.replace(
        "http://www.w3.org", ""
    )
    for section in (
        'id="variants"',
        'id="task-classification"',
        'id="training"',
        'id="examples"',
        'id="data"',
        'id="config"',
        'id="advice"',
        "confusion",
    ):
        assert section in html
    assert "&lt;message 1&gt;" in html and "<message 1>" not in html  # escaped
    assert "Biggest wins" in html and "Regressions" in html


def test_report_from_files_and_compare(tmp_path: Path, capsys: Any) -> None:
    run = tmp_path / "run-a"
    run.mkdir()
    (run / "eval.json").write_text(json.dumps(synthetic_document()), encoding="utf-8")
    path = build_report(run)
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    rows = comparison_rows([("run-a", synthetic_document())])
    assert rows[0][:3] == ["run-a", "classification", "accuracy"]
    assert rows[0][-1] == "300 → 30"
    console = Console(width=200, record=True)
    assert compare_command([run, run], console) == 0
    assert "run-a" in console.export_text()
    assert compare_command([tmp_path / "missing"], console) == 2


def test_advice_section_names_the_method_and_the_held_out_noise() -> None:
    doc = synthetic_document()
    doc["held_out"].update({"kind": "sft", "train_source": "train.jsonl", "examples": 40})
    html = advice_section(doc)
    sft = method_advice(RecordKind.SFT, data="train.jsonl", run_dir="x")
    assert "tuneforge pairs x --data train.jsonl --out pairs.jsonl" in sft
    assert html == (
        '<section id="advice"><h2>What to try next</h2>'
        f"<p>{escape(sft)}</p><p>{held_out_advice(40)}</p></section>"
    )
    assert "±15 points" in html
    doc["held_out"]["kind"] = "scored"
    assert "train KTO" in advice_section(doc)
    # An eval.json without the data kind still gets the held-out note.
    del doc["held_out"]["kind"]
    assert advice_section(doc).count("<p>") == 1
