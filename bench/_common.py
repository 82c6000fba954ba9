"""Shared helpers for the side-by-side benchmarks in ``bench/`` (not part of the package).

Every ``*_vs_trl.py`` benchmark runs each side in its own child process (so peak RSS is
that side's alone) and talks to it through a tiny protocol: a child prints whatever it
likes, then, as its very last stdout line, one JSON object (`emit_json`). The parent starts
the children with `run_child`, which echoes their output with a prefix, reads the peak RSS
of that child from the kernel (``wait4``) and parses the last line.

Also here: the settings every benchmark shares (`BenchSettings`), running both sides round
after round (`run_sides`, `prepare_and_run`) and a step clock that measures tokens/s the same
way on both sides (`StepClock`). The command line is in ``_cli.py``; the children's training
code (tuneforge's and TRL's side) is in ``_training.py``, which imports the heavy libraries;
combining rounds, MFU's matmul peak, the headline JSON numbers and the text table are in
``_report.py``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Environment for child processes: quiet libraries, no network, no progress bars.
QUIET_ENV = {
    "TRANSFORMERS_VERBOSITY": "error",
    "DATASETS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "DISABLE_TQDM": "1",
    "PYTHONWARNINGS": "ignore",
    "WANDB_DISABLED": "true",
}

#: Steps before this one are warm-up and never timed (every benchmark, both sides).
FIRST_TIMED_STEP = 3


@dataclass(frozen=True)
class BenchSettings:
    """What both sides of every benchmark must agree on; passed to the children as JSON.

    Each benchmark subclasses it (its own defaults, its own extra fields); a child rebuilds
    its script's class from the JSON, so every field must be a plain JSON value.
    """

    data: str
    steps: int  # the last timed step; N + 1 steps are run
    batch_size: int = 4
    max_length: int = 1024
    lr: float = 5e-5
    seed: int = 42
    precision: str = "fp32"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    max_grad_norm: float = 1.0
    threads: int = 2
    #: Where BOTH sides train: "cpu" (CUDA hidden from both children) or "cuda".
    device: str = "cpu"

    @property
    def total_steps(self) -> int:
        """Steps actually run: the timed ones plus one untimed step at the end (which
        absorbs end-of-run work such as tuneforge's final checkpoint)."""
        return self.steps + 1


@dataclass(frozen=True)
class PreferenceSettings(BenchSettings):
    """`BenchSettings` plus what the preference benchmarks (DPO, ORPO, KTO) add: β and
    where the reference log-probs come from (``--ref``)."""

    ref: str = "default"
    beta: float = 0.1

    def precompute(self, side: str) -> bool:
        """Whether ``side`` precomputes the reference log-probs under ``--ref``.

        ``default`` is each product's own default: tuneforge precomputes, TRL does not.
        """
        if self.ref == "default":
            return side == "ours"
        return self.ref == "precompute"

    def reference_phrase(self, ours_precomputed: str = "precomputed") -> str:
        """Where each side's reference log-probs come from, for the announcement line."""
        ours = ours_precomputed if self.precompute("ours") else "on the fly"
        return f"ours {ours}, TRL {'precomputed' if self.precompute('trl') else 'on the fly'}"


def steps_phrase(settings: BenchSettings) -> str:
    """``"N+1 steps each, timed 3..N"``: the schedule every announcement line states."""
    return f"{settings.total_steps} steps each, timed {FIRST_TIMED_STEP}..{settings.steps}"


def read_jsonl(path: Path) -> list[Any]:
    """Every line of a JSONL file the parent wrote for the children, parsed."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


# ------------------------------------------------------------------------------------------
# The child side of the protocol
# ------------------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20


def peak_gpu_mib() -> float | None:
    """Peak CUDA memory this process allocated through torch, in MiB (None off CUDA)."""
    if "torch" not in sys.modules:
        return None
    import torch

    if not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return None
    return torch.cuda.max_memory_allocated() / 2**20


def child_env(device: str) -> dict[str, str]:
    """Extra environment of a benchmark child: on ``cpu`` CUDA is hidden, so neither side
    (tuneforge's accelerator picks CUDA whenever it sees one) can take the GPU."""
    return {"CUDA_VISIBLE_DEVICES": ""} if device == "cpu" else {}


def resolve_device(requested: str) -> str:
    """``cpu``/``cuda`` from ``--device cpu|cuda|auto`` (auto: CUDA when torch sees one).

    Raises SystemExit when ``cuda`` is asked for and torch has no CUDA.
    """
    if requested == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if requested == "cuda" and not available:
        raise SystemExit(
            f"--device cuda: torch {torch.__version__} sees no CUDA device "
            "(a CPU-only build, or no GPU); use --device cpu or auto"
        )
    return "cuda" if available else "cpu"


def emit_json(payload: dict[str, Any]) -> None:
    """Print ``payload`` as one JSON line and flush: call it last (the parent reads it)."""
    sys.stdout.flush()
    print(json.dumps(payload, separators=(",", ":")), flush=True)


def finish_child(
    side: str,
    result: dict[str, Any],
    *,
    losses_shown: int = 3,
    digits: int = 4,
    show_window: bool = True,
) -> None:
    """Add the child's peak RSS to ``result``, print a one-line summary, then emit it.

    The summary format differs a little between benchmarks (losses shown, their digits,
    whether the timed window is named); the arguments keep each script's output unchanged.
    """
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    gpu = peak_gpu_mib()
    if gpu is not None:
        result["peak_gpu_mib"] = round(gpu, 1)
    window = ""
    if show_window:
        first, last = result["timed_steps"]
        window = f" over steps {first}..{last}"
    losses = [round(v, digits) for v in result["losses"][:losses_shown]]
    print(
        f"{side}: {result['tokens_per_s']:.1f} tokens/s{window}, losses {losses}, "
        f"peak RSS {result['peak_rss_mib']:.0f} MiB",
        flush=True,
    )
    emit_json(result)


def last_json_line(text: str) -> dict[str, Any]:
    """The JSON object on the last non-empty line of ``text`` (ValueError when there is none)."""
    for line in reversed(text.splitlines()):
        if line.strip():
            value = json.loads(line)
            if not isinstance(value, dict):
                raise ValueError(f"last line is JSON but not an object: {line[:200]}")
            return value
    raise ValueError("no output")


def set_threads(threads: int | None) -> int:
    """Pin torch's intra-op threads (default: every CPU); returns the number in use."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


@dataclass
class StepClock:
    """Wall-clock time at the end of each optimizer step, plus the tokens of that step.

    ``tick(step, tokens)`` is called from each trainer's step-end hook. Throughput is
    measured over steps ``first_timed``..last: from the end of step ``first_timed - 1`` to
    the end of the last recorded step, so the first (warm-up) steps never count.
    """

    ends: dict[int, float] = field(default_factory=dict)
    cpu_ends: dict[int, float] = field(default_factory=dict)
    tokens: dict[int, int] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def tick(self, step: int, tokens: int) -> None:
        """Record that optimizer step ``step`` (1-based) just ended, having seen ``tokens``."""
        self.ends[step] = time.perf_counter()
        self.cpu_ends[step] = time.process_time()
        self.tokens[step] = int(tokens)

    def step_seconds(self) -> dict[int, float]:
        """Duration of each step after the first (end of step k-1 to end of step k)."""
        return {k: self.ends[k] - self.ends[k - 1] for k in sorted(self.ends) if k - 1 in self.ends}

    def window(self, first_timed: int = 3, last_timed: int | None = None) -> tuple[int, float]:
        """(tokens, seconds) over steps ``first_timed``..``last_timed`` (default: the last)."""
        last = max(self.ends) if last_timed is None else last_timed
        if first_timed - 1 not in self.ends or last not in self.ends or last < first_timed:
            raise ValueError(f"steps {first_timed}..{last} were not all recorded")
        seconds = self.ends[last] - self.ends[first_timed - 1]
        tokens = sum(self.tokens[k] for k in range(first_timed, last + 1))
        return tokens, seconds

    def summary(self, first_timed: int = 3, last_timed: int | None = None) -> dict[str, Any]:
        """The numbers a child reports: timed tokens, seconds, tokens/s and per-step seconds.

        ``tokens_per_cpu_s`` divides by the process's CPU time (all threads) over the same
        steps instead: less sensitive to other processes taking turns on the cores, though
        not immune (busy-waiting threads, shared caches).
        """
        tokens, seconds = self.window(first_timed, last_timed)
        per_step = self.step_seconds()
        last = max(self.ends) if last_timed is None else last_timed
        timed = [per_step[k] for k in range(first_timed, last + 1)]
        cpu_seconds = self.cpu_ends[last] - self.cpu_ends[first_timed - 1]
        return {
            "timed_steps": [first_timed, last],
            "timed_tokens": tokens,
            "timed_seconds": round(seconds, 4),
            "tokens_per_s": tokens / seconds if seconds > 0 else 0.0,
            "timed_cpu_seconds": round(cpu_seconds, 4),
            "tokens_per_cpu_s": tokens / cpu_seconds if cpu_seconds > 0 else 0.0,
            "step_seconds_median": round(sorted(timed)[len(timed) // 2], 4),
            "step_seconds_min": round(min(timed), 4),
            "step_seconds_max": round(max(timed), 4),
            # per timed step (keys are step numbers as strings, JSON-style)
            "step_seconds": {str(k): round(per_step[k], 5) for k in range(first_timed, last + 1)},
            "step_tokens": {str(k): self.tokens[k] for k in range(first_timed, last + 1)},
        }


# ------------------------------------------------------------------------------------------
# The parent side
# ------------------------------------------------------------------------------------------


@dataclass
class ChildResult:
    """What one child process left behind."""

    label: str
    returncode: int
    payload: dict[str, Any]
    max_rss_mib: float
    wall_s: float
    stderr_tail: str


class ChildFailed(RuntimeError):
    """A child exited non-zero or did not end with a JSON line."""


def run_child(
    argv: Sequence[str],
    *,
    label: str,
    env: dict[str, str] | None = None,
    timeout_s: float | None = None,
    echo: bool = True,
    cwd: Path | str | None = None,
) -> ChildResult:
    """Run ``argv``; echo its stdout prefixed with ``[label]``; return its last JSON line.

    The child's peak RSS is read from the kernel with ``os.wait4`` (the child's own rusage,
    not the running maximum over all children that ``RUSAGE_CHILDREN`` gives). stderr goes
    to a temporary file; its tail is shown when the child fails. Raises `ChildFailed`.
    """
    child_env = {**os.environ, **QUIET_ENV, **(env or {})}
    started = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as err:
        proc = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=err,
            env=child_env,
            cwd=cwd,
            text=True,
            bufsize=1,
        )
        killer = None
        if timeout_s is not None:
            killer = threading.Timer(timeout_s, proc.kill)
            killer.start()
        lines: list[str] = []
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if echo and not line.lstrip().startswith("{"):  # the JSON result is not echoed
                    print(f"[{label}] {line.rstrip()}", flush=True)
            proc.stdout.close()
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if killer is not None:
                killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        wall = time.perf_counter() - started
        err.seek(0)
        stderr_tail = "".join(err.readlines()[-40:])
    rss_kib = usage.ru_maxrss
    rss_mib = rss_kib / 1024 if sys.platform != "darwin" else rss_kib / 2**20
    if proc.returncode != 0:
        raise ChildFailed(
            f"{label}: exit status {proc.returncode}\n--- stderr (tail) ---\n{stderr_tail}"
        )
    try:
        payload = last_json_line("".join(lines))
    except ValueError as exc:
        raise ChildFailed(f"{label}: no JSON last line ({exc})\n{stderr_tail}") from None
    return ChildResult(label, proc.returncode, payload, rss_mib, wall, stderr_tail)


def python_argv(script: Path | str, *args: str) -> list[str]:
    """``[sys.executable, script, *args]``: a child running the same interpreter (the venv)."""
    return [sys.executable, str(script), *args]


def run_sides(
    script: Path | str,
    settings: BenchSettings,
    workdir: Path,
    *,
    rounds: int = 1,
    timeout_s: float | None = None,
) -> dict[str, list[ChildResult]]:
    """Run tuneforge's side and TRL's side of ``script`` ``rounds`` times each.

    The order alternates every round (ours first in even rounds) so that neither side always
    runs on a machine warmed or loaded by the other. Both run on ``settings.device``: a child
    that reports another ``device`` fails the run. Each child gets its own run folder
    ``workdir/<side>-<round>`` through ``--tag``.
    """
    runs: dict[str, list[ChildResult]] = {"ours": [], "trl": []}
    for round_index in range(rounds):
        order = ("ours", "trl") if round_index % 2 == 0 else ("trl", "ours")
        for side in order:
            argv = python_argv(
                script,
                *("--side", side, "--workdir", str(workdir)),
                *("--tag", f"{side}-{round_index}", "--settings", json.dumps(asdict(settings))),
            )
            env = child_env(settings.device)
            result = run_child(argv, label=side, env=env, timeout_s=timeout_s, cwd=REPO_ROOT)
            ran_on = result.payload.get("device")
            if ran_on is not None and ran_on != settings.device:
                raise ChildFailed(f"{side}: trained on {ran_on}, not on {settings.device}")
            runs[side].append(result)
    return runs


def prepare_and_run(
    script: Path | str,
    settings: BenchSettings,
    prepare: Callable[[Any, Path], dict[str, Any]],
    announce: Callable[[Any, dict[str, Any]], str],
    *,
    rounds: int = 1,
    timeout_s: float | None = None,
) -> tuple[dict[str, Any], dict[str, list[ChildResult]]]:
    """Write both sides' inputs into a temporary folder, say what will run, run both sides.

    ``prepare(settings, workdir)`` writes the inputs and returns counts for
    ``announce(settings, prepared)``, whose line is printed before the children start. The
    folder (the children's run folders too) is removed afterwards; returns what ``prepare``
    returned and `run_sides`'s results.
    """
    with tempfile.TemporaryDirectory(prefix=f"{Path(script).stem}-") as tmp:
        workdir = Path(tmp)
        prepared = prepare(settings, workdir)
        print(announce(settings, prepared), flush=True)
        runs = run_sides(script, settings, workdir, rounds=rounds, timeout_s=timeout_s)
    return prepared, runs
