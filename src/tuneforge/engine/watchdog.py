"""Early warnings for runs that are training on nothing.

A preference run can look healthy (no error, a finite loss) while learning nothing: DPO's loss
sits at exactly ln 2 while the policy equals its reference, and stays there when the chosen
and rejected replies are identical, when the learning rate is too low to move the weights, or
when no adapter is attached (nothing trainable). Peer tools say nothing and the user finds out
hours later. `Watchdog` reads each logged training record and warns once, with the likely
cause, through the run logger.

It also watches the opposite failure: a preference run that learns, but by making the replies
it should prefer *less* likely. DPO only asks the chosen reply to gain on the rejected one; on
pairs that differ in a few tokens both can fall together, and greedy decoding, which reads
absolute likelihoods, then writes worse replies (README, "Measured: json-extract": the chosen
replies' token-mean NLL rose from about 0.09 to 0.14 nats while field accuracy fell 28 points).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Watchdog"]

#: A gradient norm at or below this is "no gradient at all".
_NO_GRADIENT = 1e-12
#: Reward margins (a mean over pairs) this close to 0 mean the pairs do not differ.
_FLAT_MARGIN = 1e-6
#: Logged records averaged at the start and at the end when comparing ``nll_chosen``.
_NLL_WINDOW = 3
#: ``nll_chosen`` (nats/token) rising by this share of its starting value, and by at least
#: `_NLL_FLOOR` nats, means the preferred replies are becoming less likely.
_NLL_RISE = 0.25
_NLL_FLOOR = 0.02


def _is_nan(value: Any) -> bool:
    """True for a float NaN, or the string "nan" the metrics file uses for it."""
    if isinstance(value, str):
        return value.strip().lower() == "nan"
    return isinstance(value, float) and math.isnan(value)


#: Log-probs closer than this (nats) are the same reply's.
_SAME_LOGPS = 1e-6


class Watchdog:
    """Watches logged training records; each warning is given at most once per run.

    * Stuck loss: every training record up to step ``patience_steps`` has a loss within
      ``tolerance`` of ``stuck_loss`` (the loss while nothing is learned, ln 2 for DPO), with
      the run observed from its start (a resumed run past the window is not judged).
    * NaN rewards: any ``rewards/*`` value is NaN.
    * Falling chosen likelihood: the mean ``nll_chosen`` (token-mean NLL of the chosen or
      desirable replies, logged by DPO and KTO) of the last three training records is at least
      25% and 0.02 nats above that of the first three.

    Args:
        warn: where warnings go (``RunLogger.message``).
        stuck_loss: the method's "nothing learned" loss, or None to skip that check.
        patience_steps: how many first optimizer steps the loss may stay there.
        tolerance: the band around ``stuck_loss``.
    """

    def __init__(
        self,
        warn: Callable[[str], None],
        *,
        stuck_loss: float | None,
        patience_steps: int = 20,
        tolerance: float = 1e-3,
    ) -> None:
        self.warn = warn
        self.stuck_loss = stuck_loss
        self.patience_steps = patience_steps
        self.tolerance = tolerance
        self.warned: set[str] = set()
        self._stuck_records: list[Mapping[str, Any]] = []
        self._stuck_possible = stuck_loss is not None
        self._nll: list[float] = []

    def observe(self, record: Mapping[str, Any]) -> None:
        """Look at one logged record (training records hold ``loss``; others are ignored)."""
        if "loss" not in record:
            return
        self._check_nan(record)
        self._check_stuck(record)
        self._check_chosen_nll(record)

    def _once(self, kind: str, text: str) -> None:
        if kind not in self.warned:
            self.warned.add(kind)
            self.warn(text)

    def _check_nan(self, record: Mapping[str, Any]) -> None:
        bad = sorted(k for k, v in record.items() if k.startswith("rewards/") and _is_nan(v))
        if bad:
            self._once(
                "nan_rewards",
                f"warning: {', '.join(bad)} became NaN at step {record.get('step')}. Likely "
                "causes: the learning rate is too high (lower train.lr), a reply whose tokens "
                "were all cut by data.max_length, or non-finite reference log-probs "
                "(run `tuneforge check` on the data).",
            )

    def _check_chosen_nll(self, record: Mapping[str, Any]) -> None:
        value = record.get("nll_chosen")
        if not isinstance(value, (int, float)) or math.isnan(value):
            return
        self._nll.append(float(value))
        if len(self._nll) < 2 * _NLL_WINDOW:
            return
        start = sum(self._nll[:_NLL_WINDOW]) / _NLL_WINDOW
        latest = sum(self._nll[-_NLL_WINDOW:]) / _NLL_WINDOW
        if latest - start >= max(_NLL_RISE * start, _NLL_FLOOR):
            self._once(
                "chosen_nll_rising",
                f"warning: the preferred replies are becoming less likely: their token-mean NLL "
                f"rose from {start:.3f} to {latest:.3f} nats (first vs last {_NLL_WINDOW} logged "
                f"steps, now step {record.get('step')}). The preference is being learnt by "
                "pushing both replies down, and greedy replies may get worse than the starting "
                "model's. Raise dpo.nll_weight / kto.nll_weight (with nll_norm: sum), lower "
                "train.lr, or stop at an earlier checkpoint; compare with `tuneforge eval`.",
            )

    def _check_stuck(self, record: Mapping[str, Any]) -> None:
        if not self._stuck_possible or self.stuck_loss is None:
            return
        step = int(record.get("step", 0))
        if not self._stuck_records and step > self.patience_steps:
            self._stuck_possible = False  # a resumed run: its first steps were not seen
            return
        loss = record["loss"]
        if not isinstance(loss, (int, float)) or abs(loss - self.stuck_loss) > self.tolerance:
            self._stuck_possible = False
            return
        self._stuck_records.append(record)
        if step >= self.patience_steps:
            self._stuck_possible = False
            self._once("stuck_loss", self._stuck_message(step))

    def _stuck_message(self, step: int) -> str:
        records = self._stuck_records
        grads = [r.get("grad_norm") for r in records if isinstance(r.get("grad_norm"), float)]
        margins = [r.get("rewards/margins") for r in records]
        lr = records[-1].get("lr")
        head = (
            f"warning: the loss has stayed at {self.stuck_loss:.4f} (±{self.tolerance:g}), its "
            f"value while the model equals the reference, for the first {step} steps: nothing "
            "is being learned."
        )
        if grads and all(g <= _NO_GRADIENT for g in grads):
            cause = (
                "The gradient is exactly zero: nothing is trainable (no adapter attached, or "
                "every weight frozen)."
            )
        elif (
            margins
            and all(isinstance(m, float) and abs(m) < _FLAT_MARGIN for m in margins)
            and not _pairs_differ(records)
        ):
            cause = (
                "The reward margins stay at 0: the chosen and rejected replies are probably "
                "identical, so there is nothing to prefer (run `tuneforge check` on the data)."
            )
        else:
            cause = (
                f"The model does move, so the learning rate (lr {lr}) is probably too low for "
                "this setup: raise train.lr, or leave it unset for the tuned default. "
                "Identical chosen/rejected pairs are the other usual cause."
            )
        return f"{head} {cause}"


def _pairs_differ(records: list[Mapping[str, Any]]) -> bool:
    """True when a record's chosen and rejected log-probs differ: the pairs are not identical.

    Flat margins alone do not tell identical pairs from a model that has not moved (at a tiny
    learning rate the reference can equal the policy exactly); the replies' log-probs do.
    """
    for record in records:
        chosen, rejected = record.get("logps/chosen"), record.get("logps/rejected")
        numbers = isinstance(chosen, float) and isinstance(rejected, float)
        if numbers and abs(chosen - rejected) > _SAME_LOGPS:
            return True
    return False
