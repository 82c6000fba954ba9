"""CLI bodies of ``tuneforge eval`` and ``tuneforge report``, and the terminal summary."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tuneforge.config import TuneforgeConfig, load_config
from tuneforge.errors import TuneforgeError
from tuneforge.evaluate.report.build import CONFIG_FILE, build_report
from tuneforge.evaluate.results import format_interval, format_value


def resolve_target(target: Path, overrides: list[str]) -> tuple[TuneforgeConfig, Path]:
    """(config, run directory) of ``tuneforge eval CONFIG|RUN_DIR``.

    A run directory brings its resolved config.yaml; a config file points at its ``output``.
    """
    if target.is_dir():
        config = target / CONFIG_FILE
        if not config.is_file():
            raise TuneforgeError(
                f"{target}: not a run directory (no {CONFIG_FILE}); pass the run directory "
                "written by `tuneforge train`, or a config file"
            )
        return load_config(config, overrides), target
    cfg = load_config(target, overrides)
    return cfg, cfg.run_dir()


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


def eval_command(target: Path, overrides: list[str]) -> int:
    """CLI body of ``tuneforge eval``: evaluate, write eval.json and report.html, print verdict."""
    from tuneforge.evaluate.runner import evaluate, write_eval

    console = Console()
    err = Console(stderr=True)
    try:
        cfg, run_dir = resolve_target(target, overrides)
        doc = evaluate(cfg, run_dir, progress=lambda m: err.print(m, highlight=False))
        eval_path = write_eval(run_dir, doc)
        report_path = build_report(run_dir, doc)
    except TuneforgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    console.print(summary_table(doc))
    print_verdict(doc, console)
    console.print(f"Results: {eval_path}\nReport: {report_path}", highlight=False)
    return 0


def report_command(run_dir: Path) -> int:
    """CLI body of ``tuneforge report``: rebuild report.html from the run's files alone."""
    try:
        path = build_report(run_dir)
    except TuneforgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Report: {path}")
    return 0
