"""The benchmarks' FLOP count (bench/_flops.py) and device plumbing, against hand counts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import _common as common  # noqa: E402
import _flops as flops  # noqa: E402
import _report as report  # noqa: E402

SHAPE = flops.ModelShape(body_params=10, head_params=3)
TWO_ROWS = flops.Pass((flops.Seq(tokens=4, learned=2), flops.Seq(tokens=2, learned=1)), grad=True)


def test_embedded_shape_leaves_the_tied_embedding_out_of_the_body() -> None:
    config = {"vocab_size": 49152, "hidden_size": 576, "tie_word_embeddings": True}
    shape = flops.ModelShape.from_config(config, 134_515_008)
    assert shape == flops.ModelShape(body_params=106_203_456, head_params=28_311_552)
    untied = flops.ModelShape.from_config({**config, "tie_word_embeddings": False}, 200)
    assert untied.body_params == 200 - 2 * 28_311_552


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        # 6 real tokens x 10, head at 3 learned positions x 3; x2 forward, x2 backward
        (flops.REQUIRED, 2 * 2 * (6 * 10 + 3 * 3)),
        # padded to 4: 8 body tokens; head at (4 - 1) x 2 = 6 positions
        (flops.trl_layout("padded"), 2 * 2 * (8 * 10 + 6 * 3)),
        # full logits: head at all 8 padded positions
        (flops.trl_layout("full"), 2 * 2 * (8 * 10 + 8 * 3)),
        # padded body, head compacted to learned positions (TRL with Triton)
        (flops.trl_layout("learned"), 2 * 2 * (8 * 10 + 3 * 3)),
    ],
)
def test_pass_flops_by_layout(layout: flops.Layout, expected: float) -> None:
    assert flops.pass_flops(TWO_ROWS, SHAPE, layout) == expected


def test_no_grad_pass_is_forward_only_and_unknown_head_is_refused() -> None:
    forward = flops.Pass(TWO_ROWS.seqs, grad=False)
    assert flops.pass_flops(forward, SHAPE, flops.REQUIRED) == 2 * (6 * 10 + 3 * 3)
    with pytest.raises(ValueError, match="unknown head layout 'logits'"):
        flops.pass_flops(TWO_ROWS, SHAPE, flops.Layout(padded=False, head="logits"))


def test_pair_passes_add_a_reference_pass_only_when_it_runs_each_step() -> None:
    precomputed = flops.pair_passes([(2, 3, 1)], reference_each_step=False)
    assert precomputed == [flops.Pass((flops.Seq(5, 3), flops.Seq(3, 1)), grad=True)]
    on_the_fly = flops.pair_passes([(2, 3, 1)], reference_each_step=True)
    assert on_the_fly[1] == flops.Pass((flops.Seq(5, 3), flops.Seq(3, 1)), grad=False)
    orpo = flops.pair_passes([(2, 3, 1)], reference_each_step=False, prompt_learned=True)
    assert orpo[0].seqs == (flops.Seq(5, 4), flops.Seq(3, 2))


def test_kto_passes_rotate_completions_for_the_kl_pairs() -> None:
    passes = flops.kto_passes(
        [(3, 2), (5, 4)], matched_reference_each_step=False, kl_reference_each_step=True
    )
    matched = (flops.Seq(5, 2), flops.Seq(9, 4))
    kl = (flops.Seq(3 + 4, 4), flops.Seq(5 + 2, 2))  # prompt i with completion i - 1
    assert passes == [
        flops.Pass(matched, grad=True),
        flops.Pass(kl, grad=False),
        flops.Pass(kl, grad=False),
    ]


def test_window_and_side_flops_use_the_timed_steps_only() -> None:
    steps = [flops.sft_passes([(4, 2)]), flops.sft_passes([(2, 1)]), flops.sft_passes([(4, 2)])]
    per_step = [2 * 2 * (4 * 10 + 2 * 3), 2 * 2 * (2 * 10 + 1 * 3), 2 * 2 * (4 * 10 + 2 * 3)]
    assert flops.window_flops(steps, 2, 3, SHAPE, flops.REQUIRED) == per_step[1] + per_step[2]
    # 10 tokens at 5 tokens/s: 2 s, at 2.5 tokens per CPU-second: 4 CPU-s;
    # peak 100 FLOP/s by wall time, 50 FLOP per CPU-second
    side = {"timed_steps": [2, 3], "timed_tokens": 10, "tokens_per_s": 5.0, "tokens_per_cpu_s": 2.5}
    peak = report.Peak(wall=100.0, cpu=50.0)
    counted = report.side_flops(steps, SHAPE, flops.trl_layout("padded"), side, peak)
    required = per_step[1] + per_step[2]
    assert counted["mfu"] == round(required / 2 / 100, 4)
    assert counted["mfu_cpu_time"] == round(required / 4 / 50, 4)
    executed = 2 * 2 * (2 * 10 + 1 * 3) + 2 * 2 * (4 * 10 + 3 * 3)  # head at all 4 - 1
    assert counted["executed"] == round(executed / 2 / 100, 4)
    on_gpu = report.side_flops(steps, SHAPE, flops.REQUIRED, side, report.Peak(100.0, None))
    assert on_gpu["mfu_cpu_time"] is None
    assert report.peak_phrase(peak) == "0.0 GFLOP/s, 0.0 GFLOP per CPU-s"
    assert (report.percent(None), report.percent(0.1234)) == ("-", "12.3%")


def test_peak_memory_prefers_gpu_memory_and_cpu_hides_cuda() -> None:
    assert report.peak_memory_mib({"peak_rss_mib": 900.0}) == 900.0
    assert report.peak_memory_mib({"peak_rss_mib": 900.0, "peak_gpu_mib": 300.0}) == 300.0
    assert common.child_env("cpu") == {"CUDA_VISIBLE_DEVICES": ""}
    assert common.child_env("cuda") == {}
    assert common.resolve_device("cpu") == "cpu"
