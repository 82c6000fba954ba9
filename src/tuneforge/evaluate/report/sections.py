"""The sections of report.html, each a function from eval.json content to an HTML fragment."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from tuneforge.data.advice import held_out_advice, method_advice
from tuneforge.data.types import RecordKind
from tuneforge.evaluate.report.plots import VARIANT_COLOURS, data_uri, difference_chart
from tuneforge.evaluate.wording import format_interval, format_value

_VERDICT_CLASS = {"better": "better", "worse": "worse", "no clear difference": "unclear"}
_SHOWN_EXAMPLES = 6
_PROMPT_CHARS = 700
_EXAMPLE_TASKS = ("classification", "structure", "similarity", "checks", "preference")


def badge(verdict: str | None) -> str:
    """A coloured verdict label."""
    if verdict is None:
        return ""
    return f'<span class="badge {_VERDICT_CLASS.get(verdict, "unclear")}">{escape(verdict)}</span>'


def figure(svg: str | None, alt: str, caption: str | None = None) -> str:
    """An inline plot (an SVG data URI, so the page needs no network)."""
    if svg is None:
        return ""
    note = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img class="plot" alt="{escape(alt)}" src="{data_uri(svg)}">{note}</figure>'


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """An HTML table; cells are already-escaped HTML."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def verdict_section(doc: Mapping[str, Any]) -> str:
    """The headline: one sentence per task, with its verdict, and the cost line."""
    verdict = doc.get("verdict", {})
    variant = verdict.get("variant")
    if variant is None:
        return (
            '<section id="verdict"><h2 id="headline">Baseline only</h2><p>No tuned model was '
            "found, so only the prompt-only baseline was measured.</p></section>"
        )
    items = []
    for task in doc.get("tasks", {}).values():
        if task.get("summary"):
            items.append(
                f"<li>{badge(task['verdict'].get(variant))} {escape(task['summary'])}</li>"
            )
    cost = f'<p class="cost">{escape(verdict["cost"])}</p>' if verdict.get("cost") else ""
    return (
        '<section id="verdict"><h2 id="headline">Did fine-tuning help?</h2>'
        f'<ul class="verdicts">{"".join(items)}</ul>{cost}'
        '<p class="note">Verdicts come from paired bootstrap confidence intervals of each '
        "difference on the same held-out examples: “better” or “worse” only when the whole "
        "interval is on one side of zero.</p></section>"
    )


def advice_section(doc: Mapping[str, Any]) -> str:
    """What to try next: the method that fits the data, and what the held-out size can show."""
    held = doc.get("held_out", {})
    paragraphs = []
    try:
        kind = RecordKind(held.get("kind"))
    except ValueError:  # an eval.json without the kind (or a newer one): no method advice
        kind = None
    if kind is not None:
        data = str(held.get("train_source") or "TRAIN.jsonl")
        run_dir = str(doc.get("run_dir") or "RUN_DIR")
        paragraphs.append(method_advice(kind, data=data, run_dir=run_dir))
    paragraphs.append(held_out_advice(int(held.get("examples", 0))))
    body = "".join(f"<p>{escape(text)}</p>" for text in paragraphs)
    return f'<section id="advice"><h2>What to try next</h2>{body}</section>'


def variants_section(doc: Mapping[str, Any]) -> str:
    """What each variant is, and its prompt cost."""
    price = doc.get("settings", {}).get("price_per_million_tokens", 0)
    rows = []
    for name, v in doc.get("variants", {}).items():
        rows.append(
            [
                _variant_name(name),
                escape(v["description"]) + _retrieval_note(v.get("retrieval")),
                f"{v['prompt_tokens_per_request']:.0f}",
                f"${v['cost_per_1000_requests']:.4f}",
                f"${v['saving_per_1000_requests']:.4f}" if name != "baseline" else "—",
                f"{v['seconds']:.0f} s",
            ]
        )
    headers = [
        "variant",
        "model and prompt",
        "prompt tokens / request",
        f"prompt cost / 1,000 requests (${price:g} per M tokens)",
        "saving / 1,000 requests",
        "eval time",
    ]
    return f'<section id="variants"><h2>Variants</h2>{table(headers, rows)}</section>'


def _retrieval_note(retrieval: Mapping[str, Any] | None) -> str:
    """How retrieval went, when it had to show fewer examples than asked or skip duplicates."""
    if not retrieval:
        return ""
    notes = []
    if retrieval.get("requests_with_dropped_shots"):
        notes.append(
            f"{retrieval['dropped_shots']} least similar examples left out over "
            f"{retrieval['requests_with_dropped_shots']} requests to fit the model's context"
        )
    if retrieval.get("excluded_duplicates"):
        notes.append(
            f"{retrieval['excluded_duplicates']} train examples not retrieved: their request "
            "is a held-out request"
        )
    return "".join(f'<br><span class="note">{escape(n)}</span>' for n in notes)


def _variant_name(name: str) -> str:
    colour = VARIANT_COLOURS.get(name, "#444444")
    return f'<span class="swatch" style="background:{colour}"></span>{escape(name)}'


def task_section(name: str, task: Mapping[str, Any]) -> str:
    """A task: its sentence, the metric table with intervals, the chart and the details."""
    variants = list(task["variants"])
    comparisons = task.get("comparisons", {})
    level = round(100 * task.get("confidence", 0.95))
    headers = ["metric", *map(escape, variants)]
    headers += [f"{escape(v)} − baseline [{level}% CI] (rates in points)" for v in comparisons]
    rows = []
    for key, info in task["metrics"].items():
        unit = info["unit"]
        label = escape(info["label"]) + ("" if info["higher_is_better"] else " (lower is better)")
        if key == task["headline_metric"]:
            label = f"<strong>{label}</strong>"
        row = [label]
        row += [
            format_value(task["variants"][v]["metrics"][key], unit)
            if key in task["variants"][v]["metrics"]
            else "—"
            for v in variants
        ]
        for diffs in comparisons.values():
            d = diffs.get(key)
            row.append("—" if d is None else f"{format_interval(d, unit)} {badge(d['verdict'])}")
        rows.append(row)
    summary = f'<p class="summary">{escape(task["summary"])}</p>' if task.get("summary") else ""
    chart = figure(difference_chart(task), f"{task['title']}: differences with intervals")
    details = _task_details(name, task)
    return (
        f'<section class="task" id="task-{escape(name)}"><h2>{escape(task["title"])}</h2>'
        f"{summary}{table(headers, rows, 'metrics')}{chart}{details}</section>"
    )


def _task_details(name: str, task: Mapping[str, Any]) -> str:
    """Confusion matrices, per-class or per-field scores, or check rules."""
    if name == "classification":
        parts = []
        for variant, entry in task["variants"].items():
            parts.append(
                f"<div><h3>{escape(variant)}: confusion matrix (free generation)</h3>"
                f"{confusion_table(task['info']['labels'], entry['confusion'])}"
                f"{per_class_table(entry['per_class'])}</div>"
            )
        return f'<div class="matrices">{"".join(parts)}</div>'
    if name == "structure":
        variants = list(task["variants"])
        fields = list(next(iter(task["variants"].values())).get("per_field", {}))
        rows = [
            [escape(f)]
            + [f"{task['variants'][v].get('per_field', {}).get(f, 0):.1%}" for v in variants]
            for f in fields
        ]
        return "<h3>Field accuracy</h3>" + table(["field", *map(escape, variants)], rows)
    if name == "checks":
        rows = [[escape(rule["name"]), escape(_rule_text(rule))] for rule in task["info"]["rules"]]
        return "<h3>Rules</h3>" + table(["check", "passes when"], rows)
    return ""


def _rule_text(rule: Mapping[str, Any]) -> str:
    parts = []
    if rule.get("must_match"):
        parts.append(f"matches /{rule['must_match']}/")
    if rule.get("must_not_match"):
        parts.append(f"does not match /{rule['must_not_match']}/")
    if rule.get("max_words"):
        parts.append(f"at most {rule['max_words']} words")
    if rule.get("max_chars"):
        parts.append(f"at most {rule['max_chars']} characters")
    return "; ".join(parts)


def confusion_table(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> str:
    """Rows: reference label; columns: answer (plus invalid). Cells shaded by row share."""
    headers = ["reference ↓ / answer →", *map(escape, labels), "(invalid)"]
    rows = []
    for label, counts in zip(labels, matrix, strict=True):
        total = max(sum(counts), 1)
        cells = []
        for column, count in enumerate(counts):
            share = count / total
            hue = "31,111,235" if column < len(labels) and labels[column] == label else "207,34,46"
            cells.append(
                f'<span class="cell" style="background:rgba({hue},{share:.2f})">{count}</span>'
            )
        rows.append([escape(label), *cells])
    return table(headers, rows, "confusion")


def per_class_table(per_class: Mapping[str, Mapping[str, float]]) -> str:
    """Precision, recall, F1 and support of each class."""
    rows = [
        [
            escape(label),
            f"{s['precision']:.1%}",
            f"{s['recall']:.1%}",
            f"{s['f1']:.1%}",
            str(s["support"]),
        ]
        for label, s in per_class.items()
    ]
    return table(["class", "precision", "recall", "F1", "support"], rows, "per-class")


def examples_section(doc: Mapping[str, Any]) -> str:
    """Side-by-side answers where baseline and tuned differ: the biggest wins and regressions."""
    variant = doc.get("verdict", {}).get("variant")
    examples = doc.get("examples", [])
    if variant is None or not examples:
        return ""
    # The task whose per-example scores tell the variants apart, most telling tasks first.
    candidates = [t for t in _EXAMPLE_TASKS if t in doc.get("tasks", {})]
    task = next(
        (
            t
            for t in candidates
            if _scored(examples, t, variant) and any(_gain(e, t, variant) for e in examples)
        ),
        None,
    )
    if task is None:
        differing = [e for e in examples if _answers_differ(e, variant)][:_SHOWN_EXAMPLES]
        cards = "".join(_example_card(e, variant, None) for e in differing)
        return (
            f'<section id="examples"><h2>Answers side by side</h2>{cards}</section>'
            if cards
            else ""
        )
    gains = sorted(
        (e for e in examples if _gain(e, task, variant) != 0 and _answers_differ(e, variant)),
        key=lambda e: -_gain(e, task, variant),
    )
    wins = [e for e in gains if _gain(e, task, variant) > 0][:_SHOWN_EXAMPLES]
    losses = [e for e in reversed(gains) if _gain(e, task, variant) < 0][:_SHOWN_EXAMPLES]
    title = escape(doc["tasks"][task]["title"].lower())
    win_html = "".join(_example_card(e, variant, task) for e in wins) or "<p>None.</p>"
    loss_html = "".join(_example_card(e, variant, task) for e in losses) or "<p>None.</p>"
    return (
        f'<section id="examples"><h2>Answers side by side</h2><p class="note">Held-out '
        f"examples where the {escape(variant)} model's {title} score differs most from the "
        f"baseline's.</p><h3>Biggest wins</h3>{win_html}<h3>Regressions</h3>{loss_html}</section>"
    )


def _scored(examples: Sequence[Mapping[str, Any]], task: str, variant: str) -> bool:
    scores = examples[0].get("scores", {}).get(task, {})
    return "baseline" in scores and variant in scores


def _gain(example: Mapping[str, Any], task: str, variant: str) -> float:
    # An example without both scores (an edited file) is no win and no regression.
    scores = example.get("scores", {}).get(task, {})
    if variant not in scores or "baseline" not in scores:
        return 0.0
    return float(scores[variant]) - float(scores["baseline"])


def _answers_differ(example: Mapping[str, Any], variant: str) -> bool:
    outputs = example.get("outputs", {})
    return outputs.get("baseline") != outputs.get(variant)


def _example_card(example: Mapping[str, Any], variant: str, task: str | None) -> str:
    prompt = example["prompt"]
    if len(prompt) > _PROMPT_CHARS:
        prompt = prompt[:_PROMPT_CHARS] + " …"
    outputs = example.get("outputs", {})
    scores = example.get("scores", {}).get(task, {}) if task else {}

    def column(name: str, text: str | None) -> str:
        score = f' <span class="score">{scores[name]:.2f}</span>' if name in scores else ""
        return f"<div><h4>{escape(name)}{score}</h4><pre>{escape(text or '')}</pre></div>"

    return (
        f'<div class="example"><h4>#{example["index"]} prompt</h4><pre>{escape(prompt)}</pre>'
        f'<div class="side-by-side">{column("reference", example["reference"])}'
        f"{column('baseline', outputs.get('baseline'))}{column(variant, outputs.get(variant))}"
        "</div></div>"
    )


def data_section(doc: Mapping[str, Any]) -> str:
    """Where the examples came from, how many, and (for labels) how they are spread."""
    held = doc.get("held_out", {})
    rows = [
        ["held-out set", escape(str(held.get("source", "")))],
        ["held-out examples evaluated", f"{held.get('examples', 0)} of {held.get('available', 0)}"],
        ["train file", escape(str(held.get("train_source", "")))],
        ["train examples", str(held.get("train_examples", ""))],
        ["data kind", escape(str(held.get("kind", "")))],
    ]
    labels = doc.get("tasks", {}).get("classification", {}).get("info", {}).get("labels")
    if labels:
        counts = Counter((e.get("reference") or "").strip() for e in doc.get("examples", []))
        spread = ", ".join(f"{escape(label)} {counts.get(label, 0)}" for label in labels)
        rows.append(["held-out labels", spread])
    settings = doc.get("settings", {})
    rows.append(
        [
            "statistics",
            f"paired bootstrap, {settings.get('bootstrap_samples')} resamples, seed "
            f"{settings.get('seed')}; greedy decoding, at most {settings.get('max_new_tokens')} "
            "new tokens",
        ]
    )
    return f'<section id="data"><h2>Data</h2>{table(["", ""], rows, "facts")}</section>'
