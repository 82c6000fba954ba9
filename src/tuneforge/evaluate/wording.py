"""How evaluation results read in words: values, differences, intervals and verdicts.

Shared by eval.json's summary sentences (`evaluate.results`), the terminal summary and the
HTML report, so a number reads the same everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def format_value(value: float, unit: str) -> str:
    """A metric value as people read it: 91.6% for rates, 45.2 for scores, 1.23 for nats."""
    if not math.isfinite(value):
        return str(value)
    return (
        f"{value:.1%}" if unit == "rate" else f"{value:.1f}" if unit == "score" else f"{value:.2f}"
    )


def format_difference(value: float, unit: str, *, points: bool = True) -> str:
    """A difference with its sign: +12.3 points for rates, +4.5 for scores.

    ``points=False`` leaves out the word "points" (for tables whose header says it).
    """
    if unit == "rate":
        return f"{100 * value:+.1f}" + (" points" if points else "")
    return f"{value:+.1f}" if unit == "score" else f"{value:+.2f}"


def format_interval(difference: Mapping[str, Any], unit: str) -> str:
    """ "+12.3 [+5.0, +19.1]": a difference and its interval, compactly (rates in points)."""
    parts = [
        format_difference(difference[key], unit, points=False)
        for key in ("difference", "ci_low", "ci_high")
    ]
    return f"{parts[0]} [{parts[1]}, {parts[2]}]"


def task_sentence(task: Mapping[str, Any], variant: str) -> str:
    """One sentence: the verdict on the headline metric, with values and the interval."""
    key = task["headline_metric"]
    return difference_sentence(task, variant, task["comparisons"][variant][key], "the baseline")


def difference_sentence(
    task: Mapping[str, Any], variant: str, diff: Mapping[str, Any], against: str
) -> str:
    """``variant`` against ``against`` on the task's headline metric, from one difference."""
    info = task["metrics"][task["headline_metric"]]
    unit = info["unit"]
    relation = {
        "better": "better than",
        "worse": "worse than",
        "no clear difference": "not clearly different from",
    }[diff["verdict"]]
    level = round(100 * task.get("confidence", 0.95))
    return (
        f"{task['title']}: {variant} is {relation} {against} on {info['label']} — "
        f"{format_value(diff['value'], unit)} vs {format_value(diff['baseline'], unit)} "
        f"({format_difference(diff['difference'], unit)}, {level}% CI "
        f"{format_difference(diff['ci_low'], unit)} to {format_difference(diff['ci_high'], unit)})."
    )


def previous_sentence(task: Mapping[str, Any], variant: str) -> str | None:
    """``variant`` against its previous step (e.g. tuned against baseline+retrieval), if any."""
    step = task.get("previous", {}).get(variant)
    diff = step.get("metrics", {}).get(task["headline_metric"]) if step else None
    if not diff:
        return None
    return difference_sentence(task, variant, diff, step["against"])


def cost_sentence(variants: Mapping[str, Any], variant: str, price: float) -> str:
    """Prompt tokens per request of the baseline and ``variant``, and the saving they imply."""
    base, other = variants["baseline"], variants[variant]
    reduction = other["prompt_token_reduction"]
    change = f"{reduction:.0%} fewer" if reduction >= 0 else f"{-reduction:.0%} more"
    return (
        f"Prompt tokens per request: baseline {base['prompt_tokens_per_request']:.0f}, "
        f"{variant} {other['prompt_tokens_per_request']:.0f} ({change}); at ${price:g} per "
        f"million input tokens, {variant} saves ${other['saving_per_1000_requests']:.4f} per "
        "1,000 requests."
    )
