"""Early stopping: stop when the held-out loss stops improving, and keep the best weights.

The check is cheap by construction: a fixed subset of the held-out set (``max_items`` items
spread evenly over it, so a file sorted by label is still sampled across its labels) is scored
every ``every_steps`` optimizer steps, by default `CHECKS_PER_RUN` times over the run. After
``patience`` checks in a row without a relative improvement of more than ``min_delta`` (over
the last check that made one) the run stops. The trainable weights of the lowest-loss check,
however small its lead, are written to ``run_dir/best/`` (atomically, so a resumed run finds
them) and put back into the model when training ends, so ``final/`` holds them: ``min_delta``
decides when to stop, never which weights are kept. Its state is plain JSON, carried in
``loop_state.json`` by the checkpoints.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from tuneforge.config.schema import CHECKS_PER_RUN, EarlyStoppingConfig
from tuneforge.errors import TuneforgeError
from tuneforge.io import write_dir_atomic

#: Where the best check's trainable weights are kept, inside the run directory.
BEST_DIR = "best"
_WEIGHTS = "trainable.safetensors"
_INFO = "best.json"


#: The share of the training compute the checks may take when ``every_steps`` is unset.
CHECK_COST_SHARE = 0.2
#: A training step's forward and backward cost about three forward passes.
_STEP_PASSES = 3


def check_every(
    setting: int | None, total_steps: int, *, check_items: int = 0, step_items: int = 1
) -> int:
    """Steps between checks: ``setting``, else `CHECKS_PER_RUN` checks over ``total_steps``,
    spaced further where needed so that they cost at most `CHECK_COST_SHARE` of the training.

    A check scores ``check_items`` held-out items (one forward pass each); a step trains
    ``step_items`` (batch size × gradient accumulation, forward and backward). Without that
    floor, a short run with a small batch would spend longer checking than training.
    """
    if setting is not None:
        return setting
    by_count = math.ceil(total_steps / CHECKS_PER_RUN)
    step_cost = CHECK_COST_SHARE * _STEP_PASSES * max(1, step_items)
    return max(1, by_count, math.ceil(check_items / step_cost))


def subset_indices(count: int, limit: int | None) -> list[int]:
    """``limit`` positions out of ``count``, evenly spread (all of them when ``limit`` is None).

    >>> subset_indices(10, 4)
    [0, 2, 5, 7]
    """
    if limit is None or limit >= count:
        return list(range(count))
    return [i * count // limit for i in range(limit)]


@dataclass
class EarlyStoppingState:
    """Where the checks stand (JSON values only, for ``loop_state.json``)."""

    best_loss: float | None = None
    best_step: int | None = None
    #: The loss of the last check that improved by more than ``min_delta``: patience's bar.
    bar_loss: float | None = None
    checks: int = 0
    bad_checks: int = 0
    stopped_step: int | None = None


class EarlyStopping:
    """The checks of one run: when to check, whether to stop, the best weights on disk.

    Args:
        config: ``train.early_stopping``.
        total_steps: the run's step budget (sets the default cadence).
        eval_count: held-out items available.
        run_dir: the run directory (``best/`` is written under it).
        is_main: only the main process writes files.
        step_items: items one optimizer step trains on (sets the default cadence's floor).
    """

    def __init__(
        self,
        config: EarlyStoppingConfig,
        *,
        total_steps: int,
        eval_count: int,
        run_dir: Path,
        is_main: bool = True,
        step_items: int = 1,
    ) -> None:
        self.config = config
        self.indices = subset_indices(eval_count, config.max_items)
        self.every = check_every(
            config.every_steps,
            total_steps,
            check_items=len(self.indices),
            step_items=step_items,
        )
        self.best_dir = run_dir / BEST_DIR
        self.is_main = is_main
        self.state = EarlyStoppingState()

    @property
    def stopped(self) -> bool:
        """True once the patience ran out (also after a resume from that point)."""
        return self.state.stopped_step is not None

    def due(self, step: int) -> bool:
        """Is a check due after optimizer step ``step``?"""
        return not self.stopped and step % self.every == 0

    def improves(self, loss: float) -> bool:
        """Whether ``loss`` beats patience's bar by more than ``min_delta`` (relative)."""
        bar = self.state.bar_loss
        return bar is None or loss < bar - self.config.min_delta * abs(bar)

    def observe(self, step: int, loss: float, model: torch.nn.Module) -> bool:
        """Record the check at ``step``; keep ``model``'s weights when best. True: stop now.

        A non-finite loss never counts as an improvement.
        """
        state = self.state
        state.checks += 1
        finite = math.isfinite(loss)
        if finite and (state.best_loss is None or loss < state.best_loss):
            state.best_loss, state.best_step = loss, step
            self._keep(model, step, loss)
        if finite and self.improves(loss):
            state.bar_loss, state.bad_checks = loss, 0
            return False
        state.bad_checks += 1
        if state.bad_checks >= self.config.patience:
            state.stopped_step = step
            return True
        return False

    def restore_best(self, model: torch.nn.Module) -> bool:
        """Put the best check's trainable weights back into ``model``; False when none kept.

        False too when ``best/`` holds another step than the state's best (a resumed run
        whose checks differ from the lost ones): then the last weights stay.
        """
        path = self.best_dir / _WEIGHTS
        if self.state.best_step is None or not path.is_file():
            return False
        kept = json.loads((self.best_dir / _INFO).read_text(encoding="utf-8"))
        if kept.get("step") != self.state.best_step:
            # A resumed run whose checks went otherwise than the lost ones (--force-config):
            # the folder is not this run's best, so the last weights stay.
            return False
        saved = load_file(path)
        params = dict(model.named_parameters())
        unknown = sorted(set(saved) - set(params))
        if unknown:
            raise TuneforgeError(
                f"{path}: holds weights the model does not have ({unknown[:3]}); delete "
                f"{self.best_dir} and train again"
            )
        with torch.no_grad():
            for name, tensor in saved.items():
                params[name].copy_(tensor.to(params[name].device))
        return True

    def summary(self, total_steps: int, last_step: int) -> dict[str, Any]:
        """What manifest.json records: settings, the best check and why training stopped."""
        if self.stopped:
            reason = (
                f"no improvement of more than {self.config.min_delta:g} (relative) in "
                f"{self.config.patience} checks"
            )
        elif last_step >= total_steps:
            reason = "step budget spent"
        else:
            reason = "interrupted"
        return {
            "enabled": True,
            "every_steps": self.every,
            "items": len(self.indices),
            "patience": self.config.patience,
            "min_delta": self.config.min_delta,
            "checks": self.state.checks,
            "best_step": self.state.best_step,
            "best_loss": self.state.best_loss,
            "stopped_step": self.state.stopped_step,
            "stop_reason": reason,
        }

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON for ``loop_state.json``."""
        return asdict(self.state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        self.state = EarlyStoppingState(**state)
        if self.state.bar_loss is None:  # a checkpoint written before the bar was kept apart
            self.state.bar_loss = self.state.best_loss

    def _keep(self, model: torch.nn.Module, step: int, loss: float) -> None:
        """Write the trainable weights and their step to ``best/``, atomically (main only)."""
        if not self.is_main:
            return
        tensors = {
            name: param.detach().to("cpu").contiguous().clone()
            for name, param in model.named_parameters()
            if param.requires_grad
        }

        def fill(folder: Path) -> None:
            save_file(tensors, str(folder / _WEIGHTS))
            info = {"step": step, "loss": loss}
            (folder / _INFO).write_text(json.dumps(info) + "\n")

        write_dir_atomic(self.best_dir, fill)


def early_stopping_off(config: EarlyStoppingConfig) -> dict[str, Any]:
    """manifest.json's record for a run without checks: switched off, or no held-out data."""
    reason = "no held-out data" if config.enabled else "off (train.early_stopping.enabled: false)"
    return {"enabled": config.enabled, "checks": 0, "stop_reason": reason}


def make_early_stopping(
    config: EarlyStoppingConfig,
    *,
    total_steps: int,
    eval_items: Sequence[Any],
    run_dir: Path,
    is_main: bool,
    log: Callable[[str], None],
    step_items: int = 1,
) -> EarlyStopping | None:
    """The run's `EarlyStopping`, or None when it is off or there is no held-out data.

    Says once in the log why it does nothing when it is on but has no held-out data.
    """
    if not config.enabled:
        return None
    if not eval_items:
        log(
            "Early stopping is on but the run has no held-out data (data.eval unset and "
            "data.eval_split 0): it trains for the whole schedule."
        )
        return None
    return EarlyStopping(
        config,
        total_steps=total_steps,
        eval_count=len(eval_items),
        run_dir=run_dir,
        is_main=is_main,
        step_items=step_items,
    )
