"""Model set-up on whatever device the run has: placement before the reference pass, the
manifest's device record, QLoRA refused before loading, checkpointing with LoRA, and
FlashAttention-2's packing layout. Runs on a CPU; the CUDA runs are in test_gpu.py."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from transformers import PreTrainedTokenizerBase

from helpers import SUPPORT_REQUESTS
from tuneforge.config import TuneforgeConfig, parse_config
from tuneforge.data.tokenize import IGNORE_INDEX
from tuneforge.device import LoadSettings
from tuneforge.engine.reference import OnTheFlyReference, build_reference
from tuneforge.errors import TuneforgeError
from tuneforge.methods import logps
from tuneforge.methods.dpo import DPOMethod, DPOSection
from tuneforge.models import base_model, build_tiny_model, place_model
from tuneforge.run.model_setup import prepare_model
from tuneforge.run.stage import train
from tuneforge.safe_loading import SAFE


def sft_config(tmp_path: Path, **extra: Any) -> TuneforgeConfig:
    data = tmp_path / "train.jsonl"
    rows = [{"prompt": p, "completion": c} for p, c in SUPPORT_REQUESTS[:6]]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    raw: dict[str, Any] = {
        "method": "sft",
        "output": str(tmp_path / "run"),
        "data": {"train": str(data), "eval_split": 0.0},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0},
        "train": {"precision": "fp32", "batch_size": 2, "max_steps": 1, "lr": 1e-3},
    }
    raw.update(extra)
    return parse_config(raw)


def test_manifest_records_device_dtype_attention_and_world_size(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    cfg = sft_config(tmp_path)
    model = build_tiny_model(embedded_tokenizer, seed=0)
    outcome = train(cfg, model=model, tokenizer=embedded_tokenizer)
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    expected_device = "cuda:0" if torch.cuda.is_available() else "cpu"
    record = manifest["device"]
    assert record["device"] == expected_device
    assert record["world_size"] == 1
    assert record["quantize"] is None
    assert record["attn_implementation"] == "sdpa"
    if not torch.cuda.is_available():
        assert record["gpu_name"] is None
        assert record["dtype"] == "float32"


def test_quantize_on_cpu_is_refused_before_any_weight_is_read(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA machine accepts lora.quantize")
    cfg = sft_config(tmp_path, model=str(tmp_path / "no-such-model"), lora={"quantize": "4bit"})
    with pytest.raises(TuneforgeError, match=r"^lora\.quantize: 4bit \(QLoRA, bitsandbytes\)"):
        train(cfg)
    assert not (tmp_path / "run").exists()  # refused before the run folder was made


def _loss_and_grads(
    cfg: TuneforgeConfig, tokenizer: PreTrainedTokenizerBase
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model = prepare_model(cfg, build_tiny_model(tokenizer, seed=0), SAFE, LoadSettings())
    assert base_model(model).is_activation_checkpointing == cfg.train.gradient_checkpointing
    model.train()
    with torch.no_grad():  # a non-zero adapter, so its gradients depend on the whole path
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.fill_(0.02)
    ids = torch.tensor([[1, 520, 33, 90, 701, 702, 2], [1, 610, 44, 45, 2, 2, 2]])
    mask = torch.tensor([[1] * 7, [1] * 5 + [0, 0]])
    labels = ids.masked_fill(mask == 0, IGNORE_INDEX)
    loss = model(input_ids=ids, attention_mask=mask, labels=labels, use_cache=False).loss
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


def test_gradient_checkpointing_with_lora_gives_the_same_loss_and_gradients(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    plain = sft_config(tmp_path, lora={"r": 4, "alpha": 8, "dropout": 0.1})
    checkpointed = plain.model_copy(
        update={"train": plain.train.model_copy(update={"gradient_checkpointing": True})}
    )
    loss, grads = _loss_and_grads(plain, embedded_tokenizer)
    loss_ckpt, grads_ckpt = _loss_and_grads(checkpointed, embedded_tokenizer)
    torch.testing.assert_close(loss_ckpt, loss, rtol=0, atol=1e-6)
    # Only the adapter trains, and every adapter matrix receives a gradient through the
    # checkpointed layers (frozen embeddings do not cut the graph with use_reentrant=False).
    assert sorted(grads_ckpt) == sorted(grads)
    assert grads and all("lora_" in name for name in grads)
    assert len(grads) == 2 * sum(1 for n, _ in _lora_modules(plain, embedded_tokenizer))
    for name, grad in grads.items():
        assert grad.abs().sum() > 0, name
        torch.testing.assert_close(grads_ckpt[name], grad, rtol=1e-5, atol=1e-7)


def _lora_modules(cfg: TuneforgeConfig, tokenizer: PreTrainedTokenizerBase) -> list[Any]:
    model = prepare_model(cfg, build_tiny_model(tokenizer, seed=0), SAFE, LoadSettings())
    return [(n, m) for n, m in model.named_modules() if hasattr(m, "lora_A") and n]


def test_prepare_model_places_the_model_on_the_device_before_anything_runs(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    cfg = sft_config(tmp_path)
    model = prepare_model(
        cfg, build_tiny_model(embedded_tokenizer, seed=0), SAFE, LoadSettings(), "meta"
    )
    assert {p.device.type for p in model.parameters()} == {"meta"}


def test_given_model_is_cast_to_the_dtype_and_keeps_its_attention_unless_set(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    cfg = sft_config(tmp_path, lora=None)
    tiny = build_tiny_model(embedded_tokenizer, seed=0)
    tiny.set_attn_implementation("eager")
    model = prepare_model(cfg, tiny, SAFE, LoadSettings("bfloat16", "sdpa"))
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert model.config._attn_implementation == "eager"
    explicit = sft_config(tmp_path, lora=None, model={"attn_implementation": "sdpa"})
    model = prepare_model(explicit, tiny, SAFE, LoadSettings("float32", "sdpa"))
    assert model.config._attn_implementation == "sdpa"


def test_place_model_moves_only_when_needed(embedded_tokenizer: PreTrainedTokenizerBase) -> None:
    model = build_tiny_model(embedded_tokenizer, seed=0)
    first = next(model.parameters())
    assert place_model(model, "cpu") is model and next(model.parameters()) is first
    place_model(model, "meta")
    assert next(model.parameters()).device.type == "meta"


class _DeviceMethod:
    """A reference method that reports the device of the model it ran on."""

    needs_reference = True
    precompute_reference = False

    def reference_values(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Any:
        device = next(model.parameters()).device
        return {"on_meta": torch.full((1,), float(device.type == "meta"))}


def test_full_run_frozen_copy_follows_the_batches_device(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    model = build_tiny_model(embedded_tokenizer, seed=0)
    reference = OnTheFlyReference(_DeviceMethod(), model)  # type: ignore[arg-type]
    values = reference({"input_ids": torch.zeros(1, 3, dtype=torch.long, device="meta")})
    assert values["on_meta"].item() == 1.0
    assert next(model.parameters()).device.type == "cpu"  # the policy itself is not moved


def test_build_reference_puts_the_model_on_the_accelerator_device(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    model = build_tiny_model(embedded_tokenizer, seed=0)
    accelerator = SimpleNamespace(device=torch.device("meta"))
    setup = build_reference(
        DPOMethod(DPOSection(precompute_ref=False)),
        model,
        train_items=[],
        eval_items=[],
        batch_size=2,
        pad_token_id=2,
        accelerator=accelerator,  # type: ignore[arg-type]
        cache_dir=None,
    )
    assert setup.info == {"mode": "on_the_fly"}
    assert next(model.parameters()).device.type == "meta"


def _claims_flash(model: torch.nn.Module) -> torch.nn.Module:
    model.config._attn_implementation = "flash_attention_2"
    return model


def test_flash_attention_refuses_a_multi_row_packed_batch(
    embedded_tokenizer: PreTrainedTokenizerBase,
) -> None:
    model = _claims_flash(build_tiny_model(embedded_tokenizer, seed=0))
    packed = {"input_ids": torch.ones(2, 4, dtype=torch.long), "position_ids": torch.zeros(2, 4)}
    with pytest.raises(TuneforgeError) as raised:
        logps.check_packed_layout(model, packed)
    assert str(raised.value) == (
        "packed batch of 2 rows under model.attn_implementation: flash_attention_2, whose "
        "variable-length kernel keeps packed sequences apart only in a single row; pack into "
        "one row, or set model.attn_implementation: sdpa"
    )
    logps.check_packed_layout(model, {**packed, "input_ids": packed["input_ids"][:1]})
    padded = {"input_ids": packed["input_ids"], "attention_mask": torch.ones(2, 4)}
    logps.check_packed_layout(model, padded)  # padded rows use its unpadding path


def test_flash_attention_packs_every_sequence_into_one_row(
    monkeypatch: pytest.MonkeyPatch, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    model = _claims_flash(build_tiny_model(embedded_tokenizer, seed=0))
    seen: dict[str, torch.Tensor] = {}

    def spy(model: Any, inputs: dict[str, torch.Tensor], labels: torch.Tensor) -> Any:
        seen.update(inputs)
        return torch.zeros(labels.shape[0], labels.shape[1] - 1), labels[:, 1:] != IGNORE_INDEX

    monkeypatch.setattr(logps, "model_token_logps", spy)
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0], [11, 12, 13, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]])
    logps.packed_token_logps(model, ids, mask, ids.masked_fill(mask == 0, IGNORE_INDEX), capacity=4)
    # capacity=4 would give three rows under sdpa; FlashAttention-2 gets one varlen row.
    assert seen["input_ids"].tolist() == [[5, 6, 7, 8, 11, 12, 13, 9, 10]]
    assert seen["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1, 2, 0, 1]]
    assert "attention_mask" not in seen


def test_load_model_applies_dtype_and_attention(base_dir: Path) -> None:
    from tuneforge.models import load_model

    model = load_model(str(base_dir), dtype=torch.bfloat16, attn_implementation="eager")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert model.config._attn_implementation == "eager"
    assert load_model(str(base_dir), device="meta").device.type == "meta"


def test_compile_compiles_the_model_in_place(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled: list[tuple[str, dict[str, Any]]] = []

    def record(self: torch.nn.Module, **kwargs: Any) -> None:
        compiled.append((type(self).__name__, kwargs))

    monkeypatch.setattr(torch.nn.Module, "compile", record)
    plain = sft_config(tmp_path)
    prepare_model(plain, build_tiny_model(embedded_tokenizer, seed=0), SAFE, LoadSettings())
    assert compiled == []
    on = plain.model_copy(update={"train": plain.train.model_copy(update={"compile": True})})
    model = prepare_model(on, build_tiny_model(embedded_tokenizer, seed=0), SAFE, LoadSettings())
    assert compiled == [("LlamaForCausalLM", {"dynamic": True})]
    assert hasattr(model, "disable_adapter")  # still the peft model: nothing was wrapped


def test_qlora_run_exports_merged_into_the_unquantised_base_on_any_machine(
    tmp_path: Path, base_dir: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    import yaml
    from safetensors.torch import load_file

    from tuneforge.config import LoraConfig
    from tuneforge.export import export_run
    from tuneforge.models import attach_lora

    run = tmp_path / "qlora-run"
    rows = [{"prompt": p, "completion": c} for p, c in SUPPORT_REQUESTS[:4]]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "method": "sft",
        "model": str(base_dir),
        "output": str(run),
        "data": {"train": str(data), "eval": str(data)},
        "lora": {"r": 2, "alpha": 4, "quantize": "4bit"},
    }
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    adapted = attach_lora(build_tiny_model(embedded_tokenizer, seed=0), LoraConfig(r=2, alpha=4))
    with torch.no_grad():
        for name, param in adapted.named_parameters():
            if "lora_B" in name:
                param.fill_(0.1)
    adapted.save_pretrained(run / "final")
    expected = adapted.merge_and_unload().state_dict()
    out = tmp_path / "export"
    export_run(run, out, verify=False)
    written = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in written  # a plain model, loadable without bitsandbytes
    merged = load_file(out / "model.safetensors")
    name = "model.layers.0.self_attn.q_proj.weight"
    assert merged[name].dtype == torch.float32
    torch.testing.assert_close(merged[name], expected[name])
    base_weight = build_tiny_model(embedded_tokenizer, seed=0).state_dict()[name]
    assert not torch.allclose(merged[name], base_weight)  # the adapter's update is in it


def test_load_settings_checks_before_loading(tmp_path: Path) -> None:
    from tuneforge.device import Hardware
    from tuneforge.run.model_setup import load_settings

    t4 = Hardware(cuda=True, bf16_supported=False, flash_attn_installed=False)
    cfg = sft_config(tmp_path, lora=None, model={"path": "x", "dtype": "fp16"})
    with pytest.raises(TuneforgeError, match=r"^model\.dtype: fp16 weights train only"):
        load_settings(cfg, t4)
    qlora = sft_config(tmp_path, lora={"quantize": "8bit"})
    with pytest.raises(TuneforgeError, match=r"^lora\.quantize: 8bit \(QLoRA"):
        load_settings(qlora, Hardware(cuda=False))
    assert load_settings(sft_config(tmp_path), t4) == LoadSettings("float32", "sdpa", None)
