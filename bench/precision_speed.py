"""fp32 against bf16 autocast on this CPU: the quickstart's SFT steps, timed in CPU seconds.

Runs tuneforge's own SFT step (LoRA on the embedded model, support-triage, batch 4, the
first epoch's batch order) for ``--steps`` optimizer steps after one warm-up step, in each
precision in turn, and prints tokens per CPU-second and per wall-second with the ATen CPU
capability in use. CPU seconds keep the comparison fair on a machine shared with other work;
run it under ``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`` to see a CPU without
AVX-512 bf16, where bf16 is emulated. Prints one JSON line per precision.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState

from tuneforge.config import load_config
from tuneforge.engine.batches import epoch_batches
from tuneforge.methods import build_method
from tuneforge.models import load_tokenizer
from tuneforge.run.stage import load_train_eval, prepare_model, tokenize_split
from tuneforge.safe_loading import SAFE

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "support-triage" / "sft.yaml"


def measure(precision: str, steps: int) -> dict[str, object]:
    """Tokens per CPU-second and per wall-second of ``steps`` SFT steps in ``precision``."""
    cfg = load_config(EXAMPLE, [f"train.precision={precision}"])
    tokenizer = load_tokenizer(cfg.model.path)
    examples, _ = load_train_eval(cfg)
    items = tokenize_split(examples, tokenizer, cfg, "train").items
    method = build_method(cfg)
    model = prepare_model(cfg, None, SAFE)
    model.train()
    # accelerate's state is a process-wide singleton: each precision needs it afresh.
    AcceleratorState._reset_state(reset_partial_state=False)
    accelerator = Accelerator(cpu=True, mixed_precision="bf16" if precision == "bf16" else "no")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.resolved_lr())
    order = epoch_batches(len(items), cfg.train.batch_size, seed=cfg.train.seed, epoch=0)
    cpu = wall = 0.0
    tokens = 0
    for index in range(steps + 1):
        batch = method.collate([items[i] for i in order[index]], tokenizer.pad_token_id)
        started_cpu, started_wall = time.process_time(), time.monotonic()
        with accelerator.autocast():
            output = method.step(model, batch, None)
        output.loss_sum.float().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if index:  # the first step warms the kernels up
            cpu += time.process_time() - started_cpu
            wall += time.monotonic() - started_wall
            tokens += output.tokens
    return {
        "precision": precision,
        "aten_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "steps": steps,
        "tokens": tokens,
        "tokens_per_cpu_s": round(tokens / cpu, 1),
        "tokens_per_wall_s": round(tokens / wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument(
        "--precision", choices=["fp32", "bf16"], nargs="+", default=["fp32", "bf16"]
    )
    args = parser.parse_args()
    for precision in args.precision:
        print(json.dumps(measure(precision, args.steps)), flush=True)


if __name__ == "__main__":
    main()
