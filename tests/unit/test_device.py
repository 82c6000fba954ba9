"""Device decisions (dtype, attention, manifest record) for GPU and CPU facts, on any machine."""

from __future__ import annotations

import pytest

from tuneforge.device import (
    FLASH_ATTENTION,
    Hardware,
    LoadSettings,
    device_record,
    resolve_attn_implementation,
    resolve_dtype,
    uses_flash_attention,
)
from tuneforge.errors import TuneforgeError

CPU = Hardware(cuda=False)
H200 = Hardware(cuda=True, bf16_supported=True, flash_attn_installed=True, gpu_name="NVIDIA H200")
H200_NO_FLASH = Hardware(cuda=True, bf16_supported=True, gpu_name="NVIDIA H200")
T4 = Hardware(cuda=True, bf16_supported=False, flash_attn_installed=True, gpu_name="Tesla T4")


@pytest.mark.parametrize(
    ("setting", "hardware", "expected"),
    [
        ("auto", CPU, "float32"),
        ("auto", H200, "bfloat16"),
        ("auto", T4, "float32"),
        ("bf16", CPU, "bfloat16"),
        ("fp16", T4, "float16"),
        ("fp32", H200, "float32"),
    ],
)
def test_resolve_dtype(setting: str, hardware: Hardware, expected: str) -> None:
    assert resolve_dtype(setting, hardware) == expected


def test_auto_keeps_fp32_master_weights_for_a_full_fine_tune() -> None:
    assert resolve_dtype("auto", H200, trains_weights=True) == "float32"
    assert resolve_dtype("bf16", H200, trains_weights=True) == "bfloat16"  # asked for
    full = LoadSettings.resolve("auto", "auto", None, H200, trains_weights=True)
    assert full == LoadSettings("float32", "sdpa", None)  # no fp32 FlashAttention-2 kernel


def test_bf16_on_a_gpu_without_it_is_refused_naming_the_key() -> None:
    with pytest.raises(TuneforgeError, match=r"^model\.dtype: bf16 is not supported by this GPU"):
        resolve_dtype("bf16", T4)


def test_fp16_on_cpu_is_refused_naming_the_key() -> None:
    with pytest.raises(TuneforgeError, match=r"^model\.dtype: fp16 needs a CUDA GPU"):
        resolve_dtype("fp16", CPU)


@pytest.mark.parametrize(
    ("setting", "dtype", "hardware", "expected"),
    [
        ("auto", "float32", CPU, "sdpa"),
        ("auto", "bfloat16", H200, FLASH_ATTENTION),
        ("auto", "float16", T4, FLASH_ATTENTION),
        ("auto", "float32", H200, "sdpa"),  # FlashAttention-2 has no fp32 kernel
        ("auto", "bfloat16", H200_NO_FLASH, "sdpa"),
        ("eager", "float32", CPU, "eager"),
        ("sdpa", "bfloat16", H200, "sdpa"),
        (FLASH_ATTENTION, "bfloat16", H200, FLASH_ATTENTION),
    ],
)
def test_resolve_attn_implementation(
    setting: str, dtype: str, hardware: Hardware, expected: str
) -> None:
    assert resolve_attn_implementation(setting, dtype, hardware) == expected


@pytest.mark.parametrize(
    ("dtype", "hardware", "message"),
    [
        ("bfloat16", CPU, "needs a CUDA GPU; use auto or sdpa"),
        ("bfloat16", H200_NO_FLASH, "needs the flash-attn package"),
        ("float32", H200, "runs in bf16 or fp16 only"),
    ],
)
def test_explicit_flash_attention_where_it_cannot_run(
    dtype: str, hardware: Hardware, message: str
) -> None:
    with pytest.raises(TuneforgeError) as raised:
        resolve_attn_implementation(FLASH_ATTENTION, dtype, hardware)
    assert str(raised.value).startswith("model.attn_implementation: flash_attention_2 ")
    assert message in str(raised.value)


def test_load_settings_resolve_every_auto() -> None:
    settings = LoadSettings.resolve("auto", "auto", "4bit", H200)
    assert settings == LoadSettings("bfloat16", FLASH_ATTENTION, "4bit")
    assert str(settings.torch_dtype()) == "torch.bfloat16"
    assert LoadSettings.resolve("auto", "auto", None, CPU) == LoadSettings("float32", "sdpa", None)


def test_device_record_names_the_gpu_only_on_cuda() -> None:
    settings = LoadSettings("bfloat16", FLASH_ATTENTION, None)
    assert device_record("cuda:0", H200, settings, 2) == {
        "device": "cuda:0",
        "gpu_name": "NVIDIA H200",
        "dtype": "bfloat16",
        "attn_implementation": FLASH_ATTENTION,
        "quantize": None,
        "world_size": 2,
    }
    assert device_record("cpu", CPU, LoadSettings(), 1)["gpu_name"] is None
    assert device_record("mps", H200, LoadSettings(), 1)["gpu_name"] is None


def test_probe_on_this_machine_is_consistent() -> None:
    import torch

    hardware = Hardware.probe()
    assert hardware.cuda == torch.cuda.is_available()
    assert (hardware.gpu_name is None) == (not hardware.cuda)


class _Config:
    def __init__(self, name: str) -> None:
        self._attn_implementation = name


class _Model:
    def __init__(self, name: str) -> None:
        self.config = _Config(name)


def test_uses_flash_attention_reads_the_config() -> None:
    assert uses_flash_attention(_Model("flash_attention_2"))
    assert uses_flash_attention(_Model("flash_attention_3"))
    assert not uses_flash_attention(_Model("sdpa"))
    assert not uses_flash_attention(object())


def test_evaluation_uses_the_run_dtype_but_never_flash_attention() -> None:
    from tuneforge.device import inference_settings

    assert inference_settings("auto", "auto", H200) == LoadSettings("bfloat16", "sdpa", None)
    assert inference_settings("auto", FLASH_ATTENTION, H200) == LoadSettings("bfloat16", "sdpa")
    assert inference_settings("fp32", "eager", CPU) == LoadSettings("float32", "eager", None)


def test_default_device_prefers_the_gpu() -> None:
    import torch

    from tuneforge.device import default_device

    assert default_device(H200) == "cuda"
    mps = torch.backends.mps.is_available()
    assert default_device(CPU) == ("mps" if mps else "cpu")


def test_inference_placement() -> None:
    import torch

    from tuneforge.device import inference_placement

    assert inference_placement("auto", "auto", H200) == {
        "dtype": torch.bfloat16,
        "attn_implementation": "sdpa",
        "device": "cuda",
    }
    on_cpu = inference_placement("auto", "auto", CPU)
    assert (on_cpu["dtype"], on_cpu["attn_implementation"]) == (torch.float32, "sdpa")


def test_fp16_weights_train_only_through_lora() -> None:
    from tuneforge.device import check_trainable_dtype

    check_trainable_dtype("float16", lora=True)
    check_trainable_dtype("bfloat16", lora=False)
    with pytest.raises(TuneforgeError, match=r"^model\.dtype: fp16 weights train only through"):
        check_trainable_dtype("float16", lora=False)
