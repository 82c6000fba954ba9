"""The rows of ``bench/gpu_check.py``: each runs in its own child process and returns a dict.

A row is one thing the GPU check tries: train one method (LoRA or full), evaluate, train with
two processes, QLoRA, or one benchmark against TRL. `run_row` runs it and never raises: a
failure becomes ``{"status": "failed", "detail": <the error's first line>}``. The heavy
libraries are imported inside the functions, so the parent (which only plans and prints)
stays light.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _common import REPO_ROOT, last_json_line, peak_gpu_mib, peak_rss_mib

EXAMPLES = REPO_ROOT / "examples"
#: Each method's training file (the examples the README runs).
METHOD_DATA = {
    "sft": EXAMPLES / "support-triage" / "train.jsonl",
    "dpo": EXAMPLES / "brand-voice" / "train.jsonl",
    "orpo": EXAMPLES / "brand-voice" / "train.jsonl",
    "kto": EXAMPLES / "feedback" / "thumbs.jsonl",
}
REFERENCE_METHODS = ("dpo", "kto")


@dataclass(frozen=True)
class Plan:
    """How big every row is; the parent decides it and passes it to each child as JSON.

    ``model``: ``embedded`` or a folder (the reduced mode's tiny random model);
    ``precision``: ``bf16`` on a GPU, ``fp32`` on the CPU; ``workdir``: where runs go.
    """

    reduced: bool
    model: str
    precision: str
    steps: int
    batch_size: int
    max_length: int
    eval_examples: int
    bench_steps: int
    workdir: str

    def run_dir(self, row: str) -> Path:
        """The run folder of a training row."""
        return Path(self.workdir) / row


@dataclass(frozen=True)
class RowSpec:
    """One row: its name and what it runs (``kind``: train, eval, ddp, qlora, bench)."""

    name: str
    kind: str
    method: str = "sft"
    lora: bool = True


def first_line(error: BaseException | str) -> str:
    """The first non-empty line of an error (at most 300 characters), prefixed by its type
    for exceptions."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0][:300] if lines else ""
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text


def row_result(spec: RowSpec, status: str, detail: str = "", **fields: Any) -> dict[str, Any]:
    """A row's result with every key the table and the JSON line read."""
    base: dict[str, Any] = {
        "row": spec.name,
        "status": status,
        "detail": detail,
        "steps_per_s": None,
        "tokens_per_s": None,
        "peak_mib": None,
        "memory": None,
        "final_loss": None,
        "reference_device": None,
        "seconds": None,
    }
    return {**base, **fields}


# ------------------------------------------------------------------------------------------
# Training rows
# ------------------------------------------------------------------------------------------


def train_config(spec: RowSpec, plan: Plan, *, extra_lora: dict[str, Any] | None = None) -> Any:
    """The parsed tuneforge config of a training row (`raw_config`)."""
    from tuneforge.config import parse_config

    return parse_config(raw_config(spec, plan, extra_lora=extra_lora))


def raw_config(
    spec: RowSpec, plan: Plan, *, extra_lora: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The config of a training row as YAML would hold it (the SFT LoRA rows keep a held-out
    set, for the evaluation row; the others train on everything)."""
    data: dict[str, Any] = {"train": str(METHOD_DATA[spec.method]), "max_length": plan.max_length}
    raw: dict[str, Any] = {
        "method": spec.method,
        "model": plan.model,
        "output": str(plan.run_dir(spec.name)),
        "data": data,
        "lora": {"r": 16, "alpha": 32, **(extra_lora or {})} if spec.lora else None,
        "train": {
            "max_steps": plan.steps,
            "batch_size": plan.batch_size,
            "precision": plan.precision,
            "logging_steps": 1,
            "save_total_limit": 1,
            "seed": 0,
        },
    }
    if spec.method == "sft" and spec.lora:
        data["eval"] = str(EXAMPLES / "support-triage" / "eval.jsonl")
        raw["eval"] = {
            "baseline_system_prompt_file": str(EXAMPLES / "support-triage" / "system_prompt.txt"),
            "max_examples": plan.eval_examples,
        }
    else:
        data["eval_split"] = 0
    return raw


def watch_reference() -> dict[str, Any]:
    """Record where the reference log-probs are computed: the device of the model and of the
    values the method's ``reference_values`` returns, at its first call (precomputed pass or
    on the fly). Filled in while ``tuneforge.run.stage.train`` runs."""
    import tuneforge.run.stage as stage

    seen: dict[str, Any] = {}
    original = getattr(stage, "build_method", None)
    if original is None:  # the stage builds its method elsewhere now: report no device
        return seen

    def build(cfg: Any) -> Any:
        method = original(cfg)
        inner = getattr(method, "reference_values", None)
        if inner is None:
            return method

        def reference_values(model: Any, batch: Any) -> Any:
            values = inner(model, batch)
            if not seen:
                tensor = next(iter(values.values()))
                seen["model"] = next(model.parameters()).device.type
                seen["values"] = tensor.device.type
            return values

        method.reference_values = reference_values
        return method

    stage.build_method = build  # type: ignore[assignment]
    return seen


def train_row(spec: RowSpec, plan: Plan, *, extra_lora: dict[str, Any] | None = None) -> Any:
    """Train one method for ``plan.steps`` steps; throughput over steps 2..N (step 1 warms up)."""
    from tuneforge.run.stage import train

    cfg = train_config(spec, plan, extra_lora=extra_lora)
    reference = watch_reference()
    ends: dict[int, float] = {}
    tokens: dict[int, int] = {}

    def on_step(step: int, window: Any) -> None:
        ends[step] = time.perf_counter()
        tokens[step] = int(window.tokens)

    outcome = train(cfg, on_step=on_step)
    timed = [k for k in sorted(ends) if k - 1 in ends]
    seconds = sum(ends[k] - ends[k - 1] for k in timed)
    losses = outcome.result.losses
    fields: dict[str, Any] = {
        "steps": len(ends),
        "steps_per_s": round(len(timed) / seconds, 3) if seconds > 0 else None,
        "tokens_per_s": round(sum(tokens[k] for k in timed) / seconds, 1) if seconds > 0 else None,
        "final_loss": round(float(losses[-1]), 5) if losses else None,
        **memory_fields(),
    }
    manifest_path = outcome.run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    fields["manifest_device"] = manifest.get("device")
    if spec.method in REFERENCE_METHODS:
        fields["reference_device"] = reference.get("values")
        fields["reference_model_device"] = reference.get("model")
    return fields


def memory_fields() -> dict[str, Any]:
    """Peak memory of this process: CUDA memory allocated on a GPU, else the RSS."""
    gpu = peak_gpu_mib()
    if gpu is not None:
        return {"peak_mib": round(gpu), "memory": "gpu"}
    return {"peak_mib": round(peak_rss_mib()), "memory": "rss"}


def qlora_row(spec: RowSpec, plan: Plan) -> Any:
    """SFT with a 4-bit quantised base (``lora.quantize: 4bit``). A config without the key
    (rejected as an unknown field) is reported as skipped, not failed; so is the reduced mode
    (bitsandbytes needs CUDA), after the config has been checked."""
    from pydantic import ValidationError

    from tuneforge.errors import TuneforgeError

    try:
        train_config(spec, plan, extra_lora={"quantize": "4bit"})
    except (ValidationError, TuneforgeError, ValueError) as exc:
        if "quantize" in str(exc):
            return {"status": "skipped", "detail": "lora.quantize not available"}
        raise
    if plan.reduced:
        return {"status": "skipped", "detail": "reduced mode: needs CUDA (bitsandbytes)"}
    return train_row(spec, plan, extra_lora={"quantize": "4bit"})


# ------------------------------------------------------------------------------------------
# Evaluation, two processes, benchmarks
# ------------------------------------------------------------------------------------------


def eval_row(spec: RowSpec, plan: Plan) -> Any:
    """``tuneforge eval`` on the SFT LoRA row's run, as the command runs it (`evaluate_run`)."""
    from tuneforge.evaluate.runner import evaluate_run, resolve_target

    run_dir = plan.run_dir("sft-lora")
    overrides = [f"eval.max_examples={plan.eval_examples}", "eval.max_new_tokens=16"]
    cfg, run_dir = resolve_target(run_dir, overrides)
    started = time.perf_counter()
    outcome = evaluate_run(cfg, run_dir, progress=lambda m: print(m, file=sys.stderr))
    summary = outcome.document.get("summary") or {}
    verdict = summary.get("verdict") if isinstance(summary, dict) else None
    if isinstance(verdict, dict):
        verdict = next(iter(verdict.values()), None)
    return {
        "detail": str(verdict or f"eval.json written ({outcome.eval_path.name})")[:200],
        "eval_seconds": round(time.perf_counter() - started, 1),
        **memory_fields(),
    }


def ddp_row(spec: RowSpec, plan: Plan) -> Any:
    """``torchrun --nproc_per_node 2 -m tuneforge train CONFIG``: one run over two GPUs."""
    import yaml

    folder = plan.run_dir(spec.name)
    folder.mkdir(parents=True, exist_ok=True)
    raw = raw_config(RowSpec(spec.name, "train"), plan)
    raw["output"] = str(folder / "run")
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    argv = [
        *(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"),
        *("--master_port", str(free_port()), "-m", "tuneforge", "train", str(config_path)),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if done.returncode != 0:
        tail = [line for line in done.stderr.splitlines() if line.strip()]
        raise RuntimeError(f"torchrun exit {done.returncode}: {tail[-1] if tail else ''}")
    manifest = json.loads((folder / "run" / "manifest.json").read_text())
    return {
        "detail": f"world_size {manifest.get('world_size')}",
        "world_size": manifest.get("world_size"),
    }


def free_port() -> int:
    """A TCP port nothing listens on now (so runs side by side never collide)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bench_row(spec: RowSpec, plan: Plan) -> Any:
    """``bench/<method>_vs_trl.py --device cuda``: its JSON last line, both sides on the GPU."""
    script = REPO_ROOT / "bench" / f"{spec.method}_vs_trl.py"
    argv = [sys.executable, str(script), "--device", "cuda", "--steps", str(plan.bench_steps)]
    if spec.method == "dpo":
        argv += ["--ref", "precompute"]
    argv += ["--precision", plan.precision]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    if done.returncode != 0:
        tail = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise RuntimeError(f"{script.name} exit {done.returncode}: {tail[-1] if tail else ''}")
    return bench_fields(last_json_line(done.stdout))


def bench_fields(result: dict[str, Any]) -> dict[str, Any]:
    """A benchmark's JSON last line as row fields (ours' tokens/s and peak memory)."""
    memory = "gpu" if "peak_gpu_mib" in result else "rss"
    peaks = result.get("peak_gpu_mib") or result.get("peak_rss_mib") or {}
    mfu = result.get("mfu") or {}
    return {
        "detail": (
            f"speedup {result['speedup']:.2f}x, memory ratio {result['memory_ratio']:.2f}, "
            f"MFU ours {mfu.get('ours', float('nan')):.1%} / TRL {mfu.get('trl', float('nan')):.1%}"
        ),
        "tokens_per_s": (result.get("tokens_per_s") or {}).get("ours"),
        "peak_mib": round(peaks["ours"]) if "ours" in peaks else None,
        "memory": memory,
        "bench": result,
    }


# ------------------------------------------------------------------------------------------
# Dispatch
# ------------------------------------------------------------------------------------------

RUNNERS: dict[str, Callable[[RowSpec, Plan], Any]] = {
    "train": train_row,
    "eval": eval_row,
    "ddp": ddp_row,
    "qlora": qlora_row,
    "bench": bench_row,
}


def run_row(spec: RowSpec, plan: Plan) -> dict[str, Any]:
    """Run one row; any exception becomes a failed row with the error's first line."""
    started = time.perf_counter()
    try:
        fields = RUNNERS[spec.kind](spec, plan)
    except Exception as exc:  # a row's failure is its result, never the end of the check
        return row_result(spec, "failed", first_line(exc), seconds=elapsed(started))
    status = fields.pop("status", "ok")
    detail = fields.pop("detail", "")
    return row_result(spec, status, detail, seconds=elapsed(started), **fields)


def elapsed(started: float) -> float:
    """Seconds since ``started`` (a ``perf_counter`` value), rounded."""
    return round(time.perf_counter() - started, 1)


def child_main(spec_json: str, plan_json: str) -> None:
    """A row's child process: run it, print its result as the last stdout line."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    spec = RowSpec(**json.loads(spec_json))
    plan = Plan(**json.loads(plan_json))
    result = run_row(spec, plan)
    sys.stdout.flush()
    print(json.dumps(result, default=str), flush=True)


def to_json(value: Any) -> str:
    """A dataclass as the JSON a child reads back."""
    return json.dumps(asdict(value))
