"""Which tasks an evaluation computes, decided from the ``eval:`` section and the data itself.

- classification: ``eval.labels``, or SFT answers that look like a few repeated labels;
- structure: ``eval.json_schema`` or ``eval.format: json``, or SFT answers that are all JSON;
- checks: any ``eval.checks``;
- preference: pair data (DPO, ORPO) or scored data (KTO);
- similarity (chrF): free-text answers (SFT that is neither of the above, and pairs).

``eval.tasks`` restricts the list. The generation budget comes from the task: the longest label
or reference answer plus a margin (more when a length check needs room to fail), capped by
``eval.max_new_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tuneforge.config import CheckRule, TuneforgeConfig
from tuneforge.data.types import RecordKind
from tuneforge.evaluate.heldout import EvalData, shot_pair
from tuneforge.evaluate.metrics.labels import infer_labels
from tuneforge.evaluate.metrics.structure import looks_like_json

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

TASK_ORDER = ("classification", "structure", "checks", "preference", "similarity")


@dataclass
class TaskPlan:
    """The tasks to compute and what they need."""

    labels: list[str] | None = None
    structure: bool = False
    schema_path: str | None = None
    checks: list[CheckRule] = field(default_factory=list)
    preference: bool = False
    similarity: bool = False
    max_new_tokens: int = 256

    @property
    def tasks(self) -> list[str]:
        """The task names, in report order."""
        enabled = {
            "classification": self.labels is not None,
            "structure": self.structure,
            "checks": bool(self.checks),
            "preference": self.preference,
            "similarity": self.similarity,
        }
        return [name for name in TASK_ORDER if enabled[name]]

    @property
    def needs_generation(self) -> bool:
        """Whether any task looks at generated answers."""
        return bool(self.labels is not None or self.structure or self.checks or self.similarity)


def plan_tasks(
    cfg: TuneforgeConfig, data: EvalData, tokenizer: PreTrainedTokenizerBase | None = None
) -> TaskPlan:
    """The tasks for this config and data (see the module docstring)."""
    settings = cfg.eval
    allowed = set(settings.tasks) if settings.tasks is not None else set(TASK_ORDER)
    plan = TaskPlan()
    references = [item.reference for item in data.items]
    if data.kind is RecordKind.SFT:
        train_answers = [pair[1] for pair in map(shot_pair, data.train) if pair is not None]
        labels = settings.labels or infer_labels([*train_answers, *references])
        if labels and "classification" in allowed:
            plan.labels = list(labels)
        explicit_json = settings.json_schema is not None or settings.format == "json"
        if plan.labels is None and "structure" in allowed:
            plan.structure = explicit_json or looks_like_json(references)
            plan.schema_path = settings.json_schema
        plan.similarity = (
            plan.labels is None and not plan.structure and "similarity" in allowed
        ) or (settings.tasks is not None and "similarity" in allowed)
    else:
        plan.preference = "preference" in allowed
        plan.similarity = data.kind is RecordKind.PAIR and "similarity" in allowed
    if "checks" in allowed:
        plan.checks = list(settings.checks)
    plan.max_new_tokens = generation_budget(plan, references, settings.max_new_tokens, tokenizer)
    return plan


def check_budget(checks: list[CheckRule]) -> int:
    """New tokens a length check needs to be able to fail: room for one word or character more.

    English runs at about 1.3 tokens per word and 4 characters per token; twice the words and
    half the characters leave headroom for any tokenizer.
    """
    need = 0
    for rule in checks:
        if rule.max_words is not None:
            need = max(need, 2 * rule.max_words + 2)
        if rule.max_chars is not None:
            need = max(need, rule.max_chars // 2 + 2)
    return need


def generation_budget(
    plan: TaskPlan,
    references: list[str],
    cap: int,
    tokenizer: PreTrainedTokenizerBase | None,
) -> int:
    """New tokens the task needs: the longest label/reference plus a margin, at most ``cap``.

    Labels get 8 tokens of room (enough to see a chatty answer is not a label); free text and
    JSON get a quarter more than the longest reference, so a slightly longer answer is not cut.
    Length checks raise the budget so that an answer can exceed them (`check_budget`).
    """
    if tokenizer is None:
        return cap
    texts = plan.labels if plan.labels is not None else references
    if not texts:
        return cap
    longest = max(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts)
    margin = 8 if plan.labels is not None else max(8, longest // 4)
    return max(1, min(cap, max(longest + margin, check_budget(plan.checks))))
