"""``tuneforge compare``: several runs' evaluations side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from tuneforge.errors import TuneforgeError
from tuneforge.evaluate.results import EVAL_FILE, read_eval
from tuneforge.evaluate.wording import format_interval, format_value


def load_runs(paths: Sequence[Path]) -> list[tuple[str, dict[str, Any]]]:
    """(name, eval.json) of each run directory; an error names any run not yet evaluated."""
    runs = []
    for path in paths:
        file = path / EVAL_FILE if path.is_dir() else path
        if not file.is_file():
            raise TuneforgeError(f"{path}: no {EVAL_FILE}; run `tuneforge eval {path}` first")
        runs.append((path.name if path.is_dir() else path.parent.name, read_eval(file)))
    return runs


def comparison_rows(runs: Sequence[tuple[str, dict[str, Any]]]) -> list[list[str]]:
    """One row per run and task: headline metric for baseline and tuned, interval, verdict, cost."""
    rows = []
    for name, doc in runs:
        main = doc.get("verdict", {}).get("variant")
        variants = doc.get("variants", {})
        tokens = " → ".join(
            f"{variants[v]['prompt_tokens_per_request']:.0f}"
            for v in ("baseline", main)
            if v in variants
        )
        for task_name, task in doc.get("tasks", {}).items():
            key = task["headline_metric"]
            info = task["metrics"][key]
            unit = info["unit"]
            base = task["variants"]["baseline"]["metrics"].get(key)
            row = [
                name,
                task_name,
                info["label"],
                format_value(base, unit) if base is not None else "—",
            ]
            diff = task.get("comparisons", {}).get(main, {}).get(key) if main else None
            if diff is None:
                row += ["—", "—", "—"]
            else:
                row += [
                    format_value(diff["value"], unit),
                    format_interval(diff, unit),
                    diff["verdict"],
                ]
            rows.append([*row, tokens])
    return rows


def comparison_table(runs: Sequence[tuple[str, dict[str, Any]]]) -> Table:
    """A table of every run's headline results (`comparison_rows`)."""
    table = Table(title="tuneforge runs, held-out results")
    level = round(100 * runs[0][1].get("settings", {}).get("confidence", 0.95)) if runs else 95
    for column in (
        "run",
        "task",
        "metric",
        "baseline",
        "tuned",
        f"difference [{level}% CI]",
        "verdict",
        "prompt tokens",
    ):
        table.add_column(column)
    for row in comparison_rows(runs):
        table.add_row(*row)
    return table
