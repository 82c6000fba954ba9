"""Task metrics from hand-made variant outputs, and the eval.json entries built from them."""

from __future__ import annotations

import pytest

from tuneforge.config import CheckRule
from tuneforge.evaluate.heldout import EvalItem
from tuneforge.evaluate.metrics.chrf import chrf_from_stats, chrf_stats
from tuneforge.evaluate.metrics.tasks import (
    VariantOutputs,
    checks_task,
    classification_task,
    preference_task,
    similarity_task,
    structure_task,
)
from tuneforge.evaluate.results import compare, task_entry
from tuneforge.evaluate.wording import cost_sentence, format_interval

ITEMS = [EvalItem("q", ref) for ref in ["a", "a", "b", "b"]]


def _runs(**answers: list[str]) -> dict[str, VariantOutputs]:
    return {name: VariantOutputs(name, [10] * 4, answers=a) for name, a in answers.items()}


def test_classification_free_and_constrained() -> None:
    runs = _runs(baseline=["It is a", "b", "b", "?"], tuned=["a", "A.", "b", "a"])
    runs["baseline"].choice_logps = [[-1, -2], [-3, -1], [-2, -1], [-1, -5]]
    runs["tuned"].choice_logps = [[-1, -2], [-1, -2], [-2, -1], [-2, -1]]
    task = classification_task(["a", "b"], ITEMS, runs)
    base, tuned = task.variants["baseline"]["metrics"], task.variants["tuned"]["metrics"]
    # Baseline: exact answers b, b on rows 1-2 (row 2 right), two invalid; lenient adds row 0.
    assert base["accuracy"] == 0.25 and base["invalid_rate"] == 0.5
    assert base["lenient_accuracy"] == 0.5
    # Constrained choice picks a, b, b, a: rows 0 and 2 right.
    assert base["choice_accuracy"] == 0.5
    assert tuned["accuracy"] == 0.75 and tuned["invalid_rate"] == 0.0
    assert tuned["choice_accuracy"] == 1.0 and tuned["choice_macro_f1"] == 1.0
    assert task.headline.key == "accuracy"
    assert task.variants["tuned"]["confusion"] == [[2, 0, 0], [1, 1, 0]]
    assert task.per_example["tuned"] == [1.0, 1.0, 1.0, 0.0]


def test_structure_rates_and_per_field() -> None:
    items = [EvalItem("q", '{"x": 1, "y": 2}'), EvalItem("q", '{"x": 3, "y": 4}')]
    runs = {
        "baseline": VariantOutputs("baseline", [1, 1], answers=["nope", '{"x": 3, "y": 0}']),
        "tuned": VariantOutputs("tuned", [1, 1], answers=['{"x": 1, "y": 2}', '{"x": 3, "y": 4}']),
    }
    task = structure_task(items, runs, None)
    assert task.variants["baseline"]["metrics"] == {
        "field_accuracy": 0.25,
        "parse_rate": 0.5,
        "exact_match": 0.0,
    }
    assert task.variants["baseline"]["per_field"] == {"x": 0.5, "y": 0.0}
    assert task.variants["tuned"]["metrics"]["exact_match"] == 1.0


def test_checks_pass_rates() -> None:
    rules = [CheckRule(name="short", max_words=2), CheckRule(name="polite", must_match="please")]
    runs = _runs(baseline=["one two three", "please", "a b", "please do it now"])
    task = checks_task(rules, runs)
    metrics = task.variants["baseline"]["metrics"]
    assert metrics == {"all_pass": 0.25, "check/short": 0.5, "check/polite": 0.5}
    assert task.per_example["baseline"] == [0.0, 1.0, 0.5, 0.5]


def test_preference_pairs_and_scored() -> None:
    pairs = [EvalItem("q", "good", "bad")] * 3
    runs = {
        "baseline": VariantOutputs(
            "baseline", [1] * 3, chosen_logps=[-1, -3, -2], rejected_logps=[-2, -1, -2]
        )
    }
    metrics = preference_task(pairs, runs).variants["baseline"]["metrics"]
    assert metrics["accuracy"] == pytest.approx(1 / 3)
    assert metrics["margin"] == pytest.approx((1 - 2 + 0) / 3)
    scored = [EvalItem("q", "x", desirable=d) for d in (True, False, True, False)]
    runs = {"baseline": VariantOutputs("baseline", [1] * 4, scored_logps=[3, 1, 2, 2])}
    task = preference_task(scored, runs)
    assert task.variants["baseline"]["metrics"]["accuracy"] == pytest.approx(0.875)
    assert task.info == {"data": "scored"}


def test_similarity_is_corpus_chrf() -> None:
    items = [EvalItem("q", "abc"), EvalItem("q", "abc")]
    runs = {"baseline": VariantOutputs("baseline", [1, 1], answers=["ab", "abc"])}
    value = similarity_task(items, runs).variants["baseline"]["metrics"]["chrf"]
    expected = chrf_from_stats(chrf_stats("ab", "abc") + chrf_stats("abc", "abc"))
    assert value == pytest.approx(float(expected)) == pytest.approx(100 * 125 / 169)


def test_task_entry_keys_and_sentence() -> None:
    runs = _runs(baseline=["b", "b", "a", "a"], tuned=["a", "a", "b", "b"])
    task = classification_task(["a", "b"], ITEMS, runs)
    entry = task_entry(task, compare(task, "baseline", samples=200, seed=0, confidence=0.95), 0.95)
    assert set(entry) == {
        "title",
        "headline_metric",
        "confidence",
        "metrics",
        "info",
        "variants",
        "comparisons",
        "verdict",
        "summary",
    }
    diff = entry["comparisons"]["tuned"]["accuracy"]
    assert (diff["baseline"], diff["value"], diff["difference"]) == (0.0, 1.0, 1.0)
    assert (diff["ci_low"], diff["ci_high"], diff["verdict"]) == (1.0, 1.0, "better")
    assert entry["verdict"] == {"tuned": "better"}
    assert entry["summary"] == (
        "Classification: tuned is better than the baseline on accuracy — 100.0% vs 0.0% "
        "(+100.0 points, 95% CI +100.0 points to +100.0 points)."
    )
    # The invalid rate is lower-is-better: equal here, so no clear difference.
    assert entry["comparisons"]["tuned"]["invalid_rate"]["verdict"] == "no clear difference"
    assert format_interval(diff, "rate") == "+100.0 [+100.0, +100.0]"


def test_cost_sentence() -> None:
    variants = {
        "baseline": {"prompt_tokens_per_request": 600.0},
        "tuned": {
            "prompt_tokens_per_request": 60.0,
            "prompt_token_reduction": 0.9,
            "saving_per_1000_requests": 0.081,
        },
    }
    assert cost_sentence(variants, "tuned", 0.15) == (
        "Prompt tokens per request: baseline 600, tuned 60 (90% fewer); at $0.15 per million "
        "input tokens, tuned saves $0.0810 per 1,000 requests."
    )


def test_implicit_rewards_of_tuned_variants_are_reported_without_comparison() -> None:
    pairs = [EvalItem("q", "good", "bad")] * 3
    base = VariantOutputs("baseline", [1] * 3, chosen_logps=[-1, -2, -3], rejected_logps=[-2] * 3)
    tuned = VariantOutputs("tuned", [1] * 3, chosen_logps=[-1, -1, -1], rejected_logps=[-3] * 3)
    tuned.rewards = [[1.0, -1.0], [-0.5, 0.5], [2.0, 0.0]]
    task = preference_task(pairs, {"baseline": base, "tuned": tuned})
    metrics = task.variants["tuned"]["metrics"]
    assert metrics["reward_accuracy"] == pytest.approx(2 / 3)
    assert metrics["reward_margin"] == pytest.approx((2 - 1 + 2) / 3)
    assert "reward_accuracy" not in task.variants["baseline"]["metrics"]
    comparisons = compare(task, "baseline", samples=100, seed=0, confidence=0.95)
    assert set(comparisons["tuned"]) == {"accuracy", "margin"}
