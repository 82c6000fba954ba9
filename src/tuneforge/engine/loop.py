"""The one training loop. Every method plugs in through ``methods.base.TrainingMethod``.

The loop owns what no method should: loss reduction over the accumulation window,
accumulation, clipping, precision, the schedule, evaluation, logging and checkpoints.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from transformers import get_scheduler

from tuneforge.config import TrainConfig
from tuneforge.data.tokenize import Tokenized
from tuneforge.engine.batches import epoch_batches, total_steps
from tuneforge.engine.checkpoint import (
    TrainerState,
    checkpoint_dir,
    latest_checkpoint,
    load_checkpoint,
    load_loop_state,
    rng_state,
    save_checkpoint,
)
from tuneforge.engine.distributed import (
    agree_to_stop,
    all_gather,
    configure_deepspeed,
    full_state_dict,
    refuse_sharded_resume,
    run_on_main,
)
from tuneforge.engine.early_stop import make_early_stopping
from tuneforge.engine.heldout_loss import evaluate_loss, finish_metrics
from tuneforge.engine.logging import METRICS_FILE, RunLogger, truncate_metrics
from tuneforge.engine.stop import StopRequest
from tuneforge.engine.watchdog import Watchdog
from tuneforge.engine.window import WindowResult, accumulate_window
from tuneforge.errors import TuneforgeError
from tuneforge.methods.base import Batch, ReferenceLogps, TrainingMethod
from tuneforge.models import unwrap

SCHEDULERS = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}


class TrainingDiverged(TuneforgeError):
    """The loss became NaN or infinite; the run stopped without applying that update."""


@dataclass
class LoopResult:
    """What a finished (or interrupted) run leaves behind."""

    state: TrainerState
    losses: list[float]
    interrupted: bool = False
    #: The signal that stopped an interrupted run (SIGINT, SIGTERM), for the exit code.
    stop_signal: int | None = None
    #: What early stopping did, for manifest.json (None: off or no held-out data).
    early_stopping: dict[str, Any] | None = None
    #: The model as the Accelerator prepared it (DDP/FSDP/DeepSpeed wrapper), for collectives
    #: such as gathering the full weights of a sharded model for final/.
    prepared_model: Any = None


@dataclass
class LoopInputs:
    """Everything the loop needs; the model already carries its adapter (if any)."""

    model: torch.nn.Module
    method: TrainingMethod
    train_items: Sequence[Tokenized]
    eval_items: Sequence[Tokenized]
    train: TrainConfig
    lr: float
    run_dir: Path
    pad_token_id: int
    resume: bool = False
    #: Reference values for the training items (looked up by a batch's ``index``), and for the
    #: held-out items; ``eval_reference`` None means ``reference`` serves both (on the fly).
    reference: ReferenceLogps | None = None
    eval_reference: ReferenceLogps | None = None
    tracker_config: dict[str, Any] = field(default_factory=dict)
    on_step: Callable[[int, WindowResult], None] | None = None


def run_loop(inputs: LoopInputs, accelerator: Accelerator) -> LoopResult:
    """Train until the step budget is spent; SIGINT/SIGTERM save a checkpoint and return.

    With ``inputs.resume`` the run continues from its latest checkpoint (from step 0 when it
    has none yet). A second signal raises `StoppedWithoutSaving` at once.
    """
    cfg = inputs.train
    model = inputs.model
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=inputs.lr, weight_decay=cfg.weight_decay)
    configure_deepspeed(accelerator, cfg.batch_size, cfg.grad_accum, cfg.max_grad_norm)
    model, optimizer = accelerator.prepare(model, optimizer)
    num_batches = len(
        epoch_batches(
            len(inputs.train_items),
            cfg.batch_size,
            seed=cfg.seed,
            epoch=0,
            process_index=accelerator.process_index,
            num_processes=accelerator.num_processes,
        )
    )
    steps = total_steps(num_batches, cfg.grad_accum, cfg.epochs, cfg.max_steps)
    scheduler = get_scheduler(
        SCHEDULERS[cfg.scheduler],
        optimizer=optimizer,
        num_warmup_steps=math.ceil(cfg.warmup_ratio * steps),
        num_training_steps=steps,
    )
    state, loop_state = TrainerState(), {}
    if inputs.resume:
        state, loop_state = _restore(inputs, accelerator, model, optimizer, scheduler)
    if cfg.report_to:
        accelerator.init_trackers("tuneforge", config=inputs.tracker_config)
    # Only the main process writes metrics.jsonl and shows progress; the values it logs are
    # already summed over every process.
    logger = RunLogger(
        inputs.run_dir,
        total_steps=steps,
        start_step=state.global_step,
        tracker_log=accelerator.log if cfg.report_to else None,
        enabled=accelerator.is_main_process,
    )
    runner = _Runner(inputs, accelerator, model, optimizer, scheduler, logger, steps)
    runner.load_state(loop_state)
    try:
        result = runner.run(state)
        result.prepared_model = model
        return result
    finally:
        logger.close()
        if cfg.report_to:
            accelerator.end_training()


def _restore(
    inputs: LoopInputs, accelerator: Accelerator, model: Any, optimizer: Any, scheduler: Any
) -> tuple[TrainerState, dict[str, Any]]:
    """Load the latest checkpoint and forget the metrics logged after it.

    A run killed before its first checkpoint starts again from step 0 (its metrics are
    dropped), which is exactly what an uninterrupted run would have done. Every process loads
    the same checkpoint (the main process picks it) with its own RNG state; only the main
    process rewrites metrics.jsonl.
    """
    folder = run_on_main(accelerator.state, lambda: latest_checkpoint(inputs.run_dir))
    refuse_sharded_resume(accelerator, folder)
    main = accelerator.is_main_process
    metrics = inputs.run_dir / METRICS_FILE
    if folder is None:
        if main:
            truncate_metrics(metrics, 0)
        return TrainerState(), {}
    state = load_checkpoint(
        folder, unwrap(model), optimizer, scheduler, process_index=accelerator.process_index
    )
    if main:
        truncate_metrics(metrics, state.global_step)
    accelerator.wait_for_everyone()
    return state, load_loop_state(folder)


class _Runner:
    """The step-by-step body of ``run_loop``, split out to keep each piece short."""

    def __init__(
        self,
        inputs: LoopInputs,
        accelerator: Accelerator,
        model: Any,
        optimizer: Any,
        scheduler: Any,
        logger: RunLogger,
        steps: int,
    ) -> None:
        self.inputs, self.accelerator, self.model = inputs, accelerator, model
        self.optimizer, self.scheduler, self.logger, self.steps = (
            optimizer,
            scheduler,
            logger,
            steps,
        )
        self.cfg = inputs.train
        self.pending: list[WindowResult] = []
        self.losses: list[float] = []
        self.train_seconds = 0.0
        self.last_save = time.monotonic()
        # Warns once when a run learns nothing; ``stuck_loss`` is optional (methods/base.py).
        self.watchdog = Watchdog(
            logger.message, stuck_loss=getattr(inputs.method, "stuck_loss", None)
        )
        self.early = make_early_stopping(
            self.cfg.early_stopping,
            total_steps=steps,
            eval_items=inputs.eval_items,
            run_dir=inputs.run_dir,
            is_main=accelerator.is_main_process,
            log=logger.message,
            step_items=self.cfg.batch_size * self.cfg.grad_accum,
        )

    def load_state(self, loop_state: dict[str, Any]) -> None:
        """Restore what `_loop_state` saved: the pending log window and the method's state."""
        self.pending = [WindowResult(**window) for window in loop_state.get("pending", [])]
        self.train_seconds = float(loop_state.get("train_seconds", 0.0))
        load = getattr(self.inputs.method, "load_state_dict", None)
        if load is not None and "method" in loop_state:
            load(loop_state["method"])
        if self.early is not None and "early_stopping" in loop_state:
            self.early.load_state_dict(loop_state["early_stopping"])

    def _loop_state(self) -> dict[str, Any]:
        """What a resumed run needs besides the weights, optimizer, schedule and RNG."""
        state: dict[str, Any] = {
            "pending": [asdict(window) for window in self.pending],
            "train_seconds": self.train_seconds,
        }
        method_state = getattr(self.inputs.method, "state_dict", None)
        if method_state is not None:
            state["method"] = method_state()
        if self.early is not None:
            state["early_stopping"] = self.early.state_dict()
        return state

    def run(self, state: TrainerState) -> LoopResult:
        """Step until done; on SIGINT/SIGTERM checkpoint the last completed step and return."""
        self.model.train()
        stop = StopRequest()
        with stop.installed():
            while (
                state.global_step < self.steps
                and not self._stopped()
                and not agree_to_stop(self.accelerator, stop.requested)
            ):
                self._step(state)
            if state.global_step >= self.steps or self._stopped():
                return self._finish(state)
            path = self._save(state)
        # A process the launcher had not signalled yet stops with its partners, as by SIGTERM.
        signum = stop.signum if stop.signum is not None else signal.SIGTERM
        name = signal.Signals(signum).name
        self.logger.message(
            f"Interrupted by {name}: saved {path.relative_to(self.inputs.run_dir)} at step "
            f"{state.global_step}/{self.steps}; run the same command again to continue "
            "from it (or add --resume)."
        )
        summary = self.early.summary(self.steps, state.global_step) if self.early else None
        return LoopResult(
            state, self.losses, interrupted=True, stop_signal=signum, early_stopping=summary
        )

    def _stopped(self) -> bool:
        return self.early is not None and self.early.stopped

    def _finish(self, state: TrainerState) -> LoopResult:
        """A completed run: the best check's weights back into the model (early stopping)."""
        if self.early is None:
            return LoopResult(state, self.losses)
        self.accelerator.wait_for_everyone()  # best/ is written by the main process
        summary = self.early.summary(self.steps, state.global_step)
        summary["restored_best"] = self.early.restore_best(
            self.accelerator.unwrap_model(self.model)
        )
        if self.early.stopped:
            self.logger.message(
                f"Early stopping at step {state.global_step}/{self.steps}: the held-out loss "
                f"has not improved for {self.early.config.patience} checks; keeping the "
                f"weights of step {summary['best_step']} (loss {summary['best_loss']:.4g})."
            )
        return LoopResult(state, self.losses, early_stopping=summary)

    def _batches(self, epoch: int, process_index: int | None = None) -> list[list[int]]:
        """This process's micro-batches of ``epoch`` (or those of ``process_index``)."""
        return epoch_batches(
            len(self.inputs.train_items),
            self.cfg.batch_size,
            seed=self.cfg.seed,
            epoch=epoch,
            process_index=(
                self.accelerator.process_index if process_index is None else process_index
            ),
            num_processes=self.accelerator.num_processes,
        )

    def _window(self, state: TrainerState) -> tuple[list[Batch], int, int]:
        """This process's micro-batches of the next window, its stand-ins, and its length.

        A process whose share of the epoch ran out (an empty entry of `epoch_batches`) runs
        process 0's micro-batch at the same position as a zero-weight stand-in: those items
        are read by the run anyway, so a precomputed reference holds their values.
        """
        batches = self._batches(state.epoch)
        span = slice(state.batch_in_epoch, state.batch_in_epoch + self.cfg.grad_accum)
        window = batches[span]
        if any(not idx for idx in window):
            first = self._batches(state.epoch, process_index=0)[span]
            window = [idx or fallback for idx, fallback in zip(window, first, strict=True)]
        stand_ins = sum(1 for idx in batches[span] if not idx)
        items = self.inputs.train_items
        micro = []
        for idx in window:
            batch = self.inputs.method.collate([items[i] for i in idx], self.inputs.pad_token_id)
            batch["index"] = torch.tensor(idx, dtype=torch.long)  # for precomputed references
            micro.append(batch)
        return micro, stand_ins, len(batches)

    def _step(self, state: TrainerState) -> None:
        micro, stand_ins, epoch_length = self._window(state)
        started = time.monotonic()
        self.optimizer.zero_grad(set_to_none=True)
        result = accumulate_window(
            self.model,
            self.inputs.method,
            micro,
            self.accelerator,
            self.inputs.reference,
            stand_ins=stand_ins,
        )
        step = state.global_step + 1
        if not math.isfinite(result.loss):
            raise TrainingDiverged(self._diverged_message(step, result.loss))
        grad_norm = self._clip()
        self.optimizer.step()
        self.scheduler.step()
        self.train_seconds += time.monotonic() - started
        state.global_step = step
        state.batch_in_epoch += len(micro)
        state.tokens_seen += result.tokens
        epoch_done = state.batch_in_epoch >= epoch_length
        if epoch_done:
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
        self.losses.append(result.loss)
        self.pending.append(result)
        self._after_step(state, grad_norm, epoch_done)
        if self.inputs.on_step is not None:
            self.inputs.on_step(step, result)

    def _clip(self) -> float:
        params = [p for p in self.model.parameters() if p.requires_grad]
        limit = self.cfg.max_grad_norm if self.cfg.max_grad_norm > 0 else float("inf")
        norm = self.accelerator.clip_grad_norm_(params, limit)
        # DeepSpeed clips inside its engine and may not report a norm (accelerate gives None).
        return float(norm) if norm is not None else float("nan")

    def _after_step(self, state: TrainerState, grad_norm: float, epoch_done: bool) -> None:
        step, last = state.global_step, state.global_step >= self.steps
        if self.early is not None and (self.early.due(step) or last):
            last = self._check(state) or last
        if step % self.cfg.logging_steps == 0 or last:
            self._log(state, grad_norm)
        due = self.cfg.eval_steps and step % self.cfg.eval_steps == 0
        if self.inputs.eval_items and (due or (epoch_done and not self.cfg.eval_steps) or last):
            record = {"step": step, "epoch": round(self._epoch(state), 4)}
            record.update(self._evaluate())
            self.logger.log(record)
        if last or self._save_due(step, epoch_done):
            self._save(state)

    def _save_due(self, step: int, epoch_done: bool) -> bool:
        """Checkpoint now? Every ``save_steps``, at epoch ends, after ``save_minutes``."""
        cfg = self.cfg
        if cfg.save_steps and step % cfg.save_steps == 0:
            return True
        if cfg.save_every_epoch and epoch_done:
            return True
        minutes = cfg.save_minutes or 0
        return minutes > 0 and time.monotonic() - self.last_save >= minutes * 60

    def _check(self, state: TrainerState) -> bool:
        """One early-stopping check (its loss goes to metrics.jsonl); True: stop now."""
        assert self.early is not None
        loss = self._evaluate(indices=self.early.indices)["eval_loss"]
        record = {"step": state.global_step, "epoch": round(self._epoch(state), 4)}
        self.logger.log({**record, "early_stopping_loss": loss})
        model = self.accelerator.unwrap_model(self.model)
        return self.early.observe(state.global_step, loss, model)

    def _evaluate(self, indices: Sequence[int] | None = None) -> dict[str, float]:
        return evaluate_loss(
            self.model,
            self.inputs.method,
            self.inputs.eval_items,
            batch_size=self.cfg.batch_size,
            pad_token_id=self.inputs.pad_token_id,
            accelerator=self.accelerator,
            reference=(
                self.inputs.eval_reference
                if self.inputs.eval_reference is not None
                else self.inputs.reference
            ),
            indices=indices,
        )

    def _epoch(self, state: TrainerState) -> float:
        return state.epoch + state.batch_in_epoch / max(1, len(self._batches(state.epoch)))

    def _log(self, state: TrainerState, grad_norm: float) -> None:
        units = sum(r.units for r in self.pending)
        elapsed = max(self.train_seconds, 1e-9)
        # Tokens are summed over all processes (`accumulate_window`): the launch's throughput.
        tokens_per_s = sum(r.tokens for r in self.pending) / elapsed
        record: dict[str, Any] = {
            "step": state.global_step,
            "epoch": round(self._epoch(state), 4),
            "loss": sum(r.loss * r.units for r in self.pending) / max(units, 1),
            "lr": self.scheduler.get_last_lr()[0],
            "grad_norm": grad_norm,
            "tokens_per_s": round(tokens_per_s, 1),
        }
        names = {name for r in self.pending for name in r.metric_sums}
        for name in sorted(names):
            record[name] = sum(r.metric_sums.get(name, 0.0) for r in self.pending) / max(units, 1)
        record = finish_metrics(self.inputs.method, record)
        self.logger.log(record)
        self.watchdog.observe(record)
        self.logger.advance(state.global_step, record["loss"], tokens_per_s)
        self.pending = []
        self.train_seconds = 0.0

    def _save(self, state: TrainerState) -> Path:
        """Checkpoint on the main process; every process's RNG state goes into it.

        Under FSDP/ZeRO-3 the full weights are gathered first (a collective on every
        process). The others wait until the checkpoint is complete, so no process runs ahead
        of a checkpoint that a resume would start from.
        """
        accelerator = self.accelerator
        multi = accelerator.num_processes > 1
        rng_states = all_gather(accelerator.state, rng_state()) if multi else None
        weights = full_state_dict(accelerator, self.model)
        path = checkpoint_dir(self.inputs.run_dir, state.global_step)
        if accelerator.is_main_process:
            # metrics.jsonl reaches the disk first: the checkpoint vouches for its records.
            self.logger.sync()
            path = save_checkpoint(
                self.inputs.run_dir,
                state,
                accelerator.unwrap_model(self.model),
                self.optimizer,
                self.scheduler,
                keep=self.cfg.save_total_limit,
                loop_state=self._loop_state(),
                rng_states=rng_states,
                model_state=weights,
            )
        accelerator.wait_for_everyone()
        self.last_save = time.monotonic()
        return path

    def _diverged_message(self, step: int, loss: float) -> str:
        last = latest_checkpoint(self.inputs.run_dir)
        kept = (
            f"the last good checkpoint is {last.relative_to(self.inputs.run_dir)}"
            if last
            else "no checkpoint was saved before it"
        )
        return (
            f"training stopped: the loss became {loss} at step {step}; {kept}. "
            "Lower train.lr or check the data for broken examples, then continue from "
            "the checkpoint with --resume --force-config (the changed settings alter the "
            "run), or start over with another output=..."
        )
