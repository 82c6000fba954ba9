"""The shape of every part of eval.json that ``report`` and ``compare`` read.

`results.eval_problem` checks the top-level keys; `shape_problem` then walks the whole document
against `DOCUMENT`, a declarative description of what `evaluate` writes, so an edited, truncated
or hand-made file is refused with the path of the first wrong value (``tasks.qa.metrics.f1.unit:
expected a string, got a number``) instead of failing inside the HTML or table code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Tasks whose report section reads extra per-variant tables (see ``report/sections.py``).
#: Numbers may be NaN or infinite (they print as such) except where the report rounds them
#: (``confidence``): a genuine eval.json is never refused for a metric that came out NaN.
_CLASSIFICATION, _STRUCTURE, _CHECKS = "classification", "structure", "checks"


def kind_of(value: Any) -> str:
    """How a JSON value is named in messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), "a value")


class Shape:
    """What one JSON value must look like; `problem` says why ``value`` does not."""

    def problem(self, value: Any, at: str) -> str | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Scalar(Shape):
    """A string, a number (``finite``: no NaN or infinity), a boolean; ``nullable`` allows null."""

    kind: str
    nullable: bool = False
    finite: bool = False

    def problem(self, value: Any, at: str) -> str | None:
        if value is None and self.nullable:
            return None
        if self.kind == "number":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if ok and self.finite and not math.isfinite(value):
                return f"{at}: expected a finite number, got {value}"
        elif self.kind == "string":
            ok = isinstance(value, str)
        else:
            ok = isinstance(value, bool)
        return None if ok else f"{at}: expected {_NAMES[self.kind]}, got {kind_of(value)}"


_NAMES = {"number": "a number", "string": "a string", "bool": "true/false"}
TEXT, NUMBER, FLAG = Scalar("string"), Scalar("number"), Scalar("bool")
FINITE = Scalar("number", finite=True)
MAYBE_TEXT, MAYBE_NUMBER = Scalar("string", nullable=True), Scalar("number", nullable=True)


@dataclass(frozen=True)
class ListOf(Shape):
    """A list whose every item has ``item``'s shape."""

    item: Shape

    def problem(self, value: Any, at: str) -> str | None:
        if not isinstance(value, list):
            return f"{at}: expected a list, got {kind_of(value)}"
        for index, entry in enumerate(value):
            found = self.item.problem(entry, f"{at}[{index}]")
            if found:
                return found
        return None


@dataclass(frozen=True)
class MapOf(Shape):
    """An object whose every value has ``value``'s shape (any keys)."""

    value: Shape

    def problem(self, value: Any, at: str) -> str | None:
        if not isinstance(value, dict):
            return f"{at}: expected an object, got {kind_of(value)}"
        for key, entry in value.items():
            found = self.value.problem(entry, f"{at}.{key}")
            if found:
                return found
        return None


@dataclass(frozen=True)
class Obj(Shape):
    """An object with ``required`` keys and ``optional`` ones (other keys are ignored)."""

    required: Mapping[str, Shape] = field(default_factory=dict)
    optional: Mapping[str, Shape] = field(default_factory=dict)

    def problem(self, value: Any, at: str) -> str | None:
        if not isinstance(value, dict):
            return f"{at}: expected an object, got {kind_of(value)}"
        for key in self.required:
            if key not in value:
                return f"{at}: missing key '{key}'"
        for key, shape in {**self.required, **self.optional}.items():
            if key in value:
                found = shape.problem(value[key], f"{at}.{key}")
                if found:
                    return found
        return None


class Task(Shape):
    """A task entry: the common keys, its own tables, and a headline that names a metric."""

    def problem(self, value: Any, at: str) -> str | None:
        found = _TASK.problem(value, at)
        if found:
            return found
        name = at.rsplit(".", 1)[-1]
        extra = _TASK_EXTRAS.get(name)
        if extra is not None:
            found = extra.problem(value, at)
            if found:
                return found
        if name == _CLASSIFICATION:
            labels = value["info"]["labels"]
            for variant, entry in value["variants"].items():
                if len(entry["confusion"]) != len(labels):
                    return (
                        f"{at}.variants.{variant}.confusion: {len(entry['confusion'])} rows for "
                        f"{len(labels)} labels"
                    )
        if value.get("summary") and "verdict" not in value:
            return f"{at}: missing key 'verdict'"
        if value["headline_metric"] not in value["metrics"]:
            return f"{at}.headline_metric: '{value['headline_metric']}' is not in its metrics"
        if "baseline" not in value["variants"]:
            return f"{at}.variants: missing key 'baseline'"
        return None


_DIFFERENCE = Obj(
    {
        "value": NUMBER,
        "difference": NUMBER,
        "ci_low": NUMBER,
        "ci_high": NUMBER,
        "verdict": TEXT,
    },
    {"baseline": NUMBER},
)
_TASK = Obj(
    {
        "title": TEXT,
        "headline_metric": TEXT,
        "metrics": MapOf(Obj({"label": TEXT, "unit": TEXT, "higher_is_better": FLAG})),
        "variants": MapOf(Obj({"metrics": MapOf(NUMBER)})),
    },
    {
        "confidence": FINITE,
        "comparisons": MapOf(MapOf(_DIFFERENCE)),
        "verdict": MapOf(MAYBE_TEXT),
        "summary": MAYBE_TEXT,
    },
)
_PER_CLASS = Obj({"precision": NUMBER, "recall": NUMBER, "f1": NUMBER, "support": NUMBER})
_TASK_EXTRAS: dict[str, Shape] = {
    _CLASSIFICATION: Obj(
        {
            "info": Obj({"labels": ListOf(TEXT)}),
            "variants": MapOf(
                Obj({"confusion": ListOf(ListOf(NUMBER)), "per_class": MapOf(_PER_CLASS)})
            ),
        }
    ),
    _STRUCTURE: Obj({"variants": MapOf(Obj(optional={"per_field": MapOf(NUMBER)}))}),
    _CHECKS: Obj(
        {
            "info": Obj(
                {
                    "rules": ListOf(
                        Obj(
                            {"name": TEXT},
                            {
                                "must_match": MAYBE_TEXT,
                                "must_not_match": MAYBE_TEXT,
                                "max_words": MAYBE_NUMBER,
                                "max_chars": MAYBE_NUMBER,
                            },
                        )
                    )
                }
            )
        }
    ),
}
_VARIANT = Obj(
    {
        "description": TEXT,
        "prompt_tokens_per_request": NUMBER,
        "cost_per_1000_requests": NUMBER,
        "saving_per_1000_requests": NUMBER,
        "seconds": NUMBER,
    }
)
_EXAMPLE = Obj(
    {"index": NUMBER, "prompt": TEXT, "reference": MAYBE_TEXT},
    {
        "outputs": MapOf(MAYBE_TEXT),
        "scores": MapOf(MapOf(NUMBER)),
    },
)
DOCUMENT = Obj(
    {
        "variants": MapOf(_VARIANT),
        "tasks": MapOf(Task()),
        "verdict": Obj(optional={"variant": MAYBE_TEXT, "cost": MAYBE_TEXT}),
    },
    {
        "examples": ListOf(_EXAMPLE),
        "held_out": Obj(optional={"examples": MAYBE_NUMBER, "available": MAYBE_NUMBER}),
        "settings": Obj(
            optional={
                "confidence": FINITE,
                "price_per_million_tokens": NUMBER,
                "bootstrap_samples": MAYBE_NUMBER,
                "max_new_tokens": MAYBE_NUMBER,
            }
        ),
    },
)


def shape_problem(document: Mapping[str, Any]) -> str | None:
    """The first value of ``document`` (an eval.json object) with the wrong shape, or None."""
    found = DOCUMENT.problem(document, "")
    if found is None:
        return None
    # Paths start at the root, whose name is empty: "tasks.qa..." rather than ".tasks.qa...".
    return found[1:] if found.startswith(".") else found.removeprefix(": ")
