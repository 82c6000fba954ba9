"""The GPU check: every method, the evaluation, two processes, QLoRA and the TRL benchmarks.

Run it on a CUDA machine, from the repository root, in one call (it keeps to ``--time-budget``,
default 450 s, so it fits an 8-minute slot)::

    pip install torch --index-url https://download.pytorch.org/whl/cu124   # if torch is CPU-only
    python bench/gpu_check.py                    # full mode when torch sees CUDA
    python bench/gpu_check.py --reduced          # the CPU mode (automatic without CUDA)
    python bench/gpu_check.py --json-out check.json --only sft-lora dpo-lora

Full mode (CUDA): the embedded model (SmolLM2-135M) in bf16, 30 steps per training row, batch 4,
sequences cut at 256 tokens; rows:

* ``cuda``: the torch build, the GPU's name and count (a CPU-only torch is a failed row that
  says how to install a CUDA build; the check then falls back to the reduced mode);
* ``<method>-lora`` and ``<method>-full`` for sft, dpo, orpo, kto: ``tuneforge.run.stage.train``
  with the defaults (DPO and KTO precompute their reference; the row says on which device the
  reference log-probs were computed);
* ``eval``: ``tuneforge eval`` on the ``sft-lora`` run, as the command runs it
  (``evaluate_run``), on a few held-out examples;
* ``ddp-2proc``: ``torchrun --nproc_per_node 2 -m tuneforge train CONFIG`` (two GPUs needed);
* ``qlora``: SFT with ``lora.quantize: 4bit`` (skipped when the config has no such key);
* ``bench-dpo``, ``bench-sft``: ``bench/dpo_vs_trl.py --ref precompute`` and
  ``bench/sft_vs_trl.py`` with ``--device cuda``: both sides on the same GPU.

Every row runs in its own child process with its own timeout (``--row-timeout``, and never
past what is left of ``--time-budget``), so one failure or one slow row cannot stop the rest.
Each row reports: status (ok, failed or skipped, with the error's first line or the reason),
steps/s and tokens/s (training steps 2..N), peak memory (CUDA memory allocated on a GPU, RSS on
the CPU), final loss, and for DPO/KTO the device of the reference log-probs.

Reduced mode (``--reduced``, or automatically without CUDA): a tiny random Llama with the
embedded tokenizer (2 layers, 64 wide), 3 steps per row, sequences cut at 128 tokens, fp32 on
the CPU; two processes and the benchmarks are skipped with the reason, and QLoRA after checking
that the config accepts ``lora.quantize``.

Output: the table, then as the very last line one JSON object ``{"mode", "device", "torch",
"cuda", "gpu", "budget_s", "elapsed_s", "rows": [...], "counts": {"ok", "failed",
"skipped"}}``. The exit status is 1 when a row failed, else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _gpu_rows as rows  # noqa: E402
from _common import QUIET_ENV, REPO_ROOT, emit_json  # noqa: E402
from _report import format_table  # noqa: E402

METHODS = ("sft", "dpo", "orpo", "kto")
TABLE_HEADER = [
    *("row", "status", "steps/s", "tokens/s", "peak MiB", "final loss", "reference", "s"),
    "detail",
]
#: Seconds kept back from the budget for printing and clean-up.
RESERVE_S = 5.0


@dataclass(frozen=True)
class Environment:
    """What torch offers here: its version, whether CUDA works, the GPUs."""

    torch: str
    cuda: bool
    gpu: str | None
    gpu_count: int

    @classmethod
    def probe(cls) -> Environment:
        """Ask torch (imported here only)."""
        import torch

        cuda = torch.cuda.is_available()
        count = torch.cuda.device_count() if cuda else 0
        gpu = torch.cuda.get_device_name(0) if cuda else None
        return cls(torch=torch.__version__, cuda=cuda, gpu=gpu, gpu_count=count)


def all_rows() -> list[rows.RowSpec]:
    """Every row, in the order they run (cheap and most important first)."""
    specs = [rows.RowSpec(f"{m}-lora", "train", m, lora=True) for m in METHODS]
    specs += [rows.RowSpec(f"{m}-full", "train", m, lora=False) for m in METHODS]
    specs += [
        rows.RowSpec("eval", "eval"),
        rows.RowSpec("qlora", "qlora", "sft"),
        rows.RowSpec("ddp-2proc", "ddp", "sft"),
        rows.RowSpec("bench-dpo", "bench", "dpo"),
        rows.RowSpec("bench-sft", "bench", "sft"),
    ]
    return specs


def make_plan(reduced: bool, workdir: Path) -> rows.Plan:
    """Row sizes for the mode; the reduced mode writes its tiny model into ``workdir``."""
    if not reduced:
        return rows.Plan(
            reduced=False,
            model="embedded",
            precision="bf16",
            steps=30,
            batch_size=4,
            max_length=256,
            eval_examples=20,
            bench_steps=12,
            workdir=str(workdir),
        )
    return rows.Plan(
        reduced=True,
        model=str(tiny_model_folder(workdir / "tiny-model")),
        precision="fp32",
        steps=3,
        batch_size=2,
        max_length=128,
        eval_examples=2,
        bench_steps=3,
        workdir=str(workdir),
    )


def tiny_model_folder(folder: Path) -> Path:
    """A 2-layer, 64-wide random Llama with the embedded tokenizer, saved as a model folder."""
    from tuneforge.models import build_tiny_model, load_tokenizer

    tokenizer = load_tokenizer("embedded")
    build_tiny_model(tokenizer, seed=0).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def skip_reason(spec: rows.RowSpec, env: Environment, plan: rows.Plan, done: dict[str, Any]) -> str:
    """Why ``spec`` cannot run here ('' when it can)."""
    if spec.kind == "eval" and done.get("sft-lora", {}).get("status") != "ok":
        return "needs the sft-lora run, which did not finish"
    if spec.kind in ("ddp", "bench") and plan.reduced:  # qlora's child checks its config
        needs = {"ddp": "two CUDA GPUs", "bench": "CUDA"}
        return f"reduced mode: needs {needs[spec.kind]}"
    if spec.kind == "ddp" and env.gpu_count < 2:
        return f"needs two GPUs (found {env.gpu_count})"
    return ""


def run_in_child(spec: rows.RowSpec, plan: rows.Plan, timeout_s: float) -> dict[str, Any]:
    """Run one row in a child process; a crash or a timeout is a failed row.

    The child leads its own process group, so a timeout also ends what it started (the
    benchmark's two sides, torchrun's workers) instead of leaving them on the GPU.
    """
    argv = [
        *(sys.executable, str(Path(__file__).resolve()), "--row", rows.to_json(spec)),
        *("--plan", rows.to_json(plan)),
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, **QUIET_ENV},
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        detail = f"timed out after {timeout_s:.0f} s"
        return rows.row_result(spec, "failed", detail, seconds=rows.elapsed(started))
    try:
        return rows.last_json_line(stdout)
    except ValueError:
        tail = [line for line in stderr.splitlines() if line.strip()]
        detail = f"exit {proc.returncode}: {tail[-1][:300] if tail else 'no output'}"
        return rows.row_result(spec, "failed", detail, seconds=rows.elapsed(started))


def cuda_row(env: Environment, reduced_asked: bool) -> dict[str, Any]:
    """The first row: is there a usable CUDA GPU, and which."""
    spec = rows.RowSpec("cuda", "env")
    if env.cuda:
        detail = f"torch {env.torch}, {env.gpu_count} x {env.gpu}"
        return rows.row_result(spec, "ok", detail)
    if reduced_asked:
        return rows.row_result(spec, "skipped", f"reduced mode on the CPU (torch {env.torch})")
    return rows.row_result(
        spec,
        "failed",
        f"torch {env.torch} has no CUDA: install a CUDA build (pip install torch --index-url "
        "https://download.pytorch.org/whl/cu124); running the reduced CPU mode instead",
    )


def run_check(
    env: Environment,
    *,
    reduced: bool,
    budget_s: float,
    row_timeout_s: float,
    only: list[str] | None = None,
    workdir: Path,
) -> dict[str, Any]:
    """Every row within the budget; returns the JSON summary (rows included)."""
    started = time.perf_counter()
    reduced_asked = reduced
    reduced = reduced or not env.cuda
    plan = make_plan(reduced, workdir)
    results: dict[str, dict[str, Any]] = {"cuda": cuda_row(env, reduced_asked)}
    for spec in all_rows():
        if only and spec.name not in only:
            continue
        left = budget_s - (time.perf_counter() - started) - RESERVE_S
        reason = skip_reason(spec, env, plan, results)
        if reason:
            results[spec.name] = rows.row_result(spec, "skipped", reason)
        elif left < 10:
            results[spec.name] = rows.row_result(spec, "skipped", "time budget spent")
        else:
            results[spec.name] = run_in_child(spec, plan, min(row_timeout_s, left))
        print(row_line(results[spec.name]), file=sys.stderr, flush=True)
    listed = list(results.values())
    counts = {s: sum(r["status"] == s for r in listed) for s in ("ok", "failed", "skipped")}
    return {
        "mode": "reduced" if reduced else "full",
        "device": "cuda" if not reduced else "cpu",
        "torch": env.torch,
        "cuda": env.cuda,
        "gpu": env.gpu,
        "gpu_count": env.gpu_count,
        "budget_s": budget_s,
        "elapsed_s": round(time.perf_counter() - started, 1),
        "rows": listed,
        "counts": counts,
    }


def row_line(result: dict[str, Any]) -> str:
    """One line of progress while the check runs."""
    return f"[gpu_check] {result['row']}: {result['status']} {result.get('detail', '')}".rstrip()


def table(summary: dict[str, Any]) -> str:
    """The rows as a text table."""
    body = []
    for r in summary["rows"]:
        peak = f"{r['peak_mib']} ({r['memory']})" if r.get("peak_mib") is not None else "-"
        body.append(
            [
                r["row"],
                r["status"],
                _show(r.get("steps_per_s")),
                _show(r.get("tokens_per_s")),
                peak,
                _show(r.get("final_loss")),
                r.get("reference_device") or "-",
                _show(r.get("seconds")),
                r.get("detail") or "",
            ]
        )
    return format_table(TABLE_HEADER, body)


def _show(value: Any) -> str:
    return "-" if value is None else str(value)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line; run one row (child) or the whole check (parent)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--reduced", action="store_true", help="the CPU mode, even with CUDA")
    parser.add_argument("--time-budget", type=float, default=450.0, help="seconds, all rows")
    parser.add_argument("--row-timeout", type=float, default=150.0, help="seconds, each row")
    parser.add_argument("--only", nargs="+", help="run only these rows (names as in the table)")
    parser.add_argument("--json-out", help="also write the JSON summary to this file")
    parser.add_argument("--workdir", help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--row", help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.row:
        rows.child_main(args.row, args.plan)
        return 0
    env = Environment.probe()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="gpu-check-"))
    try:
        summary = run_check(
            env,
            reduced=args.reduced,
            budget_s=args.time_budget,
            row_timeout_s=args.row_timeout,
            only=args.only,
            workdir=workdir,
        )
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    title = summary["gpu"] or "CPU"
    print(f"\nGPU check ({summary['mode']} mode, {title}, torch {summary['torch']}):")
    print(table(summary))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(summary, indent=1, default=str) + "\n")
    emit_json(json.loads(json.dumps(summary, default=str)))
    return 1 if summary["counts"]["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
