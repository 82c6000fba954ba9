"""Load a data file into typed records: the public entry point for training and the linter.

``load_examples`` is what training calls: it returns records or raises one ``DataError`` listing
every error line. ``collect_examples`` is the lower level the linter uses: it never raises for
bad data and returns records and problems side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tuneforge.data.formats import KTOLabelling, normalise_row, resolve_kto_labels
from tuneforge.data.kto_unpair import looks_paired, unpair
from tuneforge.data.problems import Problem, sort_problems
from tuneforge.data.readers import SUPPORTED_SUFFIXES, RawRow, RawRows, read_rows
from tuneforge.data.types import Example, Origin, PairExample, RecordKind, ScoredExample
from tuneforge.errors import DataError

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Collected",
    "RawRow",
    "RawRows",
    "collect_examples",
    "label_scored",
    "load_examples",
    "load_labelled",
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
    """True when preference pairs were read as scored data, each as two scored examples."""

    @property
    def errors(self) -> list[Problem]:
        """The problems that make the file unusable."""
        return [p for p in self.problems if p.is_error]


def collect_examples(
    path: Path | str,
    kind: RecordKind,
    *,
    columns: dict[str, str] | None = None,
    name: str | None = None,
) -> Collected:
    """Read ``path`` and normalise every row as ``kind``; problems are collected, not raised.

    Scored records come back unlabelled (``desirable`` None): the threshold depends on every
    score, so apply ``resolve_kto_labels`` to the whole list. A file of preference pairs read as
    scored data gives two records per pair (chosen: score true, rejected: score false).
    """
    raw = read_rows(path, name=name)
    file_name = str(path) if name is None else name
    result = Collected(file_name, problems=list(raw.problems), records=raw.records)
    result.raw_rows = raw.rows
    # Preference pairs given as scored data are read as pairs, then unpaired (kto_unpair.py).
    result.unpaired = kind is RecordKind.SCORED and looks_paired(
        [r.data for r in raw.rows], columns
    )
    for row in raw.rows:
        example, problems = normalise_row(
            row.data,
            kind=RecordKind.PAIR if result.unpaired else kind,
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
    kind: RecordKind,
    *,
    columns: dict[str, str] | None = None,
    score_threshold: float | None = None,
) -> list[Example]:
    """Load and validate ``path`` as ``kind``; scored records come back labelled.

    ``score_threshold`` is the threshold rule's explicit value (None: chosen from this file's
    scores; to label a held-out file like its train file, pass the train file's threshold,
    as `data.splits.load_splits` does). Raises ``DataError`` listing every error as
    ``FILE:LINE: field: message`` when any row is unusable (training on a silently filtered
    file would hide the user's mistakes), or when no example is left, e.g. every score equals
    the threshold.
    """
    return load_labelled(path, kind, columns=columns, score_threshold=score_threshold)[0]


def load_labelled(
    path: Path | str,
    kind: RecordKind,
    *,
    columns: dict[str, str] | None = None,
    score_threshold: float | None = None,
) -> tuple[list[Example], float | None]:
    """`load_examples`, plus the threshold that labelled scored records (None otherwise)."""
    collected = collect_examples(path, kind, columns=columns)
    errors = collected.errors
    if errors:
        count = f"{len(errors)} error" + ("s" if len(errors) != 1 else "")
        lines = "\n".join(p.format() for p in errors)
        raise DataError(
            f"{collected.name} cannot be used ({count}; `tuneforge check` shows them with "
            f"warnings and statistics):\n{lines}"
        )
    if kind is not RecordKind.SCORED:
        return collected.examples, None
    labelling = label_scored(collected.examples, score_threshold, collected.name)
    return list(labelling.examples), labelling.threshold


def label_scored(examples: list[Example], threshold: float | None, name: str) -> KTOLabelling:
    """The threshold rule applied to scored records; DataError when every one is neutral."""
    scored = [ex for ex in examples if isinstance(ex, ScoredExample)]
    labelling = resolve_kto_labels(scored, threshold)
    if not labelling.examples:
        raise DataError(
            f"{name}: score: every example is neutral ({labelling.rule}); "
            "set kto.threshold so that some scores fall on each side"
        )
    return labelling
