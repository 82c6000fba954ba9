"""Report plots as self-contained SVG: training curves and confidence-interval charts.

matplotlib's object API (`Figure`) is used instead of pyplot, so no global figure state is
created or left behind; each plot becomes an SVG string the report inlines as a data URI.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.figure import Figure

# Colours by variant, fixed so every chart and table in a report agrees.
VARIANT_COLOURS = {
    "baseline": "#8a8f98",
    "baseline+retrieval": "#6f42c1",
    "tuned": "#1f6feb",
    "tuned+prompt": "#b35900",
}
# Logged fields that are bookkeeping, not curves worth a panel of their own.
_NOT_CURVES = {"step", "epoch", "lr", "grad_norm", "tokens_per_s", "loss", "eval_loss"}
_MAX_PANELS = 9


def svg_of(figure: Figure) -> str:
    """The figure as SVG text (fonts left as text, so it stays small and sharp)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "tuneforge"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    return buffer.getvalue()


def data_uri(svg: str) -> str:
    """An SVG as a data URI for an <img> tag: no network, and no clashing element ids."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def curve_names(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Method metrics worth a panel (rewards, margins, kl ...), train names, first-seen order."""
    names: dict[str, None] = {}
    for record in records:
        for key, value in record.items():
            base = key.removeprefix("eval_")
            if base not in _NOT_CURVES and _numeric(value):
                names[base] = None
    return list(names)


def training_curves(records: Sequence[Mapping[str, Any]]) -> str | None:
    """Loss (train and held-out) and every method metric against the step; None if no data."""
    steps = [r for r in records if _numeric(r.get("step"))]
    if not any(_numeric(r.get("loss")) or _numeric(r.get("eval_loss")) for r in steps):
        return None
    panels = ["loss", *curve_names(steps)][:_MAX_PANELS]
    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    figure = Figure(figsize=(4.2 * columns, 2.9 * rows))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, name in zip(axes, panels, strict=False):
        for key, style, label in ((name, "-", "train"), (f"eval_{name}", "o--", "held-out")):
            points = [(r["step"], r[key]) for r in steps if _numeric(r.get(key))]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, style, markersize=3, linewidth=1.4, label=label)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    figure.tight_layout()
    return svg_of(figure)


def difference_chart(task: Mapping[str, Any]) -> str | None:
    """Each metric's difference from the baseline with its interval (a forest plot).

    Rates are drawn in percentage points; one panel per unit, so scales never mix.
    """
    comparisons: Mapping[str, Mapping[str, Any]] = task.get("comparisons", {})
    metrics: Mapping[str, Any] = task.get("metrics", {})
    units = [u for u in ("rate", "score", "nats") if any(m["unit"] == u for m in metrics.values())]
    if not comparisons or not units:
        return None
    keys_by_unit = {u: [k for k, m in metrics.items() if m["unit"] == u] for u in units}
    heights = [0.28 * len(keys_by_unit[u]) * max(1, len(comparisons)) + 0.9 for u in units]
    figure = Figure(figsize=(7.5, sum(heights)))
    axes = figure.subplots(len(units), 1, squeeze=False, height_ratios=heights).ravel()
    for ax, unit in zip(axes, units, strict=True):
        keys = keys_by_unit[unit]
        scale = 100.0 if unit == "rate" else 1.0
        offsets = _offsets(len(comparisons))
        for offset, (variant, diffs) in zip(offsets, comparisons.items(), strict=True):
            colour = VARIANT_COLOURS.get(variant, "#444444")
            for row, key in enumerate(keys):
                if key not in diffs:
                    continue
                d = diffs[key]
                y = row + offset
                low, high = d["ci_low"] * scale, d["ci_high"] * scale
                ax.plot([low, high], [y, y], color=colour, linewidth=2.2)
                ax.plot([d["difference"] * scale], [y], "o", color=colour, markersize=5)
            ax.plot([], [], "o-", color=colour, label=f"{variant} − baseline")
        ax.axvline(0, color="#222222", linewidth=0.8)
        ax.set_yticks(range(len(keys)), [metrics[k]["label"] for k in keys], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(
            "difference (percentage points)" if unit == "rate" else f"difference ({unit})",
            fontsize=8,
        )
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    figure.tight_layout()
    return svg_of(figure)


def _offsets(count: int) -> list[float]:
    """Vertical offsets that spread ``count`` variants around each metric's row."""
    if count == 1:
        return [0.0]
    return [-0.2 + 0.4 * i / (count - 1) for i in range(count)]
