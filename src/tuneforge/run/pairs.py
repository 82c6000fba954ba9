"""``tuneforge pairs``: preference pairs from a model's own mistakes on its SFT data.

TARGET replies (greedily) to the prompt of every SFT row; where the reply falls short of the
row's reference, the row becomes the pair ``{prompt, chosen: reference, rejected: reply}``.
DPO on such pairs pushes the model away from exactly the answers it gives today.

The rule, applied in this order (the first that applies names the row's reason):

dropped
    ``empty_reply``: the reply is empty (nothing to reject; a pair needs two texts).
    ``equal_after_normalisation``: the reply equals the reference once whitespace runs and
    case are ignored, or both parse as JSON (one surrounding code fence allowed) with equal
    values (key order, ``1`` vs ``1.0`` ignored).
kept
    ``json_mismatch``: the reference is a JSON object or array and the reply is not the same
    JSON value: for structured answers any difference is a wrong field, however close the
    characters are.
    ``fails_check``: the reply fails an ``eval.checks`` rule that the reference passes.
    ``below_chrf``: the reply's chrF against the reference is below ``min_chrf``.
dropped
    ``close_to_reference``: none of the above; the reply says much the same as the reference
    in other words, and rejecting it would teach the model to avoid good answers.

`write_mistake_pairs` writes the pairs (atomically) and ``PAIRS.summary.json`` next to them:
the counts by reason and one decision per input row (line, reason, chrF, failed checks).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneforge.config import CheckRule
from tuneforge.data.load import load_examples
from tuneforge.data.render import RenderSettings
from tuneforge.data.types import Example, RecordKind, SFTExample, Text
from tuneforge.errors import TuneforgeError
from tuneforge.evaluate.heldout import text_of, to_item
from tuneforge.evaluate.metrics.chrf import chrf
from tuneforge.evaluate.metrics.rules import run_check
from tuneforge.evaluate.metrics.structure import looks_like_json, score_structure
from tuneforge.io import to_jsonl, write_json_atomic, write_text_atomic
from tuneforge.run.generate import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_NEW_TOKENS,
    GenerateOptions,
    Progress,
    generate_replies,
)
from tuneforge.target import RUN_CONFIG, Target, is_run_dir, load_target, tuned_system_prompt

if TYPE_CHECKING:
    from tuneforge.config import TuneforgeConfig

#: A reply scoring below this chrF (0-100) against its reference is a mistake (see README:
#: on brand-voice, off-brand replies of the embedded model score 10-30, paraphrases 40+).
DEFAULT_MIN_CHRF = 40.0
SUMMARY_SUFFIX = ".summary.json"

EMPTY_REPLY = "empty_reply"
EQUAL = "equal_after_normalisation"
JSON_MISMATCH = "json_mismatch"
FAILS_CHECK = "fails_check"
BELOW_CHRF = "below_chrf"
CLOSE = "close_to_reference"
NO_PROMPT = "no_prompt"
#: Every reason, kept ones first, in the order the rule tries them.
KEPT_REASONS = (JSON_MISMATCH, FAILS_CHECK, BELOW_CHRF)
DROPPED_REASONS = (NO_PROMPT, EMPTY_REPLY, EQUAL, CLOSE)


@dataclass(frozen=True)
class PairsOptions:
    """How replies are generated and judged (greedy decoding: there is no seed to set)."""

    checks: tuple[CheckRule, ...] = ()
    """``eval.checks`` rules: a reply failing one that the reference passes is a mistake."""
    min_chrf: float = DEFAULT_MIN_CHRF
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    batch_size: int = DEFAULT_BATCH_SIZE
    system_prompt: str | None = None
    """Replaces the target's own system prompt ("" for none); None keeps it."""
    chat_template: bool | None = None
    """Whether prompts go through the chat template; None keeps the target's setting."""
    columns: dict[str, str] | None = None
    """The config's ``columns:`` renames, applied when the SFT file is read."""

    @classmethod
    def from_config(cls, cfg: TuneforgeConfig, **overrides: Any) -> PairsOptions:
        """The config's checks, columns and prompt settings, under explicit ``overrides``."""
        settings: dict[str, Any] = {
            "checks": tuple(cfg.eval.checks),
            "system_prompt": tuned_system_prompt(cfg) or "",
            "chat_template": cfg.data.chat_template,
            "columns": dict(cfg.columns) or None,
        }
        settings.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**settings)

    def check(self) -> None:
        """Raise TuneforgeError for values that cannot work."""
        if not 0 <= self.min_chrf <= 100:
            raise TuneforgeError(f"--min-chrf must be in [0, 100], got {self.min_chrf}")
        GenerateOptions(max_new_tokens=self.max_new_tokens, batch_size=self.batch_size).check()


@dataclass(frozen=True)
class Decision:
    """What became of one SFT row."""

    line: int
    reason: str
    chrf: float | None = None
    failed_checks: tuple[str, ...] = ()

    @property
    def kept(self) -> bool:
        """True when the row became a pair."""
        return self.reason in KEPT_REASONS

    def to_dict(self) -> dict[str, Any]:
        """The decision as written to the summary file."""
        chrf_value = None if self.chrf is None else round(self.chrf, 2)
        return {
            "line": self.line,
            "kept": self.kept,
            "reason": self.reason,
            "chrf": chrf_value,
            "failed_checks": list(self.failed_checks),
        }


@dataclass
class PairsSummary:
    """What `write_mistake_pairs` did: rows read, pairs kept and rows dropped, by reason."""

    out: Path
    summary_file: Path
    rows: int
    min_chrf: float
    decisions: list[Decision] = field(default_factory=list)

    @property
    def kept(self) -> int:
        """Pairs written."""
        return sum(d.kept for d in self.decisions)

    @property
    def dropped(self) -> int:
        """Rows that gave no pair."""
        return self.rows - self.kept

    @property
    def kept_by(self) -> dict[str, int]:
        """Pairs per reason (every kept reason present, zeros included)."""
        counts = Counter(d.reason for d in self.decisions)
        return {reason: counts[reason] for reason in KEPT_REASONS}

    @property
    def dropped_by(self) -> dict[str, int]:
        """Dropped rows per reason (every dropped reason present, zeros included)."""
        counts = Counter(d.reason for d in self.decisions)
        return {reason: counts[reason] for reason in DROPPED_REASONS}

    def to_dict(self, target: str, data: Path, checks: list[str]) -> dict[str, Any]:
        """The summary file's document."""
        return {
            "target": target,
            "data": str(data),
            "out": str(self.out),
            "min_chrf": self.min_chrf,
            "checks": checks,
            "rows": self.rows,
            "kept": self.kept,
            "dropped": self.dropped,
            "kept_by": self.kept_by,
            "dropped_by": self.dropped_by,
            "decisions": [d.to_dict() for d in self.decisions],
        }

    def lines(self) -> list[str]:
        """The counts in words, for the terminal."""
        kept = ", ".join(f"{n} {r}" for r, n in self.kept_by.items() if n) or "none"
        dropped = ", ".join(f"{n} {r}" for r, n in self.dropped_by.items() if n) or "none"
        return [
            f"Wrote {_count(self.kept, 'pair')} from {_count(self.rows, 'row')} to {self.out}",
            f"  kept: {kept}",
            f"  dropped: {dropped}",
            f"  details: {self.summary_file}",
        ]


def _count(n: int, noun: str) -> str:
    """``n`` and the noun, plural unless n is 1."""
    return f"{n} {noun}{'s' if n != 1 else ''}"


@dataclass(frozen=True)
class _Row:
    """One SFT row as the pair source: the prompt, the reference reply, where it came from."""

    line: int
    prompt: Text
    chosen: Text
    reference: str


def pairs_options(target: str | Path, config: Path | None = None, **overrides: Any) -> PairsOptions:
    """The options of ``tuneforge pairs``: ``config``'s settings, else (for a run directory
    TARGET) the run's own config's, under the explicit ``overrides`` (None: not given)."""
    from tuneforge.config import load_config

    if config is None and is_run_dir(Path(target)):
        config = Path(target) / RUN_CONFIG
    if config is None:
        return PairsOptions(**{k: v for k, v in overrides.items() if v is not None})
    return PairsOptions.from_config(load_config(config), **overrides)


def summary_path(out: Path) -> Path:
    """Where the summary of ``out`` goes: ``PAIRS.jsonl`` → ``PAIRS.summary.json``."""
    return out.with_name(out.stem + SUMMARY_SUFFIX)


def normalised(text: str) -> str:
    """The text with whitespace runs collapsed to one space, trimmed, and case folded."""
    return " ".join(text.split()).casefold()


def judge(reply: str, reference: str, options: PairsOptions, line: int = 0) -> Decision:
    """Apply the rule of the module doc to one reply and its reference."""
    if not reply.strip():
        return Decision(line, EMPTY_REPLY)
    structure = score_structure(reply, reference)
    if structure.exact or normalised(reply) == normalised(reference):
        return Decision(line, EQUAL)
    score = chrf(reply, reference)
    failed = tuple(
        rule.name
        for rule in options.checks
        if run_check(rule, reference).passed and not run_check(rule, reply).passed
    )
    if looks_like_json([reference]):
        return Decision(line, JSON_MISMATCH, score, failed)
    if failed:
        return Decision(line, FAILS_CHECK, score, failed)
    if score < options.min_chrf:
        return Decision(line, BELOW_CHRF, score)
    return Decision(line, CLOSE, score)


def sft_rows(examples: list[Example]) -> tuple[list[_Row], list[Decision]]:
    """The pair sources of SFT records, and a decision for each record without a prompt.

    A conversation's prompt is every turn before its last assistant turn, which is the
    reference; a prompt/completion record keeps its completion as it is (text or messages).
    """
    rows: list[_Row] = []
    skipped: list[Decision] = []
    for example in examples:
        assert isinstance(example, SFTExample)
        line = example.origin.line
        item = to_item(example)
        if item is None:
            skipped.append(Decision(line, NO_PROMPT))
            continue
        chosen = example.completion if example.completion is not None else item.reference
        rows.append(_Row(line, item.prompt, chosen, text_of(chosen)))
    return rows, skipped


def write_mistake_pairs(
    target: str | Path | Target,
    data: Path,
    out: Path,
    *,
    options: PairsOptions | None = None,
    progress: Progress | None = None,
) -> PairsSummary:
    """Reply to every SFT row of ``data`` with ``target``; write the mistakes as pairs to ``out``.

    ``data`` is read as SFT records (every supported format; a bad row raises DataError naming
    FILE:LINE: field). ``out`` gets one ``{prompt, chosen, rejected}`` line per kept row, in
    file order, and ``summary_path(out)`` the counts and per-row decisions; both atomically.
    """
    options = options or PairsOptions()
    options.check()
    data, out = Path(data), Path(out)
    if out.is_dir():
        raise TuneforgeError(f"{out}: is a folder; --out must be a .jsonl file")
    examples = load_examples(data, RecordKind.SFT, columns=options.columns)
    rows, decisions = sft_rows(examples)
    loaded = _prepared(target, options)
    generation = GenerateOptions(
        max_new_tokens=options.max_new_tokens, batch_size=options.batch_size
    )
    pairs: list[dict[str, Any]] = []
    if progress is not None:
        progress(0, len(rows))
    for first in range(0, len(rows), options.batch_size):
        chunk = rows[first : first + options.batch_size]
        replies = generate_replies(loaded, [r.prompt for r in chunk], generation, first=first)
        for row, reply in zip(chunk, replies, strict=True):
            decision = judge(reply, row.reference, options, row.line)
            decisions.append(decision)
            if decision.kept:
                pairs.append({"prompt": row.prompt, "chosen": row.chosen, "rejected": reply})
        if progress is not None:
            progress(min(first + options.batch_size, len(rows)), len(rows))
    decisions.sort(key=lambda d: d.line)
    summary = PairsSummary(out, summary_path(out), len(examples), options.min_chrf, decisions)
    write_text_atomic(out, to_jsonl(pairs, ensure_ascii=False))
    checks = [rule.name for rule in options.checks]
    write_json_atomic(summary.summary_file, summary.to_dict(loaded.name, data, checks))
    return summary


def _prepared(target: str | Path | Target, options: PairsOptions) -> Target:
    """The loaded target with the options' prompt settings over its own."""
    if isinstance(target, Target):
        loaded = target.with_system_prompt(options.system_prompt)
    else:
        loaded = load_target(target, system_prompt=options.system_prompt)
    if options.chat_template is None:
        return loaded
    render = RenderSettings(options.chat_template, loaded.render.system_prompt)
    return replace(loaded, render=render)


__all__ = [
    "DEFAULT_MIN_CHRF",
    "Decision",
    "PairsOptions",
    "PairsSummary",
    "judge",
    "pairs_options",
    "summary_path",
    "write_mistake_pairs",
]
