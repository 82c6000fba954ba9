"""Load a data file into typed records: the public entry point for training and the linter.

``load_examples`` is what training calls: it returns records or raises one ``DataError`` listing
every error line. ``collect_examples`` is the lower level the linter uses: it never raises for
bad data and returns records and problems side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tuneforge.data.formats import normalise_row, resolve_kto_labels, unknown_method_message
from tuneforge.data.kto_unpair import looks_paired, unpair
from tuneforge.data.problems import Problem, sort_problems
from tuneforge.data.readers import SUPPORTED_SUFFIXES, RawRow, RawRows, read_rows
from tuneforge.data.types import METHODS, Example, Origin, PairExample, ScoredExample
from tuneforge.errors import DataError

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Collected",
    "RawRow",
    "RawRows",
    "collect_examples",
    "load_examples",
    "read_rows",
]


@dataclass
class Collected:
    """Everything read from one file: records, problems, and the raw rows behind them."""

    name: str
    examples: list[Example] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    records: int = 0
    """Records seen in the file (blank lines excluded), usable or not."""
    raw_rows: list[RawRow] = field(default_factory=list)
    """Rows that parsed as objects, in file order (for duplicate detection)."""
    unpaired: bool = False
    """True when preference pairs were read for KTO, each as two scored examples."""

    @property
    def errors(self) -> list[Problem]:
        """The problems that make the file unusable."""
        return [p for p in self.problems if p.is_error]


def collect_examples(
    path: Path | str,
    method: str,
    *,
    columns: dict[str, str] | None = None,
    name: str | None = None,
) -> Collected:
    """Read ``path`` and normalise every row for ``method``; problems are collected, not raised.

    KTO records come back unlabelled (``desirable`` None): the threshold depends on every score,
    so apply ``resolve_kto_labels`` to the whole list. A file of preference pairs read for KTO
    gives two records per pair (chosen: score true, rejected: score false).
    """
    if method not in METHODS:
        raise ValueError(unknown_method_message(method))
    raw = read_rows(path, name=name)
    file_name = str(path) if name is None else name
    result = Collected(file_name, problems=list(raw.problems), records=raw.records)
    result.raw_rows = raw.rows
    # Preference pairs given to KTO are read as pairs, then unpaired (data/kto_unpair.py).
    result.unpaired = method == "kto" and looks_paired([r.data for r in raw.rows], columns)
    for row in raw.rows:
        example, problems = normalise_row(
            row.data,
            method="dpo" if result.unpaired else method,
            origin=Origin(file_name, row.line),
            columns=columns,
            text_cells=raw.text_cells,
        )
        result.problems.extend(problems)
        if isinstance(example, PairExample) and result.unpaired:
            result.examples.extend(unpair(example))
        elif example is not None:
            result.examples.append(example)
    result.problems = sort_problems(result.problems)
    return result


def load_examples(
    path: Path | str,
    method: str,
    *,
    columns: dict[str, str] | None = None,
    kto_threshold: float | None = None,
) -> list[Example]:
    """Load and validate ``path`` for ``method``; KTO records come back labelled.

    Raises ``DataError`` listing every error as ``FILE:LINE: field: message`` when any row is
    unusable (training on a silently filtered file would hide the user's mistakes), or when no
    example is left, e.g. every KTO score equals the threshold.
    """
    if method not in METHODS:
        raise DataError(unknown_method_message(method))
    collected = collect_examples(path, method, columns=columns)
    errors = collected.errors
    if errors:
        count = f"{len(errors)} error" + ("s" if len(errors) != 1 else "")
        lines = "\n".join(p.format() for p in errors)
        raise DataError(
            f"{collected.name} cannot be used ({count}; `tuneforge check` shows them with "
            f"warnings and statistics):\n{lines}"
        )
    examples = collected.examples
    if method == "kto":
        scored = [ex for ex in examples if isinstance(ex, ScoredExample)]
        labelling = resolve_kto_labels(scored, kto_threshold)
        examples = list(labelling.examples)
        if not examples:
            raise DataError(
                f"{collected.name}: score: every example is neutral ({labelling.rule}); "
                "set kto.threshold so that some scores fall on each side"
            )
    return examples
