"""Advice in plain words: which method fits the data, and whether the held-out set is big enough.

One home for the sentences `tuneforge check` prints (and puts under ``advice`` in ``--json``)
and the report's "What to try next" section shows. Pure functions of the data's record kind and
sizes: no model, no torch.

The held-out note uses the normal-approximation 95% interval of a proportion near 50% (the
widest case): half-width = 1.96 · sqrt(0.25 / n), in percentage points. A before/after
difference smaller than that on n examples cannot be told from noise; 200 rows bring it to ±7.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tuneforge.data.types import RecordKind

#: z of a two-sided 95% interval.
Z_95 = 1.96
#: Held-out rows to aim for: ±6.9 points at a rate near 50%.
ENOUGH_HELD_OUT = 200


def interval_points(n: int) -> float:
    """Half-width, in percentage points, of a 95% interval of a proportion near 50% on ``n``."""
    if n < 1:
        raise ValueError(f"needs at least one held-out row, got {n}")
    return 100 * Z_95 * math.sqrt(0.25 / n)


def method_advice(
    kind: RecordKind, *, data: str = "TRAIN.jsonl", run_dir: str = "RUN_DIR", paired: bool = False
) -> str:
    """Which method fits data of ``kind`` (``paired``: scored data read from preference pairs).

    ``data`` and ``run_dir`` fill in the `tuneforge pairs` command suggested for SFT data.
    """
    if kind is RecordKind.SFT:
        return (
            "These rows hold good responses only: train SFT on them first. Then collect the "
            "tuned model's own mistakes as preference pairs "
            f"(`tuneforge pairs {run_dir} --data {data} --out pairs.jsonl`) and train DPO on "
            "those pairs to push it away from the answers it still gets wrong."
        )
    if kind is RecordKind.PAIR or paired:
        return (
            "These rows are preference pairs (a chosen and a rejected reply): train DPO. ORPO "
            "learns from the same pairs without a reference model, so it needs less memory and "
            "time; choose it when memory is tight and the model may drift further from where "
            "it started."
        )
    return (
        "These rows are single replies with a score or a thumbs up/down: train KTO, which "
        "learns from good and bad replies without needing them paired. By default it also "
        "learns to write the good replies (kto.nll_weight: 1), which is what a style or voice "
        "needs; when good and bad replies differ in facts rather than style and ranking them "
        "is all that matters, kto.nll_weight: 0 (KTO alone) separates them more."
    )


def held_out_advice(n: int) -> str:
    """Whether ``n`` held-out rows are enough for the report's intervals to mean something."""
    if n < 1:
        return (
            "No row would be held out, so nothing can be measured: give a held-out file "
            "(data.eval), or more rows and a data.eval_split above 0 to split from."
        )
    points = interval_points(n)
    rows = "row" if n == 1 else "rows"
    said = (
        f"With {n} held-out {rows}, a difference smaller than ±{points:.0f} points cannot be "
        "told from noise"
    )
    if n < ENOUGH_HELD_OUT:
        target = interval_points(ENOUGH_HELD_OUT)
        return f"{said}; aim for at least {ENOUGH_HELD_OUT} rows for ±{target:.0f} points."
    return f"{said}; that is enough to see the differences that matter."


@dataclass(frozen=True)
class Advice:
    """The advice for one data set: the method and the held-out note."""

    method: str
    held_out: str
    held_out_rows: int

    def to_dict(self) -> dict[str, Any]:
        """The advice as `check --json` shows it."""
        points = round(interval_points(self.held_out_rows), 1) if self.held_out_rows else None
        return {
            "method": self.method,
            "held_out": self.held_out,
            "held_out_rows": self.held_out_rows,
            "interval_points": points,
        }

    def lines(self) -> list[str]:
        """The two sentences, for the terminal."""
        return [self.method, self.held_out]


def advise(
    kind: RecordKind,
    held_out_rows: int,
    *,
    data: str = "TRAIN.jsonl",
    run_dir: str = "RUN_DIR",
    paired: bool = False,
) -> Advice:
    """The method and held-out advice for data of ``kind`` with ``held_out_rows`` held out."""
    return Advice(
        method_advice(kind, data=data, run_dir=run_dir, paired=paired),
        held_out_advice(held_out_rows),
        held_out_rows,
    )
