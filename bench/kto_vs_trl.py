"""KTO speed, memory and loss: tuneforge against TRL's KTOTrainer on identical inputs.

Run: ``python bench/kto_vs_trl.py [--steps 10] [--precision fp32|bf16]
[--ref default|precompute|on-the-fly] [--rounds 1] [--device cpu|cuda|auto]``.

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

Measured the same way on both sides, on the same device (``--device cpu|cuda|auto``; on the
CPU, CUDA is hidden from both children): tokens/s counts the non-padding tokens of the matched
rows of steps 3..N over the wall time from the end of step 2 to the end of step N, taken in each
trainer's step-end hook; ``--rounds R`` runs each side R times, alternating which goes first,
and takes the median. Peak memory is each child's own: RSS (``wait4``) on the CPU, CUDA memory
allocated on a GPU. MFU counts the FLOPs a step requires (``_flops.py``: the body at every real
token, the head at learned positions only, the trained pass forward and backward, the no-grad
forwards over the mismatched pairs and any reference computed in the window) against the
matmul peak measured first; "executed" counts what each side's code multiplies instead (TRL pads
rows and, off Triton, runs its chunked head at every padded position).

The last line printed is one JSON object: ``{"method": "kto", "speedup", "memory_ratio",
"loss_diff_step1", "device", "precision", "ref", "tokens_per_s", "peak_rss_mib", "mfu",
"executed_utilisation", "rounds"}`` (``peak_gpu_mib`` too on a GPU). Target: speedup >= 1.3.
Numbers from a busy machine are noisy: the load average is printed.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _cli as cli  # noqa: E402
import _common as common  # noqa: E402
import _training as training  # noqa: E402
from _flops import REQUIRED, ModelShape, kto_passes, trl_layout  # noqa: E402
from _report import (  # noqa: E402
    Peak,
    format_table,
    measured_peak,
    median_of_rounds,
    peak_phrase,
    preference_json,
    side_flops,
    speed_cells,
    speed_header,
)

DEFAULT_DATA = common.REPO_ROOT / "examples" / "feedback" / "thumbs.jsonl"
SHOWN = 4
METRICS = ("kl", "rewards/chosen", "rewards/rejected")


@dataclass(frozen=True)
class Settings(common.PreferenceSettings):
    """Everything both sides must agree on; passed to the children as JSON (the shared
    defaults: lr 5e-5, β 0.1, max_length 1024, LoRA r=16/alpha=32, batch 4)."""


# ------------------------------------------------------------------------------------------
# Parent: the shared data order
# ------------------------------------------------------------------------------------------


def prepare_data(settings: Settings, workdir: Path) -> dict[str, Any]:
    """``ours.jsonl`` (the examples used), ``trl.jsonl`` (them in tuneforge's batch order) and
    ``ids.jsonl`` (tuneforge's ids in that order)."""
    ordered = training.ordered_examples(settings, "kto", workdir, noun="examples")
    records = (
        (
            item.prompt_ids + item.completion_ids,
            {
                "prompt": [{"role": "user", "content": example.prompt}],
                "completion": [{"role": "assistant", "content": example.completion}],
                "label": bool(example.desirable),
            },
        )
        for example, item in ordered
    )
    training.write_trl_inputs(workdir, records)
    lengths = [(len(item.prompt_ids), len(item.completion_ids)) for _, item in ordered]
    size = settings.batch_size
    return {
        "examples": len(ordered),
        "step_rows": [lengths[k : k + size] for k in range(0, len(lengths), size)],
        "model_config": training.embedded_config(),
    }


def step_passes(settings: Settings, prepared: dict[str, Any], side: str) -> list[Any]:
    """Per optimizer step, the passes ``side`` runs (``_flops``). tuneforge scores the
    mismatched pairs' reference at every step (they change with each epoch's shuffle); TRL
    precomputes both or neither."""
    matched_each = not settings.precompute(side)
    kl_each = side == "ours" or matched_each
    return [
        kto_passes(rows, matched_reference_each_step=matched_each, kl_reference_each_step=kl_each)
        for rows in prepared["step_rows"]
    ]


def announcement(settings: Settings, prepared: dict[str, Any]) -> str:
    """What is about to run: examples, steps, precision, each side's reference."""
    return (
        f"kto: {prepared['examples']} thumbs examples, {common.steps_phrase(settings)}; "
        f"{settings.precision}; reference: {settings.reference_phrase('matched precomputed')}"
    )


# ------------------------------------------------------------------------------------------
# Children
# ------------------------------------------------------------------------------------------


def run_ours(settings: Settings, workdir: Path, run_dir: Path) -> dict[str, Any]:
    """tuneforge's side: `tuneforge.train.train` with the bench settings."""
    start = training.begin_side(settings)
    cfg = training.tuneforge_config(
        settings,
        method="kto",
        run_dir=run_dir,
        train_file=workdir / "ours.jsonl",
        section={
            "beta": settings.beta,
            "precompute_ref": settings.precompute("ours"),
            "nll_weight": 0.0,  # TRL's KTOTrainer has no NLL term
        },
    )
    timing = training.time_reference_pass()
    run = training.train_tuneforge(cfg)
    logged = common.read_jsonl(run_dir / "metrics.jsonl")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return training.ours_result(
        run,
        start,
        settings,
        metrics=[{k: r.get(k) for k in METRICS} for r in logged if "loss" in r],
        reference=manifest["reference"].get("mode"),
        ref_s=timing["ref_s"],
        n_params=run.n_params,
    )


def run_trl(settings: Settings, workdir: Path, run_dir: Path) -> dict[str, Any]:
    """TRL's side: KTOTrainer on the pre-ordered rows, model given as the cached folder."""
    start = training.begin_side(settings)
    from trl import KTOConfig, KTOTrainer

    rows = common.read_jsonl(workdir / "trl.jsonl")
    ids = common.read_jsonl(workdir / "ids.jsonl")
    clock = common.StepClock()
    state: dict[str, Any] = {"tokens": 0, "losses": [], "metrics": []}

    class Bench(KTOTrainer):  # type: ignore[misc]
        def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
            state["tokens"] += int(inputs["attention_mask"].sum())  # the matched rows
            self._metrics["train"].clear()
            loss = super().training_step(model, inputs, num_items_in_batch)
            state["losses"].append(float(loss))
            logged = self._metrics["train"]
            state["metrics"].append({k: logged[k][-1] if logged.get(k) else None for k in METRICS})
            return loss

    args = training.trl_args(
        KTOConfig,
        settings,
        run_dir,
        beta=settings.beta,
        precompute_ref_log_probs=settings.precompute("trl"),
    )
    trainer, init_s = training.build_trl_trainer(
        Bench, settings, args, rows, [training.clock_callback(clock, state)]
    )
    data = trainer.train_dataset
    pairs = zip(data["prompt_ids"], data["completion_ids"], strict=True)
    theirs = [list(p) + list(c) for p, c in pairs]
    mismatched = [n for n, (a, b) in enumerate(zip(ids, theirs, strict=False)) if a != b]
    if len(ids) != len(theirs):
        mismatched.append(-1)
    n_params = training.base_model_params(trainer.model)
    training.timed_train(trainer)
    return training.trl_result(
        state,
        clock,
        start,
        settings,
        metrics=state["metrics"],
        ids_mismatched_rows=mismatched,
        init_s=round(init_s, 2),  # includes TRL's reference precompute when on
        n_params=n_params,
        device=training.model_device(trainer.model),
        head=training.trl_head(settings.device),
    )


# ------------------------------------------------------------------------------------------
# Parent: run, compare, report
# ------------------------------------------------------------------------------------------


def side_flop_counts(
    settings: Settings,
    prepared: dict[str, Any],
    peak: Peak,
    ours: dict[str, Any],
    trl: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """Each side's MFU and executed utilisation over its timed window (``_flops.py``)."""
    shape = ModelShape.from_config(prepared["model_config"], ours["n_params"])
    layouts = {"ours": REQUIRED, "trl": trl_layout(trl["head"])}
    return {
        side: side_flops(step_passes(settings, prepared, side), shape, layouts[side], r, peak)
        for side, r in (("ours", ours), ("trl", trl))
    }


def report(
    settings: Settings,
    peak: Peak,
    ours: dict[str, Any],
    trl: dict[str, Any],
    flops: dict[str, dict[str, Any]],
) -> None:
    """The identical-input check, the side-by-side table and the per-step agreement."""
    mismatched = trl["ids_mismatched_rows"]
    rows = [
        [*speed_cells(name, r, flops[side]), r["wall_s"]]
        for name, side, r in (("tuneforge", "ours", ours), ("TRL KTOTrainer", "trl", trl))
    ]
    print(
        f"\nKTO, embedded model ({ours['n_params'] / 1e6:.1f}M params), LoRA r={settings.lora_r}, "
        f"batch {settings.batch_size}, {settings.device}, {settings.precision}, "
        f"{ours['threads']} threads, tokens/s "
        f"over steps {common.FIRST_TIMED_STEP}..{settings.steps} (rounds: ours "
        f"{ours['tokens_per_s_rounds']}, trl {trl['tokens_per_s_rounds']})"
    )
    header = [*speed_header(settings.device), "wall s"]
    print(format_table(header, rows))
    print(
        f"TRL ids identical to tuneforge's: {not mismatched} (mismatched rows {mismatched[:10]}); "
        f"reference pass before step 1: ours {ours['ref_s']} s ({ours['reference']}), "
        f"TRL init {trl['init_s']} s; TRL head at: {trl['head']} positions"
    )
    print(
        f"MFU = required FLOPs (body at every real token, head at learned positions; trained "
        f"pass fwd + activation bwd, no-grad KL and reference forwards run in the window) / "
        f"time / matmul peak ({peak_phrase(peak)}); executed = what each side's code "
        "multiplies (padding, head positions)"
    )
    print("per step (ours | trl): loss, kl, rewards/chosen, rewards/rejected")
    for step in range(min(SHOWN, len(ours["losses"]), len(trl["losses"]))):
        a = [ours["losses"][step], *(ours["metrics"][step].get(k) for k in METRICS)]
        b = [trl["losses"][step], *(trl["metrics"][step].get(k) for k in METRICS)]
        show = " ".join(f"{v:.6f}" if v is not None else "-" for v in a)
        show += " | " + " ".join(f"{v:.6f}" if v is not None else "-" for v in b)
        print(f"  step {step + 1}: {show}")


def parent_main(args: Any, settings: Settings) -> None:
    """Measure the matmul peak, prepare the data, run both sides, report, print the JSON."""
    load_before = os.getloadavg()[0]
    peak = measured_peak(settings, args.peak_seconds)
    print(f"{settings.device} matmul peak: {peak_phrase(peak)}", flush=True)
    prepared, runs = common.prepare_and_run(
        __file__,
        settings,
        prepare_data,
        announcement,
        rounds=args.rounds,
        timeout_s=args.timeout,
    )
    ours, trl = median_of_rounds(runs["ours"]), median_of_rounds(runs["trl"])
    flops = side_flop_counts(settings, prepared, peak, ours, trl)
    report(settings, peak, ours, trl, flops)
    print(f"load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}", flush=True)
    payload = preference_json("kto", settings.precision, settings.ref, ours, trl)
    payload["mfu"] = {side: flops[side]["mfu"] for side in flops}
    payload["mfu_cpu_time"] = {side: flops[side]["mfu_cpu_time"] for side in flops}
    payload["executed_utilisation"] = {side: flops[side]["executed"] for side in flops}
    payload["rounds"] = args.rounds
    common.emit_json(payload)


def main() -> None:
    """Parse the command line; run as the parent, or as one side's child (``--side``)."""
    parser = cli.bench_parser(__doc__ or "", steps=10)
    parser.add_argument("--ref", choices=["default", "precompute", "on-the-fly"], default="default")
    cli.add_data_args(parser, DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=1, help="alternate sides this many times")
    parser.add_argument("--peak-seconds", type=float, default=2.0)
    cli.add_run_args(parser, timeout=3600.0)
    args = cli.parse_bench_args(parser)
    if cli.serve_child(
        args, Settings, {"ours": run_ours, "trl": run_trl}, losses_shown=SHOWN, show_window=False
    ):
        return
    settings = Settings(**cli.shared_settings(args), ref=args.ref)
    parent_main(args, settings)


if __name__ == "__main__":
    main()
