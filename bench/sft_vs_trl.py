"""SFT speed, memory and loss: tuneforge against TRL's SFTTrainer on identical inputs.

Run: ``python bench/sft_vs_trl.py [--steps 30] [--precision fp32|bf16] [--rounds 1]``
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
steps) is printed as a second, load-tolerant view. Peak RSS is each child's own, read by
the parent with ``wait4``. MFU is ours tokens/s x 4·N_params (LoRA training FLOPs per
token, DESIGN §6) over the fp32 matmul peak measured here first (2048² products for ~2 s).

The last line printed is one JSON object::

    {"method": "sft", "speedup": ours/trl tokens per s, "memory_ratio": ours/trl peak RSS,
     "loss_diff_step1": |ours - trl|, "mfu": ours vs the measured fp32 matmul peak}

Target: speedup >= 1.3 with loss_diff_step1 <= 1e-3. Numbers from a busy machine are noisy:
the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    REPO_ROOT,
    ChildResult,
    StepClock,
    best_of_rounds,
    emit_json,
    format_table,
    matmul_peak_flops,
    peak_rss_mib,
    python_argv,
    ratio,
    run_child,
    set_threads,
)

DEFAULT_DATA = REPO_ROOT / "examples" / "support-triage" / "train.jsonl"
SYSTEM_PROMPT = "Classify this support message."
FIRST_TIMED_STEP = 3
LOSSES_SHOWN = 3
IGNORE_INDEX = -100


@dataclass(frozen=True)
class Settings:
    """Everything both sides must agree on; passed to the children as JSON."""

    data: str
    steps: int  # the last timed step; N + 1 steps are run
    batch_size: int = 4
    max_length: int = 512
    lr: float = 2e-4
    seed: int = 42
    precision: str = "fp32"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    max_grad_norm: float = 1.0
    threads: int = 2
    system_prompt: str = SYSTEM_PROMPT

    @property
    def total_steps(self) -> int:
        """Steps actually run: the timed ones plus one untimed step at the end."""
        return self.steps + 1


# ------------------------------------------------------------------------------------------
# Parent: the shared data order and the TRL dataset
# ------------------------------------------------------------------------------------------


def prepare_data(settings: Settings, workdir: Path, trl_data: str) -> dict[str, Any]:
    """Write TRL's dataset in tuneforge's batch order, plus tuneforge's ids for checking.

    Files: ``trl_train.jsonl`` (conversational prompt-completion rows, or ``input_ids`` +
    ``labels`` rows with ``trl_data == "ids"``) and ``ours_ids.jsonl`` (tuneforge's ids and
    labels, in the same order). Returns counts and the tokenizer for printing.
    """
    from tuneforge.data.load import load_examples
    from tuneforge.data.tokenize import TokenizeSettings, tokenize_example
    from tuneforge.engine.batches import epoch_batches
    from tuneforge.models import load_tokenizer

    tokenizer = load_tokenizer("embedded")
    examples = load_examples(settings.data, "sft")
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
            if trl_data == "ids":
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
    return {
        "examples": len(examples),
        "kept": len(kept),
        "rows_written": len(order),
        "tokenizer": tokenizer,
    }


# ------------------------------------------------------------------------------------------
# Children
# ------------------------------------------------------------------------------------------


def _batch_lists(batch: dict[str, Any]) -> dict[str, list[list[int]]]:
    return {key: batch[key].tolist() for key in ("input_ids", "attention_mask", "labels")}


def run_ours(settings: Settings, workdir: Path, run_dir: Path) -> dict[str, Any]:
    """tuneforge's side: `tuneforge.train.train` with the bench settings."""
    set_up_started = time.perf_counter()
    threads = set_threads(settings.threads)
    from tuneforge.config import parse_config
    from tuneforge.methods.sft import SFTMethod
    from tuneforge.models import load_model
    from tuneforge.train import train

    first_batch: dict[str, Any] = {}
    original_step = SFTMethod.step

    def capturing_step(self: SFTMethod, model: Any, batch: Any, reference: Any) -> Any:
        if not first_batch:
            first_batch.update(_batch_lists(batch))
        return original_step(self, model, batch, reference)

    SFTMethod.step = capturing_step  # type: ignore[method-assign]

    cfg = parse_config(
        {
            "method": "sft",
            "model": "embedded",
            "output": str(run_dir),
            "data": {
                "train": settings.data,
                "eval_split": 0,  # no held-out evaluation inside the timed window
                "max_length": settings.max_length,
                "system_prompt": settings.system_prompt,
            },
            "lora": {
                "r": settings.lora_r,
                "alpha": settings.lora_alpha,
                "dropout": settings.lora_dropout,
                "target_modules": "all-linear",
            },
            "sft": {"packing": False, "completion_only": True},
            "train": {
                "lr": settings.lr,
                "max_steps": settings.total_steps,
                "batch_size": settings.batch_size,
                "grad_accum": 1,
                "scheduler": "linear",
                "warmup_ratio": 0.0,
                "weight_decay": 0.0,
                "max_grad_norm": settings.max_grad_norm,
                "precision": settings.precision,
                "gradient_checkpointing": False,
                "seed": settings.seed,
                "logging_steps": 1,
                "save_steps": None,
                "save_total_limit": 1,
            },
        }
    )
    model = load_model("embedded")
    n_params = sum(p.numel() for p in model.parameters())
    clock = StepClock()

    def on_step(step: int, window: Any) -> None:
        clock.tick(step, window.tokens)

    set_up_s = time.perf_counter() - set_up_started
    train_started = time.perf_counter()
    # tuneforge's progress lines go to stderr (still written, so still paid for).
    with contextlib.redirect_stdout(sys.stderr):
        outcome = train(cfg, model=model, on_step=on_step)
    train_s = time.perf_counter() - train_started
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "side": "ours",
        "losses": outcome.result.losses,
        "first_batch": first_batch,
        "n_params": n_params,
        "trainable_params": trainable,
        "threads": threads,
        "set_up_s": round(set_up_s, 2),
        "train_s": round(train_s, 2),
        **clock.summary(FIRST_TIMED_STEP, settings.steps),
    }


def run_trl(settings: Settings, workdir: Path, run_dir: Path) -> dict[str, Any]:
    """TRL's side: SFTTrainer on the pre-ordered dataset, model given as the cached folder."""
    set_up_started = time.perf_counter()
    threads = set_threads(settings.threads)
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from tuneforge.embedded import ensure_embedded

    folder = str(ensure_embedded())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token_id is None:  # as tuneforge does (the embedded one has pad = eos)
        tokenizer.pad_token = tokenizer.eos_token
    with open(workdir / "trl_train.jsonl", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    dataset = Dataset.from_list(rows)

    clock = StepClock()
    state = {"tokens": 0, "losses": [], "first_batch": {}}

    class Bench(SFTTrainer):
        def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
            if not state["first_batch"]:
                state["first_batch"] = _batch_lists(inputs)
            state["tokens"] += int(inputs["attention_mask"].sum())
            loss = super().training_step(model, inputs, num_items_in_batch)
            state["losses"].append(float(loss))
            return loss

    class Clock(TrainerCallback):
        def on_step_end(self, args: Any, trainer_state: Any, control: Any, **kwargs: Any) -> None:
            clock.tick(trainer_state.global_step, state["tokens"])
            state["tokens"] = 0

    args = SFTConfig(
        output_dir=str(run_dir),
        max_steps=settings.total_steps,
        per_device_train_batch_size=settings.batch_size,
        gradient_accumulation_steps=1,
        learning_rate=settings.lr,
        lr_scheduler_type="linear",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=settings.max_grad_norm,
        seed=settings.seed,
        bf16=settings.precision == "bf16",
        fp16=False,
        use_cpu=True,
        gradient_checkpointing=False,
        model_init_kwargs={"dtype": "float32"},
        max_length=settings.max_length,
        packing=False,
        completion_only_loss=True,
        shuffle_dataset=False,
        train_sampling_strategy="sequential",
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    peft_config = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    with contextlib.redirect_stdout(sys.stderr):
        trainer = Bench(
            model=folder,
            args=args,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[Clock()],
        )
    mismatched = _compare_ids(trainer.train_dataset, workdir / "ours_ids.jsonl")
    model = trainer.model
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    n_params = sum(p.numel() for n, p in base.named_parameters() if "lora_" not in n)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    set_up_s = time.perf_counter() - set_up_started
    train_started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        trainer.train()
    train_s = time.perf_counter() - train_started
    return {
        "side": "trl",
        "losses": state["losses"],
        "first_batch": state["first_batch"],
        "dataset_rows": len(trainer.train_dataset),
        "ids_mismatched_rows": mismatched,
        "n_params": n_params,
        "trainable_params": trainable,
        "threads": threads,
        "optimizer": getattr(trainer.args.optim, "value", str(trainer.args.optim)),
        "dtype": str(next(base.parameters()).dtype).replace("torch.", ""),
        "torch_threads_after": torch.get_num_threads(),
        "set_up_s": round(set_up_s, 2),
        "train_s": round(train_s, 2),
        **clock.summary(FIRST_TIMED_STEP, settings.steps),
    }


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


def child_main(side: str, settings: Settings, workdir: Path, tag: str) -> None:
    """Run one side (run folder ``workdir/tag``) and print its JSON result as the last line."""
    runner = run_ours if side == "ours" else run_trl
    result = runner(settings, workdir, workdir / tag)
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    print(
        f"{side}: {result['tokens_per_s']:.1f} tokens/s over steps "
        f"{result['timed_steps'][0]}..{result['timed_steps'][1]}, "
        f"losses {[round(v, 4) for v in result['losses'][:LOSSES_SHOWN]]}, "
        f"peak RSS {result['peak_rss_mib']:.0f} MiB",
        flush=True,
    )
    emit_json(result)


# ------------------------------------------------------------------------------------------
# Parent: run, compare, report
# ------------------------------------------------------------------------------------------


def _first_example_report(tokenizer: Any, ours: dict[str, Any], trl: dict[str, Any]) -> str:
    """Both sides' ids of the first example of the first batch, and what is learned."""
    lines = []
    for name, batch in (("ours", ours["first_batch"]), ("trl", trl["first_batch"])):
        length = sum(batch["attention_mask"][0])
        ids = batch["input_ids"][0][:length]
        learned = [t for t in batch["labels"][0][:length] if t != IGNORE_INDEX]
        lines.append(
            f"  {name:4s} {length} tokens: {ids[:6]} ... {ids[-6:]}; "
            f"learned {learned} = {tokenizer.decode(learned)!r}"
        )
    return "\n".join(lines)


def _aggregate(results: list[ChildResult]) -> dict[str, Any]:
    """One side over several rounds: best-of-rounds tokens/s (`best_of_rounds`), median
    tokens per CPU-second, largest peak RSS, and the first round's losses and batch."""
    first = dict(results[0].payload)
    first["tokens_per_s_rounds"] = [round(r.payload["tokens_per_s"], 1) for r in results]
    first["tokens_per_s"] = best_of_rounds([r.payload for r in results])["tokens_per_s"]
    first["tokens_per_cpu_s"] = statistics.median(r.payload["tokens_per_cpu_s"] for r in results)
    first["peak_rss_mib"] = max(r.max_rss_mib for r in results)
    first["wall_s"] = round(sum(r.wall_s for r in results) / len(results), 1)
    return first


def parent_main(args: argparse.Namespace, settings: Settings) -> None:
    load_before = os.getloadavg()
    peak = matmul_peak_flops(threads=settings.threads, seconds=args.peak_seconds)
    print(
        f"fp32 matmul peak ({settings.threads} threads, 2048²): {peak / 1e9:.1f} GFLOP/s; "
        f"load average {load_before[0]:.2f}",
        flush=True,
    )
    runs: dict[str, list[ChildResult]] = {"ours": [], "trl": []}
    with tempfile.TemporaryDirectory(prefix="sft_vs_trl-") as tmp:
        workdir = Path(tmp)
        prepared = prepare_data(settings, workdir, args.trl_data)
        print(
            f"data: {prepared['kept']} of {prepared['examples']} examples, "
            f"{prepared['rows_written']} rows in tuneforge's order for TRL "
            f"({args.trl_data}); {settings.total_steps} steps each, timed "
            f"{FIRST_TIMED_STEP}..{settings.steps}",
            flush=True,
        )
        for round_index in range(args.rounds):
            order = ("ours", "trl") if round_index % 2 == 0 else ("trl", "ours")
            for side in order:
                argv = python_argv(
                    __file__,
                    "--side",
                    side,
                    "--workdir",
                    str(workdir),
                    "--tag",
                    f"{side}-{round_index}",
                    "--settings",
                    json.dumps(asdict(settings)),
                )
                runs[side].append(
                    run_child(argv, label=side, timeout_s=args.timeout, cwd=REPO_ROOT)
                )
    load_after = os.getloadavg()
    if args.raw_out:
        raw = {
            side: [r.payload | {"max_rss_mib": r.max_rss_mib} for r in rs]
            for side, rs in runs.items()
        }
        Path(args.raw_out).write_text(json.dumps(raw, indent=1), encoding="utf-8")
    ours, trl = _aggregate(runs["ours"]), _aggregate(runs["trl"])
    report(settings, peak, ours, trl, prepared)
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}", flush=True)
    flops_per_token = 4 * ours["n_params"]
    emit_json(
        {
            "method": "sft",
            "speedup": round(ratio(ours["tokens_per_s"], trl["tokens_per_s"]), 4),
            "memory_ratio": round(ratio(ours["peak_rss_mib"], trl["peak_rss_mib"]), 4),
            "loss_diff_step1": abs(ours["losses"][0] - trl["losses"][0]),
            "mfu": round(ours["tokens_per_s"] * flops_per_token / peak, 4),
        }
    )


def report(
    settings: Settings,
    peak: float,
    ours: dict[str, Any],
    trl: dict[str, Any],
    prepared: dict[str, Any],
) -> None:
    """The readable part: identical-input checks and the side-by-side table."""
    same_batch = ours["first_batch"] == trl["first_batch"]
    mismatched = trl["ids_mismatched_rows"]
    if mismatched:
        verdict = f"{len(mismatched)} rows differ from tuneforge's: {mismatched[:10]}"
    else:
        verdict = "ids and labels of every row equal tuneforge's"
    print()
    print("identical inputs:")
    print(f"  tokenised dataset: {trl['dataset_rows']} TRL rows; {verdict}")
    print(f"  first collated batch (ids, attention mask, labels) identical: {same_batch}")
    print(_first_example_report(prepared["tokenizer"], ours, trl))
    flops_per_token = 4 * ours["n_params"]
    rows = []
    for name, side in (("tuneforge", ours), ("TRL SFTTrainer", trl)):
        losses = side["losses"][:LOSSES_SHOWN]
        rows.append(
            [
                name,
                round(side["tokens_per_s"], 1),
                round(side["tokens_per_cpu_s"], 1),
                side["step_seconds_median"],
                round(side["peak_rss_mib"]),
                f"{side['tokens_per_s'] * flops_per_token / peak:.1%}",
                " ".join(f"{v:.6f}" for v in losses),
                side["trainable_params"],
                side["set_up_s"],
            ]
        )
    print()
    print(
        f"SFT, embedded model ({ours['n_params'] / 1e6:.1f}M params), LoRA r={settings.lora_r}, "
        f"batch {settings.batch_size}, {settings.precision}, {ours['threads']} threads, "
        f"tokens/s over steps {FIRST_TIMED_STEP}..{settings.steps} "
        f"(per round: ours {ours['tokens_per_s_rounds']}, trl {trl['tokens_per_s_rounds']})"
    )
    print(
        format_table(
            [
                "trainer",
                "tokens/s",
                "tokens/CPU-s",
                "s/step (median)",
                "peak RSS MiB",
                "MFU",
                "losses 1-3",
                "trainable",
                "set-up s",
            ],
            rows,
        )
    )
    print(
        f"TRL optimizer: {trl['optimizer']}, weights {trl['dtype']}; "
        f"matmul peak {peak / 1e9:.1f} GFLOP/s; MFU = tokens/s x 4 x N_params / peak"
    )
    print(
        f"speedup {ratio(ours['tokens_per_s'], trl['tokens_per_s']):.2f}x by wall time, "
        f"{ratio(ours['tokens_per_cpu_s'], trl['tokens_per_cpu_s']):.2f}x by CPU time "
        "(the CPU-time figure is less disturbed by other processes on the machine)"
    )
    diffs = [abs(a - b) for a, b in zip(ours["losses"], trl["losses"], strict=False)]
    print(
        f"|loss diff| steps 1-3: {' '.join(f'{d:.2e}' for d in diffs[:LOSSES_SHOWN])}; "
        f"max over {len(diffs)} steps: {max(diffs):.2e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="last timed step (N); N+1 run")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
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
    parser.add_argument("--timeout", type=float, default=1800.0, help="per child, seconds")
    parser.add_argument("--side", choices=["ours", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--tag", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        settings = Settings(**json.loads(args.settings))
        child_main(args.side, settings, Path(args.workdir), args.tag)
        return
    if args.steps < FIRST_TIMED_STEP:
        parser.error(f"--steps must be at least {FIRST_TIMED_STEP}")
    settings = Settings(
        data=str(Path(args.data).resolve()),
        steps=args.steps,
        precision=args.precision,
        threads=args.threads,
    )
    parent_main(args, settings)


if __name__ == "__main__":
    main()
