"""SFT speed, memory and loss: tuneforge against TRL's SFTTrainer on identical inputs.

Run: ``python bench/sft_vs_trl.py [--steps 30] [--precision fp32|bf16] [--rounds 1]
[--device cpu|cuda|auto]``
(``--trl-data ids``, ``--threads N``, ``--raw-out FILE`` for every child's full result).

Both trainers fine-tune the embedded model (SmolLM2-135M-Instruct, fp32 weights) with the
same LoRA adapter (r=16, alpha=32, dropout 0, all linear layers), on the same
support-triage examples, with the same hyperparameters (AdamW, lr 2e-4, linear schedule
without warm-up, batch 4, no accumulation, clipping at 1.0, max_length 512, no packing,
no gradient checkpointing), each in its own process, one after the other.

Identical inputs, checked rather than assumed:

* tuneforge shuffles with its own generator (``engine.batches.epoch_batches``). The parent
  computes that order and writes TRL's dataset in it; TRL reads it sequentially
  (``train_sampling_strategy="sequential"``, ``shuffle_dataset=False``), so step k of both
  sides is the same micro-batch.
* TRL gets the records in its conversational prompt-completion format (system + user turn,
  assistant turn) and tokenises them itself. Its tokenised dataset is compared, row by row,
  with tuneforge's ids and labels, and the first collated batch (ids, attention mask,
  labels) of each side is captured from inside the trainers and compared exactly.
  ``--trl-data ids`` feeds TRL tuneforge's ids instead (a pre-tokenised dataset with
  ``input_ids`` and ``labels``), should the tokenisations ever differ.
* At step 1 the LoRA B matrices are zero, so the first loss is the base model's loss on
  that batch: it must agree to float rounding. (Both sides seed torch with the same seed
  right before peft creates the adapter, so later losses agree closely too.)

Measured the same way on both sides: tokens/s counts non-padding tokens (attention mask)
of steps 3..N, over the wall time from the end of step 2 to the end of step N, taken in
each trainer's step-end hook (tuneforge ``on_step``, a TRL ``TrainerCallback``). Both run
N + 1 steps; the extra, untimed last step absorbs end-of-run work (tuneforge saves its
checkpoint in the last step). On a shared machine other processes only ever slow a step
down, so with ``--rounds R`` each side runs R times (alternating which goes first) and each
step counts with its fastest time; tokens per CPU-second (process CPU time over the same
steps) is printed as a second, load-tolerant view.
Both sides run on the same device (``--device``; on the CPU, CUDA is hidden from both
children). Peak memory is each child's own: RSS read by the parent with ``wait4`` on the
CPU, CUDA memory allocated on a GPU. MFU counts the FLOPs a step requires (``_flops.py``: the
body at every real token, the head at learned positions only, forward and activation
backward) over the matmul peak measured here first; "executed" counts what each side
multiplies (both pad rows here; TRL's chunked head runs at every padded position off Triton).

The last line printed is one JSON object::

    {"method": "sft", "speedup": ours/trl tokens per s, "memory_ratio": ours/trl peak memory,
     "loss_diff_step1": |ours - trl|, "device": "cpu"|"cuda",
     "mfu": {"ours", "trl"}, "executed_utilisation": {"ours", "trl"}, "rounds": R}

Target: speedup >= 1.3 with loss_diff_step1 <= 1e-3. Numbers from a busy machine are noisy:
the load average is printed before and after.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _cli as cli  # noqa: E402
import _common as common  # noqa: E402
import _training as training  # noqa: E402
from _flops import Layout, ModelShape, sft_passes, trl_layout  # noqa: E402
from _report import (  # noqa: E402
    best_of_rounds_side,
    headline,
    measured_peak,
    peak_phrase,
    side_flops,
)
from _sft_report import IGNORE_INDEX, report  # noqa: E402

DEFAULT_DATA = common.REPO_ROOT / "examples" / "support-triage" / "train.jsonl"
SYSTEM_PROMPT = "Classify this support message."
LOSSES_SHOWN = 3


@dataclass(frozen=True)
class Settings(common.BenchSettings):
    """Everything both sides must agree on; passed to the children as JSON."""

    max_length: int = 512
    lr: float = 2e-4
    system_prompt: str = SYSTEM_PROMPT
    trl_data: str = "chat"  # "ids" gives TRL tuneforge's token ids instead of chat rows


# ------------------------------------------------------------------------------------------
# Parent: the shared data order and the TRL dataset
# ------------------------------------------------------------------------------------------


def prepare_data(settings: Settings, workdir: Path) -> dict[str, Any]:
    """Write TRL's dataset in tuneforge's batch order, plus tuneforge's ids for checking.

    Files: ``trl_train.jsonl`` (conversational prompt-completion rows, or ``input_ids`` +
    ``labels`` rows with ``settings.trl_data == "ids"``) and ``ours_ids.jsonl`` (tuneforge's
    ids and labels, in the same order). Returns counts and the tokenizer for printing.
    """
    from tuneforge.data.load import load_examples
    from tuneforge.data.tokenize import TokenizeSettings, tokenize_example
    from tuneforge.engine.batches import epoch_batches
    from tuneforge.methods import method_spec
    from tuneforge.models import load_tokenizer

    tokenizer = load_tokenizer("embedded")
    examples = load_examples(settings.data, method_spec("sft").record_kind)
    tokenize_settings = TokenizeSettings(
        max_length=settings.max_length, system_prompt=settings.system_prompt
    )
    kept = []
    for example in examples:
        item = tokenize_example(example, tokenizer, tokenize_settings)
        if item is not None:
            kept.append((example, item))
    needed = settings.total_steps * settings.batch_size
    order: list[int] = []
    epoch = 0
    while len(order) < needed:
        batches = epoch_batches(len(kept), settings.batch_size, seed=settings.seed, epoch=epoch)
        if len(batches[-1]) != settings.batch_size and len(order) + len(kept) < needed:
            raise SystemExit(
                f"--steps {settings.steps} runs past one epoch of {len(kept)} examples, which "
                f"does not split into full batches of {settings.batch_size}; use fewer steps"
            )
        order.extend(index for batch in batches for index in batch)
        epoch += 1
    with (
        open(workdir / "trl_train.jsonl", "w", encoding="utf-8") as trl_file,
        open(workdir / "ours_ids.jsonl", "w", encoding="utf-8") as ids_file,
    ):
        for index in order:
            example, item = kept[index]
            ids = {"input_ids": item.input_ids, "labels": item.labels}
            ids_file.write(json.dumps(ids) + "\n")
            if settings.trl_data == "ids":
                row: dict[str, Any] = ids
            else:
                row = {
                    "prompt": [
                        {"role": "system", "content": settings.system_prompt},
                        {"role": "user", "content": example.prompt},
                    ],
                    "completion": [{"role": "assistant", "content": example.completion}],
                }
            trl_file.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts = [
        (len(kept[i][1].input_ids), sum(t != IGNORE_INDEX for t in kept[i][1].labels))
        for i in order
    ]
    size = settings.batch_size
    return {
        "examples": len(examples),
        "kept": len(kept),
        "rows_written": len(order),
        "tokenizer": tokenizer,
        "step_rows": [counts[k : k + size] for k in range(0, len(counts), size)],
        "model_config": training.embedded_config(),
    }


def announcement(settings: Settings, prepared: dict[str, Any]) -> str:
    """What is about to run: the data kept, the rows TRL gets and the steps."""
    return (
        f"data: {prepared['kept']} of {prepared['examples']} examples, "
        f"{prepared['rows_written']} rows in tuneforge's order for TRL "
        f"({settings.trl_data}); {common.steps_phrase(settings)}"
    )


# ------------------------------------------------------------------------------------------
# Children
# ------------------------------------------------------------------------------------------


def _batch_lists(batch: dict[str, Any]) -> dict[str, list[list[int]]]:
    """A collated batch as plain lists, so both sides' first batches compare exactly."""
    return {key: batch[key].tolist() for key in ("input_ids", "attention_mask", "labels")}


def run_ours(settings: Settings, workdir: Path, run_dir: Path) -> dict[str, Any]:
    """tuneforge's side: `tuneforge.train.train` with the bench settings."""
    start = training.begin_side(settings)
    from tuneforge.methods.sft import SFTMethod

    first_batch: dict[str, Any] = {}
    original_step = SFTMethod.step

    def capturing_step(self: SFTMethod, model: Any, batch: Any, reference: Any) -> Any:
        if not first_batch:
            first_batch.update(_batch_lists(batch))
        return original_step(self, model, batch, reference)

    SFTMethod.step = capturing_step  # type: ignore[method-assign]

    cfg = training.tuneforge_config(
        settings,
        method="sft",
        run_dir=run_dir,
        train_file=settings.data,
        section={"packing": False, "completion_only": True},
        data={"system_prompt": settings.system_prompt},
        lora={"target_modules": "all-linear"},
        train={
            "grad_accum": 1,
            "weight_decay": 0.0,
            "gradient_checkpointing": False,
            "save_steps": None,
        },
    )
    configured_s = time.perf_counter() - start.started
    run = training.train_tuneforge(cfg)
    set_up_s = configured_s + run.load_s  # loading the model is set-up too, as on TRL's side
    trainable = sum(p.numel() for p in run.model.parameters() if p.requires_grad)
    return training.ours_result(
        run,
        start,
        settings,
        wall=False,
        first_batch=first_batch,
        n_params=run.n_params,
        trainable_params=trainable,
        set_up_s=round(set_up_s, 2),
        train_s=round(run.train_s, 2),
    )


def run_trl(settings: Settings, workdir: Path, run_dir: Path) -> dict[str, Any]:
    """TRL's side: SFTTrainer on the pre-ordered dataset, model given as the cached folder."""
    start = training.begin_side(settings)
    import torch
    from trl import SFTConfig, SFTTrainer

    from tuneforge.models import base_model

    rows = common.read_jsonl(workdir / "trl_train.jsonl")
    clock = common.StepClock()
    state: dict[str, Any] = {"tokens": 0, "losses": [], "first_batch": {}}

    class Bench(SFTTrainer):  # type: ignore[misc]
        def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
            if not state["first_batch"]:
                state["first_batch"] = _batch_lists(inputs)
            state["tokens"] += int(inputs["attention_mask"].sum())
            loss = super().training_step(model, inputs, num_items_in_batch)
            state["losses"].append(float(loss))
            return loss

    args = training.trl_args(
        SFTConfig,
        settings,
        run_dir,
        gradient_accumulation_steps=1,
        fp16=False,
        packing=False,
        completion_only_loss=True,
        shuffle_dataset=False,
        eval_strategy="no",
    )
    trainer, _ = training.build_trl_trainer(
        Bench, settings, args, rows, [training.clock_callback(clock, state)]
    )
    mismatched = _compare_ids(trainer.train_dataset, workdir / "ours_ids.jsonl")
    model = trainer.model
    base = base_model(model)
    n_params = training.base_model_params(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    set_up_s = time.perf_counter() - start.started
    train_s = training.timed_train(trainer)
    return training.trl_result(
        state,
        clock,
        start,
        settings,
        wall=False,
        first_batch=state["first_batch"],
        dataset_rows=len(trainer.train_dataset),
        ids_mismatched_rows=mismatched,
        n_params=n_params,
        trainable_params=trainable,
        optimizer=training.optimizer_name(trainer),
        dtype=str(next(base.parameters()).dtype).replace("torch.", ""),
        torch_threads_after=torch.get_num_threads(),
        set_up_s=round(set_up_s, 2),
        train_s=round(train_s, 2),
        device=training.model_device(model),
        head=training.trl_head(settings.device),
    )


def _compare_ids(trl_dataset: Any, ours_path: Path) -> list[int]:
    """Rows (0-based, in batch order) whose TRL ids or labels differ from tuneforge's."""
    with open(ours_path, encoding="utf-8") as handle:
        ours = [json.loads(line) for line in handle]
    theirs_ids, theirs_labels = trl_dataset["input_ids"], trl_dataset["labels"]
    if len(theirs_ids) != len(ours):
        return [-1]
    return [
        i
        for i, row in enumerate(ours)
        if list(theirs_ids[i]) != row["input_ids"] or list(theirs_labels[i]) != row["labels"]
    ]


# ------------------------------------------------------------------------------------------
# Parent: run, compare, report
# ------------------------------------------------------------------------------------------


def parent_main(args: Any, settings: Settings) -> None:
    """Matmul peak, data, R rounds of both sides, optional raw results, report, JSON line."""
    load_before = os.getloadavg()
    peak = measured_peak(settings, args.peak_seconds)
    print(
        f"{settings.device} matmul peak ({settings.precision}): {peak_phrase(peak)}; "
        f"load average {load_before[0]:.2f}",
        flush=True,
    )

    prepared, runs = common.prepare_and_run(
        __file__,
        settings,
        prepare_data,
        announcement,
        rounds=args.rounds,
        timeout_s=args.timeout,
    )
    load_after = os.getloadavg()
    if args.raw_out:
        raw = {
            side: [r.payload | {"max_rss_mib": r.max_rss_mib} for r in rs]
            for side, rs in runs.items()
        }
        Path(args.raw_out).write_text(json.dumps(raw, indent=1), encoding="utf-8")
    ours, trl = best_of_rounds_side(runs["ours"]), best_of_rounds_side(runs["trl"])
    shape = ModelShape.from_config(prepared["model_config"], ours["n_params"])
    # tuneforge pads SFT rows (packing off here) and runs the head at learned positions only.
    layouts = {"ours": Layout(padded=True, head="learned"), "trl": trl_layout(trl["head"])}
    steps = [sft_passes(rows) for rows in prepared["step_rows"]]
    flops = {
        side: side_flops(steps, shape, layouts[side], r, peak)
        for side, r in (("ours", ours), ("trl", trl))
    }
    report(settings, peak, ours, trl, prepared, flops)
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}", flush=True)
    common.emit_json(
        {
            **headline("sft", ours, trl),
            "mfu": {side: flops[side]["mfu"] for side in flops},
            "mfu_cpu_time": {side: flops[side]["mfu_cpu_time"] for side in flops},
            "executed_utilisation": {side: flops[side]["executed"] for side in flops},
            "rounds": args.rounds,
        }
    )


def main() -> None:
    """Parse the command line; run as the parent, or as one side's child (``--side``)."""
    parser = cli.bench_parser(__doc__ or "", steps=30)
    cli.add_data_args(parser, DEFAULT_DATA)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run each side this many times, alternating which goes first; each step then "
        "counts with its fastest time (use 2+ on a busy machine)",
    )
    parser.add_argument(
        "--trl-data",
        choices=["chat", "ids"],
        default="chat",
        help="TRL tokenises conversational rows itself (chat) or gets tuneforge's ids (ids)",
    )
    parser.add_argument("--peak-seconds", type=float, default=2.0)
    parser.add_argument("--raw-out", help="also write every child's full result to this file")
    cli.add_run_args(parser, timeout=1800.0)
    args = cli.parse_bench_args(parser)
    if cli.serve_child(
        args, Settings, {"ours": run_ours, "trl": run_trl}, losses_shown=LOSSES_SHOWN
    ):
        return
    settings = Settings(**cli.shared_settings(args), trl_data=args.trl_data)
    parent_main(args, settings)


if __name__ == "__main__":
    main()
