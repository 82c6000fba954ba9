"""Task metrics from what each variant produced: pure functions, no model involved.

Each task returns, per variant, JSON-ready metrics and details, plus a `Statistic` per metric
so the paired bootstrap can recompute it on resamples of the same examples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from tuneforge.config import CheckRule
from tuneforge.evaluate.heldout import EvalItem
from tuneforge.evaluate.metrics.chrf import chrf_from_stats, chrf_stats
from tuneforge.evaluate.metrics.labels import exact_label, match_label
from tuneforge.evaluate.metrics.rules import check_matrix
from tuneforge.evaluate.metrics.scores import (
    class_features,
    classification_scores,
    group_margin,
    label_set,
    macro_f1_from_sums,
    ranking_auc,
)
from tuneforge.evaluate.metrics.stats import IndexStatistic, Statistic, SumStatistic, mean_statistic
from tuneforge.evaluate.metrics.structure import score_structure

Unit = Literal["rate", "score", "nats"]


@dataclass
class VariantOutputs:
    """What one variant produced on the held-out set: the raw material of every metric."""

    name: str
    prompt_tokens: list[int]
    answers: list[str] | None = None
    """Greedy answers, one per item (None when no task needs generation)."""
    choice_logps: list[list[float]] | None = None
    """Per item, the log-probability of each label (classification, constrained choice)."""
    chosen_logps: list[float] | None = None
    rejected_logps: list[float] | None = None
    scored_logps: list[float] | None = None
    """Per item, the mean per-token log-probability of the scored answer (KTO data)."""
    rewards: list[list[float]] | None = None
    """Tuned variants: per item, the implicit reward of each reply — its summed log-prob under
    this variant minus under the base model with the same prompt ([chosen, rejected], or
    [answer] for scored data), as DPO and KTO define it (without beta)."""
    seconds: float = 0.0


@dataclass(frozen=True)
class MetricInfo:
    """How to read a metric: its label, direction and unit."""

    key: str
    label: str
    higher_is_better: bool = True
    unit: Unit = "rate"


@dataclass
class TaskResult:
    """One task's metrics for every variant, ready for comparison and the report."""

    name: str
    title: str
    metrics: list[MetricInfo]
    variants: dict[str, dict[str, Any]]
    statistics: dict[str, dict[str, Statistic]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    """Task-level facts for the report (labels, fields, check rules)."""
    per_example: dict[str, list[float]] = field(default_factory=dict)
    """A per-example score of the headline metric, to find the biggest wins and regressions."""

    @property
    def headline(self) -> MetricInfo:
        """The metric the task's verdict is read from (the first one)."""
        return self.metrics[0]


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0


def classification_task(
    labels: Sequence[str], items: Sequence[EvalItem], runs: Mapping[str, VariantOutputs]
) -> TaskResult:
    """Accuracy, macro-F1, invalid rate (free generation) and constrained-choice scores."""
    gold = [item.reference.strip() for item in items]
    labels = label_set(labels, gold)
    metrics = [
        MetricInfo("accuracy", "accuracy"),
        MetricInfo("macro_f1", "macro-F1"),
        MetricInfo("invalid_rate", "invalid-label rate", higher_is_better=False),
        MetricInfo("choice_accuracy", "accuracy (constrained choice)"),
        MetricInfo("choice_macro_f1", "macro-F1 (constrained choice)"),
        MetricInfo("lenient_accuracy", "accuracy (label named anywhere)"),
    ]
    result = TaskResult("classification", "Classification", [], {})
    for name, run in runs.items():
        answers = run.answers or [""] * len(items)
        predicted = [exact_label(answer, labels) for answer in answers]
        lenient = [match_label(answer, labels) for answer in answers]
        free = classification_scores(predicted, gold, labels)
        stats: dict[str, Statistic] = {
            "accuracy": mean_statistic([p == g for p, g in zip(predicted, gold, strict=True)]),
            "macro_f1": _f1_statistic(predicted, gold, labels),
            "invalid_rate": mean_statistic([p is None for p in predicted]),
            "lenient_accuracy": mean_statistic(
                [p == g for p, g in zip(lenient, gold, strict=True)]
            ),
        }
        entry: dict[str, Any] = {
            "per_class": {label: asdict(s) for label, s in free.per_class.items()},
            "confusion": free.confusion,
        }
        if run.choice_logps is not None:
            choice = [labels[int(np.argmax(row))] for row in run.choice_logps]
            scored = classification_scores(choice, gold, labels)
            stats["choice_accuracy"] = mean_statistic(
                [p == g for p, g in zip(choice, gold, strict=True)]
            )
            stats["choice_macro_f1"] = _f1_statistic(choice, gold, labels)
            entry["choice_per_class"] = {k: asdict(s) for k, s in scored.per_class.items()}
            entry["choice_confusion"] = scored.confusion
        entry["metrics"] = {key: stat.value() for key, stat in stats.items()}
        result.variants[name] = entry
        result.statistics[name] = stats
        result.per_example[name] = [float(p == g) for p, g in zip(predicted, gold, strict=True)]
    present = set.intersection(*(set(s) for s in result.statistics.values()))
    result.metrics = [m for m in metrics if m.key in present]
    result.info = {"labels": labels}
    return result


def _f1_statistic(
    predicted: Sequence[str | None], gold: Sequence[str], labels: Sequence[str]
) -> SumStatistic:
    """Macro-F1 as a function of summed per-example class indicators."""
    return SumStatistic(
        class_features(predicted, gold, labels), lambda sums, _n: macro_f1_from_sums(sums)
    )


def structure_task(
    items: Sequence[EvalItem], runs: Mapping[str, VariantOutputs], validator: Any | None
) -> TaskResult:
    """Parse rate, schema-valid rate, field accuracy and exact match of JSON answers."""
    metrics = [
        MetricInfo("field_accuracy", "field accuracy"),
        MetricInfo("parse_rate", "parse rate"),
        *([MetricInfo("schema_valid_rate", "schema-valid rate")] if validator else []),
        MetricInfo("exact_match", "exact match"),
    ]
    result = TaskResult("structure", "Structured output", metrics, {})
    for name, run in runs.items():
        answers = run.answers or [""] * len(items)
        scores = [
            score_structure(answer, item.reference, validator)
            for answer, item in zip(answers, items, strict=True)
        ]
        stats: dict[str, Statistic] = {
            "field_accuracy": mean_statistic([s.field_accuracy for s in scores]),
            "parse_rate": mean_statistic([s.parsed for s in scores]),
            "exact_match": mean_statistic([s.exact for s in scores]),
        }
        if validator is not None:
            stats["schema_valid_rate"] = mean_statistic([bool(s.schema_valid) for s in scores])
        fields: dict[str, list[bool]] = {}
        for score in scores:
            for key, same in score.field_matches.items():
                fields.setdefault(key, []).append(same)
        result.variants[name] = {
            "metrics": {key: stat.value() for key, stat in stats.items()},
            "per_field": {key: _mean(values) for key, values in fields.items()},
        }
        result.statistics[name] = stats
        result.per_example[name] = [s.field_accuracy for s in scores]
    result.info = {"schema": validator is not None}
    return result


def checks_task(rules: Sequence[CheckRule], runs: Mapping[str, VariantOutputs]) -> TaskResult:
    """Pass rate of each named check, and the share of answers passing all of them."""
    metrics = [MetricInfo("all_pass", "all checks pass")]
    metrics += [MetricInfo(f"check/{rule.name}", f"check '{rule.name}'") for rule in rules]
    result = TaskResult("checks", "Checks", metrics, {})
    for name, run in runs.items():
        table = np.array(check_matrix(rules, run.answers or []), dtype=float).reshape(
            -1, len(rules)
        )
        stats: dict[str, Statistic] = {"all_pass": mean_statistic(table.all(axis=1))}
        for column, rule in enumerate(rules):
            stats[f"check/{rule.name}"] = mean_statistic(table[:, column])
        result.variants[name] = {"metrics": {key: stat.value() for key, stat in stats.items()}}
        result.statistics[name] = stats
        result.per_example[name] = [float(x) for x in table.mean(axis=1)]
    result.info = {"rules": [rule.model_dump(exclude_none=True) for rule in rules]}
    return result


def preference_task(items: Sequence[EvalItem], runs: Mapping[str, VariantOutputs]) -> TaskResult:
    """Held-out preference accuracy and mean margin of log-probabilities.

    Pairs: how often the chosen reply's summed log-probability beats the rejected one's, and the
    mean difference. Scored data: the ranking AUC of per-token log-probabilities (desirable above
    undesirable), and the difference of their group means. Tuned variants also get the same two
    numbers on implicit rewards (log-prob gained over the base model): what DPO and KTO optimise,
    undefined for the base model itself, so reported without a comparison.
    """
    metrics = [
        MetricInfo("accuracy", "preference accuracy"),
        MetricInfo("margin", "mean log-prob margin", unit="nats"),
        MetricInfo("reward_accuracy", "implicit-reward accuracy (vs base model)"),
        MetricInfo("reward_margin", "mean implicit-reward margin", unit="nats"),
    ]
    result = TaskResult("preference", "Preference", [], {})
    good = np.array([bool(item.desirable) for item in items])
    for name, run in runs.items():
        if run.chosen_logps is not None and run.rejected_logps is not None:
            chosen, rejected = np.array(run.chosen_logps), np.array(run.rejected_logps)
            stats = _pair_statistics(chosen, rejected, "")
            result.per_example[name] = list((chosen > rejected).astype(float))
        else:
            stats = _scored_statistics(np.array(run.scored_logps or [], dtype=float), good, "")
        if run.rewards is not None:
            rewards = np.array(run.rewards, dtype=float)
            if rewards.shape[1] == 2:
                stats.update(_pair_statistics(rewards[:, 0], rewards[:, 1], "reward_"))
            else:
                stats.update(_scored_statistics(rewards[:, 0], good, "reward_"))
        result.variants[name] = {"metrics": {key: stat.value() for key, stat in stats.items()}}
        result.statistics[name] = stats
    present = set().union(*(set(s) for s in result.statistics.values()))
    result.metrics = [m for m in metrics if m.key in present]
    paired = all(item.rejected is not None for item in items)
    result.info = {"data": "pairs" if paired else "scored"}
    return result


def _pair_statistics(chosen: np.ndarray, rejected: np.ndarray, prefix: str) -> dict[str, Statistic]:
    """Accuracy (chosen above rejected) and mean margin of paired scores."""
    return {
        f"{prefix}accuracy": mean_statistic(chosen > rejected),
        f"{prefix}margin": mean_statistic(chosen - rejected),
    }


def _scored_statistics(scores: np.ndarray, good: np.ndarray, prefix: str) -> dict[str, Statistic]:
    """Ranking AUC (desirable above undesirable) and the difference of group means."""
    return {
        f"{prefix}accuracy": IndexStatistic(lambda i: ranking_auc(scores[i], good[i]), len(good)),
        f"{prefix}margin": IndexStatistic(lambda i: group_margin(scores[i], good[i]), len(good)),
    }


def similarity_task(items: Sequence[EvalItem], runs: Mapping[str, VariantOutputs]) -> TaskResult:
    """Corpus chrF of the answers against the reference answers."""
    result = TaskResult(
        "similarity", "Reference similarity", [MetricInfo("chrf", "chrF", unit="score")], {}
    )
    for name, run in runs.items():
        answers = run.answers or [""] * len(items)
        features = (
            np.stack(
                [
                    chrf_stats(answer, item.reference)
                    for answer, item in zip(answers, items, strict=True)
                ]
            )
            if items
            else np.zeros((0, 18))
        )
        stat = SumStatistic(features, lambda sums, _n: chrf_from_stats(sums))
        result.variants[name] = {"metrics": {"chrf": stat.value()}}
        result.statistics[name] = {"chrf": stat}
        result.per_example[name] = [float(chrf_from_stats(row)) for row in features]
    return result
