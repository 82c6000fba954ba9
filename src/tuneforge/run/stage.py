"""One training stage (``tuneforge train``), from a config to a run directory.

Sets up what the loop needs (data, split, tokens, model, adapter, method), runs the one loop,
and writes the run directory of DESIGN.md §3: config.yaml, manifest.json, metrics.jsonl,
checkpoints/, final/ and, for the automatic split, eval.jsonl.
"""

from __future__ import annotations

import contextlib
import platform
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

import tuneforge
from tuneforge.config import TuneforgeConfig, dump_config
from tuneforge.data.split import HELD_OUT_FILE, DataSource, load_splits, rows_to_jsonl
from tuneforge.data.tokenize import TokenizedDataset, TokenizeSettings, tokenize_examples
from tuneforge.data.types import Example
from tuneforge.device import Hardware, LoadSettings, device_record
from tuneforge.embedded import tuneforge_home
from tuneforge.engine.batches import epoch_batches, items_read
from tuneforge.engine.distributed import (
    full_state_dict,
    process_state,
    refuse_live_reference_when_sharded,
    run_on_main,
)
from tuneforge.engine.early_stop import early_stopping_off
from tuneforge.engine.logging import check_trackers
from tuneforge.engine.loop import LoopInputs, LoopResult, WindowResult, run_loop
from tuneforge.engine.precision import make_accelerator
from tuneforge.engine.reference import build_reference
from tuneforge.errors import DataError
from tuneforge.io import file_sha256, write_dir_atomic, write_json_atomic, write_text_atomic
from tuneforge.methods import build_method
from tuneforge.models import base_model, load_tokenizer
from tuneforge.run.lock import run_lock
from tuneforge.run.model_setup import load_settings, prepare_model
from tuneforge.run.resume import MANIFEST, StartPlan, plan_start
from tuneforge.safe_loading import LoadPolicy
from tuneforge.target import FINAL_DIR, RUN_CONFIG

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@dataclass
class TrainOutcome:
    """Where the run went and how it ended."""

    run_dir: Path
    result: LoopResult
    final_dir: Path | None
    #: False on every process but the main one of a distributed launch (which reports).
    main_process: bool = True


def load_train_eval(cfg: TuneforgeConfig) -> tuple[list[Example], list[Example]]:
    """Training and held-out records (`data.split.load_splits`, shared with evaluation)."""
    splits = load_splits(DataSource.of(cfg))
    return splits.train, splits.held_out


def tokenize_split(
    examples: list[Example], tokenizer: PreTrainedTokenizerBase, cfg: TuneforgeConfig, what: str
) -> TokenizedDataset:
    """Tokenise one split; a split left empty by the length limit is an error."""
    settings = TokenizeSettings(
        max_length=cfg.data.max_length,
        chat_template=cfg.data.chat_template,
        system_prompt=cfg.data.system_prompt,
    )
    dataset = tokenize_examples(examples, tokenizer, settings)
    if examples and not dataset.items:
        raise DataError(
            f"{what}: every example's prompt is longer than data.max_length "
            f"({cfg.data.max_length} tokens); raise it or shorten the prompts"
        )
    return dataset


def prepare_method_data(
    method: Any,
    train: tuple[list[Example], TokenizedDataset],
    held_out: tuple[list[Example], TokenizedDataset],
    *,
    quiet: bool = False,
) -> None:
    """The method's optional ``prepare_data`` hook (KTO: score weights, class balance).

    Runs before the reference pass; it may replace the items of both splits (in place here)
    and returns lines for the user, printed to stderr unless ``quiet`` (every process but the
    main one of a distributed launch).
    """
    prepare = getattr(method, "prepare_data", None)
    if prepare is None:
        return
    (train_examples, train_set), (eval_examples, eval_set) = train, held_out
    train_set.items, eval_set.items, notes = prepare(
        (train_examples, train_set.items), (eval_examples, eval_set.items)
    )
    for note in [] if quiet else notes:
        print(note, file=sys.stderr)


def save_final(
    run_dir: Path,
    model: Any,
    tokenizer: PreTrainedTokenizerBase,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """final/: the adapter (or full model), tokenizer and generation config, written atomically.

    ``state_dict`` is the full one gathered from a sharded model (FSDP, ZeRO-3); None saves
    the model's own.
    """
    target = run_dir / FINAL_DIR

    def fill(folder: Path) -> None:
        if state_dict is None:
            model.save_pretrained(folder)
        else:
            model.save_pretrained(folder, state_dict=state_dict)
        tokenizer.save_pretrained(folder)
        base = base_model(model)
        if getattr(base, "generation_config", None) is not None:
            base.generation_config.save_pretrained(folder)

    write_dir_atomic(target, fill)
    return target


def _versions() -> dict[str, str]:
    """Versions of everything that changes results."""
    import accelerate
    import peft
    import transformers

    return {
        "tuneforge": tuneforge.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "accelerate": accelerate.__version__,
    }


def write_manifest(run_dir: Path, cfg: TuneforgeConfig, extra: dict[str, Any]) -> None:
    """manifest.json: versions, data hashes, seed, command line, plus ``extra``."""
    manifest = {
        "versions": _versions(),
        "data": {
            "train": {"path": cfg.data.train, "sha256": file_sha256(cfg.data.train)},
            "eval": {"path": cfg.data.eval, "sha256": file_sha256(cfg.data.eval)},
        },
        "seed": cfg.train.seed,
        "command_line": sys.argv,
        **extra,
    }
    write_json_atomic(run_dir / MANIFEST, manifest)


@contextlib.contextmanager
def _run_folder(run_dir: Path) -> Iterator[None]:
    """Create ``run_dir`` and hold its lock; a folder this call made is removed if left empty.

    Only the main process of a distributed launch calls it (the others share its lock).
    """
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with run_lock(run_dir):
            yield
    finally:
        if created and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()


#: Temporary names of the atomic writes into a run folder (`tuneforge.io`): ``.NAME.<random>``.
_LEFTOVER = re.compile(
    r"^\.(final|best|config\.yaml|manifest\.json|metrics\.jsonl|eval\.jsonl)\..+"
)
_CHECKPOINT_LEFTOVER = re.compile(r"^\.step-\d+\..+")


def remove_leftovers(run_dir: Path) -> None:
    """Delete the half-written temporaries a killed run left (called under the run lock)."""
    found = [p for p in run_dir.iterdir() if _LEFTOVER.match(p.name)]
    checkpoints = run_dir / "checkpoints"
    if checkpoints.is_dir():
        found += [p for p in checkpoints.iterdir() if _CHECKPOINT_LEFTOVER.match(p.name)]
    for path in found:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def train(
    cfg: TuneforgeConfig,
    *,
    resume: bool = False,
    force_config: bool = False,
    model: PreTrainedModel | None = None,
    tokenizer: PreTrainedTokenizerBase | None = None,
    on_step: Callable[[int, WindowResult], None] | None = None,
    allow_pickle: bool = False,
) -> TrainOutcome:
    """Run one training stage; ``model``/``tokenizer`` override ``cfg.model`` (tests).

    ``cfg.model`` loads from safetensors only unless ``allow_pickle`` (`--allow-pickle`), and
    runs a model's own code only when the config sets ``trust_remote_code``.
    A folder holding an unfinished run with the same training config is continued (so is any
    run with ``resume``); ``force_config`` continues one whose config differs (`run.resume`).
    ``on_step(step, window)`` is called after every optimizer step (progress hooks, tests).
    """
    started = time.monotonic()
    # Before anything is read or written: a tracker that is not installed fails the start
    # (accelerate would drop it silently) and leaves no half-made run folder behind.
    check_trackers(list(cfg.train.report_to))
    cfg = cfg.resolved()
    run_dir = cfg.run_dir()
    method = build_method(cfg)
    hardware = Hardware.probe()
    settings = load_settings(cfg, hardware)
    train_examples, eval_examples = load_train_eval(cfg)
    policy = LoadPolicy.of(cfg, allow_pickle=allow_pickle)
    tokenizer = (
        tokenizer if tokenizer is not None else load_tokenizer(cfg.model.path, policy=policy)
    )
    train_set = tokenize_split(train_examples, tokenizer, cfg, cfg.data.train)
    eval_set = tokenize_split(eval_examples, tokenizer, cfg, "the held-out split")
    # Under a launcher (torchrun, accelerate launch) this joins the processes into one group;
    # only the main process takes the lock, writes files and prints.
    processes = process_state()
    prepare_method_data(
        method,
        (train_examples, train_set),
        (eval_examples, eval_set),
        quiet=not processes.is_main_process,
    )
    counts = {
        "train_examples": len(train_set.items),
        "eval_examples": len(eval_set.items),
        "dropped_too_long": len(train_set.dropped) + len(eval_set.dropped),
        "truncated": train_set.truncated + eval_set.truncated,
    }
    world = {
        "world_size": processes.num_processes,
        "global_batch_size": cfg.train.batch_size * cfg.train.grad_accum * processes.num_processes,
    }
    extra: dict[str, Any] = {"counts": counts, **world}
    with contextlib.ExitStack() as folder:

        def start() -> StartPlan:
            folder.enter_context(_run_folder(run_dir))
            plan = plan_start(
                run_dir,
                cfg,
                resume=resume,
                force_config=force_config,
                world_size=processes.num_processes,
            )
            if plan.message:
                print(plan.message)
            if plan.forced:
                print(f"--force-config: continuing with changed {'; '.join(plan.forced)}")
            remove_leftovers(run_dir)
            write_text_atomic(run_dir / RUN_CONFIG, dump_config(cfg))
            if cfg.data.eval is None:
                write_text_atomic(run_dir / HELD_OUT_FILE, rows_to_jsonl(eval_examples))
            # Written before the model loads: a start that fails from here on leaves an
            # unfinished run, which the same command continues.
            forced = {"forced_config": plan.forced} if plan.forced else {}
            write_manifest(run_dir, cfg, {**extra, **forced, "status": "running"})
            return plan

        plan = run_on_main(processes, start)
        if plan.forced:
            extra["forced_config"] = plan.forced
        stage = _Stage(cfg, run_dir, method, tokenizer, train_set, eval_set, extra, started)
        return stage.run(model, policy, (hardware, settings), resume=plan.resume, on_step=on_step)


@dataclass
class _Stage:
    """The part of a stage that runs under the run lock: model, reference, loop, final/."""

    cfg: TuneforgeConfig
    run_dir: Path
    method: Any
    tokenizer: PreTrainedTokenizerBase
    train_set: TokenizedDataset
    eval_set: TokenizedDataset
    extra: dict[str, Any]
    started: float

    def run(
        self,
        model: PreTrainedModel | None,
        policy: LoadPolicy,
        loading: tuple[Hardware, LoadSettings],
        *,
        resume: bool,
        on_step: Callable[[int, WindowResult], None] | None,
    ) -> TrainOutcome:
        """Train (continuing the folder's run with ``resume``) and write final/ and the manifest."""
        cfg, run_dir, method, tokenizer = self.cfg, self.run_dir, self.method, self.tokenizer
        train_set, eval_set = self.train_set, self.eval_set
        hardware, settings = loading
        accelerator = make_accelerator(cfg.train, run_dir)
        model = prepare_model(cfg, model, policy, settings, accelerator.device)
        device = device_record(
            str(accelerator.device), hardware, settings, accelerator.num_processes
        )
        main = accelerator.is_main_process
        refuse_live_reference_when_sharded(method, accelerator)
        reference = self._reference(model, accelerator)
        inputs = LoopInputs(
            model=model,
            method=method,
            train_items=train_set.items,
            eval_items=eval_set.items,
            train=cfg.train,
            lr=cfg.resolved_lr(),
            run_dir=run_dir,
            pad_token_id=tokenizer.pad_token_id,
            resume=resume,
            reference=reference.train,
            eval_reference=reference.eval,
            on_step=on_step,
            tracker_config={"method": cfg.method, "model": cfg.model.path, "lr": cfg.resolved_lr()},
        )
        extra = {**self.extra, "device": device, "reference": reference.info}
        if main:
            write_manifest(run_dir, cfg, {**extra, "status": "running"})
        result = run_loop(inputs, accelerator)
        final_dir = None
        if not result.interrupted:
            # Under FSDP/ZeRO-3 the full weights are gathered on every process (trl#4416: a
            # sharded model's own state dict would save an empty adapter).
            weights = full_state_dict(accelerator, result.prepared_model)
            final_dir = run_dir / FINAL_DIR
            if main:
                save_final(run_dir, accelerator.unwrap_model(model), tokenizer, weights)
        status = "interrupted" if result.interrupted else "finished"
        if main:
            write_manifest(
                run_dir,
                cfg,
                {
                    **extra,
                    "status": status,
                    "global_step": result.state.global_step,
                    "wall_time_s": round(time.monotonic() - self.started, 2),
                    "precision": accelerator.mixed_precision,
                    "early_stopping": result.early_stopping
                    or early_stopping_off(cfg.train.early_stopping),
                },
            )
        # No process returns (and, in a pipeline, reads final/) before the main one wrote it.
        accelerator.wait_for_everyone()
        return TrainOutcome(run_dir, result, final_dir, main_process=main)

    def _reference(self, model: Any, accelerator: Any) -> Any:
        """The method's reference values, from the model as it is before any update.

        Built before a resumed run loads its checkpoint, for the same reason.
        """
        cfg, train_set, eval_set = self.cfg, self.train_set, self.eval_set
        return build_reference(
            self.method,
            model,
            train_items=train_set.items,
            eval_items=eval_set.items,
            batch_size=cfg.train.batch_size,
            pad_token_id=self.tokenizer.pad_token_id,
            accelerator=accelerator,
            cache_dir=tuneforge_home() / "refcache",
            log=print if accelerator.is_main_process else None,
            train_visited=items_read(
                len(train_set.items),
                cfg.train.batch_size,
                cfg.train.grad_accum,
                seed=cfg.train.seed,
                epochs=cfg.train.epochs,
                max_steps=cfg.train.max_steps,
                num_processes=accelerator.num_processes,
            ),
            train_layout=epoch_batches(
                len(train_set.items), cfg.train.batch_size, seed=cfg.train.seed, epoch=0
            ),
        )
