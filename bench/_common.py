"""Shared helpers for the side-by-side benchmarks in ``bench/`` (not part of the package).

Every ``*_vs_trl.py`` benchmark runs each side in its own child process (so peak RSS is
that side's alone) and talks to it through a tiny protocol: a child prints whatever it
likes, then, as its very last stdout line, one JSON object (`emit_json`). The parent starts
the children with `run_child`, which echoes their output with a prefix, reads the peak RSS
of that child from the kernel (``wait4``) and parses the last line.

Also here: a step clock that measures tokens/s the same way on both sides (`StepClock`),
the fp32 matmul peak that MFU is reported against (`matmul_peak_flops`), and a plain table.
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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


# ------------------------------------------------------------------------------------------
# The child side of the protocol
# ------------------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20


def emit_json(payload: dict[str, Any]) -> None:
    """Print ``payload`` as one JSON line and flush: call it last (the parent reads it)."""
    sys.stdout.flush()
    print(json.dumps(payload, separators=(",", ":")), flush=True)


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


def best_of_rounds(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Throughput of one side over several runs of the same steps, robust to a busy machine.

    Each timed step's duration is its fastest over the runs (other processes only ever slow
    a step down; the steps see the same batches in every run), and tokens/s is the timed
    tokens over the sum of those minima. With one run this is the plain tokens/s.
    Takes `StepClock.summary` dicts; returns ``tokens``, ``seconds``, ``tokens_per_s``.
    """
    steps = summaries[0]["step_seconds"].keys()
    seconds = sum(min(s["step_seconds"][k] for s in summaries) for k in steps)
    tokens = sum(summaries[0]["step_tokens"][k] for k in steps)
    return {
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds if seconds > 0 else 0.0,
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


# ------------------------------------------------------------------------------------------
# Peak FLOP/s and reporting
# ------------------------------------------------------------------------------------------


def matmul_peak_flops(
    *, threads: int = 2, size: int = 2048, seconds: float = 2.0, dtype: str = "float32"
) -> float:
    """Measured dense matmul throughput (FLOP/s) of ``size``² matrices on ``threads`` threads.

    One warm-up product, then as many as fit in ``seconds``; 2·size³ FLOPs each. The thread
    count of this process is restored afterwards.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        kind = getattr(torch, dtype)
        a = torch.randn(size, size).to(kind)
        b = torch.randn(size, size).to(kind)
        out = torch.empty(size, size, dtype=kind)
        torch.matmul(a, b, out=out)
        count = 0
        start = time.perf_counter()
        while True:
            torch.matmul(a, b, out=out)
            count += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        return 2.0 * size**3 * count / elapsed
    finally:
        torch.set_num_threads(previous)


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` (NaN when the denominator is 0)."""
    return numerator / denominator if denominator else float("nan")


def format_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain left/right-aligned text table (numbers right-aligned)."""
    body = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
    numeric = [all(_is_number(r[i]) for r in body) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    out = [line([str(h) for h in header]), line(["-" * w for w in widths])]
    out.extend(line(r) for r in body)
    return "\n".join(out)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "nan"
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True
