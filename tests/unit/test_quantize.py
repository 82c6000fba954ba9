"""QLoRA's checks and bitsandbytes settings (the quantised training itself needs CUDA)."""

from __future__ import annotations

import pytest
import torch

from tuneforge.errors import TuneforgeError
from tuneforge.quantize import check_quantize, quantization_config


def test_no_quantisation_needs_nothing() -> None:
    check_quantize(None, cuda=False, installed=False, lora=False)


def test_cpu_is_refused_naming_the_key() -> None:
    with pytest.raises(TuneforgeError) as raised:
        check_quantize("4bit", cuda=False, installed=True)
    assert str(raised.value) == (
        "lora.quantize: 4bit (QLoRA, bitsandbytes) needs a CUDA GPU and none was found; "
        "remove lora.quantize to train the unquantised model here"
    )


def test_missing_bitsandbytes_names_the_extra() -> None:
    with pytest.raises(TuneforgeError, match=r"pip install 'tuneforge\[qlora\]'"):
        check_quantize("8bit", cuda=True, installed=False)


def test_full_fine_tune_cannot_train_quantised_weights() -> None:
    with pytest.raises(TuneforgeError, match="^lora.quantize: a quantised base trains only"):
        check_quantize("4bit", cuda=True, installed=True, lora=False)


def test_cuda_with_bitsandbytes_passes() -> None:
    check_quantize("4bit", cuda=True, installed=True)


def test_four_bit_is_nf4_with_double_quantisation_in_the_compute_dtype() -> None:
    config = quantization_config("4bit", torch.bfloat16)
    assert config.load_in_4bit and not config.load_in_8bit
    assert config.bnb_4bit_quant_type == "nf4"
    assert config.bnb_4bit_use_double_quant is True
    assert config.bnb_4bit_compute_dtype == torch.bfloat16


def test_eight_bit() -> None:
    config = quantization_config("8bit", torch.bfloat16)
    assert config.load_in_8bit and not config.load_in_4bit
