"""The readable part of ``sft_vs_trl.py``'s report: identical-input checks and the table.

Parent-side only (no training libraries): it reads the children's JSON payloads, aggregated
over rounds, and the tokenizer the parent used to prepare the data.
"""

from __future__ import annotations

from typing import Any

from _common import FIRST_TIMED_STEP, BenchSettings
from _report import Peak, format_table, peak_phrase, ratio, speed_cells

IGNORE_INDEX = -100  # label of tokens that are not learned (as in tuneforge and transformers)
LOSSES_SHOWN = 3
TABLE_HEADER = [
    *("trainer", "tokens/s", "tokens/CPU-s", "s/step (median)", "peak MiB", "MFU"),
    *("MFU (CPU time)", "executed"),
    *("losses 1-3", "trainable", "set-up s"),
]


def first_example_report(tokenizer: Any, ours: dict[str, Any], trl: dict[str, Any]) -> str:
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


def report(
    settings: BenchSettings,
    peak: Peak,
    ours: dict[str, Any],
    trl: dict[str, Any],
    prepared: dict[str, Any],
    flops: dict[str, dict[str, Any]],
) -> None:
    """The readable part: identical-input checks and the side-by-side table (``flops``: each
    side's `_report.side_flops`)."""
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
    print(first_example_report(prepared["tokenizer"], ours, trl))
    rows = []
    for name, key, side in (("tuneforge", "ours", ours), ("TRL SFTTrainer", "trl", trl)):
        losses = side["losses"][:LOSSES_SHOWN]
        rows.append(
            [
                *speed_cells(name, side, flops[key]),
                " ".join(f"{v:.6f}" for v in losses),
                side["trainable_params"],
                side["set_up_s"],
            ]
        )
    print()
    print(
        f"SFT, embedded model ({ours['n_params'] / 1e6:.1f}M params), LoRA r={settings.lora_r}, "
        f"batch {settings.batch_size}, {settings.device}, {settings.precision}, "
        f"{ours['threads']} threads, "
        f"tokens/s over steps {FIRST_TIMED_STEP}..{settings.steps} "
        f"(per round: ours {ours['tokens_per_s_rounds']}, trl {trl['tokens_per_s_rounds']})"
    )
    print(format_table(TABLE_HEADER, rows))
    print(
        f"TRL optimizer: {trl['optimizer']}, weights {trl['dtype']}; "
        f"matmul peak {peak_phrase(peak)}; TRL head at: {trl['head']} positions; MFU = "
        "required FLOPs (body at real tokens, head at learned positions, fwd + activation bwd) "
        "/ time / peak; executed = what each side multiplies; peak MiB = RSS on the CPU, "
        "CUDA memory on a GPU"
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
