"""report.html: the before/after report, self-contained (plots inline, no network).

`build_report` works from files alone — eval.json, metrics.jsonl and config.yaml in the run
directory — so ``tuneforge report RUN_DIR`` can rebuild it at any time without a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from tuneforge.errors import TuneforgeError
from tuneforge.evaluate.report.plots import training_curves
from tuneforge.evaluate.report.sections import (
    advice_section,
    data_section,
    examples_section,
    figure,
    task_section,
    variants_section,
    verdict_section,
)
from tuneforge.evaluate.report.steps import steps_section
from tuneforge.evaluate.results import EVAL_FILE, read_eval
from tuneforge.io import read_jsonl, write_text_atomic
from tuneforge.target import RUN_CONFIG

REPORT_FILE = "report.html"
METRICS_FILE = "metrics.jsonl"
#: A pipeline folder's record (`run.pipeline`); its stages' run directories lie under stages/.
PIPELINE_STATE = "pipeline.json"

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1f24;
       margin: 0 auto; max-width: 1100px; padding: 24px 32px 64px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; margin: 32px 0 10px;
border-bottom: 1px solid #d8dee4; padding-bottom: 4px; } h3 { font-size: 15px; margin: 18px 0 6px; }
h4 { font-size: 13px; margin: 8px 0 4px; color: #57606a; }
.subtitle { color: #57606a; margin: 0 0 16px; }
#verdict { background: #f6f8fa; border: 1px solid #d8dee4; border-radius: 8px;
           padding: 4px 20px 12px; }
#verdict h2 { border: none; margin-top: 12px; }
.verdicts { padding-left: 0; list-style: none; } .verdicts li { margin: 8px 0; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; color: #fff;
         font-weight: 600; } .better { background: #1a7f37; } .worse { background: #cf222e; }
.unclear { background: #6e7781; }
.cost { font-weight: 600; } .note { color: #57606a; font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 13px; }
th, td { border: 1px solid #d8dee4; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } .swatch { display: inline-block; width: 10px; height: 10px;
border-radius: 2px; margin-right: 6px; }
.matrices > div { overflow-x: auto; margin-bottom: 12px; }
.confusion td { text-align: center; } .cell { display: block; padding: 2px 4px; }
.side-by-side { display: flex; gap: 16px; flex-wrap: wrap; }
.side-by-side > div { flex: 1 1 300px; min-width: 0; }
pre { white-space: pre-wrap; word-break: break-word; background: #f6f8fa; padding: 8px;
      border-radius: 6px; font-size: 12px; margin: 0; max-height: 320px; overflow: auto; }
.example { border: 1px solid #d8dee4; border-radius: 8px; padding: 8px 12px; margin: 10px 0; }
.score { color: #1b1f24; font-weight: 600; }
img.plot { max-width: 100%; height: auto; } figure { margin: 8px 0; }
"""

# Counts the inline plots that decoded, so a headless browser test can assert they rendered.
_SCRIPT = """
window.addEventListener("load", function () {
  var plots = document.querySelectorAll("img.plot");
  var drawn = 0;
  plots.forEach(function (img) { if (img.complete && img.naturalWidth > 0) { drawn += 1; } });
  document.body.setAttribute("data-plots", String(plots.length));
  document.body.setAttribute("data-plots-rendered", String(drawn));
});
"""


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Records of metrics.jsonl (an empty list when the file is missing; bad lines skipped)."""
    if not path.is_file():
        return []
    return [record for record in read_jsonl(path, skip_invalid=True) if isinstance(record, dict)]


def curves_section(records: Sequence[Mapping[str, Any]]) -> str:
    """Training curves from metrics.jsonl."""
    svg = training_curves(records)
    if svg is None:
        return ""
    return (
        '<section id="training"><h2>Training</h2>'
        f"{figure(svg, 'training curves', 'Logged every few steps; dashed: held-out.')}</section>"
    )


def config_section(config_text: str | None) -> str:
    """The run's resolved config, verbatim."""
    if not config_text:
        return ""
    return f'<section id="config"><h2>Config</h2><pre>{escape(config_text)}</pre></section>'


def render_report(
    doc: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    config_text: str | None,
    *,
    title: str,
) -> str:
    """The whole report page as one HTML string."""
    held = doc.get("held_out", {})
    subtitle = (
        f"{escape(str(doc.get('method', '')).upper())} on {escape(str(doc.get('model', '')))} · "
        f"{held.get('examples', 0)} held-out examples · {escape(str(doc.get('created', '')))}"
    )
    tasks = "".join(task_section(name, task) for name, task in doc.get("tasks", {}).items())
    body = "".join(
        [
            f'<h1>tuneforge report: {escape(title)}</h1><p class="subtitle">{subtitle}</p>',
            verdict_section(doc),
            steps_section(doc),
            advice_section(doc),
            variants_section(doc),
            tasks,
            curves_section(records),
            examples_section(doc),
            data_section(doc),
            config_section(config_text),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>tuneforge report: {escape(title)}</title><style>{_CSS}</style>"
        f"<script>{_SCRIPT}</script></head><body>{body}</body></html>\n"
    )


def build_report(run_dir: Path, document: Mapping[str, Any] | None = None) -> Path:
    """Write report.html into ``run_dir`` from its eval.json (or ``document``) and logs."""
    if document is None:
        if not (run_dir / EVAL_FILE).is_file():
            raise TuneforgeError(f"{run_dir}: no {EVAL_FILE}; run `tuneforge eval {run_dir}` first")
        document = read_eval(run_dir)
    config_path = run_dir / RUN_CONFIG
    if not config_path.is_file():
        config_path = run_dir / PIPELINE_STATE
    config_text = config_path.read_text(encoding="utf-8") if config_path.is_file() else None
    html = render_report(
        document, read_metrics(run_dir / METRICS_FILE), config_text, title=run_dir.name
    )
    path = run_dir / REPORT_FILE
    write_text_atomic(path, html)
    return path
