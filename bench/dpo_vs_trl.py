"""DPO (or ORPO) speed, memory and loss: tuneforge against TRL 1.16 on identical inputs.

Run: ``python bench/dpo_vs_trl.py [--method dpo|orpo] [--steps 10] [--precision fp32|bf16]
[--ref default|precompute|on-the-fly]``.

Both sides fine-tune the embedded model (SmolLM2-135M-Instruct, fp32 weights) with the same
LoRA adapter (r=16, alpha=32, dropout 0, all linear layers) on brand-voice pairs, with the same
hyperparameters (AdamW, linear schedule without warm-up, batch 4 pairs, no accumulation,
clipping at 1.0, β 0.1, max_length 1024, no gradient checkpointing), each in its own process,
one after the other. DPO runs ``trl.DPOTrainer``, ORPO ``trl.experimental.orpo.ORPOTrainer``.

Identical inputs, checked rather than assumed:

* The parent takes the (N+1)·4 pairs the run needs, writes them for tuneforge, and writes them
  for TRL in the order tuneforge's loop will read them (``engine.batches.epoch_batches``);
  TRL reads sequentially, so step k of both sides is the same batch.
* DPO: TRL gets conversational records and tokenises them itself; its tokenised rows are
  compared with tuneforge's ids (``ids_mismatched_rows``). ORPO: TRL's ORPOTrainer renders the
  chat template to text and appends EOS after the template's trailing newline, so it is given
  tuneforge's ids instead (``tokenize_row`` replaced), as ``--trl-data ids`` does for DPO.
* ORPO's NLL covers the prompt tokens in TRL; tuneforge runs with ``nll_on_prompt: true``.

Reference log-probs (DPO): ``--ref default`` runs each product's default (tuneforge precomputes
them once before training and caches them; TRL computes them at every step);
``precompute``/``on-the-fly`` force one mode on both sides. The precompute pass happens before
step 1 on both sides and is reported separately (``ref_s``), never inside the timed window.

Measured the same way on both sides: tokens/s counts non-padding tokens (both replies of each
pair) of steps 3..N over the wall time from the end of step 2 to the end of step N, taken in
each trainer's step-end hook. Peak RSS is each child's own (``wait4``). The last line printed is
one JSON object: ``{"method", "speedup", "memory_ratio", "loss_diff_step1", ...}``.
Targets: DPO speedup >= 1.5 and memory_ratio <= 0.8; ORPO speedup >= 1.3.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    REPO_ROOT,
    StepClock,
    emit_json,
    format_table,
    peak_rss_mib,
    python_argv,
    ratio,
    run_child,
    set_threads,
)

DEFAULT_DATA = REPO_ROOT / "examples" / "brand-voice" / "train.jsonl"
FIRST_TIMED_STEP = 3


@dataclass(frozen=True)
class Settings:
    """Everything both sides must agree on; passed to the children as JSON."""

    method: str
    data: str
    steps: int  # the last timed step; N + 1 steps are run
    ref: str = "default"
    trl_data: str = "chat"
    batch_size: int = 4
    max_length: int = 1024
    lr: float = 5e-5
    beta: float = 0.1
    seed: int = 42
    precision: str = "fp32"
    lora_r: int = 16
    lora_alpha: int = 32
    threads: int = 2

    @property
    def total_steps(self) -> int:
        return self.steps + 1

    def precompute(self, side: str) -> bool:
        """Whether ``side`` precomputes the reference log-probs (DPO only)."""
        if self.ref == "default":
            return side == "ours"
        return self.ref == "precompute"


# ------------------------------------------------------------------------------------------
# Parent: the shared data and order
# ------------------------------------------------------------------------------------------


def prepare_data(settings: Settings, workdir: Path) -> dict[str, Any]:
    """``ours.jsonl`` (the pairs used), ``trl.jsonl`` (them in tuneforge's batch order) and
    ``ids.jsonl`` (tuneforge's ids in that order)."""
    from tuneforge.data.load import load_examples
    from tuneforge.data.tokenize import TokenizeSettings, tokenize_example
    from tuneforge.engine.batches import epoch_batches
    from tuneforge.models import load_tokenizer

    tokenizer = load_tokenizer("embedded")
    lines = Path(settings.data).read_text(encoding="utf-8").splitlines()
    examples = load_examples(settings.data, settings.method)
    needed = settings.total_steps * settings.batch_size
    if needed > len(examples):
        raise SystemExit(f"--steps {settings.steps} needs {needed} pairs; the data has fewer")
    tok_settings = TokenizeSettings(max_length=settings.max_length)
    chosen = [
        (lines[e.origin.line - 1], e, tokenize_example(e, tokenizer, tok_settings))
        for e in examples[:needed]
    ]
    (workdir / "ours.jsonl").write_text("".join(line + "\n" for line, _, _ in chosen))
    order = [
        i
        for b in epoch_batches(needed, settings.batch_size, seed=settings.seed, epoch=0)
        for i in b
    ]
    with (
        open(workdir / "trl.jsonl", "w", encoding="utf-8") as trl_file,
        open(workdir / "ids.jsonl", "w", encoding="utf-8") as ids_file,
    ):
        for index in order:
            _, example, item = chosen[index]
            ids = {
                "prompt_ids": item.prompt_ids,
                "chosen_ids": item.chosen_ids,
                "rejected_ids": item.rejected_ids,
            }
            ids_file.write(json.dumps(ids) + "\n")
            row = {
                "prompt": [{"role": "user", "content": example.prompt}],
                "chosen": [{"role": "assistant", "content": example.chosen}],
                "rejected": [{"role": "assistant", "content": example.rejected}],
            }
            trl_file.write(json.dumps(row, ensure_ascii=False) + "\n")
    return {"pairs": needed}


# ------------------------------------------------------------------------------------------
# Children
# ------------------------------------------------------------------------------------------


def run_ours(settings: Settings, workdir: Path) -> dict[str, Any]:
    """tuneforge's side: ``tuneforge.train.train`` with the bench settings."""
    started = time.perf_counter()
    threads = set_threads(settings.threads)
    import tuneforge.train as train_module
    from tuneforge.config import parse_config
    from tuneforge.models import load_model

    section: dict[str, Any] = {"beta": settings.beta}
    if settings.method == "dpo":
        section["precompute_ref"] = settings.precompute("ours")
    else:
        section["nll_on_prompt"] = True  # as TRL computes the NLL
    cfg = parse_config(
        {
            "method": settings.method,
            "model": "embedded",
            "output": str(workdir / "ours-run"),
            "data": {
                "train": str(workdir / "ours.jsonl"),
                "eval_split": 0,
                "max_length": settings.max_length,
            },
            "lora": {"r": settings.lora_r, "alpha": settings.lora_alpha, "dropout": 0.0},
            settings.method: section,
            "train": {
                "lr": settings.lr,
                "max_steps": settings.total_steps,
                "batch_size": settings.batch_size,
                "scheduler": "linear",
                "warmup_ratio": 0.0,
                "max_grad_norm": 1.0,
                "precision": settings.precision,
                "seed": settings.seed,
                "logging_steps": 1,
                "save_total_limit": 1,
            },
        }
    )
    timing = {"ref_s": 0.0}
    original = train_module.build_reference

    def timed_reference(*args: Any, **kwargs: Any) -> Any:
        begun = time.perf_counter()
        result = original(*args, **kwargs)
        timing["ref_s"] = round(time.perf_counter() - begun, 2)
        return result

    train_module.build_reference = timed_reference  # type: ignore[assignment]
    model = load_model("embedded")
    clock = StepClock()
    with contextlib.redirect_stdout(sys.stderr):  # progress lines are still written
        outcome = train_module.train(
            cfg, model=model, on_step=lambda step, window: clock.tick(step, window.tokens)
        )
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    return {
        "side": "ours",
        "losses": outcome.result.losses,
        "reference": manifest["reference"],
        "ref_s": timing["ref_s"],
        "threads": threads,
        "wall_s": round(time.perf_counter() - started, 1),
        **clock.summary(FIRST_TIMED_STEP, settings.steps),
    }


def _trl_trainer_class(settings: Settings, ids: list[dict[str, Any]], state: dict[str, Any]) -> Any:
    """TRL's trainer, counting tokens and losses; fed tuneforge's ids where asked."""
    if settings.method == "dpo":
        from trl import DPOTrainer as Base
    else:
        from trl.experimental.orpo import ORPOTrainer as Base

    class Bench(Base):  # type: ignore[misc, valid-type]
        def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
            masks = [
                v
                for k, v in inputs.items()
                if k.endswith("attention_mask") and not k.startswith("prompt")
            ]
            state["tokens"] += sum(int(m.sum()) for m in masks)
            loss = super().training_step(model, inputs, num_items_in_batch)
            state["losses"].append(float(loss))
            return loss

        if settings.method == "dpo" and settings.trl_data == "ids":

            def _prepare_dataset(self, dataset: Any, *args: Any, **kwargs: Any) -> Any:
                from datasets import Dataset

                return Dataset.from_list(ids)

        if settings.method == "orpo":

            def tokenize_row(self, feature: dict[str, Any], model: Any = None) -> dict[str, Any]:
                item = ids[feature["row"]]
                out: dict[str, Any] = {
                    "prompt_input_ids": item["prompt_ids"],
                    "prompt_attention_mask": [1] * len(item["prompt_ids"]),
                }
                for side in ("chosen", "rejected"):
                    seq = item["prompt_ids"] + item[f"{side}_ids"]
                    out[f"{side}_input_ids"] = seq
                    out[f"{side}_attention_mask"] = [1] * len(seq)
                    out[f"{side}_labels"] = [-100] * len(item["prompt_ids"]) + item[f"{side}_ids"]
                return out

    return Bench


def run_trl(settings: Settings, workdir: Path) -> dict[str, Any]:
    """TRL's side, the model given as the cached embedded folder."""
    started = time.perf_counter()
    threads = set_threads(settings.threads)
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer, TrainerCallback

    from tuneforge.embedded import ensure_embedded

    folder = str(ensure_embedded())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rows = [json.loads(line) for line in (workdir / "trl.jsonl").read_text().splitlines()]
    ids = [json.loads(line) for line in (workdir / "ids.jsonl").read_text().splitlines()]
    if settings.method == "orpo":  # tokenize_row looks the ids up by row number
        rows = [{"prompt": "p", "chosen": "c", "rejected": "r", "row": n} for n in range(len(ids))]
    clock = StepClock()
    state: dict[str, Any] = {"tokens": 0, "losses": []}

    class Clock(TrainerCallback):
        def on_step_end(self, args: Any, trainer_state: Any, control: Any, **kw: Any) -> None:
            clock.tick(trainer_state.global_step, state["tokens"])
            state["tokens"] = 0

    common = dict(
        output_dir=str(workdir / "trl-run"),
        max_steps=settings.total_steps,
        per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.lr,
        lr_scheduler_type="linear",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        seed=settings.seed,
        bf16=settings.precision == "bf16",
        use_cpu=True,
        gradient_checkpointing=False,
        model_init_kwargs={"dtype": "float32"},
        max_length=settings.max_length,
        beta=settings.beta,
        train_sampling_strategy="sequential",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    if settings.method == "dpo":
        from trl import DPOConfig

        args = DPOConfig(**common, precompute_ref_log_probs=settings.precompute("trl"))
    else:
        from trl.experimental.orpo import ORPOConfig

        common["model_init_kwargs"] = {"dtype": "float32", "device_map": None}
        args = ORPOConfig(**common)
    peft_config = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    init_started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        trainer = _trl_trainer_class(settings, ids, state)(
            model=folder,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[Clock()],
        )
    init_s = time.perf_counter() - init_started
    mismatched = []
    if settings.method == "dpo":
        data = trainer.train_dataset
        mismatched = [
            n for n, item in enumerate(ids) if any(list(data[n][k]) != item[k] for k in item)
        ]
    with contextlib.redirect_stdout(sys.stderr):
        trainer.train()
    return {
        "side": "trl",
        "losses": state["losses"],
        "ids_mismatched_rows": mismatched,
        "init_s": round(init_s, 2),  # includes TRL's reference precompute when on
        "optimizer": getattr(trainer.args.optim, "value", str(trainer.args.optim)),
        "threads": threads,
        "wall_s": round(time.perf_counter() - started, 1),
        **clock.summary(FIRST_TIMED_STEP, settings.steps),
    }


def child_main(side: str, settings: Settings, workdir: Path) -> None:
    result = (run_ours if side == "ours" else run_trl)(settings, workdir)
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    print(
        f"{side}: {result['tokens_per_s']:.1f} tokens/s over steps {FIRST_TIMED_STEP}.."
        f"{settings.steps}, losses {[round(v, 5) for v in result['losses'][:3]]}, "
        f"peak RSS {result['peak_rss_mib']:.0f} MiB",
        flush=True,
    )
    emit_json(result)


# ------------------------------------------------------------------------------------------
# Parent: run both, report
# ------------------------------------------------------------------------------------------


def parent_main(settings: Settings, timeout: float) -> None:
    load_before = os.getloadavg()[0]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="dpo_vs_trl-") as tmp:
        workdir = Path(tmp)
        prepared = prepare_data(settings, workdir)
        print(
            f"{settings.method}: {prepared['pairs']} brand-voice pairs, {settings.total_steps} "
            f"steps each, timed {FIRST_TIMED_STEP}..{settings.steps}; {settings.precision}; "
            f"reference: ours {'precomputed' if settings.precompute('ours') else 'on the fly'}, "
            f"TRL {'precomputed' if settings.precompute('trl') else 'on the fly'}"
            + ("" if settings.method == "dpo" else " (ORPO: none)"),
            flush=True,
        )
        for side in ("ours", "trl"):
            argv = python_argv(
                __file__,
                "--side",
                side,
                "--workdir",
                str(workdir),
                "--settings",
                json.dumps(asdict(settings)),
            )
            child = run_child(argv, label=side, timeout_s=timeout, cwd=REPO_ROOT)
            results[side] = {**child.payload, "peak_rss_mib": child.max_rss_mib}
    ours, trl = results["ours"], results["trl"]
    rows = [
        [
            name,
            round(r["tokens_per_s"], 1),
            r["step_seconds_median"],
            round(r["peak_rss_mib"]),
            " ".join(f"{v:.5f}" for v in r["losses"][:3]),
        ]
        for name, r in (("tuneforge", ours), ("TRL", trl))
    ]
    print()
    print(
        format_table(["trainer", "tokens/s", "s/step (median)", "peak RSS MiB", "losses 1-3"], rows)
    )
    print(
        f"TRL ids identical to tuneforge's: {not trl['ids_mismatched_rows']} "
        f"(mismatched rows {trl['ids_mismatched_rows'][:10]}); TRL optimizer {trl['optimizer']}; "
        f"reference pass before step 1: ours {ours['ref_s']} s ({ours['reference']}), "
        f"TRL init {trl['init_s']} s; load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    emit_json(
        {
            "method": settings.method,
            "speedup": round(ratio(ours["tokens_per_s"], trl["tokens_per_s"]), 4),
            "memory_ratio": round(ratio(ours["peak_rss_mib"], trl["peak_rss_mib"]), 4),
            "loss_diff_step1": abs(ours["losses"][0] - trl["losses"][0]),
            "precision": settings.precision,
            "ref": settings.ref,
            "tokens_per_s": {
                "ours": round(ours["tokens_per_s"], 1),
                "trl": round(trl["tokens_per_s"], 1),
            },
            "peak_rss_mib": {
                "ours": round(ours["peak_rss_mib"]),
                "trl": round(trl["peak_rss_mib"]),
            },
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", choices=["dpo", "orpo"], default="dpo")
    parser.add_argument("--steps", type=int, default=10, help="last timed step (N); N+1 run")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--ref", choices=["default", "precompute", "on-the-fly"], default="default")
    parser.add_argument("--trl-data", choices=["chat", "ids"], default="chat")
    parser.add_argument("--lr", type=float, default=None, help="default: 5e-5 dpo, 1e-4 orpo")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=3600.0, help="per child, seconds")
    parser.add_argument("--side", choices=["ours", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        child_main(args.side, Settings(**json.loads(args.settings)), Path(args.workdir))
        return
    if args.steps < FIRST_TIMED_STEP:
        parser.error(f"--steps must be at least {FIRST_TIMED_STEP}")
    lr = args.lr if args.lr is not None else (5e-5 if args.method == "dpo" else 1e-4)
    settings = Settings(
        method=args.method,
        data=str(Path(args.data).resolve()),
        steps=args.steps,
        ref=args.ref,
        trl_data=args.trl_data,
        lr=lr,
        precision=args.precision,
        threads=args.threads,
    )
    parent_main(settings, args.timeout)


if __name__ == "__main__":
    main()
