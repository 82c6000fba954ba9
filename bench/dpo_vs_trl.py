"""DPO (or ORPO) speed, memory and loss: tuneforge against TRL 1.16 on identical inputs.

Run: ``python bench/dpo_vs_trl.py [--method dpo|orpo] [--steps 10] [--precision fp32|bf16]
[--ref default|precompute|on-the-fly] [--rounds 1] [--device cpu|cuda|auto]``.

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
* DPO runs tuneforge's default ``dpo.nll_weight`` α; TRL gets the same loss as
  ``loss_type=["sigmoid", "sft"]``, ``loss_weights=[1, α]`` (plain sigmoid when α is 0).

Reference log-probs (DPO): ``--ref default`` runs each product's default (tuneforge precomputes
them once before training and caches them; TRL computes them at every step);
``precompute``/``on-the-fly`` force one mode on both sides. The precompute pass happens before
step 1 on both sides and is reported separately (``ref_s``), never inside the timed window.

Measured the same way on both sides, on the same device (``--device``; on the CPU, CUDA is
hidden from both children, and a child that trained elsewhere fails the run): tokens/s counts
non-padding tokens (both replies of each pair) of steps 3..N over the wall time from the end of
step 2 to the end of step N, taken in each trainer's step-end hook. ``--rounds R`` runs each side
R times, alternating which goes first, and counts each step at its fastest (other processes
only ever slow a step down). Peak memory is each child's own: RSS (``wait4``) on the CPU, CUDA
memory allocated on a GPU. MFU counts the FLOPs a step requires (``_flops.py``: body at every
real token, head at learned positions, forward and activation backward, plus a reference
forward when it runs in the window) over the matmul peak measured first; "executed" counts
what each side's code multiplies (TRL pads; off Triton its chunked head runs at every padded
position; ORPO builds full logits). The last line printed is one JSON object: ``{"method",
"speedup", "memory_ratio", "loss_diff_step1", "device", "precision", "ref", "tokens_per_s",
"peak_rss_mib", "mfu", "executed_utilisation", "tflop_per_step", "rounds"}``.
Targets: DPO speedup >= 1.5 and memory_ratio <= 0.8; ORPO speedup >= 1.3.
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
from _flops import REQUIRED, ModelShape, pair_passes, trl_layout  # noqa: E402
from _report import (  # noqa: E402
    best_of_rounds_side,
    format_table,
    measured_peak,
    peak_phrase,
    preference_json,
    side_flops,
    speed_cells,
    speed_header,
)

DEFAULT_DATA = common.REPO_ROOT / "examples" / "brand-voice" / "train.jsonl"


@dataclass(frozen=True)
class Settings(common.PreferenceSettings):
    """Everything both sides must agree on; passed to the children as JSON."""

    method: str = "dpo"  # or "orpo"
    trl_data: str = "chat"  # DPO only: "ids" gives TRL tuneforge's token ids
    #: DPO only: ``dpo.nll_weight`` α (None: tuneforge's default), given to TRL as the weight
    #: of its ``sft`` loss type (``loss_type=["sigmoid", "sft"]``): both optimise one loss.
    nll_weight: float | None = None

    def dpo_nll_weight(self) -> float:
        """α as both sides run it (imported in the children only: the parent stays light)."""
        if self.nll_weight is not None:
            return self.nll_weight
        from tuneforge.methods.dpo import NLL_WEIGHT

        return NLL_WEIGHT


# ------------------------------------------------------------------------------------------
# Parent: the shared data and order
# ------------------------------------------------------------------------------------------


def prepare_data(settings: Settings, workdir: Path) -> dict[str, Any]:
    """``ours.jsonl`` (the pairs used), ``trl.jsonl`` (them in tuneforge's batch order) and
    ``ids.jsonl`` (tuneforge's ids in that order)."""
    ordered = training.ordered_examples(settings, settings.method, workdir, noun="pairs")
    records = (
        (
            {
                "prompt_ids": item.prompt_ids,
                "chosen_ids": item.chosen_ids,
                "rejected_ids": item.rejected_ids,
            },
            {
                "prompt": [{"role": "user", "content": example.prompt}],
                "chosen": [{"role": "assistant", "content": example.chosen}],
                "rejected": [{"role": "assistant", "content": example.rejected}],
            },
        )
        for example, item in ordered
    )
    training.write_trl_inputs(workdir, records)
    lengths = [
        (len(item.prompt_ids), len(item.chosen_ids), len(item.rejected_ids)) for _, item in ordered
    ]
    size = settings.batch_size
    return {
        "pairs": len(ordered),
        "step_pairs": [lengths[k : k + size] for k in range(0, len(lengths), size)],
        "model_config": training.embedded_config(),
    }


def announcement(settings: Settings, prepared: dict[str, Any]) -> str:
    """What is about to run: pairs, steps, precision, where each reference comes from."""
    return (
        f"{settings.method}: {prepared['pairs']} brand-voice pairs, "
        f"{common.steps_phrase(settings)}; {settings.precision}; "
        f"reference: {settings.reference_phrase()}"
        + ("" if settings.method == "dpo" else " (ORPO: none)")
    )


# ------------------------------------------------------------------------------------------
# Children
# ------------------------------------------------------------------------------------------


def trl_dpo_losses(nll_weight: float) -> dict[str, Any]:
    """TRL 1.16's DPOConfig arguments for DPO + α·NLL(chosen): ``dpo.nll_weight`` α (RPO)."""
    if nll_weight == 0:
        return {"loss_type": ["sigmoid"]}
    return {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, nll_weight]}


def run_ours(settings: Settings, workdir: Path, run_dir: Path) -> dict[str, Any]:
    """tuneforge's side: ``tuneforge.train.train`` with the bench settings."""
    start = training.begin_side(settings)
    section: dict[str, Any] = {"beta": settings.beta}
    if settings.method == "dpo":
        section["precompute_ref"] = settings.precompute("ours")
        section["nll_weight"] = settings.dpo_nll_weight()
    else:
        section["nll_on_prompt"] = True  # as TRL computes the NLL
    cfg = training.tuneforge_config(
        settings,
        method=settings.method,
        run_dir=run_dir,
        train_file=workdir / "ours.jsonl",
        section=section,
    )
    timing = training.time_reference_pass()
    run = training.train_tuneforge(cfg)
    manifest = json.loads((run.outcome.run_dir / "manifest.json").read_text())
    return training.ours_result(
        run,
        start,
        settings,
        reference=manifest["reference"],
        ref_s=timing["ref_s"],
        n_params=run.n_params,
    )


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


def run_trl(settings: Settings, workdir: Path, run_dir: Path) -> dict[str, Any]:
    """TRL's side, the model given as the cached embedded folder."""
    start = training.begin_side(settings)
    rows = common.read_jsonl(workdir / "trl.jsonl")
    ids = common.read_jsonl(workdir / "ids.jsonl")
    if settings.method == "orpo":  # tokenize_row looks the ids up by row number
        rows = [{"prompt": "p", "chosen": "c", "rejected": "r", "row": n} for n in range(len(ids))]
    clock = common.StepClock()
    state: dict[str, Any] = {"tokens": 0, "losses": []}
    if settings.method == "dpo":
        from trl import DPOConfig

        args = training.trl_args(
            DPOConfig,
            settings,
            run_dir,
            beta=settings.beta,
            precompute_ref_log_probs=settings.precompute("trl"),
            **trl_dpo_losses(settings.dpo_nll_weight()),
        )
    else:
        from trl.experimental.orpo import ORPOConfig

        init_kwargs = {"dtype": "float32", "device_map": None}
        args = training.trl_args(
            ORPOConfig, settings, run_dir, beta=settings.beta, model_init_kwargs=init_kwargs
        )
    trainer_class = _trl_trainer_class(settings, ids, state)
    callbacks = [training.clock_callback(clock, state)]
    trainer, init_s = training.build_trl_trainer(trainer_class, settings, args, rows, callbacks)
    mismatched = []
    if settings.method == "dpo":
        data = trainer.train_dataset
        mismatched = [
            n for n, item in enumerate(ids) if any(list(data[n][k]) != item[k] for k in item)
        ]
    training.timed_train(trainer)
    return training.trl_result(
        state,
        clock,
        start,
        settings,
        ids_mismatched_rows=mismatched,
        init_s=round(init_s, 2),  # includes TRL's reference precompute when on
        optimizer=training.optimizer_name(trainer),
        device=training.model_device(trainer.model),
        head=training.trl_head(settings.device, full_logits=settings.method == "orpo"),
    )


# ------------------------------------------------------------------------------------------
# Parent: run both, report
# ------------------------------------------------------------------------------------------


def step_passes(settings: Settings, prepared: dict[str, Any], side: str) -> list[Any]:
    """Per optimizer step, the passes ``side`` runs (``_flops``): DPO adds a reference pass
    when that side computes it at each step; ORPO has no reference."""
    each_step = settings.method == "dpo" and not settings.precompute(side)
    orpo = settings.method == "orpo"
    return [
        pair_passes(step, reference_each_step=each_step, prompt_learned=orpo)
        for step in prepared["step_pairs"]
    ]


def parent_main(args: Any, settings: Settings) -> None:
    """Measure the matmul peak, prepare the data, run both sides ``--rounds`` times
    (alternating which goes first), print the table and the JSON last line."""
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
    ours, trl = best_of_rounds_side(runs["ours"]), best_of_rounds_side(runs["trl"])
    if settings.precompute("ours") != settings.precompute("trl"):
        print("note: the two sides do not do the same work (one precomputes its reference)")
    shape = ModelShape.from_config(prepared["model_config"], ours["n_params"])
    layouts = {"ours": REQUIRED, "trl": trl_layout(trl["head"])}
    flops = {
        side: side_flops(step_passes(settings, prepared, side), shape, layouts[side], r, peak)
        for side, r in (("ours", ours), ("trl", trl))
    }
    rows = [
        [*speed_cells(name, r, flops[side]), " ".join(f"{v:.5f}" for v in r["losses"][:3])]
        for name, side, r in (("tuneforge", "ours", ours), ("TRL", "trl", trl))
    ]
    print()
    print(
        f"{settings.method}, {settings.device}, {settings.precision}, rounds {args.rounds} "
        f"(tokens/s per round: ours {ours['tokens_per_s_rounds']}, "
        f"trl {trl['tokens_per_s_rounds']})"
    )
    header = [*speed_header(settings.device), "losses 1-3"]
    print(format_table(header, rows))
    print(
        f"TRL ids identical to tuneforge's: {not trl['ids_mismatched_rows']} "
        f"(mismatched rows {trl['ids_mismatched_rows'][:10]}); TRL optimizer {trl['optimizer']}; "
        f"TRL head at: {trl['head']} positions; "
        f"reference pass before step 1: ours {ours['ref_s']} s ({ours['reference']}), "
        f"TRL init {trl['init_s']} s; load average {load_before:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    print(
        "MFU = required FLOPs (body at every real token, head at learned positions, fwd + "
        "activation bwd, reference forwards run in the window) / time / matmul peak; "
        "executed = the FLOPs each side's code multiplies (padding, head positions)"
    )
    payload = preference_json(settings.method, settings.precision, settings.ref, ours, trl)
    payload["mfu"] = {side: flops[side]["mfu"] for side in flops}
    payload["mfu_cpu_time"] = {side: flops[side]["mfu_cpu_time"] for side in flops}
    payload["executed_utilisation"] = {side: flops[side]["executed"] for side in flops}
    payload["tflop_per_step"] = {
        side: {k: flops[side][f"{k}_tflop_per_step"] for k in ("required", "executed")}
        for side in flops
    }
    payload["rounds"] = args.rounds
    common.emit_json(payload)


def main() -> None:
    """Parse the command line; run as the parent, or as one side's child (``--side``)."""
    parser = cli.bench_parser(__doc__ or "", steps=10)
    parser.add_argument("--method", choices=["dpo", "orpo"], default="dpo")
    parser.add_argument("--ref", choices=["default", "precompute", "on-the-fly"], default="default")
    parser.add_argument("--trl-data", choices=["chat", "ids"], default="chat")
    parser.add_argument("--lr", type=float, default=None, help="default: 5e-5 dpo, 1e-4 orpo")
    cli.add_data_args(parser, DEFAULT_DATA)
    parser.add_argument("--rounds", type=int, default=1, help="alternate sides this many times")
    parser.add_argument("--peak-seconds", type=float, default=2.0)
    cli.add_run_args(parser, timeout=3600.0)
    args = cli.parse_bench_args(parser)
    if cli.serve_child(args, Settings, {"ours": run_ours, "trl": run_trl}, digits=5):
        return
    lr = args.lr if args.lr is not None else (5e-5 if args.method == "dpo" else 1e-4)
    settings = Settings(
        method=args.method,
        **cli.shared_settings(args),
        ref=args.ref,
        trl_data=args.trl_data,
        lr=lr,
    )
    parent_main(args, settings)


if __name__ == "__main__":
    main()
