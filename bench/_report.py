"""Reporting helpers for the ``bench/`` benchmarks: rounds, peak FLOP/s, headline numbers, tables.

Pure Python apart from `matmul_peak_flops` (which imports torch when called), so a parent
process can use all of it without loading the training libraries.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from _common import ChildResult

# ------------------------------------------------------------------------------------------
# Combining rounds
# ------------------------------------------------------------------------------------------


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


def merge_rounds(results: Sequence[ChildResult]) -> dict[str, Any]:
    """The first round's payload plus what every aggregation of rounds shares.

    ``tokens_per_s_rounds`` lists each round's throughput; ``peak_rss_mib`` is the largest
    seen (a round that happened to need less memory says nothing about the requirement).
    Callers then choose how tokens/s itself is combined (median, best of rounds).
    """
    first = dict(results[0].payload)
    first["tokens_per_s_rounds"] = [round(r.payload["tokens_per_s"], 1) for r in results]
    first["peak_rss_mib"] = max(r.max_rss_mib for r in results)
    return first


# ------------------------------------------------------------------------------------------
# Peak FLOP/s and reporting
# ------------------------------------------------------------------------------------------


def matmul_peak_flops(
    *,
    threads: int = 2,
    size: int = 2048,
    seconds: float = 2.0,
    dtype: str = "float32",
    device: str = "cpu",
    clock: str = "wall",
) -> float:
    """Measured dense matmul throughput (FLOP/s) of ``size``² matrices on ``threads`` threads
    (CPU) or on the current CUDA device.

    One warm-up product, then as many as fit in ``seconds``; 2·size³ FLOPs each. The thread
    count of this process is restored afterwards. On CUDA (use ``size`` 8192 there) the
    clock stops after a synchronise, so queued kernels are all counted. ``clock="cpu"``
    divides by this process's CPU time instead of wall time (FLOP per CPU-second: what the
    cores deliver while this process runs, whatever else shares them; CPU only).
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    cuda = device == "cuda"
    try:
        kind = getattr(torch, dtype)
        a = torch.randn(size, size, device=device).to(kind)
        b = torch.randn(size, size, device=device).to(kind)
        out = torch.empty(size, size, dtype=kind, device=device)
        torch.matmul(a, b, out=out)
        if cuda:
            torch.cuda.synchronize()
        count = 0
        now = time.process_time if clock == "cpu" else time.perf_counter
        start = now()
        while True:
            torch.matmul(a, b, out=out)
            count += 1
            if cuda and count % 8:
                continue
            if cuda:
                torch.cuda.synchronize()
            elapsed = now() - start
            if elapsed >= seconds:
                break
        return 2.0 * size**3 * count / elapsed
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class Peak:
    """The matmul peak: FLOP/s by wall time and, on the CPU, FLOP per CPU-second (None on a
    GPU). On a shared CPU the wall peak is measured while other jobs take turns on the cores,
    so MFU by wall time can exceed 100 %; the CPU-time pair (work per CPU-second of the run
    against the same of the matmul) is the steadier one there."""

    wall: float
    cpu: float | None


def measured_peak(settings: Any, seconds: float) -> Peak:
    """The matmul peak for the run's device, precision (bf16 products under bf16) and threads."""
    dtype = "bfloat16" if settings.precision == "bf16" else "float32"
    size = 8192 if settings.device == "cuda" else 2048
    kwargs = {"threads": settings.threads, "size": size, "seconds": seconds, "dtype": dtype}
    wall = matmul_peak_flops(**kwargs, device=settings.device)
    if settings.device == "cuda":
        return Peak(wall, None)
    return Peak(wall, matmul_peak_flops(**kwargs, clock="cpu"))


def peak_phrase(peak: Peak) -> str:
    """The peak as printed: GFLOP/s, and GFLOP per CPU-second where measured."""
    text = f"{peak.wall / 1e9:.1f} GFLOP/s"
    return text if peak.cpu is None else f"{text}, {peak.cpu / 1e9:.1f} GFLOP per CPU-s"


def percent(value: float | None) -> str:
    """A fraction as a percentage for a table cell ('-' when not measured)."""
    return "-" if value is None else f"{value:.1%}"


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` (NaN when the denominator is 0)."""
    return numerator / denominator if denominator else float("nan")


def peak_memory_mib(side: dict[str, Any]) -> float:
    """A side's peak memory: CUDA memory allocated when it trained on a GPU, else its RSS."""
    gpu = side.get("peak_gpu_mib")
    return float(gpu) if gpu is not None else float(side["peak_rss_mib"])


def headline(method: str, ours: dict[str, Any], trl: dict[str, Any]) -> dict[str, Any]:
    """The first keys of every benchmark's JSON last line: ours relative to TRL, and the
    device both trained on (peak memory is GPU memory there, RSS on the CPU)."""
    return {
        "method": method,
        "speedup": round(ratio(ours["tokens_per_s"], trl["tokens_per_s"]), 4),
        "memory_ratio": round(ratio(peak_memory_mib(ours), peak_memory_mib(trl)), 4),
        "loss_diff_step1": abs(ours["losses"][0] - trl["losses"][0]),
        "device": ours.get("device", "cpu"),
        # Tokens per CPU-second of each process: steadier than wall time on a shared machine.
        "speedup_cpu_time": round(
            ratio(ours.get("tokens_per_cpu_s", 0.0), trl.get("tokens_per_cpu_s", 0.0)), 4
        ),
    }


def side_flops(
    steps: Any, shape: Any, layout: Any, side: dict[str, Any], peak: Peak
) -> dict[str, float | None]:
    """One side's MFU and executed-FLOP utilisation over its timed window (``_flops.py``).

    ``steps``: per optimizer step, the passes (``_flops.Pass``) this side runs; ``layout``:
    how its code runs them. Seconds are ``timed_tokens / tokens_per_s`` (and the same per
    CPU-second), so a throughput combined over rounds gives the matching time. ``mfu`` counts
    the required FLOPs by wall time, ``mfu_cpu_time`` by CPU time (CPU only); ``executed``
    what the side's code multiplies (padding, head positions), by wall time.
    """
    from _flops import REQUIRED, utilisation, window_flops

    first, last = side["timed_steps"]
    seconds = ratio(side["timed_tokens"], side["tokens_per_s"])
    required = window_flops(steps, first, last, shape, REQUIRED)
    executed = window_flops(steps, first, last, shape, layout)
    cpu_mfu = None
    if peak.cpu is not None and side.get("tokens_per_cpu_s"):
        cpu_seconds = ratio(side["timed_tokens"], side["tokens_per_cpu_s"])
        cpu_mfu = round(utilisation(required, cpu_seconds, peak.cpu), 4)
    return {
        "mfu": round(utilisation(required, seconds, peak.wall), 4),
        "mfu_cpu_time": cpu_mfu,
        "executed": round(utilisation(executed, seconds, peak.wall), 4),
        "required_tflop_per_step": round(required / (last - first + 1) / 1e12, 4),
        "executed_tflop_per_step": round(executed / (last - first + 1) / 1e12, 4),
    }


def per_side(ours: dict[str, Any], trl: dict[str, Any]) -> dict[str, Any]:
    """Each side's own tokens/s and peak RSS, for a JSON line that shows the raw numbers."""
    tokens = {"ours": round(ours["tokens_per_s"], 1), "trl": round(trl["tokens_per_s"], 1)}
    memory = {"ours": round(ours["peak_rss_mib"]), "trl": round(trl["peak_rss_mib"])}
    out: dict[str, Any] = {"tokens_per_s": tokens, "peak_rss_mib": memory}
    if "peak_gpu_mib" in ours and "peak_gpu_mib" in trl:
        out["peak_gpu_mib"] = {"ours": ours["peak_gpu_mib"], "trl": trl["peak_gpu_mib"]}
    return out


def preference_json(
    method: str, precision: str, ref: str, ours: dict[str, Any], trl: dict[str, Any]
) -> dict[str, Any]:
    """The JSON last line of the preference benchmarks (DPO, ORPO, KTO): the headline, the
    run's precision and ``--ref`` mode, then each side's raw numbers."""
    return {
        **headline(method, ours, trl),
        "precision": precision,
        "ref": ref,
        **per_side(ours, trl),
    }


def speed_header(device: str) -> list[str]:
    """The speed columns every side-by-side table starts with (see `speed_cells`)."""
    memory = "peak GPU MiB" if device == "cuda" else "peak RSS MiB"
    columns = ["tokens/s", "tokens/CPU-s", "s/step (median)", memory, "MFU", "MFU (CPU time)"]
    return ["trainer", *columns, "executed"]


def speed_cells(name: str, side: dict[str, Any], flops: dict[str, Any]) -> list[Any]:
    """One side's cells under `speed_header`: its speed, memory and utilisation."""
    return [
        name,
        round(side["tokens_per_s"], 1),
        round(side["tokens_per_cpu_s"], 1),
        side["step_seconds_median"],
        round(peak_memory_mib(side)),
        f"{flops['mfu']:.1%}",
        percent(flops["mfu_cpu_time"]),
        f"{flops['executed']:.1%}",
    ]


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


def median_of_rounds(results: Sequence[ChildResult]) -> dict[str, Any]:
    """One side over several rounds: median tokens/s and tokens per CPU-second, largest peak
    RSS, the first round's rest."""
    merged = merge_rounds(results)
    merged["tokens_per_s"] = statistics.median(r.payload["tokens_per_s"] for r in results)
    merged["tokens_per_cpu_s"] = statistics.median(r.payload["tokens_per_cpu_s"] for r in results)
    return merged


def best_of_rounds_side(results: Sequence[ChildResult]) -> dict[str, Any]:
    """One side over several rounds: best-of-rounds tokens/s (`best_of_rounds`), median
    tokens per CPU-second, largest peak RSS, mean wall time, the first round's losses."""
    merged = merge_rounds(results)
    merged["tokens_per_s"] = best_of_rounds([r.payload for r in results])["tokens_per_s"]
    merged["tokens_per_cpu_s"] = statistics.median(r.payload["tokens_per_cpu_s"] for r in results)
    merged["wall_s"] = round(sum(r.wall_s for r in results) / len(results), 1)
    return merged
