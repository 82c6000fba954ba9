"""A pipeline's steps side by side: one column per step, read left to right.

For every task the headline metric, its interval against the baseline and against the step
before; then prompt tokens per request and training time. The same rows feed the HTML report
(`steps_section`) and the terminal (`steps_table`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from rich.table import Table

from tuneforge.evaluate.report.sections import badge, table
from tuneforge.evaluate.wording import format_interval, format_value


@dataclass(frozen=True)
class Cell:
    """One cell: its text and, for a difference, its verdict."""

    text: str
    verdict: str | None = None


def _seconds(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "—"
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def step_names(doc: Mapping[str, Any]) -> list[str]:
    """The steps in order (a pipeline's eval.json); empty for a single run's."""
    return [step["name"] for step in doc.get("steps", []) if step.get("name") in doc["variants"]]


def step_rows(doc: Mapping[str, Any]) -> list[tuple[str, list[Cell]]]:
    """(row label, one cell per step) for the steps table."""
    names = step_names(doc)
    variants = doc["variants"]
    level = round(100 * doc.get("settings", {}).get("confidence", 0.95))
    rows: list[tuple[str, list[Cell]]] = [
        ("model and prompt", [Cell(variants[n].get("description", "")) for n in names])
    ]
    for task in doc.get("tasks", {}).values():
        key = task["headline_metric"]
        info = task["metrics"][key]
        unit = info["unit"]
        values = [task["variants"].get(n, {}).get("metrics", {}).get(key) for n in names]
        rows.append(
            (
                f"{task['title']}: {info['label']}",
                [Cell("—" if v is None else format_value(v, unit)) for v in values],
            )
        )
        against_base = [task.get("comparisons", {}).get(n, {}).get(key) for n in names]
        rows.append((f"  vs baseline [{level}% CI]", [_difference(d, unit) for d in against_base]))
        previous = [task.get("previous", {}).get(n, {}) for n in names]
        rows.append(
            (
                f"  vs previous step [{level}% CI]",
                [
                    _difference(p.get("metrics", {}).get(key), unit, p.get("against"))
                    for p in previous
                ],
            )
        )
    rows.append(
        (
            "prompt tokens / request",
            [Cell(f"{variants[n]['prompt_tokens_per_request']:.0f}") for n in names],
        )
    )
    times = [Cell(_seconds(variants[n].get("train_seconds"))) for n in names]
    rows.append(("training time", times))
    return rows


def _difference(diff: Mapping[str, Any] | None, unit: str, against: str | None = None) -> Cell:
    if diff is None:
        return Cell("—")
    text = format_interval(diff, unit)
    return Cell(f"{text} (vs {against})" if against else text, diff["verdict"])


def _html_cell(cell: Cell) -> str:
    return escape(cell.text) + (f" {badge(cell.verdict)}" if cell.verdict else "")


def steps_section(doc: Mapping[str, Any]) -> str:
    """The HTML table of the steps (empty for a single run's eval.json)."""
    names = step_names(doc)
    if not names:
        return ""
    rows = [[escape(label), *map(_html_cell, cells)] for label, cells in step_rows(doc)]
    headers = ["step →", *(escape(n) for n in names)]
    return (
        '<section id="steps"><h2>What each step bought</h2><p class="note">Left to right: the '
        "prompt-only baseline, then each stage's model with its short prompt, all on the same "
        "held-out examples. Differences are in points for rates, with paired bootstrap "
        f"intervals.</p>{table(headers, rows, 'steps')}</section>"
    )


def steps_table(doc: Mapping[str, Any]) -> Table:
    """The same table for the terminal."""
    names = step_names(doc)
    held = doc.get("held_out", {}).get("examples", 0)
    result = Table(title=f"pipeline steps, held-out set: {held} examples")
    result.add_column("")
    for name in names:
        result.add_column(name, justify="right")
    for label, cells in step_rows(doc):
        result.add_row(label, *(c.text + (f" {c.verdict}" if c.verdict else "") for c in cells))
    return result
