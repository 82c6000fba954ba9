"""The terminal summary of an evaluation: the headline table and the verdict sentences."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from tuneforge.evaluate.wording import format_interval, format_value


def summary_table(doc: Mapping[str, Any]) -> Table:
    """Headline metric per task: baseline, tuned, the difference with its interval, verdict."""
    main = doc.get("verdict", {}).get("variant")
    table = Table(title=f"held-out set: {doc.get('held_out', {}).get('examples', 0)} examples")
    level = round(100 * doc.get("settings", {}).get("confidence", 0.95))
    for column in ("task", "metric", "baseline", main or "tuned", f"difference [{level}% CI]"):
        table.add_column(column, justify="left" if column in ("task", "metric") else "right")
    table.add_column("verdict")
    for task in doc.get("tasks", {}).values():
        for key, info in task["metrics"].items():
            unit = info["unit"]
            base = task["variants"]["baseline"]["metrics"].get(key)
            diff = task.get("comparisons", {}).get(main, {}).get(key) if main else None
            cells = [
                task["title"] if key == task["headline_metric"] else "",
                info["label"],
                format_value(base, unit) if base is not None else "—",
            ]
            if diff is None:
                value = task["variants"].get(main, {}).get("metrics", {}).get(key) if main else None
                cells += [format_value(value, unit) if value is not None else "—", "—", ""]
            else:
                cells += [
                    format_value(diff["value"], unit),
                    format_interval(diff, unit),
                    diff["verdict"],
                ]
            table.add_row(*cells)
    return table


def print_verdict(doc: Mapping[str, Any], console: Console) -> None:
    """The verdict sentences and the cost line."""
    verdict = doc.get("verdict", {})
    if verdict.get("variant") is None:
        console.print("Baseline only: no tuned model was found (train first).")
        return
    for sentence in verdict.get("sentences", []):
        console.print(f"Verdict — {sentence}", highlight=False)
    if verdict.get("cost"):
        console.print(verdict["cost"], highlight=False)
