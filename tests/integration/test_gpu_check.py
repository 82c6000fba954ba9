"""bench/gpu_check.py in its reduced CPU mode: the rows, their statuses and the JSON line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import gpu_check  # noqa: E402

ROW_KEYS = {
    *("row", "status", "detail", "steps_per_s", "tokens_per_s", "peak_mib", "memory"),
    *("final_loss", "reference_device", "seconds"),
}
SUMMARY_KEYS = {
    *("mode", "device", "torch", "cuda", "gpu", "gpu_count", "budget_s", "elapsed_s"),
    *("rows", "counts"),
}
NO_CUDA = gpu_check.Environment(torch="2.13.0+cpu", cuda=False, gpu=None, gpu_count=0)


def test_without_cuda_the_full_mode_says_so_and_falls_back(tmp_path: Path) -> None:
    """No child runs here: the rows asked for are ones the reduced mode skips in the parent."""
    summary = gpu_check.run_check(
        NO_CUDA,
        reduced=False,
        budget_s=60,
        row_timeout_s=30,
        only=["ddp-2proc", "bench-dpo", "eval"],
        workdir=tmp_path,
    )
    assert set(summary) == SUMMARY_KEYS
    assert (summary["mode"], summary["device"], summary["cuda"]) == ("reduced", "cpu", False)
    by_row = {r["row"]: r for r in summary["rows"]}
    assert list(by_row) == ["cuda", "eval", "ddp-2proc", "bench-dpo"]
    assert by_row["cuda"]["status"] == "failed"
    assert by_row["cuda"]["detail"].startswith("torch 2.13.0+cpu has no CUDA: install a CUDA build")
    assert by_row["eval"] == {
        **by_row["eval"],
        "status": "skipped",
        "detail": "needs the sft-lora run, which did not finish",
    }
    assert by_row["ddp-2proc"]["detail"] == "reduced mode: needs two CUDA GPUs"
    assert by_row["bench-dpo"]["detail"] == "reduced mode: needs CUDA"
    assert summary["counts"] == {"ok": 0, "failed": 1, "skipped": 3}
    assert all(set(r) >= ROW_KEYS for r in summary["rows"])


def test_two_processes_need_two_gpus() -> None:
    one_gpu = gpu_check.Environment(torch="2.13.0", cuda=True, gpu="H200", gpu_count=1)
    plan = gpu_check.rows.Plan(False, "embedded", "bf16", 30, 4, 256, 20, 12, "/tmp/x")
    spec = gpu_check.rows.RowSpec("ddp-2proc", "ddp", "sft")
    assert gpu_check.skip_reason(spec, one_gpu, plan, {}) == "needs two GPUs (found 1)"
    assert (
        gpu_check.skip_reason(gpu_check.rows.RowSpec("sft-lora", "train"), one_gpu, plan, {}) == ""
    )


def test_a_failing_row_reports_its_first_error_line() -> None:
    spec = gpu_check.rows.RowSpec("x", "nonexistent-kind")
    plan = gpu_check.rows.Plan(True, "embedded", "fp32", 1, 1, 8, 1, 1, "/tmp/x")
    result = gpu_check.rows.run_row(spec, plan)
    assert (result["status"], result["detail"]) == ("failed", "KeyError: 'nonexistent-kind'")
    assert gpu_check.rows.first_line(RuntimeError("\n  boom: first\nsecond")) == (
        "RuntimeError: boom: first"
    )


def test_a_row_past_its_timeout_fails_and_its_process_group_is_ended(tmp_path: Path) -> None:
    plan = gpu_check.rows.Plan(True, "embedded", "fp32", 3, 2, 128, 2, 3, str(tmp_path))
    spec = gpu_check.rows.RowSpec("sft-lora", "train", "sft")
    result = gpu_check.run_in_child(spec, plan, timeout_s=1.0)
    assert (result["row"], result["status"], result["detail"]) == (
        "sft-lora",
        "failed",
        "timed out after 1 s",
    )
    assert not (tmp_path / "sft-lora" / "manifest.json").exists()


def test_bench_row_reads_the_benchmark_json_line() -> None:
    line = {
        "method": "dpo",
        "speedup": 1.5432,
        "memory_ratio": 0.441,
        "tokens_per_s": {"ours": 900.0, "trl": 583.2},
        "peak_rss_mib": {"ours": 2000, "trl": 2100},
        "peak_gpu_mib": {"ours": 812.4, "trl": 1900.0},
        "mfu": {"ours": 0.0312, "trl": 0.02},
    }
    fields = gpu_check.rows.bench_fields(line)
    assert fields["detail"] == "speedup 1.54x, memory ratio 0.44, MFU ours 3.1% / TRL 2.0%"
    assert (fields["tokens_per_s"], fields["peak_mib"], fields["memory"]) == (900.0, 812, "gpu")


@pytest.mark.slow
def test_reduced_mode_trains_evaluates_and_prints_table_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny random model, 3 steps per row, each row in its own child process (~1-2 min)."""
    only = ["sft-lora", "dpo-lora", "kto-full", "eval", "qlora", "ddp-2proc", "bench-sft"]
    status = gpu_check.main(
        ["--reduced", "--only", *only, "--workdir", str(tmp_path), "--time-budget", "600"]
    )
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert set(summary) == SUMMARY_KEYS
    assert (summary["mode"], summary["device"]) == ("reduced", "cpu")
    by_row = {r["row"]: r for r in summary["rows"]}
    assert list(by_row) == ["cuda", *only]
    statuses = {name: r["status"] for name, r in by_row.items()}
    assert statuses == {
        "cuda": "skipped",
        **dict.fromkeys(["sft-lora", "dpo-lora", "kto-full", "eval"], "ok"),
        **dict.fromkeys(["qlora", "ddp-2proc", "bench-sft"], "skipped"),
    }
    assert status == 0
    assert summary["counts"] == {"ok": 4, "failed": 0, "skipped": 4}
    for name in ("sft-lora", "dpo-lora", "kto-full"):
        row = by_row[name]
        assert row["steps"] == 3
        assert row["steps_per_s"] > 0 and row["tokens_per_s"] > 0
        assert row["memory"] == "rss" and row["peak_mib"] > 0
        assert row["final_loss"] is not None
    assert (by_row["dpo-lora"]["reference_device"], by_row["kto-full"]["reference_device"]) == (
        "cpu",
        "cpu",
    )
    assert by_row["sft-lora"]["reference_device"] is None  # SFT has no reference
    assert by_row["qlora"]["detail"] in (
        "lora.quantize not available",
        "reduced mode: needs CUDA (bitsandbytes)",
    )
    assert (tmp_path / "sft-lora" / "eval.json").is_file()
    table_rows = [line.split()[0] for line in out if line.split() and line.split()[0] in by_row]
    assert table_rows == ["cuda", *only]
