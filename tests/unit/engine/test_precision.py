"""Which device accelerate may pick and which precision ``train.precision`` becomes."""

from __future__ import annotations

import pytest
import torch

from tuneforge.engine import precision
from tuneforge.engine.precision import choose_precision, device_kind
from tuneforge.errors import TuneforgeError


@pytest.mark.parametrize(
    ("cuda", "mps", "device"),
    [(True, False, "cuda"), (False, True, "mps"), (True, True, "cuda"), (False, False, "cpu")],
)
def test_the_device_accelerate_will_use(cuda: bool, mps: bool, device: str) -> None:
    assert device_kind(cuda=cuda, mps=mps) == device


@pytest.mark.parametrize(
    ("setting", "device", "native", "expected"),
    [
        ("auto", "cpu", True, "bf16"),  # AVX-512 bf16 / AMX
        ("auto", "cpu", False, "no"),  # AVX2 only: bf16 would be emulated, slower
        ("auto", "cuda", True, "bf16"),
        ("auto", "cuda", False, "no"),
        ("auto", "mps", True, "no"),  # untested here: fp32
        ("bf16", "cpu", False, "bf16"),  # asked for: honoured even when emulated
        ("bf16", "mps", False, "bf16"),
        ("bf16", "cuda", True, "bf16"),
        ("fp32", "cpu", True, "no"),
        ("fp32", "cuda", True, "no"),
    ],
)
def test_precision_choice(setting: str, device: str, native: bool, expected: str) -> None:
    assert choose_precision(setting, device=device, bf16_native=native) == expected  # type: ignore[arg-type]


def test_bf16_on_a_gpu_without_it_is_refused() -> None:
    with pytest.raises(TuneforgeError, match="train.precision: bf16 is not supported by this GPU"):
        choose_precision("bf16", device="cuda", bf16_native=False)


def test_cpu_bf16_only_with_amx_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert precision.cpu_bf16_pays() is False  # AVX-512 bf16 alone measured slower than fp32
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert precision.cpu_bf16_pays() is True
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert precision.cpu_bf16_pays() is False  # forced AVX2 kernels emulate bf16
