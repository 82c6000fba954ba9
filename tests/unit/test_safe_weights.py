"""Model and adapter weights load from safetensors only, unless --allow-pickle; no remote code.

The pickle payloads below write a marker file if they are ever unpickled: every test checks
the marker is still absent, so a regression that runs them fails loudly (and harmlessly).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase
from typer.testing import CliRunner

from tuneforge.cli import app, chat_command
from tuneforge.config import LoraConfig, parse_config
from tuneforge.errors import ModelLoadError
from tuneforge.models import (
    attach_lora,
    build_tiny_model,
    load_adapter,
    load_model,
    load_tokenizer,
)
from tuneforge.safe_loading import PICKLE_RISK, SAFE, LoadPolicy, check_weights

IDS = torch.tensor([[1, 5, 9, 13, 2]])


class Payload:
    """A pickle that writes a marker file when it is unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.marker, "ran"))


def pickle_model_folder(
    folder: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, payload: Any = None
) -> Path:
    """A model folder whose weights exist only as ``pytorch_model.bin`` (a pickle)."""
    folder.mkdir(parents=True)
    model.config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    state = {"payload": payload} if payload is not None else model.state_dict()
    torch.save(state, folder / "pytorch_model.bin")
    return folder


def test_a_pickle_only_model_folder_is_refused_and_its_payload_never_runs(
    tmp_path: Path, tiny_model: PreTrainedModel, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    marker = tmp_path / "marker"
    folder = pickle_model_folder(
        tmp_path / "model", tiny_model, embedded_tokenizer, Payload(marker)
    )
    with pytest.raises(ModelLoadError) as caught:
        load_model(str(folder))
    message = str(caught.value)
    assert message.startswith(f"{folder}: tuneforge refuses pickle weights (pytorch_model.bin;")
    assert PICKLE_RISK in message and "--allow-pickle" in message
    assert "\n" not in message
    assert not marker.exists()

    # --allow-pickle lets the file through to torch's weights_only unpickler, which refuses a
    # payload that is more than tensors: still a one-line error, and the code never runs.
    with pytest.raises(ModelLoadError, match="restricted unpickler .* nothing in them ran"):
        load_model(str(folder), policy=LoadPolicy(allow_pickle=True))
    assert not marker.exists()


def test_allow_pickle_reaches_from_pretrained_and_loads_plain_tensors_with_a_warning(
    tmp_path: Path,
    tiny_model: PreTrainedModel,
    embedded_tokenizer: PreTrainedTokenizerBase,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = pickle_model_folder(tmp_path / "model", tiny_model, embedded_tokenizer)
    seen: list[dict[str, Any]] = []
    original = AutoModelForCausalLM.from_pretrained

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy)
    loaded = load_model(str(folder), policy=LoadPolicy(allow_pickle=True))
    assert seen[-1]["use_safetensors"] is None and seen[-1]["trust_remote_code"] is False
    warning = capsys.readouterr().err
    assert f"warning: --allow-pickle: loading pickle weights from {folder}/pytorch_model.bin" in (
        warning
    )
    assert PICKLE_RISK in warning
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=IDS).logits, tiny_model(input_ids=IDS).logits)

    # The safe default asks transformers for safetensors only (which also covers hub ids).
    safe = tmp_path / "safe"
    tiny_model.save_pretrained(safe)
    load_model(str(safe))
    assert seen[-1]["use_safetensors"] is True and seen[-1]["trust_remote_code"] is False
    assert "warning" not in capsys.readouterr().err


def test_a_pickle_only_adapter_is_refused_unless_allowed(
    tmp_path: Path, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    torch.manual_seed(0)
    tuned = attach_lora(build_tiny_model(embedded_tokenizer, seed=0), LoraConfig(r=4, alpha=8))
    with torch.no_grad():
        for name, param in tuned.named_parameters():
            if "lora_B" in name:
                param.fill_(0.02)
    folder = tmp_path / "adapter"
    tuned.save_pretrained(folder)
    weights = folder / "adapter_model.safetensors"
    from safetensors.torch import load_file

    torch.save(load_file(weights), folder / "adapter_model.bin")
    weights.unlink()

    with pytest.raises(ModelLoadError, match="refuses pickle weights \\(adapter_model.bin;"):
        load_adapter(build_tiny_model(embedded_tokenizer, seed=0), folder)
    reloaded = load_adapter(
        build_tiny_model(embedded_tokenizer, seed=0), folder, policy=LoadPolicy(allow_pickle=True)
    )
    with torch.no_grad():
        torch.testing.assert_close(
            reloaded.eval()(input_ids=IDS).logits, tuned.eval()(input_ids=IDS).logits
        )

    marker = tmp_path / "marker"
    torch.save({"payload": Payload(marker)}, folder / "adapter_model.bin")
    with pytest.raises(ModelLoadError, match="nothing in them ran"):
        load_adapter(
            build_tiny_model(embedded_tokenizer, seed=0),
            folder,
            policy=LoadPolicy(allow_pickle=True),
        )
    assert not marker.exists()


def test_check_weights_prefers_safetensors_and_leaves_empty_folders_to_transformers(
    tmp_path: Path,
) -> None:
    both = tmp_path / "both"
    both.mkdir()
    (both / "model.safetensors").write_bytes(b"")
    (both / "pytorch_model.bin").write_bytes(b"")
    check_weights(both, SAFE)  # safetensors present: that is what gets loaded
    check_weights(tmp_path, SAFE)  # nothing at all: from_pretrained says what is missing
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "weights.pt").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="refuses pickle weights \\(weights.pt;"):
        check_weights(odd, SAFE)


def test_remote_code_in_a_model_folder_never_runs_unless_the_config_trusts_it(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "marker"
    folder = tmp_path / "custom"
    folder.mkdir()
    auto_map = {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"}
    config = {"model_type": "tuneforge-evil", "auto_map": auto_map}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "evil.py").write_text(f"from pathlib import Path\nPath({str(marker)!r}).touch()\n")
    (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="unless the config sets `trust_remote_code: true`"):
        load_model(str(folder))
    assert not marker.exists()

    cfg = parse_config({"method": "sft", "data": {"train": "x.jsonl"}})
    assert cfg.trust_remote_code is False and LoadPolicy.of(cfg) == SAFE
    trusting = parse_config(
        {"method": "sft", "data": {"train": "x.jsonl"}, "trust_remote_code": True}
    )
    policy = LoadPolicy.of(trusting, allow_pickle=True)
    assert policy.model_kwargs() == {"use_safetensors": None, "trust_remote_code": True}
    assert policy.tokenizer_kwargs() == {"trust_remote_code": True}


def test_a_plain_tensor_pickle_loads_only_under_allow_pickle(
    tmp_path: Path, tiny_model: PreTrainedModel, embedded_tokenizer: PreTrainedTokenizerBase
) -> None:
    folder = pickle_model_folder(tmp_path / "model", tiny_model, embedded_tokenizer)
    with pytest.raises(ModelLoadError, match="refuses pickle weights"):
        load_model(str(folder))
    loaded = load_model(str(folder), policy=LoadPolicy(allow_pickle=True))
    tokenizer = load_tokenizer(str(folder), policy=LoadPolicy(allow_pickle=True))
    assert tokenizer.encode("hello world") == embedded_tokenizer.encode("hello world")
    assert torch.equal(loaded.model.embed_tokens.weight, tiny_model.model.embed_tokens.weight)
    assert load_tokenizer(str(folder)).pad_token_id == embedded_tokenizer.pad_token_id


def test_the_commands_refuse_pickle_weights_in_one_line_and_take_allow_pickle(
    tmp_path: Path,
    tiny_model: PreTrainedModel,
    embedded_tokenizer: PreTrainedTokenizerBase,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = pickle_model_folder(tmp_path / "model", tiny_model, embedded_tokenizer)
    assert chat_command(str(folder), lines=[]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {folder}: tuneforge refuses pickle weights")
    assert line.endswith("or pass --allow-pickle if you trust the file")

    assert chat_command(str(folder), lines=[], allow_pickle=True) == 0
    assert PICKLE_RISK in capsys.readouterr().err

    result = CliRunner().invoke(app, ["chat", str(folder), "--allow-pickle"], input="")
    assert result.exit_code == 0, result.output
    help_text = CliRunner().invoke(app, ["train", "--help"]).output
    assert "--allow-pickle" in help_text
    for command in ("eval", "quickstart", "generate", "export", "pairs"):
        assert "--allow-pickle" in CliRunner().invoke(app, [command, "--help"]).output


def test_check_loads_the_tokenizer_with_the_configs_trust_remote_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tuneforge.models
    from tuneforge.cli import check_command

    seen: list[tuple[str, LoadPolicy]] = []

    def recording(name: str, home: Path | None = None, *, policy: LoadPolicy = SAFE) -> Any:
        seen.append((name, policy))
        raise ModelLoadError(f"{name}: stand-in")

    monkeypatch.setattr(tuneforge.models, "load_tokenizer", recording)
    data = tmp_path / "train.jsonl"
    data.write_text('{"prompt": "a", "completion": "b"}\n')
    config = tmp_path / "c.yaml"
    for trust in (False, True):
        config.write_text(
            f"method: sft\nmodel: some/model\ntrust_remote_code: {str(trust).lower()}\n"
            "data:\n  train: train.jsonl\n"
        )
        check_command(data, method="sft", config_path=config)
        assert seen[-1] == ("some/model", LoadPolicy(trust_remote_code=trust))
    capsys.readouterr()
