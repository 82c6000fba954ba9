"""The children's training code, shared by the ``*_vs_trl.py`` benchmarks: both sides.

Each benchmark child runs one product: tuneforge's ``train()`` or one of TRL's trainers. The
parts that do not depend on the method live here so that every benchmark measures both sides
the same way: the same tuneforge configuration skeleton, the same TRL arguments (CPU, no
checkpointing, sequential sampling, quiet), the same LoRA adapter, the same step clock, and
the same result fields. The heavy libraries (torch, transformers, trl, peft) are imported
inside the functions, so importing this module costs nothing in the parent process.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import FIRST_TIMED_STEP, BenchSettings, StepClock, set_threads


@contextlib.contextmanager
def progress_to_stderr() -> Iterator[None]:
    """Send the trainers' progress lines to stderr while keeping them (they cost time, and
    both sides should pay for their own); stdout carries only the child protocol."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


@dataclass(frozen=True)
class SideStart:
    """When a child's side began (a ``perf_counter`` value) and the torch threads it uses."""

    started: float
    threads: int


def begin_side(settings: BenchSettings) -> SideStart:
    """Start a side: note the time, then pin the threads before any training library loads.

    The time is taken first so that ``wall_s`` covers importing the libraries too.
    """
    started = time.perf_counter()
    return SideStart(started, set_threads(settings.threads))


def side_result(
    side: str,
    losses: list[float],
    settings: BenchSettings,
    clock: StepClock,
    start: SideStart,
    *,
    wall: bool = True,
    **fields: Any,
) -> dict[str, Any]:
    """A child's JSON payload: its side, losses, ``fields``, threads, wall time since
    ``start`` and the clock's summary over the timed steps. Benchmarks that measure set-up
    and training separately pass ``wall=False`` (the parent times the whole child anyway)."""
    result: dict[str, Any] = {"side": side, "losses": losses, **fields, "threads": start.threads}
    if wall:
        result["wall_s"] = round(time.perf_counter() - start.started, 1)
    return {**result, **clock.summary(FIRST_TIMED_STEP, settings.steps)}


def ours_result(run: TunedRun, start: SideStart, settings: BenchSettings, **fields: Any) -> Any:
    """`side_result` for tuneforge's side, from what `train_tuneforge` left; ``device`` is
    where the trained model's weights ended up."""
    device = model_device(run.model)
    losses = run.outcome.result.losses
    return side_result("ours", losses, settings, run.clock, start, device=device, **fields)


def model_device(model: Any) -> str:
    """``cpu``/``cuda``: the device type of ``model``'s first parameter."""
    return str(next(model.parameters()).device.type)


def trl_result(
    state: dict[str, Any],
    clock: StepClock,
    start: SideStart,
    settings: BenchSettings,
    **fields: Any,
) -> Any:
    """`side_result` for TRL's side: the losses its trainer subclass kept in ``state``
    (``fields`` should carry ``device=model_device(trainer.model)``)."""
    return side_result("trl", state["losses"], settings, clock, start, **fields)


# ------------------------------------------------------------------------------------------
# Parent: the inputs both sides read
# ------------------------------------------------------------------------------------------


def ordered_examples(
    settings: BenchSettings, method: str, workdir: Path, noun: str
) -> list[tuple[Any, Any]]:
    """The first (N+1)·batch records of ``settings.data``, tokenised, in tuneforge's order.

    Writes those records unchanged to ``workdir/ours.jsonl`` (tuneforge's training file),
    then returns ``(example, tokenised item)`` in the order tuneforge's loop will read them
    (``engine.batches.epoch_batches``, epoch 0): TRL reads sequentially, so writing its rows
    in this order gives step k of both sides the same batch. ``noun`` names the records in
    the error raised when the data is too short for ``--steps``.
    """
    from tuneforge.data.load import load_examples
    from tuneforge.data.tokenize import TokenizeSettings, tokenize_example
    from tuneforge.engine.batches import epoch_batches
    from tuneforge.methods import method_spec
    from tuneforge.models import load_tokenizer

    tokenizer = load_tokenizer("embedded")
    lines = Path(settings.data).read_text(encoding="utf-8").splitlines()
    examples = load_examples(settings.data, method_spec(method).record_kind)
    needed = settings.total_steps * settings.batch_size
    if needed > len(examples):
        raise SystemExit(f"--steps {settings.steps} needs {needed} {noun}; the data has fewer")
    tokenize = TokenizeSettings(max_length=settings.max_length)
    chosen = [
        (lines[ex.origin.line - 1], ex, tokenize_example(ex, tokenizer, tokenize))
        for ex in examples[:needed]
    ]
    (workdir / "ours.jsonl").write_text("".join(line + "\n" for line, _, _ in chosen))
    batches = epoch_batches(needed, settings.batch_size, seed=settings.seed, epoch=0)
    return [chosen[index][1:] for batch in batches for index in batch]


def write_trl_inputs(workdir: Path, records: Iterable[tuple[Any, dict[str, Any]]]) -> None:
    """Write ``(tuneforge's ids, TRL's row)`` records to ``ids.jsonl`` and ``trl.jsonl``.

    TRL's side reads ``trl.jsonl`` as its dataset and checks its own tokenisation against
    ``ids.jsonl`` (or is fed those ids), row by row.
    """
    with (
        open(workdir / "trl.jsonl", "w", encoding="utf-8") as trl_file,
        open(workdir / "ids.jsonl", "w", encoding="utf-8") as ids_file,
    ):
        for ids, row in records:
            ids_file.write(json.dumps(ids) + "\n")
            trl_file.write(json.dumps(row, ensure_ascii=False) + "\n")


# ------------------------------------------------------------------------------------------
# tuneforge's side
# ------------------------------------------------------------------------------------------


def tuneforge_config(
    settings: BenchSettings,
    *,
    method: str,
    run_dir: Path,
    train_file: Path | str,
    section: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
    lora: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
) -> Any:
    """The parsed tuneforge config of one benchmark run.

    The skeleton is what every benchmark matches on the TRL side (no held-out split, LoRA on
    the settings, a linear schedule without warm-up, a log line every step); ``section`` is
    the method's own section and ``data``/``lora``/``train`` add keys to those sections.
    """
    from tuneforge.config import parse_config

    raw: dict[str, Any] = {
        "method": method,
        "model": "embedded",
        "output": str(run_dir),
        "data": {
            "train": str(train_file),
            "eval_split": 0,  # no held-out evaluation inside the timed window
            "max_length": settings.max_length,
            **(data or {}),
        },
        "lora": {
            "r": settings.lora_r,
            "alpha": settings.lora_alpha,
            "dropout": settings.lora_dropout,
            **(lora or {}),
        },
        "train": {
            "lr": settings.lr,
            "max_steps": settings.total_steps,
            "batch_size": settings.batch_size,
            "scheduler": "linear",
            "warmup_ratio": 0.0,
            "max_grad_norm": settings.max_grad_norm,
            "precision": settings.precision,
            "seed": settings.seed,
            "logging_steps": 1,
            "save_total_limit": 1,
            **(train or {}),
        },
    }
    if section is not None:
        raw[method] = section
    return parse_config(raw)


def time_reference_pass() -> dict[str, float]:
    """Time tuneforge's reference pass (``train.build_reference``) from now on.

    The pass runs before step 1, outside the timed window, so it is reported on its own:
    the returned dict's ``ref_s`` is filled in when the pass ends (0.0 if it never runs).
    """
    import tuneforge.run.stage as train_module

    timing = {"ref_s": 0.0}
    original = train_module.build_reference

    def timed_reference(*args: Any, **kwargs: Any) -> Any:
        begun = time.perf_counter()
        result = original(*args, **kwargs)
        timing["ref_s"] = round(time.perf_counter() - begun, 2)
        return result

    train_module.build_reference = timed_reference  # type: ignore[assignment]
    return timing


@dataclass
class TunedRun:
    """What `train_tuneforge` leaves: the outcome, the model it trained, the step clock."""

    outcome: Any
    model: Any
    clock: StepClock
    n_params: int  # of the base model, before the adapter is added
    load_s: float  # loading the model (set-up, not training)
    train_s: float


def train_tuneforge(cfg: Any) -> TunedRun:
    """Train ``cfg`` on the embedded model with a step clock hooked to every step end."""
    from tuneforge.models import load_model
    from tuneforge.run.stage import train

    loading = time.perf_counter()
    model = load_model("embedded")
    n_params = sum(p.numel() for p in model.parameters())
    clock = StepClock()

    def on_step(step: int, window: Any) -> None:
        clock.tick(step, window.tokens)

    started = time.perf_counter()
    with progress_to_stderr():
        outcome = train(cfg, model=model, on_step=on_step)
    train_s = time.perf_counter() - started
    return TunedRun(outcome, model, clock, n_params, started - loading, train_s)


# ------------------------------------------------------------------------------------------
# TRL's side
# ------------------------------------------------------------------------------------------


def embedded_folder_and_tokenizer() -> tuple[str, Any]:
    """The cached embedded model folder (TRL loads the model from it) and its tokenizer."""
    from transformers import AutoTokenizer

    from tuneforge.embedded import ensure_embedded

    folder = str(ensure_embedded())
    return folder, AutoTokenizer.from_pretrained(folder)


def clock_callback(clock: StepClock, state: dict[str, Any]) -> Any:
    """A ``TrainerCallback`` ticking ``clock`` at every step end with ``state["tokens"]``.

    The trainer subclass adds each micro-batch's tokens to ``state["tokens"]`` in
    ``training_step``; the count is reset here so that each tick carries one step's tokens.
    """
    from transformers import TrainerCallback

    class Clock(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, trainer_state: Any, control: Any, **kw: Any) -> None:
            clock.tick(trainer_state.global_step, state["tokens"])
            state["tokens"] = 0

    return Clock()


def trl_args(config_class: Any, settings: BenchSettings, run_dir: Path, **extra: Any) -> Any:
    """``config_class`` (a TRL config) holding the settings tuneforge's config also holds.

    Matched to `tuneforge_config`: no warm-up, no weight decay, fp32 weights, the data read
    in order (the parent wrote it in tuneforge's batch order), no checkpoints; ``extra``
    adds or replaces arguments.
    """
    arguments: dict[str, Any] = {
        "output_dir": str(run_dir),
        "max_steps": settings.total_steps,
        "per_device_train_batch_size": settings.batch_size,
        "learning_rate": settings.lr,
        "lr_scheduler_type": "linear",
        "warmup_steps": 0,
        "weight_decay": 0.0,
        "max_grad_norm": settings.max_grad_norm,
        "seed": settings.seed,
        "bf16": settings.precision == "bf16",
        "use_cpu": settings.device == "cpu",
        "gradient_checkpointing": False,
        "model_init_kwargs": {"dtype": "float32"},
        "max_length": settings.max_length,
        "train_sampling_strategy": "sequential",
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
    }
    return config_class(**{**arguments, **extra})


def build_trl_trainer(
    trainer_class: Any,
    settings: BenchSettings,
    args: Any,
    rows: list[dict[str, Any]],
    callbacks: list[Any],
) -> tuple[Any, float]:
    """``trainer_class`` on the embedded folder with tuneforge's LoRA adapter, and the
    seconds its construction took (dataset tokenising and, when on, TRL's reference pass)."""
    from datasets import Dataset
    from peft import LoraConfig

    folder, tokenizer = embedded_folder_and_tokenizer()
    if tokenizer.pad_token_id is None:  # as tuneforge does (the embedded one has pad = eos)
        tokenizer.pad_token = tokenizer.eos_token
    peft_config = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    started = time.perf_counter()
    with progress_to_stderr():
        trainer = trainer_class(
            model=folder,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=callbacks,
        )
    return trainer, time.perf_counter() - started


def trl_head(device: str, *, full_logits: bool = False) -> str:
    """Where TRL 1.16's output head runs (a ``_flops.Layout.head``), read from its code.

    Its chunked head (``add_fused_lm_head``) compacts to the learned positions only when
    ``trl.kernels.chunked_logprob._use_triton`` holds for the device (Triton on CUDA/XPU);
    otherwise it scores every position of the padded grid. ``full_logits``: a trainer that
    builds the whole logits tensor instead (ORPO).
    """
    if full_logits:
        return "full"
    import torch
    from trl.kernels.chunked_logprob import _use_triton

    return "learned" if _use_triton(torch.device(device)) else "padded"


def embedded_config() -> dict[str, Any]:
    """The embedded model's ``config.json`` (vocabulary, widths), read without loading it."""
    from tuneforge.embedded import ensure_embedded

    return json.loads((Path(ensure_embedded()) / "config.json").read_text(encoding="utf-8"))


def base_model_params(model: Any) -> int:
    """Parameters of the model under a peft wrapper, the adapter's own left out."""
    from tuneforge.models import base_model

    base = base_model(model)
    return sum(p.numel() for n, p in base.named_parameters() if "lora_" not in n)


def optimizer_name(trainer: Any) -> str:
    """The optimizer a transformers ``Trainer`` was configured with (e.g. ``adamw_torch``)."""
    return getattr(trainer.args.optim, "value", str(trainer.args.optim))


def timed_train(trainer: Any) -> float:
    """Run ``trainer.train()`` with its progress on stderr; the seconds it took."""
    started = time.perf_counter()
    with progress_to_stderr():
        trainer.train()
    return time.perf_counter() - started
