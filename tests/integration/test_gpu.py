"""Every method, LoRA and full, on one CUDA GPU with the defaults (bf16 weights, auto attention).

Skipped without CUDA. ``bench/gpu_check.py`` runs this module (``pytest
tests/integration/test_gpu.py``); its stable entry points are `gpu_train_run` (one short
training through the real loading path) and `reference_gap` (the largest difference between
the reference values and the untrained policy's on the same batches).

What each test shows:

* `test_method_trains_on_cuda`: a few steps of sft, dpo, orpo and kto, LoRA and full, from a
  tiny random model saved as a folder (so ``model.dtype``/``attn_implementation`` go through
  ``from_pretrained``), with the reference precomputed (the default). The manifest says cuda,
  the GPU's name, the dtype (bf16 for a LoRA base; fp32 master weights under bf16 autocast
  for a full run) and the attention used; ``final/`` reloads and differs from the base.
* `test_reference_equals_policy_at_step_zero`: before any update the reference values (LoRA:
  adapter off; full: the frozen copy) equal the policy's, on the GPU, to the last bit.
* `test_qlora_*`: 4-bit and 8-bit bases (bitsandbytes), reference from the same quantised
  base, export merging into the de-quantised base.
* `test_flash_attention_packing_matches_padding`: packed rows under FlashAttention-2 (one
  varlen row) give the padded rows' log-probs.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import PreTrainedTokenizerBase

from helpers import SUPPORT_REQUESTS, brand_voice_pairs
from tuneforge.config import TuneforgeConfig, parse_config
from tuneforge.data.split import DataSource, load_splits
from tuneforge.device import Hardware
from tuneforge.engine.batches import indexed_batches
from tuneforge.engine.precision import make_accelerator
from tuneforge.engine.reference import build_reference
from tuneforge.methods import build_method
from tuneforge.methods.logps import batch_token_logps
from tuneforge.models import build_tiny_model, load_trained, merged_model
from tuneforge.run.model_setup import load_settings, prepare_model
from tuneforge.run.stage import tokenize_split, train
from tuneforge.safe_loading import SAFE

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

METHODS = ("sft", "dpo", "orpo", "kto")
needs_bnb = pytest.mark.skipif(
    importlib.util.find_spec("bitsandbytes") is None, reason="needs bitsandbytes ([qlora])"
)
needs_flash = pytest.mark.skipif(
    importlib.util.find_spec("flash_attn") is None, reason="needs flash-attn"
)


@pytest.fixture(autouse=True)
def _own_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reference caches go to a fresh TUNEFORGE_HOME."""
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / "home"))


def write_data(folder: Path, method: str) -> Path:
    """A small data file of the method's record kind (brand-voice pairs; SFT requests)."""
    folder.mkdir(parents=True, exist_ok=True)
    if method == "sft":
        rows = [{"prompt": p, "completion": c} for p, c in SUPPORT_REQUESTS[:12]]
        path = folder / "sft.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path
    pairs = brand_voice_pairs(folder / "pairs.jsonl", 12)
    if method != "kto":
        return pairs
    rows = []
    for line in pairs.read_text().splitlines():
        pair = json.loads(line)
        rows.append({"prompt": pair["prompt"], "completion": pair["chosen"], "score": 5})
        rows.append({"prompt": pair["prompt"], "completion": pair["rejected"], "score": 1})
    path = folder / "ratings.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def gpu_config(
    tmp_path: Path, method: str, base: Path, *, adapter: bool, **extra: Any
) -> TuneforgeConfig:
    """Defaults except the size of the run: the tiny base, 4 steps, batch 2."""
    raw: dict[str, Any] = {
        "method": method,
        "model": str(base),
        "output": str(tmp_path / f"{method}-{'lora' if adapter else 'full'}"),
        "data": {"train": str(write_data(tmp_path / "data", method)), "eval_split": 0.25},
        "train": {"max_steps": 4, "batch_size": 2, "logging_steps": 1},
        **extra,
    }
    if not adapter:
        raw["lora"] = None
    return parse_config(raw)


def save_base(folder: Path, tokenizer: PreTrainedTokenizerBase) -> Path:
    """The tiny random Llama saved like a hub model (fp32 safetensors)."""
    build_tiny_model(tokenizer, seed=0).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def gpu_train_run(
    tmp_path: Path, method: str, *, adapter: bool, tokenizer: PreTrainedTokenizerBase, **extra: Any
) -> dict[str, Any]:
    """Train ``method`` a few steps on CUDA through the real loading path.

    Returns the manifest, the run directory and the reloaded ``final/`` model's summary:
    ``{"manifest", "run_dir", "changed"}`` where ``changed`` is the largest absolute
    difference between the reloaded trained model's logits and the base model's on one prompt.
    """
    base = save_base(tmp_path / "base", tokenizer)
    cfg = gpu_config(tmp_path, method, base, adapter=adapter, **extra)
    outcome = train(cfg)
    assert outcome.final_dir is not None
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    _, tuned = load_trained(str(base), outcome.final_dir)
    _, plain = load_trained(str(base), base)
    ids = torch.tensor([tokenizer("Where is my order?")["input_ids"]])
    with torch.no_grad():
        changed = (tuned.eval()(ids).logits - plain.eval()(ids).logits).abs().max().item()
    return {"manifest": manifest, "run_dir": outcome.run_dir, "changed": changed}


@pytest.mark.parametrize("lora", [True, False], ids=["lora", "full"])
@pytest.mark.parametrize("method", METHODS)
def test_method_trains_on_cuda(
    tmp_path: Path, method: str, lora: bool, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    result = gpu_train_run(tmp_path, method, adapter=lora, tokenizer=embedded_tokenizer)
    manifest, hardware = result["manifest"], Hardware.probe()
    assert manifest["status"] == "finished" and manifest["global_step"] == 4
    device = manifest["device"]
    assert device["device"].startswith("cuda")
    assert device["gpu_name"] == hardware.gpu_name
    # A frozen base loads in bf16; a full fine-tune keeps fp32 master weights (bf16 autocast).
    half = hardware.bf16_supported and lora
    assert device["dtype"] == ("bfloat16" if half else "float32")
    assert manifest["precision"] == ("bf16" if hardware.bf16_supported else "no")
    expected_attn = "flash_attention_2" if hardware.flash_attn_installed and half else "sdpa"
    assert device["attn_implementation"] == expected_attn
    assert device["world_size"] == 1
    # DPO precomputes (the default); KTO's full run scores its reference live (its
    # mismatched pairs need one), from a frozen copy that must sit on the GPU too.
    expected_mode = {"dpo": "precomputed", "kto": "precomputed" if lora else "on_the_fly"}
    assert manifest["reference"]["mode"] == expected_mode.get(method, "none")
    assert result["changed"] > 0  # final/ reloads, and it is not the base model


def test_lora_with_gradient_checkpointing_on_cuda(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    result = gpu_train_run(
        tmp_path,
        "dpo",
        adapter=True,
        tokenizer=embedded_tokenizer,
        train={"max_steps": 4, "batch_size": 2, "gradient_checkpointing": True},
    )
    assert result["manifest"]["global_step"] == 4
    assert result["changed"] > 0


def reference_gap(
    tmp_path: Path, method: str, *, adapter: bool, tokenizer: PreTrainedTokenizerBase, **extra: Any
) -> float:
    """Largest |reference − policy| over every training item before any update, on CUDA.

    The policy is computed on the same batches as the reference pass (same layout, same
    kernels), so the two agree exactly: LoRA's fresh adapter adds an exact zero, and a full
    run's frozen copy is the policy's twin.
    """
    base = save_base(tmp_path / "base", tokenizer)
    cfg = gpu_config(tmp_path, method, base, adapter=adapter, **extra).resolved()
    method_impl = build_method(cfg)
    settings = load_settings(cfg, Hardware.probe())
    accelerator = make_accelerator(cfg.train, tmp_path / "acc")
    model = prepare_model(cfg, None, SAFE, settings, accelerator.device)
    splits = load_splits(DataSource.of(cfg))
    items = tokenize_split(splits.train, tokenizer, cfg, "train").items
    prepare_data = getattr(method_impl, "prepare_data", None)
    if prepare_data is not None:
        items, _, _ = prepare_data((splits.train, items), ([], []))
    setup = build_reference(
        method_impl,
        model,
        train_items=items,
        eval_items=[],
        batch_size=cfg.train.batch_size,
        pad_token_id=tokenizer.pad_token_id,
        accelerator=accelerator,
        cache_dir=None,
    )
    assert setup.train is not None
    gap = 0.0
    model.eval()
    batches = indexed_batches(
        method_impl, items, cfg.train.batch_size, tokenizer.pad_token_id, accelerator.device
    )
    for batch in batches:
        with torch.no_grad(), accelerator.autocast():  # as the loop calls both
            policy = method_impl.reference_values(model, batch)
            reference = setup.train(batch)
        for name, value in policy.items():
            gap = max(gap, (value.float() - reference[name]).abs().max().item())
    return gap


@pytest.mark.parametrize("lora", [True, False], ids=["lora", "full"])
@pytest.mark.parametrize("method", ["dpo", "kto"])
def test_reference_equals_policy_at_step_zero(
    tmp_path: Path, method: str, lora: bool, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    assert reference_gap(tmp_path, method, adapter=lora, tokenizer=embedded_tokenizer) == 0.0


@needs_bnb
@pytest.mark.parametrize("bits", ["4bit", "8bit"])
def test_qlora_trains_and_exports_into_the_dequantised_base(
    tmp_path: Path, bits: str, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    result = gpu_train_run(
        tmp_path,
        "dpo",
        adapter=True,
        tokenizer=embedded_tokenizer,
        lora={"r": 4, "alpha": 8, "quantize": bits},
    )
    assert result["manifest"]["device"]["quantize"] == bits
    merged = merged_model(result["run_dir"] / "final", str(tmp_path / "base"))
    assert not getattr(merged, "is_loaded_in_4bit", False)
    assert not getattr(merged, "is_loaded_in_8bit", False)
    assert {p.dtype for p in merged.parameters()} == {torch.float32}


@needs_bnb
def test_qlora_reference_is_the_quantised_base_with_the_adapter_off(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    base = save_base(tmp_path / "base", embedded_tokenizer)
    quantized = {"lora": {"r": 4, "alpha": 8, "quantize": "4bit"}}
    cfg = gpu_config(tmp_path, "dpo", base, adapter=True, **quantized).resolved()
    settings = load_settings(cfg, Hardware.probe())
    model = prepare_model(cfg, None, SAFE, settings, "cuda")
    assert getattr(model.get_base_model(), "is_loaded_in_4bit", False)
    gap = reference_gap(
        tmp_path / "again", "dpo", adapter=True, tokenizer=embedded_tokenizer, **quantized
    )
    assert gap == 0.0


@needs_flash
def test_flash_attention_packing_matches_padding(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    model = build_tiny_model(embedded_tokenizer, seed=0).to("cuda", torch.bfloat16)
    ids = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 0, 0, 0], [12, 13, 14, 15, 0]], device="cuda")
    mask = (torch.arange(5, device="cuda") < torch.tensor([[5], [2], [4]], device="cuda")).long()
    labels = ids.masked_fill(mask == 0, -100)
    with torch.no_grad():
        model.set_attn_implementation("sdpa")
        padded, _ = batch_token_logps(model, ids, mask, labels, pack=False)
        model.set_attn_implementation("flash_attention_2")
        packed, _ = batch_token_logps(model, ids, mask, labels, pack=True)
    # The first label of each sequence is not learned packed; compare the rest.
    torch.testing.assert_close(packed[:, 1:], padded[:, 1:], atol=3e-2, rtol=0)
