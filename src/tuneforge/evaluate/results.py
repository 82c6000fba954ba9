"""eval.json: the evaluation results under stable keys, and the sentences read from them.

Layout (``schema_version`` 1; README "eval.json" documents every key)::

    {schema_version, tuneforge_version, created, run_dir, method, model,
     held_out: {source, examples, available},
     settings: {bootstrap_samples, confidence, seed, max_new_tokens, price_per_million_tokens},
     variants: {NAME: {model, description, system_prompt, few_shot, prompt_tokens_per_request,
                       cost_per_1000_requests, saving_per_1000_requests, prompt_token_reduction,
                       seconds, retrieval (baseline+retrieval only: method, k, indexed_examples,
                       excluded_duplicates, shots_per_request, requests_with_dropped_shots,
                       dropped_shots, sources);
                       a pipeline's (`evaluate.steps`) also: stage, method, train_seconds,
                       model_folder, run_dir, previous, cached}},
     tasks: {TASK: {title, headline_metric, metrics: {KEY: {label, higher_is_better, unit}},
                    info, variants: {NAME: {metrics: {KEY: value}, ...details}},
                    comparisons: {NAME: {KEY: {baseline, value, difference, ci_low, ci_high,
                                               verdict}}},
                    verdict: {NAME: verdict}, summary,
                    previous (a pipeline's): {NAME: {against, metrics: {KEY: {baseline, value,
                                               difference, ci_low, ci_high, verdict}}}}}},
     verdict: {variant, tasks: {TASK: verdict}, sentences: [...], cost},
     examples: [{index, prompt, reference, rejected, outputs: {NAME: text},
                 scores: {TASK: {NAME: value}}}],
     steps (a pipeline's): [{name, stage, method, train_seconds, previous, run_dir}]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import tuneforge
from tuneforge.errors import TuneforgeError
from tuneforge.evaluate.eval_shape import shape_problem
from tuneforge.evaluate.heldout import EvalItem, text_of
from tuneforge.evaluate.metrics.stats import Difference, paired_bootstrap
from tuneforge.evaluate.metrics.tasks import MetricInfo, TaskResult, VariantOutputs
from tuneforge.evaluate.variants import VariantSpec
from tuneforge.evaluate.wording import cost_sentence, task_sentence
from tuneforge.io import InputFileError, read_input_file

SCHEMA_VERSION = 1
EVAL_FILE = "eval.json"
_TUNED_FIRST = ("tuned", "tuned+prompt")


def compare(
    task: TaskResult, baseline: str, *, samples: int, seed: int, confidence: float
) -> dict[str, dict[str, Difference]]:
    """Paired-bootstrap differences of every metric, every variant against ``baseline``."""
    comparisons: dict[str, dict[str, Difference]] = {}
    base_stats = task.statistics[baseline]
    for name, stats in task.statistics.items():
        if name == baseline:
            continue
        comparisons[name] = {}
        for metric in task.metrics:
            if metric.key not in stats or metric.key not in base_stats:
                continue
            n = _size(stats[metric.key])
            comparisons[name][metric.key] = paired_bootstrap(
                base_stats[metric.key],
                stats[metric.key],
                n,
                samples=samples,
                seed=seed,
                confidence=confidence,
                higher_is_better=metric.higher_is_better,
            )
    return comparisons


def step_comparisons(
    task: TaskResult, previous: Mapping[str, str], *, samples: int, seed: int, confidence: float
) -> dict[str, dict[str, Any]]:
    """Each variant against the step before it: ``{NAME: {against, metrics: {KEY: diff}}}``.

    ``previous`` maps a variant to the variant of the step before it (a pipeline: SFT against
    the baseline, DPO against SFT). In each difference, ``baseline`` holds the earlier step's
    value, as in the comparisons against the baseline.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, before in previous.items():
        if name not in task.statistics or before not in task.statistics:
            continue
        diffs = compare(task, before, samples=samples, seed=seed, confidence=confidence)[name]
        out[name] = {
            "against": before,
            "metrics": {key: _difference(d) for key, d in diffs.items()},
        }
    return out


def _size(statistic: Any) -> int:
    """How many examples a statistic is computed over."""
    features = getattr(statistic, "features", None)
    return len(features) if features is not None else int(statistic.size)


def variant_entry(
    spec: VariantSpec, run: VariantOutputs, baseline_tokens: float, price: float
) -> dict[str, Any]:
    """The eval.json entry of one variant: its prompt, token cost and time."""
    tokens = sum(run.prompt_tokens) / max(len(run.prompt_tokens), 1)
    cost = tokens * 1000 * price / 1e6
    return {
        "model": spec.model,
        "description": spec.describe(),
        "system_prompt": spec.system_prompt,
        "few_shot": spec.few_shot,
        "prompt_tokens_per_request": tokens,
        "cost_per_1000_requests": cost,
        "saving_per_1000_requests": (baseline_tokens - tokens) * 1000 * price / 1e6,
        "prompt_token_reduction": 1 - tokens / baseline_tokens if baseline_tokens else 0.0,
        "seconds": run.seconds,
    }


def task_entry(
    task: TaskResult,
    comparisons: Mapping[str, Mapping[str, Difference]],
    confidence: float,
    *,
    main: str | None = None,
) -> dict[str, Any]:
    """The eval.json entry of one task; its summary is about ``main`` (default: `main_variant`)."""
    headline = task.headline.key
    entry: dict[str, Any] = {
        "title": task.title,
        "headline_metric": headline,
        "confidence": confidence,
        "metrics": {m.key: _metric_info(m) for m in task.metrics},
        "info": task.info,
        "variants": task.variants,
        "comparisons": {
            name: {key: _difference(d) for key, d in diffs.items()}
            for name, diffs in comparisons.items()
        },
        "verdict": {name: diffs[headline].verdict for name, diffs in comparisons.items()},
    }
    main = main_variant(comparisons, main)
    entry["summary"] = task_sentence(entry, main) if main else None
    return entry


def _metric_info(metric: MetricInfo) -> dict[str, Any]:
    return {"label": metric.label, "higher_is_better": metric.higher_is_better, "unit": metric.unit}


def _difference(d: Difference) -> dict[str, Any]:
    return {
        "baseline": d.baseline,
        "value": d.value,
        "difference": d.difference,
        "ci_low": d.low,
        "ci_high": d.high,
        "verdict": d.verdict,
    }


def example_entries(
    items: Sequence[EvalItem], runs: Mapping[str, VariantOutputs], tasks: Sequence[TaskResult]
) -> list[dict[str, Any]]:
    """Per held-out example: the prompt, reference, every variant's answer and per-task scores."""
    entries = []
    for index, item in enumerate(items):
        outputs = {
            name: run.answers[index] for name, run in runs.items() if run.answers is not None
        }
        scores = {
            task.name: {name: values[index] for name, values in task.per_example.items()}
            for task in tasks
            if task.per_example and all(len(v) == len(items) for v in task.per_example.values())
        }
        entries.append(
            {
                "index": index,
                "prompt": text_of(item.prompt),
                "reference": item.reference,
                "rejected": item.rejected,
                "outputs": outputs,
                "scores": scores,
            }
        )
    return entries


def main_variant(names: Iterable[str], main: str | None = None) -> str | None:
    """The variant a verdict is about: ``main`` when given and present, else ``tuned``, else
    ``tuned+prompt`` (None for a baseline-only evaluation)."""
    present = list(names)
    if main is not None:
        return main if main in present else None
    return next((v for v in _TUNED_FIRST if v in present), None)


def overall_verdict(
    tasks: Mapping[str, Mapping[str, Any]],
    variants: Mapping[str, Any],
    price: float,
    *,
    main: str | None = None,
) -> dict[str, Any]:
    """The headline of the whole evaluation: one sentence per task plus the cost line.

    ``main`` is the variant it is about (default: `main_variant`); a pipeline names its last
    stage.
    """
    main = main_variant(variants, main)
    if main is None:
        return {"variant": None, "tasks": {}, "sentences": [], "cost": None}
    return {
        "variant": main,
        "tasks": {name: task["verdict"].get(main) for name, task in tasks.items()},
        "sentences": [task["summary"] for task in tasks.values() if task.get("summary")],
        "cost": cost_sentence(variants, main, price),
    }


def new_document(**fields: Any) -> dict[str, Any]:
    """The top of an eval.json document (version, time), followed by ``fields`` in order."""
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return {
        "schema_version": SCHEMA_VERSION,
        "tuneforge_version": tuneforge.__version__,
        "created": created,
        **fields,
    }


#: eval.json is a few MB at most; anything near this is not one.
EVAL_MAX_MB = 512
_NUMBER = float  # a JSON number: int or float, never true/false
_VERDICTS = ("better", "worse", "no clear difference")
_DIFFERENCE_NUMBERS = ("baseline", "value", "difference", "ci_low", "ci_high")


def read_eval(path: Path) -> dict[str, Any]:
    """Load and check an eval.json (a run directory or the file itself).

    Raises TuneforgeError saying what is wrong (not JSON, cut short, not an object, another
    ``schema_version``, a missing or mistyped key) and how to get a good one: run eval again.
    """
    path = path / EVAL_FILE if path.is_dir() else path
    redo = "run `tuneforge eval` again to rewrite it"
    try:
        data = read_input_file(path, what=EVAL_FILE, default_mb=EVAL_MAX_MB)
    except FileNotFoundError:
        raise TuneforgeError(f"{path}: no such file; run `tuneforge eval` first") from None
    except (InputFileError, OSError) as exc:
        raise TuneforgeError(f"{path}: {exc}") from None
    if not data.strip():
        raise TuneforgeError(f"{path}: the file is empty; {redo}")
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise TuneforgeError(f"{path}: not UTF-8 text, so not an {EVAL_FILE}; {redo}") from None
    except json.JSONDecodeError as exc:
        cut = " (the file looks cut short)" if exc.pos >= len(data.rstrip()) - 1 else ""
        raise TuneforgeError(
            f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{cut}; {redo}"
        ) from None
    except (RecursionError, ValueError) as exc:
        raise TuneforgeError(f"{path}: invalid JSON ({exc}); {redo}") from None
    problem = eval_problem(document)
    if problem is not None:
        raise TuneforgeError(f"{path}: {problem}; {redo}")
    return document


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false"}.get(
        type(value), "a number"
    )


def eval_problem(document: Any) -> str | None:
    """What is wrong with an eval.json document, or None when report and compare can read it."""
    if not isinstance(document, dict):
        return f"the top level must be a JSON object, got {_kind(document)}"
    version = document.get("schema_version")
    if version is None:
        return "missing key 'schema_version'; not an eval.json written by tuneforge"
    if version != SCHEMA_VERSION:
        return f"schema_version {version!r} is not the one this tuneforge reads ({SCHEMA_VERSION})"
    problems: list[str] = []

    def need(value: Any, where: str, kind: type, key: str) -> Any:
        if not isinstance(value, dict):
            return None
        if key not in value:
            problems.append(f"{where}: missing key '{key}'" if where else f"missing key '{key}'")
            return None
        item = value[key]
        at = f"{where}.{key}" if where else key
        if kind is _NUMBER:
            ok = isinstance(item, (int, float)) and not isinstance(item, bool)
        else:
            ok = isinstance(item, kind)
        if not ok:
            expected = "a number" if kind is _NUMBER else _kind(kind())
            problems.append(f"{at}: expected {expected}, got {_kind(item)}")
            return None
        return item

    variants = need(document, "", dict, "variants") or {}
    for name, variant in variants.items():
        if not isinstance(variant, dict):
            problems.append(f"variants.{name}: expected an object, got {_kind(variant)}")
        need(variant, f"variants.{name}", _NUMBER, "prompt_tokens_per_request")
    tasks = need(document, "", dict, "tasks") or {}
    need(document, "", dict, "verdict")
    for key in ("held_out", "settings"):
        if key in document:
            need(document, "", dict, key)
    if "examples" in document:
        examples = need(document, "", list, "examples") or []
        if not all(isinstance(e, dict) for e in examples):
            problems.append("examples: every entry must be an object")
    for task_name, task in tasks.items():
        at = f"tasks.{task_name}"
        if not isinstance(task, dict):
            problems.append(f"{at}: expected an object, got {_kind(task)}")
            continue
        need(task, at, str, "title")
        headline = need(task, at, str, "headline_metric")
        metrics = need(task, at, dict, "metrics") or {}
        if headline is not None and "metrics" in task:
            info = need(metrics, f"{at}.metrics", dict, headline)
            if info is not None:
                need(info, f"{at}.metrics.{headline}", str, "label")
                need(info, f"{at}.metrics.{headline}", str, "unit")
        task_variants = need(task, at, dict, "variants") or {}
        if "variants" in task:
            need(task_variants, f"{at}.variants", dict, "baseline")
        for name, entry in task_variants.items():
            need(entry, f"{at}.variants.{name}", dict, "metrics")
            if not isinstance(entry, dict):
                problems.append(f"{at}.variants.{name}: expected an object, got {_kind(entry)}")
        for name, diffs in (need(task, at, dict, "comparisons") or {}).items():
            if not isinstance(diffs, dict):
                problems.append(f"{at}.comparisons.{name}: expected an object, got {_kind(diffs)}")
                continue
            for key, diff in diffs.items():
                where = f"{at}.comparisons.{name}.{key}"
                if not isinstance(diff, dict):
                    problems.append(f"{where}: expected an object, got {_kind(diff)}")
                    continue
                for field in _DIFFERENCE_NUMBERS:
                    need(diff, where, _NUMBER, field)
                if need(diff, where, str, "verdict") not in (None, *_VERDICTS):
                    problems.append(f"{where}.verdict: must be one of {', '.join(_VERDICTS)}")
        if problems:
            break
    return problems[0] if problems else shape_problem(document)
