"""KTO speed, memory and loss: tuneforge against TRL's KTOTrainer on identical inputs.

Run: ``python bench/kto_vs_trl.py [--steps 10] [--precision fp32|bf16]
[--ref default|precompute|on-the-fly] [--rounds 1]``.

The same rules as ``bench/dpo_vs_trl.py``. Both sides fine-tune the embedded model
(SmolLM2-135M-Instruct, fp32 weights) with the same LoRA adapter (r=16, alpha=32, dropout 0,
all linear layers) on thumbs-up/down feedback (``examples/feedback/thumbs.jsonl``: boolean
labels, all TRL accepts), with the same hyperparameters (AdamW, lr 5e-5 — tuneforge's KTO
default for LoRA —, linear schedule without warm-up, batch 4, no accumulation, clipping at 1.0,
β 0.1, max_length 1024, no gradient checkpointing), each in its own process, one after the other.

Identical inputs, checked rather than assumed:

* The parent takes the (N+1)·4 examples the run needs, writes them for tuneforge, and writes
  them for TRL in the order tuneforge's loop reads them (``engine.batches.epoch_batches``). TRL
  reads sequentially (its KTO default) and rotates the KL completions within each batch of 4
  dataset rows: the same mismatched pairs tuneforge builds inside each micro-batch.
* TRL gets conversational prompt/completion rows and tokenises them itself; its token ids are
  compared with tuneforge's, row by row.
* At step 1 the LoRA B matrices are zero, so the policy is the reference and both losses are
  0.5. Later steps follow identical updates (same seed before peft creates the adapter), so the
  losses, ``kl`` and rewards of the first steps are printed side by side.

Reference log-probs: ``--ref default`` runs each product's default. tuneforge caches the matched
reference log-probs in one pass before training and scores the mismatched pairs' reference at
each step (they change with every epoch's shuffle); TRL computes all of them at every step.
``precompute`` sets TRL's ``precompute_ref_log_probs`` (matched and KL pairs, possible because
it never reshuffles) and tuneforge's default; ``on-the-fly`` computes everything at every step
on both sides. A precompute pass happens before step 1 and is reported separately (``ref_s``,
TRL's ``init_s``), never inside the timed window.

Measured the same way on both sides: tokens/s counts the non-padding tokens of the matched rows
of steps 3..N over the wall time from the end of step 2 to the end of step N, taken in each
trainer's step-end hook. Peak RSS is each child's own (``wait4``). The table also shows MFU: 8·N
FLOPs per matched token (4·N for the LoRA forward and backward, 2·N for each no-grad forward
over the mismatched pairs) against the fp32 matmul peak measured first.

The last line printed is one JSON object: ``{"method": "kto", "speedup", "memory_ratio",
"loss_diff_step1", "precision", "ref", "tokens_per_s", "peak_rss_mib"}``. Target: speedup >= 1.3.
Numbers from a busy machine are noisy: the load average is printed.
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
    emit_json,
    format_table,
    matmul_peak_flops,
    peak_rss_mib,
    python_argv,
    ratio,
    run_child,
    set_threads,
)

DEFAULT_DATA = REPO_ROOT / "examples" / "feedback" / "thumbs.jsonl"
FIRST_TIMED_STEP = 3
SHOWN = 4
METRICS = ("kl", "rewards/chosen", "rewards/rejected")


@dataclass(frozen=True)
class Settings:
    """Everything both sides must agree on; passed to the children as JSON."""

    data: str
    steps: int  # the last timed step; N + 1 steps are run
    ref: str = "default"
    batch_size: int = 4
    max_length: int = 1024
    lr: float = 5e-5
    beta: float = 0.1
    seed: int = 42
    precision: str = "fp32"
    lora_r: int = 16
    lora_alpha: int = 32
    max_grad_norm: float = 1.0
    threads: int = 2

    @property
    def total_steps(self) -> int:
        """Steps actually run: the timed ones plus one untimed step at the end."""
        return self.steps + 1

    def precompute(self, side: str) -> bool:
        """Whether ``side`` precomputes reference log-probs under ``--ref``."""
        if self.ref == "default":
            return side == "ours"
        return self.ref == "precompute"


# ------------------------------------------------------------------------------------------
# Parent: the shared data order
# ------------------------------------------------------------------------------------------


def prepare_data(settings: Settings, workdir: Path) -> dict[str, Any]:
    """``ours.jsonl`` (the examples used), ``trl.jsonl`` (them in tuneforge's batch order) and
    ``ids.jsonl`` (tuneforge's ids in that order)."""
    from tuneforge.data.load import load_examples
    from tuneforge.data.tokenize import TokenizeSettings, tokenize_example
    from tuneforge.engine.batches import epoch_batches
    from tuneforge.models import load_tokenizer

    tokenizer = load_tokenizer("embedded")
    lines = Path(settings.data).read_text(encoding="utf-8").splitlines()
    examples = load_examples(settings.data, "kto")
    needed = settings.total_steps * settings.batch_size
    if needed > len(examples):
        raise SystemExit(f"--steps {settings.steps} needs {needed} examples; the data has fewer")
    tokenize = TokenizeSettings(max_length=settings.max_length)
    chosen = [
        (lines[ex.origin.line - 1], ex, tokenize_example(ex, tokenizer, tokenize))
        for ex in examples[:needed]
    ]
    (workdir / "ours.jsonl").write_text("".join(line + "\n" for line, _, _ in chosen))
    batches = epoch_batches(needed, settings.batch_size, seed=settings.seed, epoch=0)
    with (
        open(workdir / "trl.jsonl", "w", encoding="utf-8") as trl_file,
        open(workdir / "ids.jsonl", "w", encoding="utf-8") as ids_file,
    ):
        for index in (i for batch in batches for i in batch):
            _, example, item = chosen[index]
            ids_file.write(json.dumps(item.prompt_ids + item.completion_ids) + "\n")
            row = {
                "prompt": [{"role": "user", "content": example.prompt}],
                "completion": [{"role": "assistant", "content": example.completion}],
                "label": bool(example.desirable),
            }
            trl_file.write(json.dumps(row, ensure_ascii=False) + "\n")
    return {"examples": needed}


# ------------------------------------------------------------------------------------------
# Children
# ------------------------------------------------------------------------------------------


def run_ours(settings: Settings, workdir: Path, run_dir: Path) -> dict[str, Any]:
    """tuneforge's side: `tuneforge.train.train` with the bench settings."""
    started = time.perf_counter()
    threads = set_threads(settings.threads)
    import tuneforge.train as train_module
    from tuneforge.config import parse_config
    from tuneforge.models import load_model

    cfg = parse_config(
        {
            "method": "kto",
            "model": "embedded",
            "output": str(run_dir),
            "data": {
                "train": str(workdir / "ours.jsonl"),
                "eval_split": 0,
                "max_length": settings.max_length,
            },
            "lora": {"r": settings.lora_r, "alpha": settings.lora_alpha, "dropout": 0.0},
            "kto": {"beta": settings.beta, "precompute_ref": settings.precompute("ours")},
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
    n_params = sum(p.numel() for p in model.parameters())
    clock = StepClock()
    with contextlib.redirect_stdout(sys.stderr):  # progress lines are still written
        outcome = train_module.train(
            cfg, model=model, on_step=lambda step, window: clock.tick(step, window.tokens)
        )
    logged = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return {
        "side": "ours",
        "losses": outcome.result.losses,
        "metrics": [{k: r.get(k) for k in METRICS} for r in logged if "loss" in r],
        "reference": manifest["reference"].get("mode"),
        "ref_s": timing["ref_s"],
        "n_params": n_params,
        "threads": threads,
        "wall_s": round(time.perf_counter() - started, 1),
        **clock.summary(FIRST_TIMED_STEP, settings.steps),
    }


def run_trl(settings: Settings, workdir: Path, run_dir: Path) -> dict[str, Any]:
    """TRL's side: KTOTrainer on the pre-ordered rows, model given as the cached folder."""
    started = time.perf_counter()
    threads = set_threads(settings.threads)
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer, TrainerCallback
    from trl import KTOConfig, KTOTrainer

    from tuneforge.embedded import ensure_embedded

    folder = str(ensure_embedded())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    rows = [json.loads(line) for line in (workdir / "trl.jsonl").read_text().splitlines()]
    ids = [json.loads(line) for line in (workdir / "ids.jsonl").read_text().splitlines()]
    clock = StepClock()
    state: dict[str, Any] = {"tokens": 0, "losses": [], "metrics": []}

    class Bench(KTOTrainer):
        def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
            state["tokens"] += int(inputs["attention_mask"].sum())  # the matched rows
            self._metrics["train"].clear()
            loss = super().training_step(model, inputs, num_items_in_batch)
            state["losses"].append(float(loss))
            logged = self._metrics["train"]
            state["metrics"].append({k: logged[k][-1] if logged.get(k) else None for k in METRICS})
            return loss

    class Clock(TrainerCallback):
        def on_step_end(self, args: Any, trainer_state: Any, control: Any, **kw: Any) -> None:
            clock.tick(trainer_state.global_step, state["tokens"])
            state["tokens"] = 0

    args = KTOConfig(
        output_dir=str(run_dir),
        max_steps=settings.total_steps,
        per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.lr,
        lr_scheduler_type="linear",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=settings.max_grad_norm,
        beta=settings.beta,
        seed=settings.seed,
        bf16=settings.precision == "bf16",
        use_cpu=True,
        gradient_checkpointing=False,
        model_init_kwargs={"dtype": "float32"},
        max_length=settings.max_length,
        precompute_ref_log_probs=settings.precompute("trl"),
        train_sampling_strategy="sequential",
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    peft_config = LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )
    init_started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        trainer = Bench(
            model=folder,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[Clock()],
        )
    init_s = time.perf_counter() - init_started
    data = trainer.train_dataset
    pairs = zip(data["prompt_ids"], data["completion_ids"], strict=True)
    theirs = [list(p) + list(c) for p, c in pairs]
    mismatched = [n for n, (a, b) in enumerate(zip(ids, theirs, strict=False)) if a != b]
    if len(ids) != len(theirs):
        mismatched.append(-1)
    base = trainer.model.get_base_model()
    n_params = sum(p.numel() for n, p in base.named_parameters() if "lora_" not in n)
    with contextlib.redirect_stdout(sys.stderr):
        trainer.train()
    return {
        "side": "trl",
        "losses": state["losses"],
        "metrics": state["metrics"],
        "ids_mismatched_rows": mismatched,
        "init_s": round(init_s, 2),  # includes TRL's reference precompute when on
        "n_params": n_params,
        "threads": threads,
        "wall_s": round(time.perf_counter() - started, 1),
        **clock.summary(FIRST_TIMED_STEP, settings.steps),
    }


def child_main(side: str, settings: Settings, workdir: Path, tag: str) -> None:
    """Run one side (run folder ``workdir/tag``) and print its JSON result as the last line."""
    runner = run_ours if side == "ours" else run_trl
    result = runner(settings, workdir, workdir / tag)
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    print(
        f"{side}: {result['tokens_per_s']:.1f} tokens/s, losses "
        f"{[round(v, 4) for v in result['losses'][:SHOWN]]}, peak RSS "
        f"{result['peak_rss_mib']:.0f} MiB",
        flush=True,
    )
    emit_json(result)


# ------------------------------------------------------------------------------------------
# Parent: run, compare, report
# ------------------------------------------------------------------------------------------


def _aggregate(results: list[ChildResult]) -> dict[str, Any]:
    """One side over several rounds: median tokens/s, largest peak RSS, first round's rest."""
    first = dict(results[0].payload)
    first["tokens_per_s_rounds"] = [round(r.payload["tokens_per_s"], 1) for r in results]
    first["tokens_per_s"] = statistics.median(r.payload["tokens_per_s"] for r in results)
    first["peak_rss_mib"] = max(r.max_rss_mib for r in results)
    return first


def report(settings: Settings, peak: float, ours: dict[str, Any], trl: dict[str, Any]) -> None:
    """The identical-input check, the side-by-side table and the per-step agreement."""
    mismatched = trl["ids_mismatched_rows"]
    flops_per_token = 8 * ours["n_params"]
    rows = [
        [
            name,
            round(side["tokens_per_s"], 1),
            side["step_seconds_median"],
            round(side["peak_rss_mib"]),
            f"{side['tokens_per_s'] * flops_per_token / peak:.1%}",
            side["wall_s"],
        ]
        for name, side in (("tuneforge", ours), ("TRL KTOTrainer", trl))
    ]
    print(
        f"\nKTO, embedded model ({ours['n_params'] / 1e6:.1f}M params), LoRA r={settings.lora_r}, "
        f"batch {settings.batch_size}, {settings.precision}, {ours['threads']} threads, tokens/s "
        f"over steps {FIRST_TIMED_STEP}..{settings.steps} (rounds: ours "
        f"{ours['tokens_per_s_rounds']}, trl {trl['tokens_per_s_rounds']})"
    )
    header = ["trainer", "tokens/s", "s/step (median)", "peak RSS MiB", "MFU", "wall s"]
    print(format_table(header, rows))
    print(
        f"TRL ids identical to tuneforge's: {not mismatched} (mismatched rows {mismatched[:10]}); "
        f"reference pass before step 1: ours {ours['ref_s']} s ({ours['reference']}), "
        f"TRL init {trl['init_s']} s; MFU = tokens/s x 8 x N_params / "
        f"{peak / 1e9:.1f} GFLOP/s"
    )
    print("per step (ours | trl): loss, kl, rewards/chosen, rewards/rejected")
    for step in range(min(SHOWN, len(ours["losses"]), len(trl["losses"]))):
        a = [ours["losses"][step], *(ours["metrics"][step].get(k) for k in METRICS)]
        b = [trl["losses"][step], *(trl["metrics"][step].get(k) for k in METRICS)]
        show = " ".join(f"{v:.6f}" if v is not None else "-" for v in a)
        show += " | " + " ".join(f"{v:.6f}" if v is not None else "-" for v in b)
        print(f"  step {step + 1}: {show}")


def parent_main(args: argparse.Namespace, settings: Settings) -> None:
    load_before = os.getloadavg()[0]
    peak = matmul_peak_flops(threads=settings.threads, seconds=args.peak_seconds)
    print(f"fp32 matmul peak ({settings.threads} threads): {peak / 1e9:.1f} GFLOP/s", flush=True)
    runs: dict[str, list[ChildResult]] = {"ours": [], "trl": []}
    with tempfile.TemporaryDirectory(prefix="kto_vs_trl-") as tmp:
        workdir = Path(tmp)
        prepared = prepare_data(settings, workdir)
        print(
            f"kto: {prepared['examples']} thumbs examples, {settings.total_steps} steps each, "
            f"timed {FIRST_TIMED_STEP}..{settings.steps}; {settings.precision}; reference: "
            f"ours {'matched precomputed' if settings.precompute('ours') else 'on the fly'}, "
            f"TRL {'precomputed' if settings.precompute('trl') else 'on the fly'}",
            flush=True,
        )
        for round_index in range(args.rounds):
            order = ("ours", "trl") if round_index % 2 == 0 else ("trl", "ours")
            for side in order:
                argv = python_argv(
                    __file__,
                    *("--side", side, "--workdir", str(workdir)),
                    *("--tag", f"{side}-{round_index}", "--settings", json.dumps(asdict(settings))),
                )
                runs[side].append(
                    run_child(argv, label=side, timeout_s=args.timeout, cwd=REPO_ROOT)
                )
    ours, trl = _aggregate(runs["ours"]), _aggregate(runs["trl"])
    report(settings, peak, ours, trl)
    print(f"load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}", flush=True)
    emit_json(
        {
            "method": "kto",
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
    parser.add_argument("--steps", type=int, default=10, help="last timed step (N); N+1 run")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--ref", choices=["default", "precompute", "on-the-fly"], default="default")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=1, help="alternate sides this many times")
    parser.add_argument("--peak-seconds", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=3600.0, help="per child, seconds")
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
        ref=args.ref,
        precision=args.precision,
        threads=args.threads,
    )
    parent_main(args, settings)


if __name__ == "__main__":
    main()
