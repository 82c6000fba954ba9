"""Print a ``check`` report: problem lines, a length histogram and a summary table, or JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tuneforge.data.lint.checker import SCORES_KEY

if TYPE_CHECKING:
    from tuneforge.data.lint.checker import CheckReport

BAR_WIDTH = 30


def render_json(report: CheckReport) -> str:
    """The report as one JSON document: problems, summary, histogram, verdict."""
    document = {
        "file": report.file,
        "method": report.method,
        "ok": report.exit_code == 0,
        "exit_code": report.exit_code,
        "problems": [p.to_dict() for p in report.problems],
        "summary": report.summary,
        "histogram": report.histogram,
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def _bucket_label(bucket: dict[str, Any]) -> str:
    if bucket["max"] is None:
        return f">{bucket['min'] - 1}"
    return f"{bucket['min']}–{bucket['max']}"


def histogram_lines(histogram: list[dict[str, Any]]) -> list[str]:
    """The token-length histogram as plain text lines with proportional bars."""
    labels = [_bucket_label(b) for b in histogram]
    width = max(len(label) for label in labels)
    top = max(b["count"] for b in histogram) or 1
    lines = []
    for label, bucket in zip(labels, histogram, strict=True):
        bar = "█" * round(BAR_WIDTH * bucket["count"] / top)
        lines.append(f"  {label:>{width}} tokens  {bucket['count']:>7}  {bar}")
    return lines


def _summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [
        ("method", str(summary.get("method", ""))),
        ("rows", str(summary.get("rows", 0))),
        ("usable rows", str(summary.get("usable", 0))),
        ("errors", str(summary.get("errors", 0))),
        ("warnings", str(summary.get("warnings", 0))),
    ]
    tokens = summary.get("tokens")
    if tokens:
        rows += [
            (
                "tokens total / mean / max",
                f"{tokens['total']} / {tokens['mean']} / {tokens['max']}",
            ),
            (
                f"over max_length {tokens['max_length']}",
                f"{tokens['truncated']} truncated, {tokens['dropped']} dropped",
            ),
        ]
    for label, count in (summary.get("labels") or {}).items():
        rows.append((f"label {label!r}", str(count)))
    kto = summary.get(SCORES_KEY)
    if kto:
        rows += [
            ("desirable", str(kto["desirable"])),
            ("undesirable", str(kto["undesirable"])),
            ("neutral (left out)", str(kto["neutral"])),
            ("threshold rule", kto["rule"]),
        ]
    evaluation = summary.get("eval")
    if evaluation:
        rows += [
            ("eval rows / usable", f"{evaluation['rows']} / {evaluation['usable']}"),
            ("prompts also in eval", str(evaluation["overlap"])),
        ]
    return rows


def render_text(report: CheckReport, console: Console | None = None) -> None:
    """Print problems (one line each), the histogram, the summary table and a verdict."""
    # Problem lines go through plain print: rich markup would eat "[0]" in "messages[0].role".
    for problem in report.problems:
        print(problem.format())
    console = console or Console(highlight=False)
    if report.histogram:
        print("\nfull-sequence token lengths:")
        for line in histogram_lines(report.histogram):
            print(line)
    if "rows" in report.summary:  # absent when the check stopped early (bad method, config)
        _print_table(report, console)
    advice = report.summary.get("advice")
    if advice and not report.exit_code:
        print("\nadvice:")
        for key in ("method", "held_out"):
            print(f"  {advice[key]}")
    if report.exit_code:
        verdict = f"{report.errors} error{'s' if report.errors != 1 else ''}: not usable"
    else:
        verdict = f"usable for {report.method}"
        if report.warnings:
            verdict += f" ({report.warnings} warning{'s' if report.warnings != 1 else ''})"
    print(verdict)


def _print_table(report: CheckReport, console: Console) -> None:
    print(f"\nsummary of {report.file}:")
    table = Table(show_header=False)
    table.add_column("item", style="bold")
    table.add_column("value", overflow="fold")
    for item, value in _summary_rows(report.summary):
        # Text objects, not str: values like "[0, 1]" must not be read as rich markup.
        table.add_row(Text(item), Text(value))
    console.print(table)
